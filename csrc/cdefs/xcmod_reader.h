/* SPDX-License-Identifier: MIT */
/* cffi cdefs for csrc/xcmod_reader.h (the reference reader) and the parts of
 * csrc/xcmod_module.h it is read with, mirroring them: whole-image validation,
 * the module and item iterators, the messages, and the two headers whose field
 * offsets name where a checksum sits (xcmod.image.creader). */
#define XCMOD_TYPE_ACPI ...
#define XCMOD_TYPE_SMBIOS ...
#define XCMOD_TYPE_ACPI_IDS ...
#define XCMOD_E_CHECKSUM ...
#define XCMOD_E_ACPI_CHECKSUM ...

struct xcmod_header {
    uint8_t  signature[4];
    uint16_t version;
    uint16_t type;
    uint16_t header_length;
    uint16_t flags;
    uint32_t length;
    uint32_t checksum;
    uint32_t reserved;
};

struct xcmod_acpi_table_header {
    uint8_t  signature[4];
    uint32_t length;
    uint8_t  revision;
    uint8_t  checksum;
    uint8_t  oem_id[6];
    uint8_t  oem_table_id[8];
    uint32_t oem_revision;
    uint8_t  creator_id[4];
    uint32_t creator_revision;
};

struct xcmod_image {
    const uint8_t *base;
    uint32_t size;
    uint32_t image_length;
    uint32_t module_count;
    uint32_t error_offset;
};

struct xcmod_cursor {
    uint32_t pos;
    uint32_t index;
    uint32_t error_offset;
};

struct xcmod_module {
    uint32_t offset;
    uint16_t type;
    uint32_t length;
    uint32_t count;
    const uint8_t *header;
    const uint8_t *type_header;
    const uint8_t *payload;
    uint32_t payload_length;
    uint32_t payload_offset;
    uint8_t  smbios_major, smbios_minor, smbios_docrev, smbios_entry_point;
    uint32_t smbios_max_structure_size;
};

struct xcmod_item {
    const uint8_t *data;
    uint32_t offset;
    uint32_t length;
    uint32_t formatted_length;
};

uint32_t xcmod_crc32(uint32_t crc, const uint8_t *p, uint32_t len);
int xcmod_image_check(struct xcmod_image *img, const void *base, uint32_t size);
int xcmod_module_next(const struct xcmod_image *img, struct xcmod_cursor *c,
                      struct xcmod_module *mod);
int xcmod_acpi_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                    struct xcmod_item *item);
int xcmod_smbios_next(const struct xcmod_module *mod, struct xcmod_cursor *c,
                      struct xcmod_item *item);
const char *xcmod_strerror(int status);
