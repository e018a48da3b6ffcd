/* SPDX-License-Identifier: MIT */
/*
 * main.c - host harness for hvmloader's xcmod code (tests/test_hvmloader_c.py).
 *
 *   hvmt [OPTION]... COMMAND
 *     --put ADDR=FILE     copy FILE into guest memory at ADDR (after the
 *                         start info: xcmod load writes after libxc)
 *     --xs KEY=VALUE      a xenstore key hvmloader reads (relative path)
 *     --vcpus N           hvm_info->nr_vcpus (default 1)
 *     --low-end ADDR      end of low RAM (default HVMT_LOW_RAM_END)
 *     --high-mem-mib N    RAM above 4 GiB
 *     --steal-pages N     every mem_alloc() takes N pages off the top of low
 *                         RAM (a domain with no page left); they read 0xff
 *     --uuid HEX32        the domain handle (XENVER_guest_handle)
 *     --start-info ADDR   an hvm_start_info at ADDR listing every --module
 *     --module ADDR:SIZE:NAME
 *     --area ADDR:LEN     smbios: the firmware's fixed SMBIOS area (OVMF,
 *                         ROMBIOS) instead of an allocated table (SeaBIOS)
 *     --clobber ADDR:LEN  after the image is found, overwrite LEN bytes at ADDR
 *                         with 0xcc (hvmloader's own later work, a debug
 *                         build's self-tests)
 *   COMMAND: init | smbios OUT | acpi NR_OWN
 *
 * Guest memory is host memory at the same addresses: the binary is not
 * position-independent, so hvmloader's 32-bit pointer casts hold.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "hvmt.h"

void fwt_modules_init(void);
_Bool fwt_modules_active(void);
void hvm_write_smbios_tables(unsigned long ep, unsigned long smbios_start,
                             unsigned long smbios_end);
void hvmt_acpi(int nr_own);

static struct { char *key, *value; } xs[32];
static int nxs;

int host_vprintf(const char *fmt, va_list ap)
{
    int n = vprintf(fmt, ap);

    fflush(stdout);
    return n;
}

int host_vsnprintf(char *buf, unsigned long size, const char *fmt, va_list ap)
{
    return vsnprintf(buf, size, fmt, ap);
}

const char *host_xenstore_read(const char *path)
{
    int i;

    for ( i = 0; i < nxs; i++ )
        if ( !strcmp(xs[i].key, path) )
            return xs[i].value;
    return NULL;
}

void host_exit(int status)
{
    fflush(stdout);
    exit(status);
}

/* util.c's where a release does not have them inline in util.h (4.17). */
__attribute__((weak)) void cpuid(uint32_t idx, uint32_t *eax, uint32_t *ebx,
                                 uint32_t *ecx, uint32_t *edx)
{
    __asm__ volatile ( "cpuid" : "=a" (*eax), "=b" (*ebx), "=c" (*ecx),
                       "=d" (*edx) : "0" (idx), "2" (0) );
}

uint16_t get_cpu_mhz(void)
{
    return 2000;
}

static void map(uint32_t start, uint32_t end)
{
    void *p = mmap((void *)(uintptr_t)start, end - start,
                   PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if ( p != (void *)(uintptr_t)start )
    {
        fprintf(stderr, "hvmt: cannot map 0x%x-0x%x\n", start, end);
        exit(2);
    }
}

static void put(uint32_t addr, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if ( !f )
    {
        perror(path);
        exit(2);
    }
    n = fread((void *)(uintptr_t)addr, 1, HVMT_LOW_RAM_END - addr, f);
    fclose(f);
    fprintf(stderr, "hvmt: %zu bytes at 0x%x\n", n, addr);
}

static void le(uint8_t *p, uint64_t v, int n)
{
    while ( n-- )
    {
        *p++ = v;
        v >>= 8;
    }
}

int main(int argc, char **argv)
{
    struct hvmt_config c = { .nr_vcpus = 1,
                             .low_mem_pgend = HVMT_LOW_RAM_END >> 12 };
    struct { uint32_t addr, size; char *name; } mods[8];
    uint32_t clobber = 0, clobber_len = 0;
    uint32_t area = 0, area_len = 0;
    struct { uint32_t addr; const char *path; } files[8];
    int nfiles = 0;
    int nmods = 0, i;
    uint32_t si = 0;

    map(HVMT_LOW_RAM, HVMT_LOW_RAM_END);
    map(HVMT_RESERVED, HVMT_RESERVED_END);
    map(HVMT_SCRATCH, HVMT_SCRATCH_END);

    for ( i = 1; i < argc && !strncmp(argv[i], "--", 2); i += 2 )
    {
        char *o = argv[i], *v = argv[i + 1], *eq;

        if ( !v )
            return 2;
        if ( !strcmp(o, "--put") && (eq = strchr(v, '=')) && nfiles < 8 )
        {
            files[nfiles].addr = strtoul(v, NULL, 0);
            files[nfiles++].path = eq + 1;
        }
        else if ( !strcmp(o, "--xs") && (eq = strchr(v, '=')) && nxs < 32 )
        {
            *eq = '\0';
            xs[nxs].key = v;
            xs[nxs++].value = eq + 1;
        }
        else if ( !strcmp(o, "--vcpus") )
            c.nr_vcpus = strtoul(v, NULL, 0);
        else if ( !strcmp(o, "--low-end") )
            c.low_mem_pgend = strtoul(v, NULL, 0) >> 12;
        else if ( !strcmp(o, "--high-mem-mib") )
            c.high_mem_pgend = (1u << 20) + strtoul(v, NULL, 0) * 256;
        else if ( !strcmp(o, "--steal-pages") )
            c.steal_pages = strtoul(v, NULL, 0);
        else if ( !strcmp(o, "--uuid") && strlen(v) == 32 )
        {
            int k;

            for ( k = 0; k < 16; k++ )
                sscanf(v + 2 * k, "%2hhx", &c.uuid[k]);
        }
        else if ( !strcmp(o, "--area") )
        {
            char *p;

            area = strtoul(v, &p, 0);
            area_len = strtoul(p + 1, NULL, 0);
        }
        else if ( !strcmp(o, "--clobber") )
        {
            char *p;

            clobber = strtoul(v, &p, 0);
            clobber_len = strtoul(p + 1, NULL, 0);
        }
        else if ( !strcmp(o, "--start-info") )
            si = strtoul(v, NULL, 0);
        else if ( !strcmp(o, "--module") && nmods < 8 )
        {
            char *p;

            mods[nmods].addr = strtoul(v, &p, 0);
            mods[nmods].size = strtoul(p + 1, &p, 0);
            mods[nmods++].name = p + 1;
        }
        else
        {
            fprintf(stderr, "hvmt: bad option %s %s\n", o, v);
            return 2;
        }
    }

    if ( si )
    {
        /* struct hvm_start_info (version 1), its modlist, the names. */
        uint8_t *p = (uint8_t *)(uintptr_t)si;
        uint32_t list = si + 64, names = list + 32 * nmods;

        memset(p, 0, 64);
        le(p, 0x336ec578, 4);                  /* XEN_HVM_START_MAGIC_VALUE */
        le(p + 4, 1, 4);
        le(p + 12, nmods, 4);
        le(p + 16, nmods ? list : 0, 8);
        for ( i = 0; i < nmods; i++ )
        {
            uint8_t *e = (uint8_t *)(uintptr_t)(list + 32 * i);

            memset(e, 0, 32);
            le(e, mods[i].addr, 8);
            le(e + 8, mods[i].size, 8);
            le(e + 16, names, 8);
            strcpy((char *)(uintptr_t)names, mods[i].name);
            names += strlen(mods[i].name) + 1;
        }
        c.start_info = si;
    }
    /* Written after libxc's start info: xcmod load comes after the builder. */
    for ( i = 0; i < nfiles; i++ )
        put(files[i].addr, files[i].path);
    for ( i = 1; i < argc && !strncmp(argv[i], "--", 2); i += 2 )
        ;
    hvmt_setup(&c);

    if ( i >= argc )
        return 2;
    fwt_modules_init();
    printf("hvmt: active=%d low_mem_end=0x%x\n", fwt_modules_active(),
           hvmt_low_mem_pgend() << 12);
    if ( clobber_len )
        memset((void *)(uintptr_t)clobber, 0xcc, clobber_len);

    if ( !strcmp(argv[i], "smbios") && i + 1 < argc )
    {
        uint32_t ep = HVMT_SCRATCH, table, len;
        FILE *f;

        memset((void *)(uintptr_t)ep, 0, 0x1f);
        hvm_write_smbios_tables(ep, area, area ? area + area_len : 0);
        if ( memcmp((void *)(uintptr_t)ep, "_SM_", 4) )
        {
            printf("hvmt: smbios none\n");
            return 0;
        }
        table = *(uint32_t *)(uintptr_t)(ep + 0x18);
        len = area ? *(uint16_t *)(uintptr_t)(ep + 0x16) : hvmt_last_alloc_size();
        printf("hvmt: smbios table=0x%x bytes=%u\n", table, len);
        f = fopen(argv[i + 1], "wb");
        if ( !f || fwrite((void *)(uintptr_t)ep, 1, 0x1f, f) != 0x1f ||
             fwrite((void *)(uintptr_t)table, 1, len, f) != len || fclose(f) )
            return 2;
    }
    else if ( !strcmp(argv[i], "acpi") && i + 1 < argc )
        hvmt_acpi(atoi(argv[i + 1]));
    else if ( strcmp(argv[i], "init") )
        return 2;
    return 0;
}
