"""Hand a build to other toolstacks: xl, QEMU, libvirt.

* ``xl``: xl.cfg's ``smbios_firmware=`` and ``acpi_firmware=`` take files in
  exactly the stock formats of ``build --format xen`` (libxl loads them into
  the guest and sets the ``hvmloader/{smbios,acpi}/*`` keys itself).
* ``qemu``: ``-smbios file=F`` loads ONE structure per file (QEMU
  hw/smbios/smbios.c counts a file as one table and takes its type from the
  first header), ``-acpitable file=F`` one whole table per file.
* ``libvirt``: the same QEMU arguments as ``<qemu:commandline>``.
"""
import os
import shlex
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from . import stock
from .errors import UsageError
from .format import XCMOD_TYPE_ACPI, XCMOD_TYPE_SMBIOS
from .image import acpi_tables, read, single_module, smbios_table

TARGETS = ("xl", "qemu", "libvirt")
LIBVIRT_NS = "http://libvirt.org/schemas/domain/qemu/1.0"


@dataclass
class Content:
    structures: list     # SmbiosStructure
    tables: list         # AcpiTable
    xen_dir: str | None  # when the source already is a --format xen directory


def read_source(path):
    """The structures and tables of an xcmod image or a ``--format xen`` directory."""
    if os.path.isdir(path):
        smb, acp = stock.read_dir(path)
        structures = (stock.parse_smbios_block(smb, os.path.join(path, stock.SMBIOS_FILE))
                      .structures if smb is not None else [])
        tables = (stock.parse_acpi_block(acp, os.path.join(path, stock.ACPI_FILE))
                  if acp is not None else [])
        return Content(structures, tables, os.path.abspath(path))
    data = read(path)
    mod = single_module(data, XCMOD_TYPE_SMBIOS, path)
    structures = smbios_table(mod).structures if mod else []
    mod = single_module(data, XCMOD_TYPE_ACPI, path)
    tables = acpi_tables(mod) if mod else []
    return Content(structures, tables, None)


def plan(target, content, out_dir):
    """(files to write [(path, bytes)], lines to print) for ``target``."""
    if not content.structures and not content.tables:
        raise UsageError("the source holds no SMBIOS structures and no ACPI tables")
    files = []
    if target == "xl":
        if content.xen_dir and out_dir is None:
            base = content.xen_dir
        else:
            if out_dir is None:
                raise UsageError("export xl from an image needs --out-dir DIR for "
                                 "smbios.bin and acpi.bin")
            base = os.path.abspath(out_dir)
            if content.structures:
                files.append((os.path.join(base, stock.SMBIOS_FILE),
                              stock.encode_smbios_block(content.structures)))
            if content.tables:
                files.append((os.path.join(base, stock.ACPI_FILE),
                              stock.encode_acpi_block(content.tables)))
        lines = []
        if content.structures:
            lines.append(f'smbios_firmware = "{os.path.join(base, stock.SMBIOS_FILE)}"')
        if content.tables:
            lines.append(f'acpi_firmware = "{os.path.join(base, stock.ACPI_FILE)}"')
        return files, lines

    if out_dir is None:
        raise UsageError(f"export {target} needs --out-dir DIR: QEMU takes one SMBIOS "
                         f"structure and one ACPI table per file")
    base = os.path.abspath(out_dir)
    args = []
    for n, s in enumerate(content.structures):
        p = os.path.join(base, f"smbios-{n:03d}-type{s.type}.bin")
        files.append((p, s.data))
        args.append(("-smbios", f"file={p}"))
    for n, t in enumerate(content.tables):
        sig = "".join(c if c.isalnum() else "_" for c in t.signature)
        p = os.path.join(base, f"acpi-{n:03d}-{sig}.dat")
        files.append((p, t.raw))
        args.append(("-acpitable", f"file={p}"))
    if target == "qemu":
        return files, [f"{opt} {shlex.quote(val)}" for opt, val in args]
    lines = [f"<!-- inside <domain type='kvm' xmlns:qemu='{LIBVIRT_NS}'> -->",
             "<qemu:commandline>"]
    for opt, val in args:
        lines.append(f"  <qemu:arg value={quoteattr(opt)}/>")
        lines.append(f"  <qemu:arg value={quoteattr(val)}/>")
    lines.append("</qemu:commandline>")
    return files, lines
