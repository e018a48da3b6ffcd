/* SPDX-License-Identifier: MIT */
/*
 * xcmod-read - print an xcmod image the way the reference reader sees it.
 *
 *   xcmod-read IMAGE
 *
 * One line per module, ACPI table and SMBIOS structure, as key=value pairs;
 * exit 0 if the image is valid, 1 with one line on stderr naming the first
 * problem and its offset otherwise, 2 on usage or I/O errors.  This is a
 * hosted program (stdio); the reader it drives is freestanding.
 */
#include <stdio.h>
#include <stdlib.h>
#include "xcmod_reader.h"

static const char *type_name(uint16_t type)
{
    switch ( type )
    {
    case XCMOD_TYPE_END:    return "end";
    case XCMOD_TYPE_ACPI:   return "acpi";
    case XCMOD_TYPE_SMBIOS: return "smbios";
    case XCMOD_TYPE_OROM:   return "orom";
    case XCMOD_TYPE_ACPI_IDS: return "acpi-ids";
    }
    return "unknown";
}

static int read_file(const char *path, uint8_t **buf, uint32_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;

    if ( !f )
        return -1;
    if ( fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
         n > 0x7fffffffL || fseek(f, 0, SEEK_SET) != 0 )
    {
        fclose(f);
        return -1;
    }
    *buf = malloc(n ? (size_t)n : 1);
    if ( !*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n )
    {
        free(*buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *size = (uint32_t)n;
    return 0;
}

static void print_sig(const uint8_t *p)
{
    int i;

    for ( i = 0; i < 4; i++ )
        putchar(p[i] >= 0x21 && p[i] < 0x7f ? p[i] : '?');
}

int main(int argc, char **argv)
{
    struct xcmod_image img;
    struct xcmod_cursor mc = XCMOD_CURSOR_INIT;
    struct xcmod_module mod;
    uint8_t *buf = NULL;
    uint32_t size = 0;
    int rc;

    if ( argc != 2 )
    {
        fprintf(stderr, "usage: xcmod-read IMAGE\n");
        return 2;
    }
    if ( read_file(argv[1], &buf, &size) < 0 )
    {
        fprintf(stderr, "xcmod-read: %s: cannot read file\n", argv[1]);
        return 2;
    }

    rc = xcmod_image_check(&img, buf, size);
    if ( rc < 0 )
    {
        fprintf(stderr, "xcmod-read: %s: offset 0x%x: %s\n", argv[1],
                img.error_offset, xcmod_strerror(rc));
        free(buf);
        return 1;
    }

    printf("image length=%u modules=%u\n", img.image_length, img.module_count);
    while ( (rc = xcmod_module_next(&img, &mc, &mod)) > 0 )
    {
        struct xcmod_cursor ic = XCMOD_CURSOR_INIT;
        struct xcmod_item it;

        printf("module index=%u offset=0x%x type=%s length=%u count=%u",
               mc.index - 1, mod.offset, type_name(mod.type), mod.length,
               mod.count);
        if ( mod.type == XCMOD_TYPE_SMBIOS )
            printf(" version=%u.%u.%u entry_point=%u max_structure_size=%u",
                   mod.smbios_major, mod.smbios_minor, mod.smbios_docrev,
                   mod.smbios_entry_point, mod.smbios_max_structure_size);
        if ( mod.type == XCMOD_TYPE_OROM )
            printf(" vendor=0x%04x device=0x%04x class=0x%02x%02x%02x",
                   xcmod_le16(mod.type_header), xcmod_le16(mod.type_header + 2),
                   mod.type_header[6], mod.type_header[5], mod.type_header[4]);
        if ( mod.type == XCMOD_TYPE_ACPI_IDS )
            printf(" oem_id=\"%.6s\" oem_table_id=\"%.8s\"",
                   (const char *)mod.type_header, (const char *)mod.type_header + 6);
        putchar('\n');

        if ( mod.type == XCMOD_TYPE_ACPI )
            while ( xcmod_acpi_next(&mod, &ic, &it) > 0 )
            {
                printf("table offset=0x%x signature=", it.offset);
                print_sig(it.data);
                printf(" length=%u\n", it.length);
            }
        else if ( mod.type == XCMOD_TYPE_SMBIOS )
            while ( xcmod_smbios_next(&mod, &ic, &it) > 0 )
                printf("structure offset=0x%x type=%u handle=0x%04x "
                       "length=%u size=%u\n", it.offset, it.data[0],
                       xcmod_le16(it.data + 2), it.formatted_length, it.length);
    }
    printf("end offset=0x%x length=%u\n", mod.offset, mod.length);
    free(buf);
    return rc < 0 ? 1 : 0;
}
