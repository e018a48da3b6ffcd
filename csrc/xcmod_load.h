/* SPDX-License-Identifier: MIT */
/*
 * xcmod_load.h - copy an xcmod image into a paused HVM guest's RAM.
 *
 * A small C API on top of libxenctrl, usable from a C toolstack directly; the
 * Python binding (xcmod.xen._xen, built by xcmod/_ffi_build.py) wraps exactly this.
 * The caller owns the xc_interface.  Nothing is written to the guest unless
 * every pre-check passed; a failed copy leaves the return code and errno.
 */
#ifndef XCMOD_LOAD_H
#define XCMOD_LOAD_H

#include <stddef.h>
#include <stdint.h>

struct xc_interface_core;

/* Return codes; errno is meaningful for GETINFO, MAP, CONTEXT. */
#define XCMOD_LOAD_OK            0
#define XCMOD_LOAD_E_ARGUMENT   -1  /* NULL pointer, zero length, overflow   */
#define XCMOD_LOAD_E_GETINFO    -2  /* xc_domain_getinfolist() failed        */
#define XCMOD_LOAD_E_NO_DOMAIN  -3  /* no such domain                        */
#define XCMOD_LOAD_E_DOM0       -4  /* refusing domain 0, always             */
#define XCMOD_LOAD_E_NOT_HVM    -5  /* domain is not an HVM guest            */
#define XCMOD_LOAD_E_RUNNING    -6  /* domain is not paused (no FORCE)       */
#define XCMOD_LOAD_E_MEMORY     -7  /* range beyond the domain's memory      */
#define XCMOD_LOAD_E_MAP        -8  /* xc_map_foreign_range() failed         */
#define XCMOD_LOAD_E_VERIFY     -9  /* read-back differs from the image      */
#define XCMOD_LOAD_E_DYING     -10  /* domain is dying or shut down          */
#define XCMOD_LOAD_E_CONTEXT   -11  /* xc_vcpu_getcontext() failed           */

/* Flags for xcmod_load_image(). */
#define XCMOD_LOAD_FORCE        0x1 /* allow a running (unpaused) domain     */

/* Pages mapped at once; bounds the address space a load needs. */
#define XCMOD_LOAD_CHUNK_PAGES  256

struct xcmod_domain_info {
    uint32_t domid;
    int      hvm;
    int      paused;
    int      dying;            /* dying, crashed or shut down               */
    uint64_t max_memkb;
    uint64_t nr_pages;
};

/* Fill *info for domid.  XCMOD_LOAD_E_NO_DOMAIN if it does not exist. */
int xcmod_domain_info(struct xc_interface_core *xch, uint32_t domid,
                      struct xcmod_domain_info *info);

/* The checks made before a single byte is written: exists, not dom0, HVM,
 * not dying, paused (unless XCMOD_LOAD_FORCE), [gpa, gpa+len) within
 * max_memkb. */
int xcmod_check_domain(struct xc_interface_core *xch, uint32_t domid,
                       uint64_t gpa, size_t len, unsigned int flags,
                       struct xcmod_domain_info *info);

/* Copy buf to guest physical [gpa, gpa+len) in chunks, then map the range
 * afresh read-only and compare.  *fail_offset (may be NULL) is the first
 * differing or unmappable byte on failure. */
int xcmod_copy_to_guest(struct xc_interface_core *xch, uint32_t domid,
                        uint64_t gpa, const void *buf, size_t len,
                        size_t *fail_offset);

/* Read guest physical [gpa, gpa+len) into buf. */
int xcmod_read_from_guest(struct xc_interface_core *xch, uint32_t domid,
                          uint64_t gpa, void *buf, size_t len);

/* The guest physical address of the hvm_start_info
 * (xen/include/public/arch-x86/hvm/start_info.h) libxc's HVM domain builder
 * left for hvmloader: vCPU0's initial %rbx (tools/libs/guest/xg_dom_x86.c,
 * vcpu_hvm()), read with xc_vcpu_getcontext().  It lists the modules libxc
 * placed after hvmloader (the "firmware" module: SeaBIOS or OVMF).  Only
 * meaningful before the guest first runs: the caller checks the magic there.
 * 0 when libxc left none.  XCMOD_LOAD_E_NOT_HVM for a PV domain. */
int xcmod_start_info_gpa(struct xc_interface_core *xch, uint32_t domid,
                         uint64_t *gpa);

/* xcmod_check_domain() then xcmod_copy_to_guest(). */
int xcmod_load_image(struct xc_interface_core *xch, uint32_t domid,
                     uint64_t gpa, const void *buf, size_t len,
                     unsigned int flags, size_t *fail_offset);

/* A short English description of a return code. */
const char *xcmod_load_strerror(int rc);

#endif /* XCMOD_LOAD_H */
