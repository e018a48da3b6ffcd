# SPDX-License-Identifier: MIT
"""What any file ``inspect`` is given holds: an image or stock blocks, or one of
the sources ``build`` reads (``host``, a dmidecode dump, a sysfs-layout
directory, a Windows RSMB blob, a raw structure table, a directory of ACPI
tables, acpidump text, one table file).

:func:`describe_path` and :func:`describe_bytes` give the JSON shape ``inspect
--json`` prints; images and stock blocks keep the shape of
:func:`.contents.describe`, a source is ``{"format": "source", "smbios": ...,
"tables": [...]}``.  Each SMBIOS structure carries the fields xcmod models
(:func:`.fields.structure_dict`) decoded, under ``fields``.
"""
import os

from ..errors import FormatError, XcmodError
from ..fileio import SMBIOS_SOURCE_MAX
from ..image.read import read, single_module, sniff
from ..image.spec import XCMOD_TYPE_SMBIOS
from . import host
from .contents import (
    describe,
    describe_block,
    describe_dir,
    parse_smbios_block,
    read_contents,
    smbios_table,
)
from .fields import structure_dict
from .smbios import _is_rsmb, parse_source_bytes


def _smbios_dict(table):
    return {**table.as_dict(),
            "structures": [structure_dict(s, table.version) for s in table.structures]}


def _tables(candidates):
    out = []
    for c in candidates:
        if c.is_rsdp:
            out.append({"signature": "RSDP", "length": len(c.raw), "origin": c.origin})
            continue
        try:
            d = c.parse().as_dict()
        except FormatError as e:
            d = {"signature": c.signature, "length": len(c.raw), "error": e.message}
        d["origin"] = c.origin
        out.append(d)
    return out


def describe_path(path):
    """The description of what ``path`` holds: ``host`` (this host's SMBIOS and ACPI
    tables), a directory (stock blocks, sysfs SMBIOS layout, or ACPI tables) or
    a file (an image, a stock block, an SMBIOS source, acpidump text, a table)."""
    if path == host.HOST:          # what the host has of either, saying what it lacks
        desc = {"format": "source", "source": path, "smbios": None, "tables": []}
        errors = []
        try:
            desc["smbios"] = _smbios_dict(host.read_smbios(host.HOST))
        except XcmodError as e:
            desc["smbios_error"] = str(e)
            errors.append(e)
        try:
            desc["tables"] = _tables(host.acpi_candidates(host.HOST))
        except XcmodError as e:
            desc["acpi_error"] = str(e)
            errors.append(e)
        if len(errors) == 2:
            raise errors[0]
        return desc
    if os.path.isdir(path):
        names = set(os.listdir(path))
        if names & {"smbios.bin", "acpi.bin"}:
            return describe_dir(path)
        if {"smbios_entry_point", "DMI"} <= names:
            return {"format": "source", "source": path,
                    "smbios": _smbios_dict(host.read_smbios(path)), "tables": []}
        return {"format": "source", "source": path, "smbios": None,
                "tables": _tables(host.acpi_candidates(path))}
    return describe_bytes(read(path), path)


def describe_bytes(data, source):
    """The description of the bytes of one file (or of standard input)."""
    data = bytes(data)
    kind = sniff(data)
    if data[:4] == b"_SM_" or data[:5] == b"_SM3_" or _is_rsmb(data):
        kind = "smbios-source"
    if kind == "modules":
        return describe(data, source=source)
    if kind == "acpi":
        return {"format": "xen", "blocks": [describe_block("acpi", data, source)]}
    if kind == "smbios":
        return {"format": "xen", "blocks": [describe_block("smbios", data, source)]}
    if host.is_acpidump_text(data):
        cands = [host.AcpiCandidate(blob, f"{source}: {sig} at line {line}", False)
                 for sig, blob, line in host.parse_acpidump_text(data, source)]
        return {"format": "source", "source": source, "smbios": None,
                "tables": _tables(cands)}
    if len(data) > SMBIOS_SOURCE_MAX:
        raise FormatError(f"{len(data)} bytes, and not an xcmod image, a stock block or "
                          f"acpidump text: more than an SMBIOS source can be (at most "
                          f"{SMBIOS_SOURCE_MAX >> 20} MiB)", source=source)
    try:
        table = parse_source_bytes(data, source)
        if kind != "smbios-source" and (not table.structures or any(
                47 <= x.type <= 125 for x in table.structures)):
            # a structure table without an entry point has no signature to tell it by:
            # inspect takes one of the types SMBIOS 3.7 defines only (build takes any)
            raise FormatError("no entry point, and not a structure table of the types "
                              "SMBIOS defines", source=source, offset=0)
    except FormatError as e:
        try:                         # what the image reader finds wrong, for an image
            describe(data, source=source)
            image = "?"
        except FormatError as i:
            image = i.message
        raise FormatError(f"neither an xcmod image ({image}) nor a stock block, acpidump "
                          f"text, an ACPI table or an SMBIOS source ({e.message})",
                          source=source) from None
    return {"format": "source", "source": source, "smbios": _smbios_dict(table),
            "tables": []}


def smbios_of(path, data=None):
    """The SmbiosTable ``path`` holds (the bytes ``data`` when given: standard input),
    whatever it is; None when it holds no SMBIOS."""
    if data is None:
        if path == host.HOST:
            return host.read_smbios(host.HOST)
        if os.path.isdir(path):
            names = set(os.listdir(path))
            if names & {"smbios.bin", "acpi.bin"}:
                return read_contents(path).smbios
            if {"smbios_entry_point", "DMI"} <= names:
                return host.read_smbios(path)
            return None
        data = read(path)
    data = bytes(data)
    if data[:4] == b"_SM_" or data[:5] == b"_SM3_" or _is_rsmb(data):
        return parse_source_bytes(data, path)
    kind = sniff(data)
    if kind == "modules":
        mod = single_module(data, XCMOD_TYPE_SMBIOS, path)
        return smbios_table(mod) if mod else None
    if kind == "smbios":
        return parse_smbios_block(data, path)
    if kind == "acpi" or host.is_acpidump_text(data):
        return None
    return parse_source_bytes(data, path)
