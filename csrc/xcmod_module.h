/* SPDX-License-Identifier: MIT */
/*
 * xcmod_module.h - the xcmod module image format (public, freestanding).
 *
 * This header is the source of truth for the format; docs/format.md explains
 * it and xcmod/image/spec.py mirrors it field for field.  It depends on nothing
 * but <stdint.h> so that hvmloader (or any firmware) can include it.
 *
 * An IMAGE is a sequence of MODULES laid back to back from a base address.
 * Every module starts on an XCMOD_MODULE_ALIGN boundary (relative to the
 * base), padding between modules is zero, and the last module is of type
 * XCMOD_TYPE_END.  A module is:
 *
 *   struct xcmod_header       common header (signature, version, type, ...)
 *   struct xcmod_<type>_header type-specific header
 *   payload                   whole ACPI tables / whole SMBIOS structures
 *
 * All fields are little-endian.  Every structure is packed by construction
 * (naturally aligned members only); the reader's BUILD_BUG_ON()s pin the sizes
 * (so that this header stays C89 and C++98: no _Static_assert here).
 */
#ifndef XCMOD_MODULE_H
#define XCMOD_MODULE_H

#include <stdint.h>

/* "XCMD" as bytes at offset 0 of every module. */
#define XCMOD_SIGNATURE_0        'X'
#define XCMOD_SIGNATURE_1        'C'
#define XCMOD_SIGNATURE_2        'M'
#define XCMOD_SIGNATURE_3        'D'

/* Incompatible layout changes bump this; readers reject other versions. */
#define XCMOD_FORMAT_VERSION     1

/* Modules start at multiples of this, counted from the image base. */
#define XCMOD_MODULE_ALIGN       16

/* Module types.  Readers skip (but still checksum) types they do not know. */
#define XCMOD_TYPE_END           0  /* terminator, carries image totals      */
#define XCMOD_TYPE_ACPI          1  /* payload: whole ACPI tables            */
#define XCMOD_TYPE_SMBIOS        2  /* payload: whole SMBIOS structures      */
#define XCMOD_TYPE_OROM          3  /* payload: one PCI option ROM           */
#define XCMOD_TYPE_ACPI_IDS      4  /* no payload: OEM IDs for the guest's
                                       RSDP, RSDT, XSDT and FADT (opt-in)   */

/* No flags are defined in version 1; readers reject any bit set. */
#define XCMOD_FLAGS_KNOWN        0x0000

/*
 * Common header, at the start of every module.
 *
 * checksum: CRC-32 (IEEE 802.3 polynomial, reflected, init and final XOR
 * 0xFFFFFFFF: the CRC of zlib, PNG and Ethernet) over the `length` bytes of
 * the module, computed with this field set to zero.  CRC-32 detects every
 * single corrupted byte and every error burst up to 32 bits long, which an
 * 8-bit sum (ACPI's) or a Fletcher sum does not for byte swaps; it needs no
 * tables or libc and is a few lines of C (xcmod_crc32() in xcmod_reader.c).
 */
struct xcmod_header {
    uint8_t  signature[4];    /* "XCMD"                                    */
    uint16_t version;         /* XCMOD_FORMAT_VERSION                      */
    uint16_t type;            /* XCMOD_TYPE_*                              */
    uint16_t header_length;   /* common + type-specific header, in bytes   */
    uint16_t flags;           /* XCMOD_FLAGS_KNOWN bits only               */
    uint32_t length;          /* whole module: headers + payload, no pad   */
    uint32_t checksum;        /* CRC-32, see above                         */
    uint32_t reserved;        /* zero                                      */
};

/*
 * XCMOD_TYPE_ACPI: payload is table_count whole ACPI tables back to back,
 * each exactly as long as its header's Length field, each with a valid
 * checksum (the FACS, which has none, is checked for length only).
 */
struct xcmod_acpi_header {
    uint32_t table_count;     /* number of tables in the payload           */
    uint32_t reserved;        /* zero                                      */
};

/*
 * XCMOD_TYPE_SMBIOS: payload is structure_count whole SMBIOS structures
 * back to back, each its formatted area (Length >= 4) followed by its string
 * set ending in a double NUL, exactly as in an SMBIOS structure table.
 * The version is the one the source entry point announced; entry_point says
 * which anchor it came from.
 */
#define XCMOD_SMBIOS_EP_UNKNOWN  0  /* raw table, no entry point seen       */
#define XCMOD_SMBIOS_EP_21       2  /* "_SM_" 32-bit entry point (2.1+)     */
#define XCMOD_SMBIOS_EP_30       3  /* "_SM3_" 64-bit entry point (3.0+)    */

struct xcmod_smbios_header {
    uint32_t structure_count;   /* number of structures in the payload     */
    uint8_t  major_version;     /* SMBIOS major version of the source      */
    uint8_t  minor_version;     /* SMBIOS minor version of the source      */
    uint8_t  docrev;            /* SMBIOS docrev (3.x entry points), or 0  */
    uint8_t  entry_point;       /* XCMOD_SMBIOS_EP_*                       */
    uint32_t max_structure_size;/* largest structure incl. its string set  */
    uint32_t reserved;          /* zero                                    */
};

/*
 * XCMOD_TYPE_OROM: payload is one PCI expansion ROM exactly as the device
 * would expose it (PCI Firmware Specification 3.0, 5.1): one or more images,
 * each starting 55h AAh with a "PCIR" data structure, the last flagged in
 * its indicator byte.  The IDs repeat the first image's PCIR so a loader can
 * pick the ROM for a device without parsing it; the builder validated the
 * whole chain (signatures, lengths, legacy image checksums).
 */
struct xcmod_orom_header {
    uint16_t vendor_id;       /* PCIR vendor ID of the first image         */
    uint16_t device_id;       /* PCIR device ID of the first image         */
    uint8_t  class_code[3];   /* PCIR class code: prog-if, sub-class, base */
    uint8_t  image_count;     /* images in the ROM                         */
    uint32_t rom_length;      /* payload bytes                             */
    uint32_t reserved;        /* zero                                      */
};

/*
 * XCMOD_TYPE_ACPI_IDS: the OEM ID and OEM Table ID that the firmware's own
 * RSDT, XSDT and FADT headers (and the RSDP's OEM ID) carry instead of its
 * defaults.  Windows OEM activation accepts a SLIC only when the RSDT's and
 * XSDT's IDs equal the SLIC's (Microsoft, "OEM Activation 2.1"); QEMU copies
 * them the same way for -acpitable ...SLIC.  The module has no payload; the
 * IDs are byte strings exactly as they go into the ACPI headers (ACPI 6.5,
 * 5.2.6), conventionally padded with spaces.  An image carries at most one.
 */
struct xcmod_acpi_ids_header {
    uint8_t  oem_id[6];       /* ACPI header OEM ID                        */
    uint8_t  oem_table_id[8]; /* ACPI header OEM Table ID                  */
    uint16_t reserved;        /* zero                                      */
};

/*
 * XCMOD_TYPE_END: the last module.  image_length is the byte count from the
 * image base to the end of this module; module_count the number of modules
 * before it.  Both repeat what a walk finds, so a reader can cross-check.
 */
struct xcmod_end_header {
    uint32_t image_length;    /* base .. end of this END module            */
    uint32_t module_count;    /* modules before END                        */
};

/*
 * The parts of the ACPI and SMBIOS specifications the reader relies on,
 * prefixed so that this header can be included next to firmware's own
 * definitions of the same structures (hvmloader's smbios_types.h, libacpi).
 */

/* ACPI 6.5, 5.2.6 "System Description Table Header" (36 bytes). */
struct xcmod_acpi_table_header {
    uint8_t  signature[4];
    uint32_t length;          /* whole table, header included              */
    uint8_t  revision;
    uint8_t  checksum;        /* whole table sums to zero (mod 256)        */
    uint8_t  oem_id[6];
    uint8_t  oem_table_id[8];
    uint32_t oem_revision;
    uint8_t  creator_id[4];
    uint32_t creator_revision;
};

/* ACPI 6.5, 5.2.10: the FACS has no checksum and is at least 64 bytes. */
#define XCMOD_ACPI_FACS_MIN_LENGTH 64

/* SMBIOS 3.7, 6.1.2 "Structure header format" (4 bytes). */
struct xcmod_smbios_structure_header {
    uint8_t  type;
    uint8_t  length;          /* formatted area, header included, >= 4     */
    uint16_t handle;
};

#endif /* XCMOD_MODULE_H */
