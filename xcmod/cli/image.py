"""Commands that read images and blocks: inspect, verify, extract, layout."""
import os

from ..errors import FormatError, UsageError
from .common import (
    PROG,
    _acpi_file_names,
    _add_args,
    _hvmloader_end,
    _mib,
    _placement_args,
    _write_json,
    command,
)


def cmd_inspect(args, out, err):
    from ..firmware.contents import describe, describe_block, describe_dir
    from ..image.read import read, sniff
    from .render import render_stock, render_text

    if os.path.isdir(args.image):
        desc = describe_dir(args.image)
    else:
        data = read(args.image)
        kind = sniff(data)
        if kind in ("acpi", "smbios"):
            desc = {"format": "xen", "blocks": [describe_block(kind, data, args.image)]}
        else:   # an image, or what the image reader names the problem of
            desc = describe(data, source=args.image)
    if args.json:
        _write_json(desc, out)
    elif desc.get("format") == "xen":
        render_stock(desc, out, source=args.image)
    else:
        render_text(desc, out, source=args.image)
    return 0


def cmd_verify(args, out, err):
    from ..image.blocks import check, read_path

    blocks = read_path(args.image)
    try:
        count = check(blocks)      # an image: by the C reference reader, as hvmloader will
    except FormatError as e:
        if args.json:
            _write_json({"valid": False, "error": e.message, "offset": e.offset,
                         "source": e.source}, out)
        err.write(f"{PROG}: error: {e}\n")
        return 1
    length = sum(len(b) for b in blocks)
    if args.json:
        _write_json({"valid": True, "length": length, "modules": count,
                     "blocks": [b.as_dict() for b in blocks]}, out)
    elif not args.quiet:
        what = (f"{count} module{'s' if count != 1 else ''}" if count is not None else
                ", ".join(f"{b.name} ({len(b)} bytes)" for b in blocks))
        out.write(f"{args.image}: valid, {what}, {length} bytes\n")
    return 0


def cmd_extract(args, out, err):
    from ..fileio import plan_outputs, write_all
    from ..firmware.smbios import dump_bin
    from ..firmware.contents import read_contents

    if args.smbios_dump is None and args.acpi_dir is None:
        raise UsageError("nothing to extract: give --smbios-dump FILE and/or --acpi-dir DIR")
    plan_outputs([(o, p, d) for o, p, d in (("--smbios-dump", args.smbios_dump, False),
                                            ("--acpi-dir", args.acpi_dir, True))
                  if p is not None], [("IMAGE", args.image)])
    c = read_contents(args.image)
    files, report = [], {}
    if args.smbios_dump is not None:
        if c.smbios is None:
            raise FormatError("no SMBIOS module or block to extract", source=args.image)
        files.append((args.smbios_dump, dump_bin(c.smbios)))
        report["smbios_dump"] = {"path": args.smbios_dump, "structures": len(c.structures)}
    if args.acpi_dir is not None:
        if not c.tables:
            raise FormatError("no ACPI module or block to extract", source=args.image)
        paths = [os.path.join(args.acpi_dir, n) for n in _acpi_file_names(c.tables)]
        files += [(p, t.raw) for p, t in zip(paths, c.tables)]
        report["acpi"] = [{"signature": t.signature, "path": p} for p, t in zip(paths, c.tables)]
    write_all(files)
    if args.json:
        _write_json(report, out)
    else:
        for path, blob in files:
            out.write(f"wrote {path} ({len(blob)} bytes)\n")
    return 0


def cmd_layout(args, out, err):
    from ..image.blocks import check, read_path
    from ..xen import layout
    blocks = read_path(args.image)
    check(blocks)
    plan = layout.plan([(b.name, len(b)) for b in blocks], args.memory, args.base,
                       _hvmloader_end(args))
    if args.json:
        _write_json(plan.as_dict(), out)
    else:
        layout.render(plan, out)
    return 0


@command("inspect")
def _parser_inspect(sub, argparse):
    i = sub.add_parser("inspect", help="list the modules, structures and tables of an image",
                       description="Show what an image holds, in the spirit of dmidecode: an "
                       "xcmod image, a `build --format xen` directory, or one stock "
                       "smbios.bin/acpi.bin block.  Checksum problems of an image are shown, "
                       "not fatal; use verify for a verdict.")
    i.add_argument("image", metavar="IMAGE|DIR",
                   help="an xcmod image, a `build --format xen` directory, or one stock block")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_inspect)


@command("verify")
def _parser_verify(sub, argparse):
    v = sub.add_parser("verify", help="check an image; exit 1 naming the first problem",
                       description="Validate every module, checksum, padding byte, ACPI "
                       "table and SMBIOS structure of an image with the C reference reader, "
                       "the code hvmloader runs (or each block of a `build --format xen` "
                       "directory as hvmloader walks it).  Exit 0 if valid, 1 with the first "
                       "problem and its offset.")
    v.add_argument("image", metavar="IMAGE|DIR",
                   help="an xcmod image, or a `build --format xen` directory (each block is "
                   "walked as hvmloader walks it)")
    v.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    v.add_argument("--json", action="store_true", help="print {valid, error, offset}")
    v.set_defaults(func=cmd_verify)


@command("extract")
def _parser_extract(sub, argparse):
    e = sub.add_parser("extract", help="write an image's contents back out for real tools",
                       description="Write the SMBIOS module as a dmidecode --dump-bin file "
                       "and every ACPI table as DIR/SIG.dat (SIG1.dat for a second table "
                       "of the same signature).  All files or none are written.")
    e.add_argument("image", metavar="IMAGE|DIR",
                   help="an xcmod image, a `build --format xen` directory, or one stock block")
    e.add_argument("--smbios-dump", metavar="FILE", help="dmidecode --dump-bin file to write")
    e.add_argument("--acpi-dir", metavar="DIR", help="directory for the ACPI tables")
    e.add_argument("--json", action="store_true", help="print what was written as JSON")
    e.set_defaults(func=cmd_extract)


@command("layout")
def _parser_layout(sub, argparse):
    lay = sub.add_parser("layout", help="plan where an image goes in guest RAM",
                         description="Place IMAGE page-aligned from --base and check it "
                         "against hvmloader's fixed areas (scratch, hypercall page, HVM info "
                         "page, its own image, the debug self-test window at 4-8 MiB, the "
                         "reserved area from 0xFC000000) and the guest's low RAM.  Prints a "
                         "memory map and the minimum guest memory; exit 1 on any conflict.")
    lay.add_argument("image", metavar="IMAGE|DIR",
                     help="an xcmod image, or a `build --format xen` directory")
    lay.add_argument("--memory", type=_mib, metavar="MiB", help="guest memory in MiB")
    _add_args(lay, _placement_args())
    lay.add_argument("--json", action="store_true", help="machine-readable output")
    lay.set_defaults(func=cmd_layout)
