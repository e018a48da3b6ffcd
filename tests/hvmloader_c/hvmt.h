/* SPDX-License-Identifier: MIT */
/*
 * hvmt.h - what the host harness (main.c, built against the host's libc)
 * and hvmloader's side of it (stubs.c and hvmloader's own files, built
 * against hvmloader's freestanding headers) share: plain C types only.
 */
#ifndef HVMT_H
#define HVMT_H

/* Guest "physical" memory is host memory at the same addresses (non-PIE). */
#define HVMT_LOW_RAM      0x10000000u  /* low RAM the harness maps ...      */
#define HVMT_LOW_RAM_END  0x12000000u  /* ... up to here (low_mem_pgend)    */
#define HVMT_RESERVED     0x20000000u  /* mem_alloc()'s area                */
#define HVMT_RESERVED_END 0x22000000u
#define HVMT_SCRATCH      0x30000000u  /* scratch_start: SMBIOS is built here */
#define HVMT_SCRATCH_END  0x30400000u

struct hvmt_config {
    unsigned int nr_vcpus;
    unsigned int low_mem_pgend;
    unsigned int high_mem_pgend;
    unsigned int steal_pages;     /* each mem_alloc() takes this many pages
                                     from the top of low RAM (a full domain) */
    unsigned int start_info;      /* address of an hvm_start_info, or 0 */
    unsigned char uuid[16];       /* XENVER_guest_handle */
};

/* main.c (host libc) */
int host_vprintf(const char *fmt, __builtin_va_list ap);
int host_vsnprintf(char *buf, unsigned long size, const char *fmt,
                   __builtin_va_list ap);
const char *host_xenstore_read(const char *path);
void host_exit(int status) __attribute__((noreturn));

/* stubs.c (hvmloader side) */
void hvmt_setup(const struct hvmt_config *c);
unsigned int hvmt_low_mem_pgend(void);
unsigned int hvmt_last_alloc_size(void);

#endif /* HVMT_H */
