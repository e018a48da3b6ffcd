/* SPDX-License-Identifier: MIT */
/*
 * xcmod_load.c - copy an xcmod image into a paused HVM guest's RAM.
 * See xcmod_load.h.  Maps guest frames with xc_map_foreign_range() (the
 * compat API, hence XC_WANT_COMPAT_MAP_FOREIGN_API) in bounded chunks.
 */
#define XC_WANT_COMPAT_MAP_FOREIGN_API
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <xenctrl.h>

#include "xcmod_load.h"

#define PAGE_SHIFT_ 12
#define PAGE_SIZE_  (1UL << PAGE_SHIFT_)

int xcmod_domain_info(xc_interface *xch, uint32_t domid,
                      struct xcmod_domain_info *info)
{
    xc_domaininfo_t di;
    int n;

    if ( !xch || !info )
        return XCMOD_LOAD_E_ARGUMENT;
    memset(&di, 0, sizeof(di));
    /*
     * xc_domain_getinfolist() (XEN_SYSCTL_getdomaininfolist) returns the
     * first domain >= domid.  It is the one domain query that every Xen
     * from 4.17 to master declares alike: 4.20 removed xc_domain_getinfo()
     * and xc_dominfo_t, and xc_domain_getinfo_single() is 4.18 and later.
     */
    n = xc_domain_getinfolist(xch, domid, 1, &di);
    if ( n < 0 )
        return XCMOD_LOAD_E_GETINFO;
    if ( n == 0 || di.domain != domid )
    {
        errno = ESRCH;
        return XCMOD_LOAD_E_NO_DOMAIN;
    }
    info->domid = di.domain;
    info->hvm = !!(di.flags & XEN_DOMINF_hvm_guest);
    info->paused = !!(di.flags & XEN_DOMINF_paused);
    /* A crashed domain is shut down (reason SHUTDOWN_crash). */
    info->dying = !!(di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown));
    info->max_memkb = di.max_pages << (PAGE_SHIFT_ - 10);
    info->nr_pages = di.tot_pages;
    return XCMOD_LOAD_OK;
}

int xcmod_check_domain(xc_interface *xch, uint32_t domid, uint64_t gpa,
                       size_t len, unsigned int flags,
                       struct xcmod_domain_info *info)
{
    int rc;

    if ( !xch || !info || len == 0 || gpa + len < gpa )
        return XCMOD_LOAD_E_ARGUMENT;
    if ( domid == 0 )
        return XCMOD_LOAD_E_DOM0;            /* never, not even with FORCE */
    rc = xcmod_domain_info(xch, domid, info);
    if ( rc )
        return rc;
    if ( !info->hvm )
        return XCMOD_LOAD_E_NOT_HVM;
    if ( info->dying )
        return XCMOD_LOAD_E_DYING;
    if ( !info->paused && !(flags & XCMOD_LOAD_FORCE) )
        return XCMOD_LOAD_E_RUNNING;
    if ( gpa + len > info->max_memkb * 1024 )
        return XCMOD_LOAD_E_MEMORY;
    return XCMOD_LOAD_OK;
}

/* What walk() does with each mapped chunk of guest memory. */
enum walk_op {
    WALK_COPY_IN,     /* buf -> guest                                        */
    WALK_COMPARE,     /* guest == buf, else XCMOD_LOAD_E_VERIFY at the byte   */
    WALK_COPY_OUT,    /* guest -> buf                                        */
};

/* Map [gpa, gpa+len) chunk by chunk and apply op to each chunk. */
static int walk(xc_interface *xch, uint32_t domid, uint64_t gpa,
                uint8_t *buf, size_t len, enum walk_op op, int prot,
                size_t *fail_offset)
{
    uint64_t first = gpa >> PAGE_SHIFT_;
    uint64_t last = (gpa + len - 1) >> PAGE_SHIFT_;
    size_t done = 0;
    uint64_t pfn;

    for ( pfn = first; pfn <= last; pfn += XCMOD_LOAD_CHUNK_PAGES )
    {
        uint64_t npages = last - pfn + 1;
        size_t map_len, skip, n;
        uint8_t *map;

        if ( npages > XCMOD_LOAD_CHUNK_PAGES )
            npages = XCMOD_LOAD_CHUNK_PAGES;
        map_len = npages << PAGE_SHIFT_;
        map = xc_map_foreign_range(xch, domid, (int)map_len, prot, pfn);
        if ( !map )
        {
            if ( fail_offset )
                *fail_offset = done;
            return XCMOD_LOAD_E_MAP;
        }
        skip = pfn == first ? (size_t)(gpa & (PAGE_SIZE_ - 1)) : 0;
        n = map_len - skip;
        if ( n > len - done )
            n = len - done;
        if ( op == WALK_COPY_IN )
            memcpy(map + skip, buf + done, n);
        else if ( op == WALK_COPY_OUT )
            memcpy(buf + done, map + skip, n);
        else if ( memcmp(map + skip, buf + done, n) != 0 )
        {
            size_t i = 0;
            while ( map[skip + i] == buf[done + i] )
                i++;
            munmap(map, map_len);
            if ( fail_offset )
                *fail_offset = done + i;
            return XCMOD_LOAD_E_VERIFY;
        }
        munmap(map, map_len);
        done += n;
    }
    return XCMOD_LOAD_OK;
}

int xcmod_copy_to_guest(xc_interface *xch, uint32_t domid, uint64_t gpa,
                        const void *buf, size_t len, size_t *fail_offset)
{
    int rc;

    if ( !xch || !buf || len == 0 || gpa + len < gpa )
        return XCMOD_LOAD_E_ARGUMENT;
    rc = walk(xch, domid, gpa, (uint8_t *)buf, len, WALK_COPY_IN,
              PROT_READ | PROT_WRITE, fail_offset);
    if ( rc )
        return rc;
    /* Read back through a fresh read-only mapping, not the one written. */
    return walk(xch, domid, gpa, (uint8_t *)buf, len, WALK_COMPARE, PROT_READ,
                fail_offset);
}

int xcmod_read_from_guest(xc_interface *xch, uint32_t domid, uint64_t gpa,
                          void *buf, size_t len)
{
    if ( !xch || !buf || len == 0 || gpa + len < gpa )
        return XCMOD_LOAD_E_ARGUMENT;
    return walk(xch, domid, gpa, buf, len, WALK_COPY_OUT, PROT_READ, NULL);
}

int xcmod_start_info_gpa(xc_interface *xch, uint32_t domid, uint64_t *gpa)
{
    struct xcmod_domain_info info;
    vcpu_guest_context_any_t ctxt;
    int rc;

    if ( !xch || !gpa )
        return XCMOD_LOAD_E_ARGUMENT;
    if ( domid == 0 )
        return XCMOD_LOAD_E_DOM0;
    rc = xcmod_domain_info(xch, domid, &info);
    if ( rc )
        return rc;
    if ( !info.hvm )
        return XCMOD_LOAD_E_NOT_HVM;
    memset(&ctxt, 0, sizeof(ctxt));
    if ( xc_vcpu_getcontext(xch, domid, 0, &ctxt) )
        return XCMOD_LOAD_E_CONTEXT;
    /* An HVM vCPU's context is always the native 64-bit layout. */
    *gpa = ctxt.x64.user_regs.rbx;
    return XCMOD_LOAD_OK;
}

int xcmod_load_image(xc_interface *xch, uint32_t domid, uint64_t gpa,
                     const void *buf, size_t len, unsigned int flags,
                     size_t *fail_offset)
{
    struct xcmod_domain_info info;
    int rc = xcmod_check_domain(xch, domid, gpa, len, flags, &info);

    if ( rc )
        return rc;
    return xcmod_copy_to_guest(xch, domid, gpa, buf, len, fail_offset);
}

const char *xcmod_load_strerror(int rc)
{
    switch ( rc )
    {
    case XCMOD_LOAD_OK:          return "ok";
    case XCMOD_LOAD_E_ARGUMENT:  return "invalid argument";
    case XCMOD_LOAD_E_GETINFO:   return "cannot get domain information";
    case XCMOD_LOAD_E_NO_DOMAIN: return "no such domain";
    case XCMOD_LOAD_E_DOM0:      return "refusing to load into domain 0";
    case XCMOD_LOAD_E_NOT_HVM:   return "domain is not an HVM guest";
    case XCMOD_LOAD_E_RUNNING:   return "domain is running; pause it first (or --force)";
    case XCMOD_LOAD_E_MEMORY:    return "image lies beyond the domain's memory";
    case XCMOD_LOAD_E_MAP:       return "cannot map guest memory";
    case XCMOD_LOAD_E_VERIFY:    return "guest memory read back differs from the image";
    case XCMOD_LOAD_E_DYING:     return "domain is dying or shut down";
    case XCMOD_LOAD_E_CONTEXT:   return "cannot read vCPU0's context";
    }
    return "unknown error";
}
