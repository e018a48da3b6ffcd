# SPDX-License-Identifier: MIT
"""The build job's commands: build, fields, export."""

from ..builder import build, export, input_paths, output_paths, write_build
from ..builder.export import TARGETS
from ..builder.policy import default_scrub_fields
from ..errors import UsageError
from ..fileio import plan_outputs, write_all
from ..firmware.contents import read_contents
from ..firmware.fields import FIELDS, other_names
from .common import PROG, _warn, _write_json, command
from .render import render_report


def cmd_build(args, out, err):

    if args.dry_run:
        extra = [o for o, v in (("--manifest", args.manifest), ("--report", args.report))
                 if v is not None]
        if extra:
            raise UsageError(f"--dry-run writes nothing: leave out {' and '.join(extra)} "
                             f"(--json prints the report)")
    elif args.output is None:
        raise UsageError("give -o OUT (an image file, or a directory with --format xen), "
                         "or --dry-run to see what would pass")
    # Before anything is read: no output on another output or on an input.
    plan_outputs(([] if args.output is None else output_paths(args.format, args.output)) +
                 [(o, p, False) for o, p in (("--manifest", args.manifest),
                                             ("--report", args.report)) if p is not None],
                 input_paths(args.smbios, args.acpi, args.orom, args.policy, args.secret_file))
    r = build(args.smbios, args.acpi, args.orom, policy=args.policy, xen=args.xen,
              fmt=args.format, oem_ids=args.oem_ids, guest=args.guest,
              secret_file=args.secret_file, overrides=args.set, strict=args.strict,
              dry_run=args.dry_run)
    if args.dry_run:
        return _dry_run(args, r, out, err)
    written = write_build(r, args.output, manifest=args.manifest, report=args.report)
    if args.json:
        _write_json({"output": args.output, **r.as_dict()}, out)
        return 0
    if args.format == "xen":
        wrote = ", ".join(f"{p} ({len(b)} bytes)" for p, b in written[:len(r.blocks)])
        out.write(f"wrote {wrote}; {_summary(r)}\n")
    else:
        out.write(f"{args.output}: {len(r.blocks[0])} bytes, {_summary(r)}\n")
    if args.quiet:                 # the report, when printed, holds the warnings once
        for w in r.warnings:
            _warn(err, w)
    else:
        render_report(r.report, out)
    return 0


def _summary(r):
    """What a build holds, one clause per kind: SMBIOS, ACPI, OEM IDs, option ROMs."""
    parts = []
    sel = r.selection
    if sel.smbios is not None and sel.smbios.structures:
        parts.append("SMBIOS %d.%d.%d: %d structures" % (*sel.smbios.version,
                                                         len(sel.smbios.structures)))
    if sel.acpi:
        n = len(sel.acpi)
        parts.append(f"ACPI: {n} table{'s' if n > 1 else ''} "
                     f"({' '.join(t.signature for t in sel.acpi)})")
    if r.oem_ids:
        parts.append('ACPI OEM IDs "%s" "%s"' % tuple(x.decode("ascii") for x in r.oem_ids))
    for rom in sel.oroms:
        d = rom.as_dict()
        parts.append(f"option ROM {d['vendor_id']}:{d['device_id']}")
    return "; ".join(parts)


def _dry_run(args, r, out, err):
    """``build --dry-run``: the whole report and what would be written; nothing is.
    Exits as the build would: 1 (the one error line) when nothing would pass."""
    if args.json:
        doc = {"dry_run": True, "output": args.output, "would_build": bool(r.blocks)}
        doc.update(r.as_dict() if r.blocks else {"report": r.report.as_dict()})
        _write_json(doc, out)
    else:
        if r.blocks:
            size = sum(len(b) for b in r.blocks)
            where = f" to {args.output}" if args.output else ""
            out.write(f"dry run: would write {size} bytes{where} "
                      f"({'stock blocks' if args.format == 'xen' else 'an image'}); "
                      f"{_summary(r)}; nothing written\n")
        render_report(r.report, out)
    if not r.blocks:
        err.write(f"{PROG}: error: {r.nothing}\n")
        return 1
    return 0


def cmd_fields(args, out, err):

    scrubbed = set(default_scrub_fields())
    rows = [{"field": k, "type": f.type, "offset": f.offset, "kind": f.kind,
             "scrubbed_by_default": k in scrubbed, **other_names(k)} for k, f in FIELDS.items()]
    if args.json:
        _write_json(rows, out)
        return 0
    out.write(f"{'FIELD (--set, policies)':<38} {'TYPE':<4} {'OFFSET':<6} {'KIND':<6} "
              f"{'DMIDECODE -s':<24} XENSTORE (xcmod keys)\n")
    for r in rows:
        off = "var" if r["offset"] is None else f"{r['offset']:#04x}"
        mark = "  (scrubbed by default)" if r["scrubbed_by_default"] else ""
        out.write(f"{r['field']:<38} {r['type']:<4} {off:<6} {r['kind']:<6} "
                  f"{r['dmidecode'] or '-':<24} {r['xenstore'] or '-'}{mark}\n")
    return 0


def cmd_export(args, out, err):
    if args.out_dir is not None:
        plan_outputs([("--out-dir", args.out_dir, True)], [("SOURCE", args.source)])
    warnings, notes, not_carried = [], [], []
    if args.hvmloader is not None:
        if args.target not in ("xl", "libvirt") or \
                (args.target == "libvirt" and args.driver != "xen"):
            raise UsageError("--hvmloader is for xl and libvirt --driver xen (libxl's "
                             "acpi_firmware carries the image to xcmod's hvmloader)")
        files, lines, notes = export.carrier_plan(args.target, args.source, args.out_dir,
                                                  args.hvmloader, name=args.name,
                                                  warnings=warnings)
    else:
        content = read_contents(args.source)
        files, lines = export.plan(args.target, content, args.out_dir, driver=args.driver,
                                   name=args.name, vm=args.vm, warnings=warnings)
        not_carried = export.image_extras(args.source)
    write_all(files)
    for w in warnings:
        _warn(err, w)
    for w in not_carried:
        _warn(err, f"not carried by export {args.target}: {w}")
    for n in notes:
        err.write(f"{PROG}: note: {n}\n")
    if args.json:
        _write_json({"target": args.target, "files": [p for p, _ in files], "lines": lines,
                     "warnings": warnings, "not_carried": not_carried, "notes": notes}, out)
    else:
        for line in lines:
            out.write(line + "\n")
    return 0


BUILD_DESCRIPTION = """\
Build what a guest should see of the host's firmware.  Sources are read, the
policy selects what may pass (by default: the SMBIOS types and ACPI tables
the target hvmloader accepts), serial numbers, UUID and asset tags are
scrubbed, overrides applied, SSDTs linted, and a report says what passed, what
was dropped or scrubbed, and why.  Nothing is written unless everything
builds and verifies.
"""

BUILD_EPILOG = """\
examples:
  xcmod build -o mods.bin --smbios host --acpi host
  xcmod build --dry-run --smbios host --acpi host   # the report only; nothing written
  xcmod build -o mods.bin --smbios host.dmi --acpi slic.dat --set system.manufacturer=ACME
  xcmod build --format xen -o blocks/ --smbios host --acpi tables/ --xen 4.20.4
  xcmod build -o mods.bin --smbios host --policy site.toml --guest vm7 \\
              --secret-file /etc/xcmod/secret --manifest mods.json
  xcmod build -o mods.bin --orom /usr/share/qemu/pxe-e1000.rom   # Debian 12: /usr/lib/ipxe/qemu/
"""


@command("build")
def _parser_build(sub, argparse):
    b = sub.add_parser("build", help="build a module image (or stock hvmloader blocks) from "
                       "host firmware, under a pass-through policy",
                       description=BUILD_DESCRIPTION, epilog=BUILD_EPILOG)
    b.add_argument("-o", "--output", metavar="OUT",
                   help="image file to write (--format modules), or directory for "
                   "smbios.bin and acpi.bin (--format xen); required unless --dry-run")
    b.add_argument("--dry-run", action="store_true",
                   help="read the sources and run the policy, print the whole report (what "
                   "would pass, what is dropped and why) and what would be written; write "
                   "nothing.  Exit 1 when nothing would pass, as build would")
    b.add_argument("--format", choices=("modules", "xen"), default="modules",
                   help="modules: an xcmod image (default); xen: the two blocks stock "
                   "hvmloader and xl's smbios_firmware=/acpi_firmware= read")
    b.add_argument("--smbios", metavar="SRC",
                   help="SMBIOS source: host, mem:IMAGE (legacy F-segment scan of a memory "
                   "image or /dev/mem), a dmidecode --dump-bin file, a sysfs-layout directory "
                   "(smbios_entry_point + DMI), a Windows RSMB blob or a raw structure table")
    b.add_argument("--acpi", metavar="SRC", action="append", default=[],
                   help="ACPI source: host, a directory of tables (sysfs layout, dynamic/ "
                   "included), an acpidump text file, or one table file; repeatable, tables "
                   "keep their order.  A table named as a file that the policy refuses is "
                   "an error; from a directory it is skipped and reported")
    b.add_argument("--orom", metavar="FILE", action="append", default=[],
                   help="PCI option ROM to pack as an OROM module (validated: 55AA, PCIR, "
                   "lengths, checksum); repeatable")
    b.add_argument("--oem-ids", metavar="slic|OEMID,TABLEID",
                   help="opt-in: the OEM ID and OEM Table ID the guest's RSDP, RSDT, XSDT "
                   "and FADT carry instead of Xen/HVM (read by xcmod's patched hvmloader, "
                   "docs/hvmloader.md): 'slic' copies them from the SLIC (or MSDM) being "
                   "passed, so Windows OEM activation validates it; modules format only")
    b.add_argument("--policy", metavar="NAME|FILE",
                   help="default (the default), strict, passthrough-all, or a TOML policy "
                   "file (see docs/policy.md)")
    b.add_argument("--xen", metavar="VERSION", default=None,
                   help="the Xen whose hvmloader will read the output: 4.17 to 4.22 "
                   "(a line, or a release such as 4.20.1), master, or any (what every "
                   "release takes); default: the policy's xen, else this host's Xen, "
                   "else any.  The report says which")
    b.add_argument("--set", metavar="FIELD=VALUE", action="append", default=[],
                   help="override an SMBIOS field, e.g. system.manufacturer=ACME (see "
                   "`xcmod fields`); repeatable")
    b.add_argument("--guest", metavar="NAME",
                   help="guest name or UUID the pseudonyms are derived for (scrub mode "
                   "pseudonym)")
    b.add_argument("--secret-file", metavar="FILE",
                   help="HMAC key for pseudonyms (scrub mode pseudonym)")
    b.add_argument("--strict", action="store_true",
                   help="refuse SSDTs with OperationRegions on host memory, I/O or PCI "
                   "config space instead of warning")
    b.add_argument("--manifest", metavar="FILE",
                   help="write SHA-256 digests of every module/block and the image, with a "
                   "PCR-style chain, as JSON")
    b.add_argument("--report", metavar="FILE", help="write the report as JSON too")
    b.add_argument("-q", "--quiet", action="store_true", help="print no report")
    b.add_argument("--json", action="store_true", help="print a JSON summary with the report")
    b.set_defaults(func=cmd_build)


@command("fields")
def _parser_fields(sub, argparse):
    fl = sub.add_parser("fields", help="list the SMBIOS field names policies and --set use",
                        description="Every field name a policy's [override] or scrub.fields "
                        "and --set accept, with its structure type and offset, and the "
                        "names the same field has for dmidecode -s and in xenstore "
                        "(bios-strings/*, what xcmod keys sets).")
    fl.add_argument("--json", action="store_true", help="machine-readable output")
    fl.set_defaults(func=cmd_fields)


@command("export")
def _parser_export(sub, argparse):
    ex = sub.add_parser("export", help="print xl.cfg lines, QEMU or libvirt arguments for a "
                        "build",
                        description="Give the SMBIOS structures and ACPI tables of SOURCE (an "
                        "image, or a `build --format xen` directory) to another toolstack, "
                        "writing the files it needs into --out-dir.",
                        epilog="examples:\n"
                        "  xcmod export xl blocks/                 # smbios_firmware=, acpi_firmware=\n"
                        "  xcmod export xl mods.bin --hvmloader /usr/lib/xcmod/hvmloader\n"
                        "  xcmod export qemu mods.bin --out-dir q/ # -smbios file=... -acpitable file=...\n"
                        "  xcmod export libvirt mods.bin --out-dir vm7/ --name vm7\n"
                        "  xcmod export libvirt --driver xen blocks/ --out-dir vm7/ --name vm7\n"
                        "  xcmod export xapi mods.bin --vm 5b2d2a52-0000-4000-8000-000000000000\n")
    ex.add_argument("target", choices=TARGETS,
                    help="the toolstack to export to: " + ", ".join(TARGETS))
    ex.add_argument("source", metavar="SOURCE",
                    help="an xcmod image, or a `build --format xen` directory")
    ex.add_argument("--driver", choices=("qemu", "xen"), default="qemu",
                    help="libvirt: the QEMU driver (native <sysinfo>, default) or the "
                    "libxl driver (<acpi><table> = acpi_firmware, SMBIOS by load)")
    ex.add_argument("--name", default="guest",
                    help="libvirt: the domain name the document and recipe use")
    ex.add_argument("--vm", metavar="UUID",
                    help="xapi: the VM's uuid for xe (default: $VM_UUID in the line)")
    ex.add_argument("--out-dir", metavar="DIR",
                    help="where to write the files the target reads (QEMU: one file per "
                    "structure and per table)")
    ex.add_argument("--hvmloader", metavar="PATH",
                    help="xl, libvirt --driver xen: the image whole, for xcmod's patched "
                    "hvmloader at PATH, in a carrier table libxl's acpi_firmware= reads on "
                    "every create and reboot (docs/toolstacks.md)")
    ex.add_argument("--json", action="store_true",
                    help="print {files, lines, warnings, not_carried, notes} as JSON")
    ex.set_defaults(func=cmd_export)
