"""Reading images back: modules as SMBIOS tables and ACPI tables, descriptions.

:func:`read_contents` is what every command that takes "an image" reads:
an xcmod image, a ``build --format xen`` directory, or one stock block file.
"""
import os
from dataclasses import dataclass

from ..errors import FormatError
from ..firmware.acpi import AcpiTable
from ..firmware.smbios import SmbiosStructure, SmbiosTable
from .blocks import read_stock_dir
from .spec import (
    ACPI_HEADER_SIZE,
    XCMOD_SIGNATURE,
    XCMOD_TYPE_ACPI,
    XCMOD_TYPE_ACPI_IDS,
    XCMOD_TYPE_OROM,
    XCMOD_TYPE_SMBIOS,
    iter_modules,
)


def read(path):
    """An image or stock block file's bytes (a regular file of at most IMAGE_MAX)."""
    from ..fileio import IMAGE_MAX, read_input
    return read_input(path, "an xcmod image or stock block", IMAGE_MAX)


def sniff(data):
    """What a file holds: "modules", "acpi" (tables back to back), "smbios"
    (a stock ``<u32 length><structure>`` block) or None."""
    from .stock import looks_like_smbios_block
    if data[:4] == XCMOD_SIGNATURE:
        return "modules"
    if len(data) >= ACPI_HEADER_SIZE and all(0x20 < b < 0x7F for b in data[:4]) \
            and ACPI_HEADER_SIZE <= int.from_bytes(data[4:8], "little") <= len(data):
        return "acpi"
    if looks_like_smbios_block(data):
        return "smbios"
    return None


def smbios_table(mod):
    """The SmbiosTable an SMBIOS module holds."""
    th = mod.type_header
    structures = [SmbiosStructure(i.data, i.offset, i.formatted_length)
                  for i in mod.iter_items()]
    return SmbiosTable(structures, th.major_version, th.minor_version, th.docrev,
                       th.entry_point, mod.source)


def acpi_tables(mod):
    """The AcpiTables an ACPI module holds, in order."""
    return [AcpiTable(i.data, mod.source) for i in mod.iter_items()]


def _text(raw):
    return raw.decode("latin-1")


def describe(data, source=None):
    """A JSON-ready description of an image; bad checksums are reported, not raised."""
    mods = list(iter_modules(data, source=source, strict=False))
    end = mods.pop()
    out = {"format": "modules", "image_length": end.type_header.image_length,
           "module_count": len(mods),
           "modules": []}
    for mod in mods:
        d = {"type": mod.type_name, "offset": mod.offset, "length": mod.length,
             "checksum_ok": mod.checksum_ok}
        if mod.type == XCMOD_TYPE_SMBIOS:
            d.update(smbios_table(mod).as_dict())
        elif mod.type == XCMOD_TYPE_ACPI:
            d["tables"] = [t.as_dict() for t in acpi_tables(mod)]
        elif mod.type == XCMOD_TYPE_ACPI_IDS:
            d["oem_id"] = _text(mod.type_header.oem_id)
            d["oem_table_id"] = _text(mod.type_header.oem_table_id)
        elif mod.type == XCMOD_TYPE_OROM:
            from ..firmware.orom import from_module
            try:
                d["rom"] = from_module(mod).as_dict()
            except FormatError as e:
                d["rom"] = {"error": str(e)}
        out["modules"].append(d)
    return out


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


@dataclass
class Contents:
    """The SMBIOS structures and ACPI tables an image or stock blocks hold."""
    smbios: object          # SmbiosTable, or None
    tables: list            # [AcpiTable]
    stock_dir: str = None   # the directory, when read from a --format xen one
    source: str = None      # the path read, for messages

    @property
    def structures(self):
        return self.smbios.structures if self.smbios is not None else []


def read_contents(path):
    """The :class:`Contents` of an xcmod image, a ``--format xen`` directory or one
    stock block file (smbios.bin or acpi.bin), every checksum and length checked."""
    from ..checks import path_arg
    from . import stock
    path = path_arg(path, "image path")
    if os.path.isdir(path):
        smbios, tables = None, []
        for b in read_stock_dir(path):
            if b.kind == "smbios":
                smbios = stock.parse_smbios_block(b.data, b.source)
            else:
                tables = stock.parse_acpi_block(b.data, b.source)
        return Contents(smbios, tables, os.path.abspath(path), path)
    data = read(path)
    kind = sniff(data)
    if kind == "smbios":
        return Contents(stock.parse_smbios_block(data, path), [], None, path)
    if kind == "acpi":
        return Contents(None, stock.parse_acpi_block(data, path), None, path)
    mod = single_module(data, XCMOD_TYPE_SMBIOS, path)
    smbios = smbios_table(mod) if mod else None
    mod = single_module(data, XCMOD_TYPE_ACPI, path)
    return Contents(smbios, acpi_tables(mod) if mod else [], None, path)
