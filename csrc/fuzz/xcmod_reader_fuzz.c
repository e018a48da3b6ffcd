/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the reference reader.  Built with
 *   clang -fsanitize=fuzzer,address,undefined
 * by `make fuzz`.  It feeds arbitrary bytes to xcmod_image_check() and, on
 * images that pass, walks every module, table and structure, touching each
 * byte the reader hands out so AddressSanitizer sees any out-of-range item.
 */
#include <stddef.h>
#include <stdint.h>
#include "xcmod_reader.h"

static volatile uint8_t sink;

static void touch(const uint8_t *p, uint32_t len)
{
    uint32_t i;

    for ( i = 0; i < len; i++ )
        sink ^= p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xcmod_image img;
    struct xcmod_cursor mc = XCMOD_CURSOR_INIT;
    struct xcmod_module mod;

    if ( size > 0xffffffffu )
        return 0;
    if ( xcmod_image_check(&img, data, (uint32_t)size) < 0 )
        return 0;
    while ( xcmod_module_next(&img, &mc, &mod) > 0 )
    {
        struct xcmod_cursor ic = XCMOD_CURSOR_INIT;
        struct xcmod_item it;

        touch(mod.payload, mod.payload_length);
        if ( mod.type == XCMOD_TYPE_ACPI )
            while ( xcmod_acpi_next(&mod, &ic, &it) > 0 )
                touch(it.data, it.length);
        else if ( mod.type == XCMOD_TYPE_SMBIOS )
            while ( xcmod_smbios_next(&mod, &ic, &it) > 0 )
                touch(it.data, it.length);
    }
    return 0;
}
