# SPDX-License-Identifier: MIT
"""Commands that read images and blocks: inspect, verify, extract, layout."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from ..errors import FormatError, UsageError
from ..fileio import IMAGE_MAX, plan_outputs, write_all
from ..firmware import preview
from ..firmware.contents import read_contents
from ..firmware.fields import parse_types
from ..firmware.smbios import dump_bin
from ..image.blocks import check, read_path
from ..xen import layout
from .common import (
    _acpi_file_names,
    _add_args,
    _hvmloader_end,
    _mib,
    _placement_args,
    _warn,
    _write_json,
    command,
)
from .render import render_source, render_stock, render_text


def cmd_inspect(args, out, err):

    data = _stdin_bytes() if args.image == "-" else None
    source = "<stdin>" if data is not None else args.image
    if args.decode:
        return _decode(args, source, data, out, err)
    desc = (preview.describe_bytes(data, source) if data is not None
            else preview.describe_path(args.image))
    desc = _filtered(desc, args.type, args.table)
    if args.json:
        _write_json(desc, out)
    elif desc.get("format") == "xen":
        render_stock(desc, out, source=source)
    elif desc.get("format") == "source":
        render_source(desc, out)
    else:
        render_text(desc, out, source=source)
    return 0


def _stdin_bytes():
    """Standard input's bytes (``inspect -``), at most an image's ceiling."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise UsageError("inspect -: standard input is not readable as bytes")
    data = stream.read(IMAGE_MAX + 1)
    if len(data) > IMAGE_MAX:
        raise FormatError(f"more than {IMAGE_MAX >> 20} MiB, more than any image or "
                          f"firmware source", source="<stdin>")
    if not data:
        raise FormatError("empty: nothing to inspect", source="<stdin>")
    return data


def _types_arg(text):
    """argparse type of -t: dmidecode's TYPE[,TYPE...] (numbers or keywords)."""
    try:
        return parse_types(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _sigs_arg(text):
    """argparse type of --table: SIG[,SIG...], as the signatures are spelled."""
    sigs = {w.strip() for w in text.split(",") if w.strip()}
    if not sigs or any(len(w) > 4 for w in sigs):
        raise argparse.ArgumentTypeError(f"{text!r}: ACPI signatures of 4 characters, "
                                         f"comma-separated (SSDT,SLIC)")
    return sigs


def _filtered(desc, types, sigs):
    """``desc`` with only the SMBIOS structures of ``types`` and the ACPI tables of
    ``sigs``; naming one kind only leaves the other out, as dmidecode -t does."""
    if types is None and sigs is None:
        return desc
    keep_s = (lambda s: s["type"] in types) if types is not None else (lambda s: False)
    keep_t = ((lambda t: t["signature"] in sigs or t["signature"].rstrip() in sigs)
              if sigs is not None else (lambda t: False))

    def cut(d):
        if "structures" in d:
            d = {**d, "structures": [s for s in d["structures"] if keep_s(s)]}
        if "tables" in d:
            d = {**d, "tables": [t for t in d["tables"] if keep_t(t)]}
        return d
    desc = cut(desc)
    if desc.get("smbios"):
        desc["smbios"] = cut(desc["smbios"])
    for key in ("modules", "blocks"):
        if key in desc:
            desc[key] = [cut(m) for m in desc[key]]
    return desc


# Where dmidecode is besides PATH (a user's PATH on Debian has no sbin).
DMIDECODE_DIRS = ("/usr/sbin", "/sbin")


def _decode(args, source, data, out, err):
    """--decode: the installed dmidecode's reading of the SMBIOS structures."""


    dmidecode = shutil.which("dmidecode", path=os.pathsep.join(
        [os.environ.get("PATH", os.defpath), *DMIDECODE_DIRS]))
    if dmidecode is None:
        raise FormatError("--decode runs dmidecode, which is not installed (Debian: apt "
                          "install dmidecode); without --decode inspect decodes the fields "
                          "xcmod models", source=source)
    table = preview.smbios_of(args.image if data is None else source, data)
    if table is None or not table.structures:
        raise FormatError("no SMBIOS structures to decode", source=source)
    with tempfile.NamedTemporaryFile(prefix="xcmod-decode-", suffix=".dmi") as f:
        f.write(dump_bin(table))
        f.flush()
        cmd = [dmidecode, "--from-dump", f.name]
        if args.type is not None:
            cmd += ["-t", ",".join(map(str, sorted(args.type)))]
        r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise FormatError(f"dmidecode exited {r.returncode}: "
                          f"{r.stderr.decode('utf-8', 'replace').strip()[:200]}", source=source)
    out.write(f"# {source}: decoded by {dmidecode} (xcmod wrote the structures as a "
              f"--dump-bin file)\n")
    out.write(r.stdout.decode("utf-8", "replace").replace(f.name, source))
    return 0


def cmd_extract(args, out, err):

    if args.smbios_dump is None and args.acpi_dir is None:
        raise UsageError("nothing to extract: give --smbios-dump FILE and/or --acpi-dir DIR")
    plan_outputs([(o, p, d) for o, p, d in (("--smbios-dump", args.smbios_dump, False),
                                            ("--acpi-dir", args.acpi_dir, True))
                  if p is not None], [("IMAGE", args.image)])
    c = read_contents(args.image)
    files, report, lacking = [], {}, []
    if args.smbios_dump is not None:
        if c.smbios is None:
            lacking.append(("--smbios-dump", args.smbios_dump, "SMBIOS module or block"))
        else:
            files.append((args.smbios_dump, dump_bin(c.smbios)))
            report["smbios_dump"] = {"path": args.smbios_dump,
                                     "structures": len(c.structures)}
    if args.acpi_dir is not None:
        if not c.tables:
            lacking.append(("--acpi-dir", args.acpi_dir, "ACPI module or block"))
        else:
            paths = [os.path.join(args.acpi_dir, n) for n in _acpi_file_names(c.tables)]
            files += [(p, t.raw) for p, t in zip(paths, c.tables)]
            report["acpi"] = [{"signature": t.signature, "path": p}
                              for p, t in zip(paths, c.tables)]
    if not files:                   # none of what was asked: an error, nothing written
        raise FormatError("holds " + " nor ".join(f"no {what} (for {opt})"
                                                  for opt, _, what in lacking),
                          source=args.image)
    write_all(files)
    for opt, path, what in lacking:     # written what there is; named what is not
        _warn(err, f"{args.image} holds no {what}: {opt} {path} not written")
    if args.json:
        report["lacking"] = [opt for opt, _, _ in lacking]
        _write_json(report, out)
    else:
        for path, blob in files:
            out.write(f"wrote {path} ({len(blob)} bytes)\n")
    return 0


def cmd_layout(args, out, err):
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
    i = sub.add_parser("inspect", help="show what an image or a firmware source holds, "
                       "as dmidecode would",
                       description="Show what SOURCE holds, in dmidecode's manner (type "
                       "names, handles, the fields xcmod models decoded): an xcmod image, a "
                       "`build --format xen` directory or one of its blocks, or any source "
                       "build reads (host, a dmidecode --dump-bin file, a sysfs-layout "
                       "directory, an RSMB blob or structure table, a directory of ACPI "
                       "tables, acpidump text, one table file); - reads standard input.  "
                       "Checksum problems of an image are shown, not fatal; use verify for "
                       "a verdict, build --dry-run for what a policy passes.")
    i.add_argument("image", metavar="SOURCE",
                   help="an image, a blocks directory or block, a build source, host "
                   "(as root), or - for standard input")
    i.add_argument("-t", "--type", type=_types_arg, metavar="TYPE[,TYPE...]",
                   help="only SMBIOS structures of these types: numbers, or dmidecode's "
                   "keywords (bios, system, baseboard, chassis, processor, memory, cache, "
                   "connector, slot)")
    i.add_argument("--table", type=_sigs_arg, metavar="SIG[,SIG...]",
                   help="only ACPI tables of these signatures (SSDT,SLIC)")
    i.add_argument("--decode", action="store_true",
                   help="decode the SMBIOS structures with the installed dmidecode "
                   "(--from-dump) instead of xcmod's own reading")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_inspect)


@command("extract")
def _parser_extract(sub, argparse):
    e = sub.add_parser("extract", help="write an image's contents back out for real tools",
                       description="Write the SMBIOS module as a dmidecode --dump-bin file "
                       "and every ACPI table as DIR/SIG.dat (SIG1.dat for a second table "
                       "of the same signature).  What the image holds is written, all of "
                       "it or none; what it lacks is named in a warning (exit 0).  Exit 1, "
                       "nothing written, when it holds none of what was asked.")
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
                         "page, its own image, a debug build's 4 MiB self-test window (the "
                         "first 4 MiB block at or above its end, as tests.c picks it), the "
                         "reserved area from 0xFC000000) and the guest's low RAM.  Prints a "
                         "memory map and the minimum guest memory; exit 1 on any conflict.")
    lay.add_argument("image", metavar="IMAGE|DIR",
                     help="an xcmod image, or a `build --format xen` directory")
    lay.add_argument("--memory", type=_mib, metavar="MiB", help="guest memory in MiB")
    _add_args(lay, _placement_args())
    lay.add_argument("--json", action="store_true", help="machine-readable output")
    lay.set_defaults(func=cmd_layout)
