# SPDX-License-Identifier: MIT
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
at most ``ACPI_MAX_SECONDARY_TABLES - own - 1`` of them.  xcmod walks it as
it walks a module's tables (:func:`.spec.iter_acpi_items`: every length and
checksum).

Both walks hand what they find up raw (:class:`.spec.Item`);
:mod:`xcmod.firmware.contents` reads it as SMBIOS and ACPI tables.  The
files of a ``--format xen`` directory are named in :mod:`.blocks`
(``STOCK_FILES``).
"""
import struct as _struct

from ..errors import FormatError
from .spec import iter_smbios_items


def encode_smbios_block(structures):
    """``<u32 length><structure>`` for each structure, in order."""
    return b"".join(_struct.pack("<I", s.size) + s.data for s in structures)


def encode_acpi_block(tables):
    return b"".join(t.raw for t in tables)


def iter_smbios_block(data, source=None):
    """Walk an SMBIOS block exactly as hvmloader does, checking what it does not.

    Yields each structure as an :class:`~.spec.Item`.  Each u32 length must
    cover exactly one whole structure (formatted area >= 4 bytes, string set
    ending in a double NUL).
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
        # (a formatted length below 4 ends a table as dmidecode reads it: no structure)
        item = next(iter_smbios_items(body, total + 4, source)) if body[1] >= 4 else None
        if item is None or item.length != length:
            got = item.length if item else 0
            raise FormatError(f"u32 length {length} does not match the structure it prefixes "
                              f"({got} bytes)", source=source, offset=total)
        yield item
        total += length + 4


def looks_like_smbios_block(data):
    if len(data) < 10:
        return False
    (length,) = _struct.unpack_from("<I", data, 0)
    return 6 <= length <= len(data) - 4 and 4 <= data[5] <= length

