"""The ``python -m xcmod`` command line.

Every command is a function ``cmd_NAME(args, out, err) -> int`` writing to the
streams it is given.  :func:`main` turns every error xcmod raises on purpose
(and OSError from files) into one line on stderr and exit status 1; usage
errors exit 2, as argparse does.  Heavy modules are imported inside the
commands, so a command only pays for what it uses.
"""
import argparse
import json
import os
import sys

PROG = "xcmod"

DESCRIPTION = """\
Pass host SMBIOS structures and ACPI tables into Xen HVM guests as hvmloader
modules: build an image from firmware dumps, check it, look inside, and get
the tables back out for dmidecode and acpica.
"""

EPILOG = """\
examples:
  dmidecode --dump-bin host.dmi && acpidump -b      # on the source host
  xcmod build -o mods.bin --smbios host.dmi --acpi slic.dat --acpi ssdt1.dat
  xcmod build -o mods.bin --smbios /sys/firmware/dmi/tables
  xcmod inspect mods.bin            # dmidecode-like listing; --json for scripts
  xcmod verify mods.bin             # exit 0 if valid, 1 naming the first problem
  xcmod extract mods.bin --smbios-dump guest.dmi --acpi-dir tables/
  dmidecode --from-dump guest.dmi   # real tools read what is inside
  xcmod layout --memory 32 mods.bin # where it goes in guest RAM, and what it needs

The image format is described in docs/format.md and csrc/xcmod_module.h.
"""


def _write_json(obj, out):
    json.dump(obj, out, indent=2, sort_keys=False)
    out.write("\n")


def _note(err, msg):
    err.write(f"{PROG}: note: {msg}\n")


# --------------------------------------------------------------------- build

def cmd_build(args, out, err):
    from . import acpi, smbios
    from .acpi import encode_acpi_module
    from .errors import UsageError
    from .fileio import atomic_write
    from .format import build_image, verify_image

    if not args.smbios and not args.acpi:
        raise UsageError("nothing to build: give --smbios SRC and/or --acpi FILE")
    modules, summary = [], {"output": args.output, "modules": []}
    if args.smbios:
        table = smbios.load(args.smbios)
        for n in table.notes:
            _note(err, f"{args.smbios}: {n}")
        if not table.structures:
            raise UsageError(f"{args.smbios}: no SMBIOS structures found")
        modules.append(table.encode())
        summary["modules"].append({"type": "smbios", "structures": len(table.structures),
                                   "version": "%d.%d.%d" % table.version})
    if args.acpi:
        tables = [acpi.load_table(p) for p in args.acpi]
        modules.append(encode_acpi_module(tables))
        summary["modules"].append({"type": "acpi",
                                   "tables": [t.signature for t in tables]})
    image = build_image(modules)
    verify_image(image, source="<built image>")   # never write what we cannot read back
    atomic_write(args.output, image)
    summary["length"] = len(image)
    if args.json:
        _write_json(summary, out)
    else:
        parts = []
        for m in summary["modules"]:
            if m["type"] == "smbios":
                parts.append(f"SMBIOS {m['version']}: {m['structures']} structures")
            else:
                parts.append(f"ACPI: {len(m['tables'])} tables ({' '.join(m['tables'])})")
        out.write(f"{args.output}: {len(image)} bytes, {'; '.join(parts)}\n")
    return 0


# ------------------------------------------------------------------- inspect

def cmd_inspect(args, out, err):
    from .image import describe, read
    from .render import render_text

    desc = describe(read(args.image), source=args.image)
    if args.json:
        _write_json(desc, out)
    else:
        render_text(desc, out, source=args.image)
    return 0


# -------------------------------------------------------------------- verify

def cmd_verify(args, out, err):
    from .errors import FormatError
    from .format import verify_image
    from .image import read

    data = read(args.image)
    try:
        mods = verify_image(data, source=args.image)
    except FormatError as e:
        if args.json:
            _write_json({"valid": False, "error": e.message, "offset": e.offset}, out)
        err.write(f"{PROG}: {e}\n")
        return 1
    if args.json:
        _write_json({"valid": True, "length": len(data), "modules": len(mods) - 1}, out)
    elif not args.quiet:
        out.write(f"{args.image}: valid, {len(mods) - 1} modules, {len(data)} bytes\n")
    return 0


# ------------------------------------------------------------------- extract

def _acpi_file_names(tables):
    seen, names = {}, []
    for t in tables:
        sig = "".join(c if c.isalnum() or c in "!_-" else "_" for c in t.signature)
        n = seen.get(sig, 0)
        seen[sig] = n + 1
        names.append(f"{sig}{n if n else ''}.dat")
    return names


def cmd_extract(args, out, err):
    from .errors import UsageError
    from .fileio import write_all
    from .format import XCMOD_TYPE_ACPI, XCMOD_TYPE_SMBIOS
    from .image import acpi_tables, read, single_module, smbios_table
    from .smbios import dump_bin

    if not args.smbios_dump and not args.acpi_dir:
        raise UsageError("nothing to extract: give --smbios-dump FILE and/or --acpi-dir DIR")
    data = read(args.image)
    files, report = [], {}
    if args.smbios_dump:
        mod = single_module(data, XCMOD_TYPE_SMBIOS, args.image)
        if mod is None:
            raise UsageError(f"{args.image}: no SMBIOS module to extract")
        table = smbios_table(mod)
        files.append((args.smbios_dump, dump_bin(table)))
        report["smbios_dump"] = {"path": args.smbios_dump, "structures": len(table.structures)}
    if args.acpi_dir:
        mod = single_module(data, XCMOD_TYPE_ACPI, args.image)
        if mod is None:
            raise UsageError(f"{args.image}: no ACPI module to extract")
        tables = acpi_tables(mod)
        paths = [os.path.join(args.acpi_dir, n) for n in _acpi_file_names(tables)]
        files += [(p, t.raw) for p, t in zip(paths, tables)]
        report["acpi"] = [{"signature": t.signature, "path": p} for p, t in zip(paths, tables)]
    write_all(files)
    if args.json:
        _write_json(report, out)
    else:
        for path, blob in files:
            out.write(f"wrote {path} ({len(blob)} bytes)\n")
    return 0


# -------------------------------------------------------------------- layout

def _int(text):
    """An integer in any base Python and strtoll agree on (0x.., decimal)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def cmd_layout(args, out, err):
    from . import layout
    from .format import verify_image
    from .image import read

    data = read(args.image)
    verify_image(data, source=args.image)
    plan = layout.plan([("xcmod modules", len(data))], args.memory, args.base,
                       _hvmloader_end(args))
    if args.json:
        _write_json(plan.as_dict(), out)
    else:
        layout.render(plan, out)
    return 0


# ---------------------------------------------------------------------- load

def cmd_load(args, out, err):
    from .image import read
    from .loader import load

    data = read(args.image)
    r = load(args.domid, data, base=args.base, force=args.force,
             hvmloader_end=_hvmloader_end(args), source=args.image)
    if args.json:
        _write_json(r.as_dict(), out)
    else:
        out.write(f"domain {r.domid}: loaded {r.length} bytes ({r.count} modules) at "
                  f"{r.base:#x}\n")
    return 0


# ---------------------------------------------------------------------- main

def _add_placement_args(parser):
    """--base and --hvmloader, shared by every command that places an image."""
    from .layout import DEFAULT_BASE
    parser.add_argument("--base", type=_int, default=DEFAULT_BASE, metavar="GPA",
                        help=f"guest physical base address (page-aligned; default "
                        f"{DEFAULT_BASE:#x})")
    parser.add_argument("--hvmloader", metavar="ELF",
                        help="hvmloader binary, to take its real end instead of assuming "
                        "1 MiB (e.g. /usr/lib/xen-4.17/boot/hvmloader)")


def _hvmloader_end(args):
    """The end of hvmloader from --hvmloader ELF, or None for the planner's default."""
    if not args.hvmloader:
        return None
    from .layout import hvmloader_end_from_elf
    return hvmloader_end_from_elf(args.hvmloader)


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    b = sub.add_parser("build", help="build a module image from SMBIOS and ACPI sources",
                       description="Build a module image: one SMBIOS module with every "
                       "structure of SRC, one ACPI module with every --acpi table, in "
                       "order, then END.  Nothing is written unless the whole image "
                       "builds and verifies.")
    b.add_argument("-o", "--output", required=True, metavar="IMAGE", help="image file to write")
    b.add_argument("--smbios", metavar="SRC",
                   help="SMBIOS source: a dmidecode --dump-bin file, a sysfs-layout directory "
                   "(smbios_entry_point + DMI, e.g. /sys/firmware/dmi/tables), a Windows "
                   "RSMB blob or a raw structure table")
    b.add_argument("--acpi", metavar="FILE", action="append", default=[],
                   help="one ACPI table file (acpidump -b, sysfs, iasl output); repeatable, "
                   "tables go in the order given")
    b.add_argument("--json", action="store_true", help="print a JSON summary")
    b.set_defaults(func=cmd_build)

    i = sub.add_parser("inspect", help="list the modules, structures and tables of an image",
                       description="Show what an image holds, in the spirit of dmidecode. "
                       "Checksum problems are shown, not fatal; use verify for a verdict.")
    i.add_argument("image", metavar="IMAGE")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_inspect)

    v = sub.add_parser("verify", help="check an image; exit 1 naming the first problem",
                       description="Validate every module, checksum, padding byte, ACPI "
                       "table and SMBIOS structure of an image, exactly as the C reference "
                       "reader does.  Exit 0 if valid, 1 with the first problem and its offset.")
    v.add_argument("image", metavar="IMAGE")
    v.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    v.add_argument("--json", action="store_true", help="print {valid, error, offset}")
    v.set_defaults(func=cmd_verify)

    e = sub.add_parser("extract", help="write an image's contents back out for real tools",
                       description="Write the SMBIOS module as a dmidecode --dump-bin file "
                       "and every ACPI table as DIR/SIG.dat (SIG1.dat for a second table "
                       "of the same signature).  All files or none are written.")
    e.add_argument("image", metavar="IMAGE")
    e.add_argument("--smbios-dump", metavar="FILE", help="dmidecode --dump-bin file to write")
    e.add_argument("--acpi-dir", metavar="DIR", help="directory for the ACPI tables")
    e.add_argument("--json", action="store_true", help="print what was written as JSON")
    e.set_defaults(func=cmd_extract)

    lay = sub.add_parser("layout", help="plan where an image goes in guest RAM",
                         description="Place IMAGE page-aligned from --base and check it "
                         "against hvmloader's fixed areas (scratch, hypercall page, HVM info "
                         "page, its own image, the debug self-test window at 4-8 MiB, the "
                         "reserved area from 0xFC000000) and the guest's low RAM.  Prints a "
                         "memory map and the minimum guest memory; exit 1 on any conflict.")
    lay.add_argument("image", metavar="IMAGE")
    lay.add_argument("--memory", type=_int, metavar="MiB", help="guest memory in MiB")
    _add_placement_args(lay)
    lay.add_argument("--json", action="store_true", help="machine-readable output")
    lay.set_defaults(func=cmd_layout)

    ld = sub.add_parser("load", help="copy an image into a paused HVM guest for hvmloader",
                        description="Copy IMAGE into the RAM of paused HVM domain DOMID at "
                        "--base (after hvmloader), read it back to verify, then write "
                        "/local/domain/DOMID/hvmloader/modules/{address,length,count} in one "
                        "xenstore transaction, read-only for the guest.  Nothing is written "
                        "if any check fails.  Run between `xl create -p` and `xl unpause`.")
    ld.add_argument("image", metavar="IMAGE")
    ld.add_argument("--domid", type=_int, required=True, help="target domain (never 0)")
    _add_placement_args(ld)
    ld.add_argument("--force", action="store_true",
                    help="load even if the domain is running (never domain 0)")
    ld.add_argument("--json", action="store_true", help="print what was done as JSON")
    ld.set_defaults(func=cmd_load)
    return p


def main(argv=None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    from .errors import XcmodError
    try:
        return args.func(args, out, err)
    except XcmodError as e:
        err.write(f"{PROG}: error: {e}\n")
        return 1
    except BrokenPipeError:
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        err.write(f"{PROG}: error: {where}{e.strerror or e}\n")
        return 1
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130


def console_main():
    """Entry point of the ``xcmod`` console script."""
    sys.exit(main(sys.argv[1:]))
