/* SPDX-License-Identifier: MIT */
/*
 * xcmod_reader.c - freestanding reference reader for xcmod module images.
 *
 * hvmloader style: no allocation, no libc, explicit bounds.  Every length
 * read from the image is compared against what is left of the region
 * (`len > size - pos`, never `pos + len > size`, so nothing can wrap)
 * before a single byte beyond the fixed-size part is touched.
 */
#include "xcmod_reader.h"

#define HDR_SIZE         ((uint32_t)sizeof(struct xcmod_header))
#define ACPI_HDR_SIZE    ((uint32_t)sizeof(struct xcmod_acpi_header))
#define SMBIOS_HDR_SIZE  ((uint32_t)sizeof(struct xcmod_smbios_header))
#define OROM_HDR_SIZE    ((uint32_t)sizeof(struct xcmod_orom_header))
#define END_HDR_SIZE     ((uint32_t)sizeof(struct xcmod_end_header))
#define IDS_HDR_SIZE     ((uint32_t)sizeof(struct xcmod_acpi_ids_header))
#define ACPI_TABLE_HDR   ((uint32_t)sizeof(struct xcmod_acpi_table_header))

/* As Xen's: does not compile when @cond is true. */
#ifndef BUILD_BUG_ON
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#endif

/* Offsets of the common header fields (see struct xcmod_header). */
#define OFF_VERSION        4
#define OFF_TYPE           6
#define OFF_HEADER_LENGTH  8
#define OFF_FLAGS         10
#define OFF_LENGTH        12
#define OFF_CHECKSUM      16
#define OFF_RESERVED      20

/* CRC-32, reflected polynomial 0xEDB88320, four bits at a time. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
    0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

static uint32_t crc_byte(uint32_t crc, uint8_t b)
{
    crc ^= b;
    crc = (crc >> 4) ^ crc_nibble[crc & 0xf];
    crc = (crc >> 4) ^ crc_nibble[crc & 0xf];
    return crc;
}

uint32_t xcmod_crc32(uint32_t crc, const uint8_t *p, uint32_t len)
{
    uint32_t i;

    crc = ~crc;
    for ( i = 0; i < len; i++ )
        crc = crc_byte(crc, p[i]);
    return ~crc;
}

/* CRC of a module with its checksum field read as zero. */
static uint32_t module_crc(const uint8_t *m, uint32_t length)
{
    static const uint8_t zero[4];
    uint32_t crc;

    crc = xcmod_crc32(0, m, OFF_CHECKSUM);
    crc = xcmod_crc32(crc, zero, 4);
    return xcmod_crc32(crc, m + OFF_CHECKSUM + 4, length - OFF_CHECKSUM - 4);
}

static uint32_t align_up(uint32_t v)
{
    return (v + (XCMOD_MODULE_ALIGN - 1)) & ~(uint32_t)(XCMOD_MODULE_ALIGN - 1);
}

static int fail(struct xcmod_cursor *c, int status, uint32_t offset)
{
    c->error_offset = offset;
    return status;
}

int xcmod_acpi_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                    struct xcmod_item *item)
{
    uint32_t left, len, i;
    const uint8_t *t;
    uint8_t sum = 0;
    int facs;

    if ( !mod || !c || !item || mod->type != XCMOD_TYPE_ACPI )
        return XCMOD_E_ARGUMENT;
    if ( c->pos > mod->payload_length )
        return fail(c, XCMOD_E_TRUNCATED, mod->payload_offset);
    left = mod->payload_length - c->pos;
    if ( left == 0 )
        return 0;

    t = mod->payload + c->pos;
    /* Signature and Length (8 bytes) are common to every table, FACS too. */
    if ( left < 8 )
        return fail(c, XCMOD_E_TRUNCATED, mod->payload_offset + c->pos);
    len = xcmod_le32(t + 4);
    facs = t[0] == 'F' && t[1] == 'A' && t[2] == 'C' && t[3] == 'S';
    if ( len < (facs ? XCMOD_ACPI_FACS_MIN_LENGTH : ACPI_TABLE_HDR) ||
         len > left )
        return fail(c, XCMOD_E_ACPI_LENGTH, mod->payload_offset + c->pos + 4);
    /* ACPI 6.5, 5.2.6: "the entire table, including the checksum field,
     * must add to zero to be considered valid".  The FACS has no checksum. */
    if ( !facs )
    {
        for ( i = 0; i < len; i++ )
            sum += t[i];
        if ( sum != 0 )
            return fail(c, XCMOD_E_ACPI_CHECKSUM,
                        mod->payload_offset + c->pos + 9);
    }

    item->data = t;
    item->offset = mod->payload_offset + c->pos;
    item->length = len;
    item->formatted_length = facs ? len : ACPI_TABLE_HDR;
    c->pos += len;
    c->index++;
    return 1;
}

int xcmod_smbios_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                      struct xcmod_item *item)
{
    uint32_t left, flen, i;
    const uint8_t *s;

    if ( !mod || !c || !item || mod->type != XCMOD_TYPE_SMBIOS )
        return XCMOD_E_ARGUMENT;
    if ( c->pos > mod->payload_length )
        return fail(c, XCMOD_E_TRUNCATED, mod->payload_offset);
    left = mod->payload_length - c->pos;
    if ( left == 0 )
        return 0;

    s = mod->payload + c->pos;
    if ( left < 4 )
        return fail(c, XCMOD_E_TRUNCATED, mod->payload_offset + c->pos);
    flen = s[1];
    /*
     * SMBIOS 3.7, 6.1.2: Length is "the length of the formatted area of the
     * structure, starting at the Type field", so at least the 4-byte header.
     */
    if ( flen < 4 || flen > left )
        return fail(c, XCMOD_E_SMBIOS_LENGTH, mod->payload_offset + c->pos + 1);

    /* 6.1.3: the string set ends with two NULs; a structure without strings
     * is followed by two NULs as well.  Both must lie inside the payload. */
    for ( i = flen; ; i++ )
    {
        if ( i + 1 >= left )
            return fail(c, XCMOD_E_SMBIOS_STRINGS,
                        mod->payload_offset + c->pos + flen);
        if ( s[i] == 0 && s[i + 1] == 0 )
            break;
    }

    item->data = s;
    item->offset = mod->payload_offset + c->pos;
    item->length = i + 2;
    item->formatted_length = flen;
    c->pos += i + 2;
    c->index++;
    return 1;
}

/* Walk a module's payload to its end; the count must match the header. */
static int check_payload(struct xcmod_module *mod, struct xcmod_cursor *outer)
{
    struct xcmod_cursor c = XCMOD_CURSOR_INIT;
    struct xcmod_item it;
    uint32_t max = 0;
    int rc;

    for ( ;; )
    {
        rc = mod->type == XCMOD_TYPE_ACPI ? xcmod_acpi_next(mod, &c, &it)
                                          : xcmod_smbios_next(mod, &c, &it);
        if ( rc < 0 )
            return fail(outer, rc, c.error_offset);
        if ( rc == 0 )
            break;
        if ( it.length > max )
            max = it.length;
    }
    if ( c.index != mod->count )
        return fail(outer, XCMOD_E_COUNT, mod->offset + HDR_SIZE);
    if ( mod->type == XCMOD_TYPE_SMBIOS &&
         max != mod->smbios_max_structure_size )
        return fail(outer, XCMOD_E_SMBIOS_MAXSIZE, mod->offset + HDR_SIZE + 8);
    return XCMOD_OK;
}

int xcmod_module_next(const struct xcmod_image *img, struct xcmod_cursor *c,
                      struct xcmod_module *mod)
{
    const uint8_t *m, *th;
    uint32_t pos, left, hlen, len, want_hlen, end, i;
    uint16_t type, flags;
    int rc;

    if ( !img || !c || !mod || !img->base )
        return XCMOD_E_ARGUMENT;
    pos = c->pos;
    if ( pos > img->size )
        return fail(c, XCMOD_E_TRUNCATED, img->size);
    left = img->size - pos;
    if ( left == 0 )
        return fail(c, XCMOD_E_NO_END, pos);
    if ( left < HDR_SIZE )
        return fail(c, XCMOD_E_TRUNCATED, pos);

    m = img->base + pos;
    if ( m[0] != XCMOD_SIGNATURE_0 || m[1] != XCMOD_SIGNATURE_1 ||
         m[2] != XCMOD_SIGNATURE_2 || m[3] != XCMOD_SIGNATURE_3 )
        return fail(c, XCMOD_E_SIGNATURE, pos);
    if ( xcmod_le16(m + OFF_VERSION) != XCMOD_FORMAT_VERSION )
        return fail(c, XCMOD_E_VERSION, pos + OFF_VERSION);

    type = xcmod_le16(m + OFF_TYPE);
    hlen = xcmod_le16(m + OFF_HEADER_LENGTH);
    flags = xcmod_le16(m + OFF_FLAGS);
    len = xcmod_le32(m + OFF_LENGTH);

    switch ( type )
    {
    case XCMOD_TYPE_END:    want_hlen = HDR_SIZE + END_HDR_SIZE;    break;
    case XCMOD_TYPE_ACPI:   want_hlen = HDR_SIZE + ACPI_HDR_SIZE;   break;
    case XCMOD_TYPE_SMBIOS: want_hlen = HDR_SIZE + SMBIOS_HDR_SIZE; break;
    case XCMOD_TYPE_OROM:   want_hlen = HDR_SIZE + OROM_HDR_SIZE;   break;
    case XCMOD_TYPE_ACPI_IDS: want_hlen = HDR_SIZE + IDS_HDR_SIZE;  break;
    default:                want_hlen = 0; /* unknown: any 4-multiple */
    }
    if ( want_hlen ? hlen != want_hlen : (hlen < HDR_SIZE || (hlen & 3)) )
        return fail(c, XCMOD_E_HEADER_LENGTH, pos + OFF_HEADER_LENGTH);
    if ( flags & ~XCMOD_FLAGS_KNOWN )
        return fail(c, XCMOD_E_FLAGS, pos + OFF_FLAGS);
    if ( xcmod_le32(m + OFF_RESERVED) != 0 )
        return fail(c, XCMOD_E_RESERVED, pos + OFF_RESERVED);
    if ( len < hlen )
        return fail(c, XCMOD_E_LENGTH, pos + OFF_LENGTH);
    if ( len > left )
        return fail(c, XCMOD_E_TRUNCATED, pos + OFF_LENGTH);
    if ( module_crc(m, len) != xcmod_le32(m + OFF_CHECKSUM) )
        return fail(c, XCMOD_E_CHECKSUM, pos + OFF_CHECKSUM);

    th = m + HDR_SIZE;
    mod->offset = pos;
    mod->type = type;
    mod->length = len;
    mod->header = m;
    mod->type_header = th;
    mod->payload = m + hlen;
    mod->payload_length = len - hlen;
    mod->payload_offset = pos + hlen;
    mod->count = 0;
    mod->smbios_major = mod->smbios_minor = 0;
    mod->smbios_docrev = mod->smbios_entry_point = 0;
    mod->smbios_max_structure_size = 0;

    end = pos + len;
    if ( type == XCMOD_TYPE_END )
    {
        mod->count = xcmod_le32(th + 4);
        if ( len != hlen )
            return fail(c, XCMOD_E_LENGTH, pos + OFF_LENGTH);
        if ( xcmod_le32(th) != end || mod->count != c->index )
            return fail(c, XCMOD_E_TOTALS, pos + HDR_SIZE);
        if ( end != img->size )
            return fail(c, XCMOD_E_TRAILING, end);
        c->pos = end;
        return 0;
    }

    if ( type == XCMOD_TYPE_ACPI )
    {
        mod->count = xcmod_le32(th);
        if ( xcmod_le32(th + 4) != 0 )
            return fail(c, XCMOD_E_RESERVED, pos + HDR_SIZE + 4);
    }
    else if ( type == XCMOD_TYPE_SMBIOS )
    {
        mod->count = xcmod_le32(th);
        mod->smbios_major = th[4];
        mod->smbios_minor = th[5];
        mod->smbios_docrev = th[6];
        mod->smbios_entry_point = th[7];
        mod->smbios_max_structure_size = xcmod_le32(th + 8);
        if ( th[7] != XCMOD_SMBIOS_EP_UNKNOWN && th[7] != XCMOD_SMBIOS_EP_21 &&
             th[7] != XCMOD_SMBIOS_EP_30 )
            return fail(c, XCMOD_E_ENTRY_POINT, pos + HDR_SIZE + 7);
        if ( xcmod_le32(th + 12) != 0 )
            return fail(c, XCMOD_E_RESERVED, pos + HDR_SIZE + 12);
    }
    else if ( type == XCMOD_TYPE_OROM )
    {
        mod->count = th[7];
        if ( xcmod_le32(th + 12) != 0 )
            return fail(c, XCMOD_E_RESERVED, pos + HDR_SIZE + 12);
        if ( xcmod_le32(th + 8) != mod->payload_length )
            return fail(c, XCMOD_E_LENGTH, pos + HDR_SIZE + 8);
        /* PCI Firmware 3.0, 5.1.1: every ROM image starts 55h AAh. */
        if ( mod->payload_length < 2 || mod->payload[0] != 0x55 ||
             mod->payload[1] != 0xAA )
            return fail(c, XCMOD_E_OROM_SIGNATURE, mod->payload_offset);
    }
    else if ( type == XCMOD_TYPE_ACPI_IDS )
    {
        if ( xcmod_le16(th + 14) != 0 )
            return fail(c, XCMOD_E_RESERVED, pos + HDR_SIZE + 14);
        if ( len != hlen )      /* the IDs are the whole module */
            return fail(c, XCMOD_E_LENGTH, pos + OFF_LENGTH);
    }
    if ( type == XCMOD_TYPE_ACPI || type == XCMOD_TYPE_SMBIOS )
    {
        rc = check_payload(mod, c);
        if ( rc < 0 )
            return rc;
    }

    /* Zero padding up to the next module; an END module must follow. */
    if ( align_up(end) < end || align_up(end) > img->size )
        return fail(c, XCMOD_E_NO_END, end);
    for ( i = end; i < align_up(end); i++ )
        if ( img->base[i] != 0 )
            return fail(c, XCMOD_E_PADDING, i);

    c->pos = align_up(end);
    c->index++;
    return 1;
}

int xcmod_image_check(struct xcmod_image *img, const void *base, uint32_t size)
{
    struct xcmod_cursor c = XCMOD_CURSOR_INIT;
    struct xcmod_module mod;
    int rc;

    /* The format's sizes (xcmod_module.h): a layout change fails the build. */
    BUILD_BUG_ON(sizeof(struct xcmod_header) != 24);
    BUILD_BUG_ON(sizeof(struct xcmod_acpi_header) != 8);
    BUILD_BUG_ON(sizeof(struct xcmod_smbios_header) != 16);
    BUILD_BUG_ON(sizeof(struct xcmod_orom_header) != 16);
    BUILD_BUG_ON(sizeof(struct xcmod_acpi_ids_header) != 16);
    BUILD_BUG_ON(sizeof(struct xcmod_end_header) != 8);
    BUILD_BUG_ON(sizeof(struct xcmod_acpi_table_header) != 36);
    BUILD_BUG_ON(sizeof(struct xcmod_smbios_structure_header) != 4);

    if ( !img || !base )
        return XCMOD_E_ARGUMENT;
    img->base = base;
    img->size = size;
    img->image_length = 0;
    img->module_count = 0;
    img->error_offset = 0;

    while ( (rc = xcmod_module_next(img, &c, &mod)) > 0 )
        ;
    if ( rc < 0 )
    {
        img->error_offset = c.error_offset;
        return rc;
    }
    img->image_length = c.pos;
    img->module_count = c.index;
    return XCMOD_OK;
}

const char *xcmod_strerror(int status)
{
    switch ( status )
    {
    case XCMOD_OK:
        return "ok";
    case XCMOD_E_TRUNCATED:
        return "truncated: runs past the end of the image";
    case XCMOD_E_SIGNATURE:
        return "bad module signature (expected \"XCMD\")";
    case XCMOD_E_VERSION:
        return "unsupported format version";
    case XCMOD_E_HEADER_LENGTH:
        return "header length does not match the module type";
    case XCMOD_E_FLAGS:
        return "unknown module flags set";
    case XCMOD_E_RESERVED:
        return "reserved field is not zero";
    case XCMOD_E_LENGTH:
        return "module length inconsistent with its headers";
    case XCMOD_E_CHECKSUM:
        return "module checksum mismatch";
    case XCMOD_E_PADDING:
        return "padding between modules is not zero";
    case XCMOD_E_NO_END:
        return "image ends without an END module";
    case XCMOD_E_TRAILING:
        return "data after the END module";
    case XCMOD_E_TOTALS:
        return "END module totals disagree with the image";
    case XCMOD_E_COUNT:
        return "item count disagrees with the payload";
    case XCMOD_E_ACPI_LENGTH:
        return "ACPI table length invalid";
    case XCMOD_E_ACPI_CHECKSUM:
        return "ACPI table checksum invalid";
    case XCMOD_E_SMBIOS_LENGTH:
        return "SMBIOS structure length invalid";
    case XCMOD_E_SMBIOS_STRINGS:
        return "SMBIOS string set not terminated";
    case XCMOD_E_SMBIOS_MAXSIZE:
        return "SMBIOS max structure size disagrees";
    case XCMOD_E_ENTRY_POINT:
        return "unknown SMBIOS entry point kind";
    case XCMOD_E_ARGUMENT:
        return "invalid argument";
    case XCMOD_E_OROM_SIGNATURE:
        return "option ROM signature invalid (expected 55 AA)";
    }
    return "unknown error";
}
