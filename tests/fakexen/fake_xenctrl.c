/* SPDX-License-Identifier: MIT */
/*
 * A C test double of libxenctrl (the installed library's soname and version
 * node, read by the Makefile with readelf) for running the
 * real cffi module and C shim without a hypervisor.  Chosen at run time with
 * LD_LIBRARY_PATH=build/fake-xen.  Implements only the symbols xcmod uses.
 *
 * State lives in $XCMOD_FAKEXEN_DIR: for each domain a directory dom<N>/ with
 *   info   key=value lines: hvm, paused, dying, memory_mib
 *   ram    the guest's RAM (memory_mib MiB), mmap'd by xc_map_foreign_range
 *   vcpu0  key=value lines: rbx, the register xc_vcpu_getcontext() gives for
 *          vCPU 0 (what libxc's HVM builder sets to the hvm_start_info's
 *          address); without the file every register reads 0
 *
 * Fault injection, $XCMOD_FAKEXEN_FAIL (comma-separated):
 *   open          xc_interface_open fails (EACCES)
 *   getinfo       xc_domain_getinfolist fails (EPERM)
 *   getcontext    xc_vcpu_getcontext fails (EACCES)
 *   map           every xc_map_foreign_range fails (EFAULT)
 *   map-after:N   maps fail after N successful ones (a partial copy)
 *   map-write-after:N  writable maps fail after N successful ones (mid-copy,
 *                 whatever was read before)
 *   lose-writes   writable maps are private: writes never reach guest RAM
 *   stall-map:N   before map N (0 the first), create $XCMOD_FAKEXEN_DIR/stalled
 *                 and sleep a second (a signal ends the sleep): a test sends
 *                 its signal once the file is there, at a known point of a load
 *   stall-write:N the same before writable map N (the copy into guest RAM)
 */
#define XC_WANT_COMPAT_MAP_FOREIGN_API
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xenctrl.h>

struct xc_interface_core {
    int magic;
};

static xc_error last_error;
static int maps_done, write_maps_done;

static const char *state_dir(void)
{
    const char *d = getenv("XCMOD_FAKEXEN_DIR");
    return d ? d : "/nonexistent-fakexen";
}

static int fault(const char *name)
{
    const char *f = getenv("XCMOD_FAKEXEN_FAIL");
    size_t n = strlen(name);

    while ( f && *f )
    {
        if ( !strncmp(f, name, n) && (f[n] == ',' || f[n] == '\0' || f[n] == ':') )
            return 1;
        f = strchr(f, ',');
        if ( f )
            f++;
    }
    return 0;
}

static long fault_arg(const char *name)
{
    const char *f = getenv("XCMOD_FAKEXEN_FAIL"), *p;

    if ( !f || !(p = strstr(f, name)) || p[strlen(name)] != ':' )
        return -1;
    return strtol(p + strlen(name) + 1, NULL, 0);
}

static void set_error(int err, const char *msg)
{
    last_error.code = XC_INTERNAL_ERROR;
    snprintf(last_error.message, sizeof(last_error.message), "fakexen: %s", msg);
    errno = err;
}

xc_interface *xc_interface_open(xentoollog_logger *logger,
                                xentoollog_logger *dombuild_logger,
                                unsigned open_flags)
{
    struct xc_interface_core *x;

    (void)logger; (void)dombuild_logger; (void)open_flags;
    if ( fault("open") )
    {
        set_error(EACCES, "cannot open /dev/xen/privcmd (injected)");
        return NULL;
    }
    x = calloc(1, sizeof(*x));
    if ( x )
        x->magic = 0x58434d44;
    maps_done = write_maps_done = 0;
    return x;
}

int xc_interface_close(xc_interface *xch)
{
    free(xch);
    return 0;
}

const xc_error *xc_get_last_error(xc_interface *xch)
{
    (void)xch;
    return &last_error;
}

void xc_clear_last_error(xc_interface *xch)
{
    (void)xch;
    memset(&last_error, 0, sizeof(last_error));
}

static int read_info(uint32_t domid, long *hvm, long *paused, long *dying, long *mib)
{
    char path[4096], line[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/dom%u/info", state_dir(), domid);
    if ( !(f = fopen(path, "r")) )
        return -1;
    *hvm = 1; *paused = 1; *dying = 0; *mib = 0;
    while ( fgets(line, sizeof(line), f) )
    {
        char *eq = strchr(line, '=');
        if ( !eq )
            continue;
        *eq = '\0';
        if ( !strcmp(line, "hvm") ) *hvm = strtol(eq + 1, NULL, 0);
        else if ( !strcmp(line, "paused") ) *paused = strtol(eq + 1, NULL, 0);
        else if ( !strcmp(line, "dying") ) *dying = strtol(eq + 1, NULL, 0);
        else if ( !strcmp(line, "memory_mib") ) *mib = strtol(eq + 1, NULL, 0);
    }
    fclose(f);
    return 0;
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
                          unsigned int max_domains, xc_domaininfo_t *info)
{
    uint32_t d;
    unsigned int n = 0;

    if ( !xch || !info )
    {
        set_error(EINVAL, "bad arguments");
        return -1;
    }
    if ( fault("getinfo") )
    {
        set_error(EPERM, "XEN_SYSCTL_getdomaininfolist denied (injected)");
        return -1;
    }
    /* Like the real call: existing domains >= first_domain, in order. */
    for ( d = first_domain; n < max_domains && d < first_domain + 1024; d++ )
    {
        long hvm, paused, dying, mib;
        if ( read_info(d, &hvm, &paused, &dying, &mib) < 0 )
            continue;
        memset(&info[n], 0, sizeof(info[n]));
        info[n].domain = (domid_t)d;
        info[n].flags = (hvm ? XEN_DOMINF_hvm_guest : 0) |
                        (paused ? XEN_DOMINF_paused : XEN_DOMINF_running) |
                        (dying ? XEN_DOMINF_dying : 0);
        info[n].max_pages = (uint64_t)mib * 256;
        info[n].tot_pages = (uint64_t)mib * 256;
        n++;
    }
    return (int)n;
}

/* stall-map / stall-write: say where the load is, then give a signal time to come. */
static void stall(void)
{
    char path[4096];
    struct timespec second = { 1, 0 };
    FILE *f;

    snprintf(path, sizeof(path), "%s/stalled", state_dir());
    f = fopen(path, "w");
    if ( f )
        fclose(f);
    nanosleep(&second, NULL);
}

void *xc_map_foreign_range(xc_interface *xch, uint32_t dom, int size,
                           int prot, unsigned long mfn)
{
    char path[4096];
    struct stat st;
    long after = fault_arg("map-after");
    long write_after = fault_arg("map-write-after");
    void *p;
    int fd, flags = MAP_SHARED;

    if ( !xch || size <= 0 )
    {
        set_error(EINVAL, "bad arguments");
        return NULL;
    }
    if ( fault_arg("stall-map") == maps_done ||
         ((prot & PROT_WRITE) && fault_arg("stall-write") == write_maps_done) )
        stall();
    if ( fault("map") || (after >= 0 && maps_done >= after) ||
         ((prot & PROT_WRITE) && write_after >= 0 && write_maps_done >= write_after) )
    {
        set_error(EFAULT, "xc_map_foreign_range failed (injected)");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/dom%u/ram", state_dir(), dom);
    fd = open(path, (prot & PROT_WRITE) ? O_RDWR : O_RDONLY);
    if ( fd < 0 )
    {
        set_error(ESRCH, "no such domain");
        return NULL;
    }
    if ( fstat(fd, &st) < 0 ||
         ((unsigned long long)mfn << 12) + (unsigned long long)size > (unsigned long long)st.st_size )
    {
        close(fd);
        set_error(EFAULT, "frames beyond the domain's memory");
        return NULL;
    }
    if ( (prot & PROT_WRITE) && fault("lose-writes") )
        flags = MAP_PRIVATE;
    p = mmap(NULL, (size_t)size, prot, flags, fd, (off_t)mfn << 12);
    close(fd);
    if ( p == MAP_FAILED )
    {
        set_error(errno, "mmap failed");
        return NULL;
    }
    maps_done++;
    if ( prot & PROT_WRITE )
        write_maps_done++;
    return p;
}

int xc_vcpu_getcontext(xc_interface *xch, uint32_t domid, uint32_t vcpu,
                       vcpu_guest_context_any_t *ctxt)
{
    char path[4096], line[256];
    long hvm, paused, dying, mib;
    FILE *f;

    if ( !xch || !ctxt )
    {
        set_error(EINVAL, "bad arguments");
        return -1;
    }
    if ( fault("getcontext") )
    {
        set_error(EACCES, "XEN_DOMCTL_getvcpucontext denied (injected)");
        return -1;
    }
    if ( read_info(domid, &hvm, &paused, &dying, &mib) < 0 )
    {
        set_error(ESRCH, "no such domain");
        return -1;
    }
    if ( vcpu != 0 )
    {
        set_error(ESRCH, "the double has vCPU 0 only");
        return -1;
    }
    memset(ctxt, 0, sizeof(*ctxt));
    snprintf(path, sizeof(path), "%s/dom%u/vcpu0", state_dir(), domid);
    if ( !(f = fopen(path, "r")) )
        return 0;
    while ( fgets(line, sizeof(line), f) )
    {
        char *eq = strchr(line, '=');
        if ( !eq )
            continue;
        *eq = '\0';
        if ( !strcmp(line, "rbx") )
            ctxt->x64.user_regs.rbx = strtoull(eq + 1, NULL, 0);
    }
    fclose(f);
    return 0;
}
