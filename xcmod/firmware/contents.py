# SPDX-License-Identifier: MIT
"""What an image or stock blocks hold, read back as firmware.

:func:`read_contents` is what every command that takes "an image" reads:
an xcmod image, a ``build --format xen`` directory, or one stock block file,
as the SMBIOS table and the ACPI tables they hold.  :func:`describe` and
:func:`describe_block` give the JSON shape ``inspect`` prints.  The formats
themselves, and the walks that find each table and structure in them, are
:mod:`xcmod.image`'s; here their raw items become :class:`.smbios.SmbiosTable`
and :class:`.acpi.AcpiTable`.
"""
import os
from dataclasses import dataclass

from ..checks import path_arg
from ..errors import FormatError
from ..image.blocks import read_stock_dir
from ..image.read import read, single_module, sniff
from ..image.spec import (
    XCMOD_TYPE_ACPI,
    XCMOD_TYPE_ACPI_IDS,
    XCMOD_TYPE_OROM,
    XCMOD_TYPE_SMBIOS,
    iter_acpi_items,
    iter_modules,
)
from ..image.stock import iter_smbios_block
from .acpi import AcpiTable
from .fields import structure_dict
from .orom import from_module
from .smbios import SmbiosStructure, SmbiosTable


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


def parse_smbios_block(data, source=None):
    """The SmbiosTable of a stock SMBIOS block, walked as hvmloader walks it."""
    return SmbiosTable([SmbiosStructure(i.data, i.offset, i.formatted_length)
                        for i in iter_smbios_block(data, source)], source=source)


def parse_acpi_block(data, source=None):
    """The whole tables of an ACPI block, lengths and checksums checked."""
    return [AcpiTable(i.data, source) for i in iter_acpi_items(bytes(data), 0, source)]


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
            table = smbios_table(mod)
            d.update(table.as_dict())
            d["structures"] = [structure_dict(s, table.version) for s in table.structures]
        elif mod.type == XCMOD_TYPE_ACPI:
            d["tables"] = [t.as_dict() for t in acpi_tables(mod)]
        elif mod.type == XCMOD_TYPE_ACPI_IDS:
            d["oem_id"] = _text(mod.type_header.oem_id)
            d["oem_table_id"] = _text(mod.type_header.oem_table_id)
        elif mod.type == XCMOD_TYPE_OROM:
            try:
                d["rom"] = from_module(mod).as_dict()
            except FormatError as e:
                d["rom"] = {"error": str(e)}
        out["modules"].append(d)
    return out


def describe_block(kind, data, path):
    """A JSON-ready description of one block (``kind`` "smbios" or "acpi")."""
    d = {"type": kind, "file": path, "length": len(data)}
    if kind == "smbios":
        d["structures"] = [structure_dict(s)
                           for s in parse_smbios_block(data, path).structures]
    else:
        d["tables"] = [t.as_dict() for t in parse_acpi_block(data, path)]
    return d


def describe_dir(directory):
    """A JSON-ready description of a stock-block directory (for inspect)."""
    return {"format": "xen", "blocks": [describe_block(b.kind, b.data, b.source)
                                        for b in read_stock_dir(directory)]}


@dataclass(slots=True)
class Contents:
    """The SMBIOS structures and ACPI tables an image or stock blocks hold."""
    smbios: object          # SmbiosTable, or None
    tables: list           # [AcpiTable]
    stock_dir: str = None   # the directory, when read from a --format xen one
    source: str = None      # the path read, for messages

    @property
    def structures(self):
        return self.smbios.structures if self.smbios is not None else []


def read_contents(path):
    """The :class:`Contents` of an xcmod image, a ``--format xen`` directory or one
    stock block file (smbios.bin or acpi.bin), every checksum and length checked."""
    path = path_arg(path, "image path")
    if os.path.isdir(path):
        smbios, tables = None, []
        for b in read_stock_dir(path):
            if b.kind == "smbios":
                smbios = parse_smbios_block(b.data, b.source)
            else:
                tables = parse_acpi_block(b.data, b.source)
        return Contents(smbios, tables, os.path.abspath(path), path)
    data = read(path)
    kind = sniff(data)
    if kind == "smbios":
        return Contents(parse_smbios_block(data, path), [], None, path)
    if kind == "acpi":
        return Contents(None, parse_acpi_block(data, path), None, path)
    mod = single_module(data, XCMOD_TYPE_SMBIOS, path)
    smbios = smbios_table(mod) if mod else None
    mod = single_module(data, XCMOD_TYPE_ACPI, path)
    return Contents(smbios, acpi_tables(mod) if mod else [], None, path)
