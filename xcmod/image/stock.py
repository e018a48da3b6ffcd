"""The two blocks stock Xen hvmloader reads (``build --format xen``).

hvmloader learns where they are from ``hvmloader/smbios/{address,length}``
and ``hvmloader/acpi/{address,length}`` (xen/include/public/hvm/
hvm_xs_strings.h); xl's ``smbios_firmware=`` / ``acpi_firmware=`` files are
the same formats.

SMBIOS block (tools/firmware/hvmloader/smbios.c, get_smbios_pt_struct())::

    repeat: u32 length | structure (formatted area + strings + double NUL)

hvmloader walks it ``while (total < length)``: type byte at ptr[0], then
``total += *sep + 4``.  It checks nothing, so a wrong length walks off into
whatever follows; xcmod validates every structure before writing one.

ACPI block (tools/libacpi/build.c, construct_passthrough_tables())::

    whole ACPI tables back to back

copied while at least a 36-byte header remains, each by its own Length,
at most ``ACPI_MAX_SECONDARY_TABLES - own - 1`` of them.
"""
import struct as _struct

from ..errors import FormatError
from ..firmware.acpi import AcpiTable
from ..firmware.smbios import SmbiosTable, parse_structures
from .blocks import ACPI, SMBIOS, STOCK_FILES, read_stock_dir
from .spec import iter_acpi_items

SMBIOS_FILE, ACPI_FILE = STOCK_FILES[SMBIOS], STOCK_FILES[ACPI]


def encode_smbios_block(structures):
    """``<u32 length><structure>`` for each structure, in order."""
    return b"".join(_struct.pack("<I", s.size) + s.data for s in structures)


def encode_acpi_block(tables):
    return b"".join(t.raw for t in tables)


def iter_smbios_block(data, source=None):
    """Walk an SMBIOS block exactly as hvmloader does, checking what it does not.

    Yields SmbiosStructures.  Each u32 length must cover exactly one whole
    structure (formatted area >= 4 bytes, string set ending in a double NUL).
    """
    data = bytes(data)
    total = 0
    while total < len(data):
        if len(data) - total < 4:
            raise FormatError("truncated length prefix", source=source, offset=total)
        (length,) = _struct.unpack_from("<I", data, total)
        body = data[total + 4:total + 4 + length]
        if length < 6 or len(body) < length:
            raise FormatError(f"structure length {length} runs past the end of the block"
                              if len(body) < length else
                              f"structure length {length} is too short", source=source,
                              offset=total)
        found, notes = parse_structures(body, source=source, base_offset=total + 4, count=1)
        if len(found) != 1 or found[0].size != length:
            got = found[0].size if found else 0
            raise FormatError(f"u32 length {length} does not match the structure it prefixes "
                              f"({got} bytes)", source=source, offset=total)
        yield found[0]
        total += length + 4


def parse_smbios_block(data, source=None):
    return SmbiosTable(list(iter_smbios_block(data, source)), source=source)


def parse_acpi_block(data, source=None):
    """The whole tables of an ACPI block, lengths and checksums checked."""
    return [AcpiTable(i.data, source) for i in iter_acpi_items(bytes(data), 0, source)]


def looks_like_smbios_block(data):
    if len(data) < 10:
        return False
    (length,) = _struct.unpack_from("<I", data, 0)
    return 6 <= length <= len(data) - 4 and 4 <= data[5] <= length


def describe_block(kind, data, path):
    """A JSON-ready description of one block (``kind`` "smbios" or "acpi")."""
    d = {"type": kind, "file": path, "length": len(data)}
    if kind == "smbios":
        d["structures"] = [s.as_dict() for s in parse_smbios_block(data, path).structures]
    else:
        d["tables"] = [t.as_dict() for t in parse_acpi_block(data, path)]
    return d


def describe_dir(directory):
    """A JSON-ready description of a stock-block directory (for inspect)."""
    return {"format": "xen", "blocks": [describe_block(b.kind, b.data, b.source)
                                        for b in read_stock_dir(directory)]}
