/* SPDX-License-Identifier: MIT */
/*
 * Force-included into every hvmloader file the harness builds for the host:
 * hvmloader's libc-like functions (util.h declares them with its own
 * prototypes, e.g. memcpy's length is unsigned) get names of their own, so
 * they cannot meet the host libc's; hypercall.h is replaced by stubs.
 */
#define memcpy   hvmt_memcpy
#define memmove  hvmt_memmove
#define memset   hvmt_memset
#define memcmp   hvmt_memcmp
#define strlen   hvmt_strlen
#define strcmp   hvmt_strcmp
#define strncmp  hvmt_strncmp
#define strcpy   hvmt_strcpy
#define strncpy  hvmt_strncpy
#define strtoll  hvmt_strtoll
#define printf   hvmt_printf
#define vprintf  hvmt_vprintf
#define snprintf hvmt_snprintf
#define itoa     hvmt_itoa
#define uuid_to_string hvmt_uuid_to_string

/* hypercall.h's inline hypercalls would call into the hypercall page. */
#define __HVMLOADER_HYPERCALL_H__
int hypercall_xen_version(int cmd, void *arg);
/* ... which also brought these in. */
#include <stdint.h>
#include <xen/xen.h>
#include "config.h"
