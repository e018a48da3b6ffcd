# SPDX-License-Identifier: MIT
"""The xcmod module image format, mirroring ``csrc/xcmod_module.h``.

The C header is the source of truth; the construct definitions below carry
the same names as its structs and fields (``tests/test_header_abi.py``
compiles the header and checks every size and offset).  The image walk in
:func:`iter_modules` performs the reference reader's checks in the same order
and with the same messages (``csrc/xcmod_reader.c``), so both name the same
first problem at the same offset.  Its items (:class:`Item`: the bytes of one
ACPI table or SMBIOS structure, as xcmod_acpi_next() and xcmod_smbios_next()
find them) are handed up raw; :mod:`xcmod.firmware` parses them.
"""
import zlib

from construct import Bytes, ConstructError, Int8ul, Int16ul, Int32ul, Struct

from ..errors import FormatError
from ..record import Record

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
# xcmod_acpi_table_header): here, below both its users, the walk's length and
# the carrier (.carrier), and xcmod.firmware.acpi, which parses tables with it.
# What the walk needs of it is its size, as in csrc/xcmod_reader.c:
# ACPI_TABLE_HDR is sizeof(struct xcmod_acpi_table_header).  The SMBIOS
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


# Offsets inside the common header, used in error positions.
_OFF = field_offsets(xcmod_header)

# Messages shared with xcmod_strerror() in csrc/xcmod_reader.c.
E_TRUNCATED = "truncated: runs past the end of the image"
E_SIGNATURE = 'bad module signature (expected "XCMD")'
E_VERSION = "unsupported format version"
E_HEADER_LENGTH = "header length does not match the module type"
E_FLAGS = "unknown module flags set"
E_RESERVED = "reserved field is not zero"
E_LENGTH = "module length inconsistent with its headers"
E_CHECKSUM = "module checksum mismatch"
E_PADDING = "padding between modules is not zero"
E_NO_END = "image ends without an END module"
E_TRAILING = "data after the END module"
E_TOTALS = "END module totals disagree with the image"
E_COUNT = "item count disagrees with the payload"
E_ACPI_LENGTH = "ACPI table length invalid"
E_ACPI_CHECKSUM = "ACPI table checksum invalid"
E_SMBIOS_LENGTH = "SMBIOS structure length invalid"
E_SMBIOS_STRINGS = "SMBIOS string set not terminated"
E_SMBIOS_MAXSIZE = "SMBIOS max structure size disagrees"
E_ENTRY_POINT = "unknown SMBIOS entry point kind"
E_OROM_SIGNATURE = "option ROM signature invalid (expected 55 AA)"


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


def module_crc(module):
    """CRC-32 of a module with its checksum field read as zero."""
    m = memoryview(module)
    off = _OFF["checksum"]
    crc = zlib.crc32(m[:off])
    crc = zlib.crc32(b"\0\0\0\0", crc)
    return zlib.crc32(m[off + 4:], crc)


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


class Item(Record):
    """One ACPI table or SMBIOS structure inside a module."""
    __slots__ = ("data", "offset", "formatted_length")

    def __init__(self, data, offset, formatted_length):
        self.data = data                          # the whole table / formatted area + strings
        self.offset = offset                      # from the image base
        self.formatted_length = formatted_length  # SMBIOS formatted area; 36 for ACPI tables

    @property
    def length(self):
        return len(self.data)


def _err(msg, offset, source):
    return FormatError(msg, source=source, offset=offset)


def iter_acpi_items(payload, base_offset=0, source=None, check_sums=True):
    """Walk whole ACPI tables laid back to back, as xcmod_acpi_next() does."""
    pos, size = 0, len(payload)
    while pos < size:
        left = size - pos
        if left < 8:
            raise _err(E_TRUNCATED, base_offset + pos, source)
        length = int.from_bytes(payload[pos + 4:pos + 8], "little")
        facs = payload[pos:pos + 4] == b"FACS"
        if length < (XCMOD_ACPI_FACS_MIN_LENGTH if facs else ACPI_TABLE_HDR) or length > left:
            raise _err(E_ACPI_LENGTH, base_offset + pos + 4, source)
        table = bytes(payload[pos:pos + length])
        # ACPI 6.5, 5.2.6: "the entire table, including the checksum field,
        # must add to zero to be considered valid".  The FACS has no checksum.
        if check_sums and not facs and sum(table) & 0xFF:
            raise _err(E_ACPI_CHECKSUM, base_offset + pos + 9, source)
        yield Item(table, base_offset + pos, length if facs else ACPI_TABLE_HDR)
        pos += length


def iter_smbios_items(payload, base_offset=0, source=None):
    """Walk whole SMBIOS structures laid back to back, as xcmod_smbios_next() does."""
    pos, size = 0, len(payload)
    find = payload.find
    while pos < size:
        left = size - pos
        if left < 4:
            raise _err(E_TRUNCATED, base_offset + pos, source)
        flen = payload[pos + 1]
        # SMBIOS 3.7, 6.1.2: Length covers the formatted area "starting at the
        # Type field", so it is at least the 4-byte header.
        if flen < 4 or flen > left:
            raise _err(E_SMBIOS_LENGTH, base_offset + pos + 1, source)
        # 6.1.3: the string set ends with a double NUL (two NULs when empty).
        end = find(b"\0\0", pos + flen, size)
        if end < 0:
            raise _err(E_SMBIOS_STRINGS, base_offset + pos + flen, source)
        yield Item(bytes(payload[pos:end + 2]), base_offset + pos, flen)
        pos = end + 2


# ---------------------------------------------------------------------------
# Modules and images


class Module(Record):
    """One module of an image, as found by :func:`iter_modules`."""
    __slots__ = ("offset", "type", "length", "header", "type_header", "payload",
                 "payload_offset", "checksum_ok", "strict", "source", "_items")
    _CACHED = ("_items",)      # the items, once iter_modules() has walked them

    def __init__(self, offset, type, length, header, type_header, payload, payload_offset,
                 checksum_ok=True, strict=True, source=None):
        self.offset = offset
        self.type = type
        self.length = length
        self.header = header              # the parsed xcmod_module_header
        self.type_header = type_header    # and the type's header
        self.payload = payload
        self.payload_offset = payload_offset
        self.checksum_ok = checksum_ok
        self.strict = strict
        self.source = source

    @property
    def type_name(self):
        return TYPE_NAMES.get(self.type, f"type-{self.type}")

    @property
    def count(self):
        th = self.type_header
        if self.type == XCMOD_TYPE_ACPI:
            return th.table_count
        if self.type == XCMOD_TYPE_SMBIOS:
            return th.structure_count
        if self.type == XCMOD_TYPE_END:
            return th.module_count
        if self.type == XCMOD_TYPE_OROM:
            return th.image_count
        return 0

    def iter_items(self):
        """Tables (ACPI) or structures (SMBIOS) of this module, lazily."""
        items = getattr(self, "_items", None)
        if items is not None:
            return iter(items)
        if self.type == XCMOD_TYPE_ACPI:
            return iter_acpi_items(self.payload, self.payload_offset, self.source,
                                   check_sums=self.strict)
        if self.type == XCMOD_TYPE_SMBIOS:
            return iter_smbios_items(self.payload, self.payload_offset, self.source)
        return iter(())


def iter_modules(data, source=None, strict=True):
    """Walk an image module by module, validating each as the C reader does.

    Yields every module before END, then the END module itself.  With
    ``strict=False`` a wrong module CRC or ACPI table checksum is recorded
    in :attr:`Module.checksum_ok` instead of raised (what ``inspect`` shows);
    every structural problem still raises :class:`FormatError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        from ..errors import UsageError
        raise UsageError(f"an image must be bytes, not {type(data).__name__}")
    data = memoryview(data).toreadonly() if not isinstance(data, bytes) else data
    size = len(data)
    pos = index = 0
    while True:
        left = size - pos
        if left == 0:
            raise _err(E_NO_END, pos, source)
        if left < HEADER_SIZE:
            raise _err(E_TRUNCATED, pos, source)
        h = struct_parse(xcmod_header, data, pos, source)
        if h.signature != XCMOD_SIGNATURE:
            raise _err(E_SIGNATURE, pos, source)
        if h.version != XCMOD_FORMAT_VERSION:
            raise _err(E_VERSION, pos + _OFF["version"], source)
        th_struct = TYPE_HEADERS.get(h.type)
        if th_struct is not None:
            bad_hlen = h.header_length != HEADER_SIZE + th_struct.sizeof()
        else:
            bad_hlen = h.header_length < HEADER_SIZE or h.header_length & 3
        if bad_hlen:
            raise _err(E_HEADER_LENGTH, pos + _OFF["header_length"], source)
        if h.flags & ~XCMOD_FLAGS_KNOWN:
            raise _err(E_FLAGS, pos + _OFF["flags"], source)
        if h.reserved:
            raise _err(E_RESERVED, pos + _OFF["reserved"], source)
        if h.length < h.header_length:
            raise _err(E_LENGTH, pos + _OFF["length"], source)
        if h.length > left:
            raise _err(E_TRUNCATED, pos + _OFF["length"], source)
        module = data[pos:pos + h.length]
        checksum_ok = module_crc(module) == h.checksum
        if not checksum_ok and strict:
            raise _err(E_CHECKSUM, pos + _OFF["checksum"], source)

        th = struct_parse(th_struct, data, pos + HEADER_SIZE, source) if th_struct else {}
        mod = Module(offset=pos, type=h.type, length=h.length, header=h, type_header=th,
                     payload=bytes(data[pos + h.header_length:pos + h.length]),
                     payload_offset=pos + h.header_length, checksum_ok=checksum_ok,
                     strict=strict, source=source)
        end = pos + h.length
        if h.type == XCMOD_TYPE_END:
            if h.length != h.header_length:
                raise _err(E_LENGTH, pos + _OFF["length"], source)
            if th.image_length != end or th.module_count != index:
                raise _err(E_TOTALS, pos + HEADER_SIZE, source)
            if end != size:
                raise _err(E_TRAILING, end, source)
            yield mod
            return

        th_off = pos + HEADER_SIZE
        if h.type == XCMOD_TYPE_ACPI and th.reserved:
            raise _err(E_RESERVED, th_off + 4, source)
        if h.type == XCMOD_TYPE_SMBIOS:
            if th.entry_point not in (XCMOD_SMBIOS_EP_UNKNOWN, XCMOD_SMBIOS_EP_21,
                                      XCMOD_SMBIOS_EP_30):
                raise _err(E_ENTRY_POINT, th_off + 7, source)
            if th.reserved:
                raise _err(E_RESERVED, th_off + 12, source)
        elif h.type == XCMOD_TYPE_OROM:
            if th.reserved:
                raise _err(E_RESERVED, th_off + 12, source)
            if th.rom_length != len(mod.payload):
                raise _err(E_LENGTH, th_off + 8, source)
            # PCI Firmware 3.0, 5.1.1: every ROM image starts 55h AAh.
            if mod.payload[:2] != b"\x55\xaa":
                raise _err(E_OROM_SIGNATURE, mod.payload_offset, source)
        elif h.type == XCMOD_TYPE_ACPI_IDS:
            if th.reserved:
                raise _err(E_RESERVED, th_off + 14, source)
            if h.length != h.header_length:       # the IDs are the whole module
                raise _err(E_LENGTH, pos + _OFF["length"], source)
        if h.type in (XCMOD_TYPE_ACPI, XCMOD_TYPE_SMBIOS):
            items = list(mod.iter_items())
            if len(items) != mod.count:
                raise _err(E_COUNT, th_off, source)
            if h.type == XCMOD_TYPE_SMBIOS and \
                    max((i.length for i in items), default=0) != th.max_structure_size:
                raise _err(E_SMBIOS_MAXSIZE, th_off + 8, source)
            mod._items = items

        nxt = align_up(end)
        if nxt > size:
            raise _err(E_NO_END, end, source)
        pad = data[end:nxt]
        if any(pad):
            raise _err(E_PADDING, end + next(i for i, b in enumerate(pad) if b), source)
        yield mod
        pos = nxt
        index += 1


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
    from ..errors import UsageError
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
