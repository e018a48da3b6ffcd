/* SPDX-License-Identifier: MIT */
/*
 * stubs.c - hvmloader's environment for its own files built on the host:
 * string functions, printf (to the host's stdout), xenstore_read (from the
 * command line), hvm_info, hvm_start_info, mem_alloc (with a domain that
 * may be out of pages), the XENVER_* hypercalls.  Built with hvmloader's
 * freestanding headers and shim.h.
 */
#include "util.h"
#include "config.h"
#include <xen/version.h>
#include <xen/arch-x86/hvm/start_info.h>
#include "hvmt.h"

static struct hvm_info_table info;
static struct hvmt_config cfg;
static uint32_t alloc_up = HVMT_RESERVED, last_alloc;

const struct hvm_start_info *hvm_start_info;
unsigned long scratch_start = HVMT_SCRATCH + 0x1000;   /* after the EP */

void hvmt_setup(const struct hvmt_config *c)
{
    cfg = *c;
    info.nr_vcpus = c->nr_vcpus;
    info.low_mem_pgend = c->low_mem_pgend;
    info.high_mem_pgend = c->high_mem_pgend;
    hvm_start_info = (const void *)(unsigned long)c->start_info;
}

unsigned int hvmt_low_mem_pgend(void) { return info.low_mem_pgend; }
unsigned int hvmt_last_alloc_size(void) { return last_alloc; }

struct hvm_info_table *get_hvm_info_table(void) { return &info; }

/*
 * hvmloader's mem_alloc() populates each new page of its area; when the
 * domain has no page left, mem_hole_populate_ram() moves one from the top of
 * low RAM instead (hvm_info->low_mem_pgend goes down).
 */
void *mem_alloc(uint32_t size, uint32_t align)
{
    uint32_t s;

    if ( align < 16 )
        align = 16;
    s = (alloc_up + align - 1) & ~(align - 1);
    if ( s + size > HVMT_RESERVED_END || s + size < s )
        __bug(__FILE__, __LINE__);
    alloc_up = s + size;
    last_alloc = size;
    /* Pages moved away: what was at their old addresses is gone. */
    info.low_mem_pgend -= cfg.steal_pages;
    memset((void *)((unsigned long)info.low_mem_pgend << PAGE_SHIFT), 0xff,
           cfg.steal_pages << PAGE_SHIFT);
    return (void *)(unsigned long)s;
}

void mem_hole_populate_ram(xen_pfn_t mfn, uint32_t nr_mfns) { }

void *scratch_alloc(uint32_t size, uint32_t align)
{
    __bug(__FILE__, __LINE__);
}

const char *xenstore_read(const char *path, const char *default_resp)
{
    const char *v = host_xenstore_read(path);

    return v ? v : default_resp;
}

int hypercall_xen_version(int cmd, void *arg)
{
    switch ( cmd )
    {
    case XENVER_guest_handle:
        memcpy(arg, cfg.uuid, 16);
        return 0;
    case XENVER_version:
        return (4 << 16) | 17;
    case XENVER_extraversion:
        strcpy(arg, ".7");
        return 0;
    }
    return -1;
}

void __bug(const char *file, int line)
{
    printf("*** HVMLoader bug at %s:%d\n", file, line);
    host_exit(3);
}

void __assert_failed(const char *assertion, const char *file, int line)
{
    printf("*** HVMLoader assertion '%s' failed at %s:%d\n", assertion, file,
           line);
    host_exit(3);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = host_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = host_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *fmt, va_list ap)
{
    return host_vprintf(fmt, ap);
}

void *memcpy(void *dest, const void *src, unsigned n)
{
    char *d = dest;
    const char *s = src;

    while ( n-- )
        *d++ = *s++;
    return dest;
}

void *memmove(void *dest, const void *src, unsigned n)
{
    char *d = dest;
    const char *s = src;

    if ( d < s )
        return memcpy(dest, src, n);
    while ( n-- )
        d[n] = s[n];
    return dest;
}

void *memset(void *s, int c, unsigned n)
{
    char *p = s;

    while ( n-- )
        *p++ = c;
    return s;
}

int memcmp(const void *s1, const void *s2, unsigned n)
{
    const unsigned char *a = s1, *b = s2;

    for ( ; n; n--, a++, b++ )
        if ( *a != *b )
            return *a - *b;
    return 0;
}

unsigned strlen(const char *s)
{
    unsigned n = 0;

    while ( s[n] )
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while ( *a && *a == *b )
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, uint32_t n)
{
    for ( ; n; n--, a++, b++ )
        if ( *a != *b || !*a )
            return (unsigned char)*a - (unsigned char)*b;
    return 0;
}

char *strcpy(char *dest, const char *src)
{
    return memcpy(dest, src, strlen(src) + 1);
}

char *strncpy(char *dest, const char *src, unsigned n)
{
    unsigned i;

    for ( i = 0; i < n && src[i]; i++ )
        dest[i] = src[i];
    for ( ; i < n; i++ )
        dest[i] = '\0';
    return dest;
}

long long strtoll(const char *s, char **end, int base)
{
    long long v = 0;
    int d;

    if ( (base == 0 || base == 16) && s[0] == '0' && (s[1] | 0x20) == 'x' )
    {
        base = 16;
        s += 2;
    }
    if ( base == 0 )
        base = 10;
    for ( ; ; s++ )
    {
        if ( *s >= '0' && *s <= '9' )
            d = *s - '0';
        else if ( (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f' )
            d = (*s | 0x20) - 'a' + 10;
        else
            break;
        if ( d >= base )
            break;
        v = v * base + d;
    }
    if ( end )
        *end = (char *)s;
    return v;
}

char *itoa(char *a, unsigned int i)
{
    char buf[16], *p = buf + sizeof(buf);

    *--p = '\0';
    do {
        *--p = '0' + i % 10;
        i /= 10;
    } while ( i );
    return strcpy(a, p);
}

void uuid_to_string(char *dest, uint8_t *uuid)
{
    static const char hex[] = "0123456789abcdef";
    int i;

    for ( i = 0; i < 16; i++ )
    {
        if ( i == 4 || i == 6 || i == 8 || i == 10 )
            *dest++ = '-';
        *dest++ = hex[uuid[i] >> 4];
        *dest++ = hex[uuid[i] & 15];
    }
    *dest = '\0';
}
