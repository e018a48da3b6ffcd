# SPDX-License-Identifier: MIT
"""The image's one validator: the C reference reader (csrc/xcmod_reader.c),
compiled as ``xcmod.image._reader``, the code hvmloader runs.

:func:`check_image` validates a whole image (``load`` and ``verify``);
:func:`walk_modules` and :func:`walk_items` run the reader's iterators
(xcmod_module_next(), xcmod_acpi_next(), xcmod_smbios_next()) and hand up
what they find, which :mod:`.spec` describes.  A problem is one FormatError
with xcmod_strerror()'s message at the reader's offset from the image base.
Field offsets come from the C header's structs (csrc/cdefs/xcmod_reader.h).
"""
import zlib

from ..errors import FormatError
from ._reader import ffi, lib

U32_MAX = 0xFFFFFFFF
TYPE_ACPI, TYPE_SMBIOS, TYPE_ACPI_IDS = (lib.XCMOD_TYPE_ACPI, lib.XCMOD_TYPE_SMBIOS,
                                         lib.XCMOD_TYPE_ACPI_IDS)
_CHECKSUM = ffi.offsetof("struct xcmod_header", "checksum")
_LENGTH = ffi.offsetof("struct xcmod_header", "length")
_TABLE_LENGTH = ffi.offsetof("struct xcmod_acpi_table_header", "length")
_TABLE_CHECKSUM = ffi.offsetof("struct xcmod_acpi_table_header", "checksum")


def _error(rc, offset, source):
    return FormatError(ffi.string(lib.xcmod_strerror(rc)).decode(), source=source,
                       offset=offset, code=rc)


def _fits(data, source, base_offset=0):
    """The reader's lengths and offsets are 32-bit: refuse what they cannot name."""
    if len(data) > U32_MAX:
        raise FormatError(f"{len(data)} bytes: larger than the format's 32-bit lengths allow",
                          source=source, offset=base_offset)


def check_image(data, source=None):
    """(image_length, module_count) of a valid image; FormatError otherwise."""
    _fits(data, source)
    img = ffi.new("struct xcmod_image *")
    rc = lib.xcmod_image_check(img, ffi.from_buffer(data), len(data))
    if rc < 0:
        raise _error(rc, img.error_offset, source)
    return img.image_length, img.module_count


def module_crc(module):
    """CRC-32 of a module with its checksum field read as zero (xcmod_module.h)."""
    m = memoryview(module)
    crc = zlib.crc32(m[:_CHECKSUM])
    crc = zlib.crc32(b"\0\0\0\0", crc)
    return zlib.crc32(m[_CHECKSUM + 4:], crc)


def _items(mod, cursor, item, source, base=0):
    """(offset, length, formatted_length) of each item the iterator finds in ``mod``,
    offsets (the reader's, and an error's) plus ``base``."""
    step = lib.xcmod_acpi_next if mod.type == TYPE_ACPI else lib.xcmod_smbios_next
    while True:
        rc = step(mod, cursor, item)
        if rc < 0:
            raise _error(rc, base + cursor.error_offset, source)
        if rc == 0:
            return
        yield base + item.offset, item.length, item.formatted_length


def walk_items(mtype, payload, base_offset=0, source=None):
    """(offset, length, formatted_length) of each ACPI table (``mtype``
    TYPE_ACPI) or SMBIOS structure (TYPE_SMBIOS) laid back to back in
    ``payload``, offsets from ``base_offset``, lazily: the reader's item iterator
    over ``payload`` as a module's payload."""
    _fits(payload, source, base_offset)
    buf = ffi.from_buffer(payload)
    mod = ffi.new("struct xcmod_module *")
    mod.type, mod.payload, mod.payload_length = mtype, buf, len(payload)
    yield from _items(mod, ffi.new("struct xcmod_cursor *"), ffi.new("struct xcmod_item *"),
                      source, base_offset)


def _make_sum_right(work, rc, offset):
    """Make right in ``work`` the module CRC or ACPI table checksum the reader found
    wrong at ``offset`` (both lie in a module or table whose length it checked
    first); False for any other problem."""
    if rc == lib.XCMOD_E_CHECKSUM:
        start = offset - _CHECKSUM
        end = start + int.from_bytes(work[start + _LENGTH:start + _LENGTH + 4], "little")
        work[offset:offset + 4] = module_crc(work[start:end]).to_bytes(4, "little")
        return True
    if rc == lib.XCMOD_E_ACPI_CHECKSUM:
        start = offset - _TABLE_CHECKSUM
        end = start + int.from_bytes(work[start + _TABLE_LENGTH:start + _TABLE_LENGTH + 4],
                                     "little")
        work[offset] = (work[offset] - sum(work[start:end])) & 0xFF
        return True
    return False


def walk_modules(data, source=None, strict=True):
    """Each module of an image as xcmod_module_next() validates it, END last:
    ``(module, items, checksum_ok)``, ``module`` the reader's struct xcmod_module
    (valid until the next step), ``items`` its tables (TYPE_ACPI) or structures
    (TYPE_SMBIOS) as :func:`walk_items` gives them.

    With ``strict=False`` a wrong module CRC or ACPI table checksum is no error
    (what ``inspect`` shows): the reader walks a copy of ``data`` in which each
    one it finds wrong is made right, and ``checksum_ok`` says whether the
    module's CRC was right in ``data``; every other problem is the reader's.
    """
    _fits(data, source)
    work = data if strict else bytearray(data)
    buf = ffi.from_buffer(work)         # held while the reader reads it
    img = ffi.new("struct xcmod_image *")
    img.base, img.size = buf, len(work)
    cursor, mod = ffi.new("struct xcmod_cursor *"), ffi.new("struct xcmod_module *")
    item = ffi.new("struct xcmod_item *")
    while True:
        rc = lib.xcmod_module_next(img, cursor, mod)
        if rc < 0:
            if not strict and _make_sum_right(work, rc, cursor.error_offset):
                continue
            raise _error(rc, cursor.error_offset, source)
        items = []
        if mod.type in (TYPE_ACPI, TYPE_SMBIOS):
            items = list(_items(mod, ffi.new("struct xcmod_cursor *"), item, source))
        checksum_ok = strict or module_crc(data[mod.offset:mod.offset + mod.length]) == \
            int.from_bytes(data[mod.offset + _CHECKSUM:mod.offset + _CHECKSUM + 4], "little")
        yield mod, items, checksum_ok
        if rc == 0:
            return
