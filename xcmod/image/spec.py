# SPDX-License-Identifier: MIT
"""The xcmod module image format, mirroring ``csrc/xcmod_module.h``.

The C header is the source of truth; the construct definitions below carry
the same names as its structs and fields (``tests/test_header_abi.py``
compiles the header and checks every size and offset).  construct builds
modules and describes their headers; the C reference reader validates
(:mod:`.creader`): :func:`iter_modules` is its walk, so Python and hvmloader
name the same first problem at the same offset.  Its items (:class:`Item`: the
bytes of one ACPI table or SMBIOS structure, as xcmod_acpi_next() and
xcmod_smbios_next() find them) are handed up raw; :mod:`xcmod.firmware`
parses them.
"""
from dataclasses import dataclass, field

from construct import Bytes, ConstructError, Int8ul, Int16ul, Int32ul, Struct

from ..errors import FormatError, UsageError
from .creader import module_crc, walk_items, walk_modules

XCMOD_SIGNATURE = b"XCMD"
XCMOD_FORMAT_VERSION = 1
XCMOD_MODULE_ALIGN = 16

XCMOD_TYPE_END = 0
XCMOD_TYPE_ACPI = 1
XCMOD_TYPE_SMBIOS = 2
XCMOD_TYPE_OROM = 3
XCMOD_TYPE_ACPI_IDS = 4
XCMOD_FLAGS_KNOWN = 0x0000

XCMOD_SMBIOS_EP_UNKNOWN = 0
XCMOD_SMBIOS_EP_21 = 2
XCMOD_SMBIOS_EP_30 = 3

XCMOD_ACPI_FACS_MIN_LENGTH = 64

TYPE_NAMES = {XCMOD_TYPE_END: "end", XCMOD_TYPE_ACPI: "acpi",
              XCMOD_TYPE_SMBIOS: "smbios", XCMOD_TYPE_OROM: "orom",
              XCMOD_TYPE_ACPI_IDS: "acpi-ids"}

xcmod_header = Struct(
    "signature" / Bytes(4),
    "version" / Int16ul,
    "type" / Int16ul,
    "header_length" / Int16ul,
    "flags" / Int16ul,
    "length" / Int32ul,
    "checksum" / Int32ul,
    "reserved" / Int32ul,
)

xcmod_acpi_header = Struct(
    "table_count" / Int32ul,
    "reserved" / Int32ul,
)

xcmod_smbios_header = Struct(
    "structure_count" / Int32ul,
    "major_version" / Int8ul,
    "minor_version" / Int8ul,
    "docrev" / Int8ul,
    "entry_point" / Int8ul,
    "max_structure_size" / Int32ul,
    "reserved" / Int32ul,
)

xcmod_orom_header = Struct(
    "vendor_id" / Int16ul,
    "device_id" / Int16ul,
    "class_code" / Bytes(3),
    "image_count" / Int8ul,
    "rom_length" / Int32ul,
    "reserved" / Int32ul,
)

# The OEM IDs hvmloader's own RSDP/RSDT/XSDT/FADT carry (opt-in); no payload.
xcmod_acpi_ids_header = Struct(
    "oem_id" / Bytes(6),
    "oem_table_id" / Bytes(8),
    "reserved" / Int16ul,
)

xcmod_end_header = Struct(
    "image_length" / Int32ul,
    "module_count" / Int32ul,
)

HEADER_SIZE = xcmod_header.sizeof()
# ACPI 6.5, 5.2.6 "System Description Table Header" (the header's
# xcmod_acpi_table_header): here, below its users, the carrier (.carrier),
# what a file holds (.read) and xcmod.firmware.acpi, which parses tables with
# it; ACPI_TABLE_HDR is sizeof(struct xcmod_acpi_table_header).  The SMBIOS
# structure header lives beside its parser in xcmod.firmware;
# tests/test_header_abi.py holds both to the C header.
acpi_table_header = Struct(
    "signature" / Bytes(4),
    "length" / Int32ul,
    "revision" / Int8ul,
    "checksum" / Int8ul,
    "oem_id" / Bytes(6),
    "oem_table_id" / Bytes(8),
    "oem_revision" / Int32ul,
    "creator_id" / Bytes(4),
    "creator_revision" / Int32ul,
)
ACPI_TABLE_HDR = acpi_table_header.sizeof()         # 36
TYPE_HEADERS = {
    XCMOD_TYPE_END: xcmod_end_header,
    XCMOD_TYPE_ACPI: xcmod_acpi_header,
    XCMOD_TYPE_SMBIOS: xcmod_smbios_header,
    XCMOD_TYPE_OROM: xcmod_orom_header,
    XCMOD_TYPE_ACPI_IDS: xcmod_acpi_ids_header,
}


def field_offsets(struct):
    """{field name: byte offset} of a fixed-size construct Struct."""
    offsets, off = {}, 0
    for sub in struct.subcons:
        offsets[sub.name] = off
        off += sub.sizeof()
    return offsets


# Offsets inside the common header.
_OFF = field_offsets(xcmod_header)


def struct_parse(struct, data, offset=0, source=None):
    """Parse ``struct`` from ``data`` at ``offset``, raising :class:`FormatError`.

    Every construct parse in xcmod goes through here, so a short buffer or a
    malformed field becomes one error naming the source and the offset.
    """
    size = struct.sizeof()
    if offset < 0 or len(data) - offset < size:
        raise FormatError(f"need {size} bytes for {_struct_name(struct)}, "
                          f"{max(0, len(data) - offset)} left",
                          source=source, offset=offset)
    try:
        return struct.parse(bytes(data[offset:offset + size]))
    except ConstructError as e:  # pragma: no cover - fixed-size fields only
        raise FormatError(f"{_struct_name(struct)}: {e}", source=source, offset=offset) from None


def _struct_name(struct):
    for name, value in globals().items():
        if value is struct:
            return name
    return "structure"


def align_up(value, align=XCMOD_MODULE_ALIGN):
    return (value + align - 1) & ~(align - 1)


def encode_module(mtype, type_header, payload=b""):
    """Return one module: common header, ``type_header`` bytes, ``payload``."""
    hlen = HEADER_SIZE + len(type_header)
    length = hlen + len(payload)
    if length > 0xFFFFFFFF:
        raise FormatError(f"module of {length} bytes exceeds the 4 GiB format limit")
    head = xcmod_header.build(dict(signature=XCMOD_SIGNATURE, version=XCMOD_FORMAT_VERSION,
                                   type=mtype, header_length=hlen, flags=0,
                                   length=length, checksum=0, reserved=0))
    module = bytearray(head + type_header + payload)
    off = _OFF["checksum"]
    module[off:off + 4] = module_crc(module).to_bytes(4, "little")
    return bytes(module)


# ---------------------------------------------------------------------------
# Items inside a module payload


@dataclass(slots=True)
class Item:
    """One ACPI table or SMBIOS structure inside a module."""
    data: bytes                 # the whole table / formatted area + strings
    offset: int                 # from the image base
    formatted_length: int       # SMBIOS formatted area; 36 for ACPI tables

    @property
    def length(self):
        return len(self.data)


def _item_walk(mtype, payload, base_offset, source):
    for offset, length, formatted_length in walk_items(mtype, payload, base_offset, source):
        yield Item(bytes(payload[offset - base_offset:offset - base_offset + length]), offset,
                   formatted_length)


def iter_acpi_items(payload, base_offset=0, source=None):
    """Whole ACPI tables laid back to back, lazily, as xcmod_acpi_next() walks them."""
    return _item_walk(XCMOD_TYPE_ACPI, payload, base_offset, source)


def iter_smbios_items(payload, base_offset=0, source=None):
    """Whole SMBIOS structures laid back to back, lazily, as xcmod_smbios_next() walks
    them."""
    return _item_walk(XCMOD_TYPE_SMBIOS, payload, base_offset, source)


# ---------------------------------------------------------------------------
# Modules and images


@dataclass(slots=True)
class Module:
    """One module of an image, as :func:`iter_modules` finds it."""
    offset: int
    type: int
    length: int
    count: int                  # tables, structures, ROM images (OROM), modules (END)
    type_header: object         # the type's header, parsed ({} for an unknown type)
    payload: bytes
    payload_offset: int
    checksum_ok: bool = True
    source: object = None
    items: list = field(default_factory=list)   # its tables (ACPI) or structures (SMBIOS)

    @property
    def type_name(self):
        return TYPE_NAMES.get(self.type, f"type-{self.type}")

    def iter_items(self):
        """Tables (ACPI) or structures (SMBIOS) of this module."""
        return iter(self.items)


def iter_modules(data, source=None, strict=True):
    """Walk an image module by module through the C reader, validating each.

    Yields every module before END, then the END module itself.  With
    ``strict=False`` a wrong module CRC or ACPI table checksum is recorded
    in :attr:`Module.checksum_ok` (or left for the table's own check) instead of
    raised (what ``inspect`` shows); every structural problem still raises
    :class:`FormatError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UsageError(f"an image must be bytes, not {type(data).__name__}")
    data = bytes(data)
    for mod, items, checksum_ok in walk_modules(data, source, strict):
        th_struct = TYPE_HEADERS.get(mod.type)
        start, end = mod.payload_offset, mod.payload_offset + mod.payload_length
        yield Module(offset=mod.offset, type=mod.type, length=mod.length, count=mod.count,
                     type_header=struct_parse(th_struct, data, mod.offset + HEADER_SIZE, source)
                     if th_struct else {},
                     payload=data[start:end], payload_offset=start, checksum_ok=checksum_ok,
                     source=source,
                     items=[Item(data[o:o + n], o, f) for o, n, f in items])


def verify_image(data, source=None):
    """Validate a whole image; return its modules (END last) or raise FormatError."""
    return list(iter_modules(data, source=source, strict=True))


def build_image(modules):
    """Stack encoded modules into an image, aligned, padded and END-terminated.

    ``modules`` are bytes as returned by :func:`encode_module` (or objects
    with an ``encode()`` method returning them).  Each must be framed as one
    module (the signature, a length equal to its size, a header inside it, not an
    END): bytes that are not a module are a FormatError naming it, never an image
    that then fails verification; UsageError for a misuse.  (What lies inside the
    frame is :func:`verify_image`'s to judge: tests build deliberately broken
    modules.)
    """
    if not isinstance(modules, (list, tuple)):
        raise UsageError(f"modules must be a list of encoded modules, not "
                         f"{type(modules).__name__}")
    out = bytearray()
    count = 0
    for n, m in enumerate(modules):
        blob = m.encode() if hasattr(m, "encode") and not isinstance(m, str) else m
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise UsageError(f"module {n} must be bytes, not {type(blob).__name__}")
        blob = bytes(blob)
        h = xcmod_header.parse(blob[:HEADER_SIZE]) if len(blob) >= HEADER_SIZE else None
        if h is None or h.signature != XCMOD_SIGNATURE or h.length != len(blob) or \
                not HEADER_SIZE <= h.header_length <= h.length or h.type == XCMOD_TYPE_END:
            what = ("an END module (build_image adds the END itself)" if h is not None and
                    h.type == XCMOD_TYPE_END and h.signature == XCMOD_SIGNATURE else
                    f"{len(blob)} bytes that are not one whole module (an XCMD header whose "
                    f"length is the module's size)")
            raise FormatError(f"module {n}: {what}", source="build_image()", offset=0)
        out += blob
        out += bytes(align_up(len(out)) - len(out))
        count += 1
    end_len = HEADER_SIZE + xcmod_end_header.sizeof()
    image_length = len(out) + end_len
    out += encode_module(XCMOD_TYPE_END, xcmod_end_header.build(
        dict(image_length=image_length, module_count=count)))
    return bytes(out)
