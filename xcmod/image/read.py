# SPDX-License-Identifier: MIT
"""Reading images back: what a file holds, and the modules of an image.

Every command that takes "an image" reads it through here or through
:mod:`xcmod.firmware.contents`, which turns the modules and stock blocks
found here into SMBIOS and ACPI tables.
"""
from ..errors import FormatError
from ..fileio import IMAGE_MAX, read_input
from .carrier import open_carrier
from .spec import (
    ACPI_TABLE_HDR,
    XCMOD_SIGNATURE,
    XCMOD_TYPE_ACPI,
    XCMOD_TYPE_SMBIOS,
    iter_modules,
)
from .stock import looks_like_smbios_block


def read(path):
    """An image or stock block file's bytes (a regular file of at most IMAGE_MAX);
    a carrier's image (:mod:`.carrier`)."""
    return open_carrier(read_input(path, "an xcmod image or stock block", IMAGE_MAX),
                        path)[0]


def sniff(data):
    """What a file holds: "modules", "acpi" (tables back to back), "smbios"
    (a stock ``<u32 length><structure>`` block) or None."""
    if data[:4] == XCMOD_SIGNATURE:
        return "modules"
    if len(data) >= ACPI_TABLE_HDR and all(0x20 < b < 0x7F for b in data[:4]) \
            and ACPI_TABLE_HDR <= int.from_bytes(data[4:8], "little") <= len(data):
        return "acpi"
    if looks_like_smbios_block(data):
        return "smbios"
    return None


def modules_of_type(data, mtype, source=None):
    """Modules of one type from a strictly verified image."""
    return [m for m in iter_modules(data, source=source) if m.type == mtype]


def single_module(data, mtype, source=None):
    """The one module of ``mtype`` (None if absent; FormatError if several)."""
    mods = modules_of_type(data, mtype, source)
    if len(mods) > 1:
        name = {XCMOD_TYPE_SMBIOS: "SMBIOS", XCMOD_TYPE_ACPI: "ACPI"}[mtype]
        raise FormatError(f"image holds {len(mods)} {name} modules; expected one",
                          source=source, offset=mods[1].offset)
    return mods[0] if mods else None
