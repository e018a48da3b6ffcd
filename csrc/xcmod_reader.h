/* SPDX-License-Identifier: MIT */
/*
 * xcmod_reader.h - freestanding reference reader for xcmod module images.
 *
 * Written for firmware such as hvmloader: no allocation, no libc, only
 * <stdint.h>.  Every function takes the image as (base, size) and never
 * reads outside [base, base + size), whatever the bytes say.
 *
 * Typical use:
 *
 *     struct xcmod_image img;
 *     struct xcmod_cursor mc = XCMOD_CURSOR_INIT;
 *     struct xcmod_module mod;
 *     int rc;
 *
 *     if ( (rc = xcmod_image_check(&img, base, size)) < 0 )
 *         fail(xcmod_strerror(rc), img.error_offset);
 *     while ( (rc = xcmod_module_next(&img, &mc, &mod)) > 0 )
 *     {
 *         struct xcmod_cursor ic = XCMOD_CURSOR_INIT;
 *         struct xcmod_item it;
 *         if ( mod.type == XCMOD_TYPE_ACPI )
 *             while ( xcmod_acpi_next(&mod, &ic, &it) > 0 )
 *                 install_acpi_table(it.data, it.length);
 *     }
 *
 * xcmod_image_check() walks and validates everything once; the iterators
 * validate what they return as well, so they are safe on their own.
 */
#ifndef XCMOD_READER_H
#define XCMOD_READER_H

#include <stdint.h>
#include "xcmod_module.h"

/* Return codes: > 0 "got one", 0 "no more", < 0 one of these. */
enum xcmod_status {
    XCMOD_OK                 =   0,
    XCMOD_E_TRUNCATED        =  -1, /* a header or length runs past the end */
    XCMOD_E_SIGNATURE        =  -2, /* module does not start with "XCMD"    */
    XCMOD_E_VERSION          =  -3, /* format version not supported         */
    XCMOD_E_HEADER_LENGTH    =  -4, /* header_length wrong for the type     */
    XCMOD_E_FLAGS            =  -5, /* unknown flag bits set                */
    XCMOD_E_RESERVED         =  -6, /* a reserved field is not zero         */
    XCMOD_E_LENGTH           =  -7, /* module length shorter than headers   */
    XCMOD_E_CHECKSUM         =  -8, /* module CRC-32 mismatch               */
    XCMOD_E_PADDING          =  -9, /* padding between modules not zero     */
    XCMOD_E_NO_END           = -10, /* image ends without an END module     */
    XCMOD_E_TRAILING         = -11, /* bytes after the END module           */
    XCMOD_E_TOTALS           = -12, /* END totals disagree with the walk    */
    XCMOD_E_COUNT            = -13, /* table/structure count disagrees      */
    XCMOD_E_ACPI_LENGTH      = -14, /* ACPI table length invalid            */
    XCMOD_E_ACPI_CHECKSUM    = -15, /* ACPI table checksum not zero         */
    XCMOD_E_SMBIOS_LENGTH    = -16, /* SMBIOS length < 4 or past the end    */
    XCMOD_E_SMBIOS_STRINGS   = -17, /* SMBIOS string set not terminated     */
    XCMOD_E_SMBIOS_MAXSIZE   = -18, /* max_structure_size disagrees         */
    XCMOD_E_ENTRY_POINT      = -19, /* unknown SMBIOS entry point kind      */
    XCMOD_E_ARGUMENT         = -20, /* NULL pointer or size too small       */
    XCMOD_E_OROM_SIGNATURE   = -21  /* option ROM does not start 55h AAh    */
};

/* The image, as handed to xcmod_image_check(). */
struct xcmod_image {
    const uint8_t *base;
    uint32_t size;
    uint32_t image_length;   /* from END, after a successful check         */
    uint32_t module_count;   /* modules before END, after a successful check */
    uint32_t error_offset;   /* offset from base of the first problem      */
};

/* Iteration state; start every walk from XCMOD_CURSOR_INIT. */
struct xcmod_cursor {
    uint32_t pos;            /* next position within the walked region     */
    uint32_t index;          /* items returned so far                      */
    uint32_t error_offset;   /* from the image base, when a call fails     */
};
#define XCMOD_CURSOR_INIT { 0, 0, 0 }

/* One module, as returned by xcmod_module_next(). */
struct xcmod_module {
    uint32_t offset;         /* of the module from the image base          */
    uint16_t type;           /* XCMOD_TYPE_*                               */
    uint32_t length;         /* header + payload                           */
    uint32_t count;          /* tables (ACPI), structures (SMBIOS),
                                images (OROM), modules (END)              */
    const uint8_t *header;   /* the common header                          */
    const uint8_t *type_header;
    const uint8_t *payload;
    uint32_t payload_length;
    uint32_t payload_offset; /* of the payload from the image base         */
    /* SMBIOS only */
    uint8_t  smbios_major, smbios_minor, smbios_docrev, smbios_entry_point;
    uint32_t smbios_max_structure_size;
};

/* One ACPI table or one SMBIOS structure inside a module. */
struct xcmod_item {
    const uint8_t *data;     /* table header / structure header            */
    uint32_t offset;         /* from the image base                        */
    uint32_t length;         /* whole table / formatted area + string set  */
    uint32_t formatted_length; /* SMBIOS: formatted area; ACPI: 36         */
};

/* CRC-32 as used in the module checksum (zlib's crc32()). */
uint32_t xcmod_crc32(uint32_t crc, const uint8_t *p, uint32_t len);

/* Validate a whole image; fills image_length, module_count, error_offset. */
int xcmod_image_check(struct xcmod_image *img, const void *base, uint32_t size);

/* Walk modules: 1 = *mod is a module, 0 = END reached (*mod is the END
 * module), < 0 = error at c->error_offset.  Each module is fully validated
 * (checksum, padding, every table or structure) before it is returned. */
int xcmod_module_next(const struct xcmod_image *img, struct xcmod_cursor *c,
                      struct xcmod_module *mod);

/* Walk the tables of an ACPI module / structures of an SMBIOS module:
 * 1 = *item filled, 0 = payload exhausted, < 0 = error at c->error_offset. */
int xcmod_acpi_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                    struct xcmod_item *item);
int xcmod_smbios_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                      struct xcmod_item *item);

/* A short English description of a status code. */
const char *xcmod_strerror(int status);

/* Little-endian field access that never assumes alignment. */
static inline uint16_t xcmod_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t xcmod_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
           ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif /* XCMOD_READER_H */
