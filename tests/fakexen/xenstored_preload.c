/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD for Debian's real C xenstored, so it runs without a hypervisor:
 * stubs the few libxenctrl/libxengnttab/libxenevtchn calls it makes (an
 * eventfd that never fires stands in for the event channel) and redirects
 * its opens of /proc/xen/xsd_port and /proc/xen/xsd_kva to files in
 * $XCMOD_FAKEXEN_DIR.  Clients reach it over its unix socket
 * ($XENSTORED_PATH), through the real libxenstore.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

static const char *redirect(const char *path, char *buf, size_t n)
{
    const char *dir = getenv("XCMOD_FAKEXEN_DIR");

    if ( dir && (!strcmp(path, "/proc/xen/xsd_port") || !strcmp(path, "/proc/xen/xsd_kva")) )
    {
        snprintf(buf, n, "%s/%s", dir, path + strlen("/proc/xen/"));
        return buf;
    }
    return path;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    char buf[4096];
    mode_t mode = 0;
    va_list ap;

    if ( !real )
        real = dlsym(RTLD_NEXT, "open");
    if ( flags & O_CREAT )
    {
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real(redirect(path, buf, sizeof(buf)), flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

/* libxenctrl */
void *xc_interface_open(void *a, void *b, unsigned f) { (void)a; (void)b; (void)f; return malloc(1); }
int xc_interface_close(void *x) { free(x); return 0; }
/*
 * No domain exists but the caller (tests/test_fakexen.py checks that this
 * file defines every libxen* call the installed xenstored makes): Xen 4.17's
 * xenstored asks xc_domain_getinfo() (0 found), 4.18 and later ask
 * xc_domain_getinfo_single() (-1, ESRCH); either way a permission naming a
 * guest is kept and marked as for a domain that does not exist yet.
 */
int xc_domain_getinfo(void *x, uint32_t first, unsigned max, void *info)
{ (void)x; (void)first; (void)max; (void)info; return 0; }
int xc_domain_getinfo_single(void *x, uint32_t domid, void *info)
{ (void)x; (void)domid; (void)info; errno = ESRCH; return -1; }

/* libxengnttab: nothing is ever mapped (no guest connects by grant). */
void *xengnttab_open(void *l, unsigned f) { (void)l; (void)f; return malloc(1); }
int xengnttab_close(void *x) { free(x); return 0; }
int xengnttab_set_max_grants(void *x, uint32_t n) { (void)x; (void)n; return 0; }
void *xengnttab_map_grant_ref(void *x, uint32_t d, uint32_t r, int p)
{ (void)x; (void)d; (void)r; (void)p; errno = ENOSYS; return NULL; }
int xengnttab_unmap(void *x, void *a, uint32_t c) { (void)x; (void)a; (void)c; return 0; }

/* libxenevtchn: an eventfd that never fires. */
static int evfd = -1;
void *xenevtchn_open(void *l, unsigned f) { (void)l; (void)f; if ( evfd < 0 ) evfd = eventfd(0, EFD_NONBLOCK); return malloc(1); }
void *xenevtchn_fdopen(void *l, int fd, unsigned f) { (void)fd; return xenevtchn_open(l, f); }
int xenevtchn_fd(void *x) { (void)x; return evfd; }
int xenevtchn_bind_virq(void *x, unsigned v) { (void)x; (void)v; return 1; }
int xenevtchn_bind_interdomain(void *x, uint32_t d, uint32_t p) { (void)x; (void)d; (void)p; return 2; }
int xenevtchn_notify(void *x, uint32_t p) { (void)x; (void)p; return 0; }
int xenevtchn_pending(void *x) { (void)x; errno = EAGAIN; return -1; }
int xenevtchn_unmask(void *x, uint32_t p) { (void)x; (void)p; return 0; }
int xenevtchn_unbind(void *x, uint32_t p) { (void)x; (void)p; return 0; }
