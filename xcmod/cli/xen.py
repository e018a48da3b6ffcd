# SPDX-License-Identifier: MIT
"""The load job's commands: load, keys, hvm-info, guest-tables."""
import os
import signal

from ..errors import UsageError, XcmodError
from ..fileio import plan_outputs, write_all
from ..image.blocks import read_path
from ..xen import hvminfo, keys as K, loader
from .common import (
    PROG,
    TIMEOUT_ARG,
    TIMEOUT_READ_ARG,
    Terminated,
    _acpi_file_names,
    _add_args,
    _domain_args,
    _hvmloader_end,
    _json_text,
    _placement_args,
    _warn,
    _write_json,
    command,
)


def _load_args():
    """The arguments of `load`."""
    return (
        (("image",), dict(metavar="IMAGE|DIR",
                          help="an xcmod image, or a `build --format xen` directory (its "
                          "smbios.bin and acpi.bin, for stock hvmloader)")),
        *_domain_args("target domain (never 0)"),
        *_placement_args(),
        (("--force",), dict(action="store_true",
                            help="load even if the domain is running (never domain 0)")),
        (("--measure",), dict(metavar="FILE",
                              help="read back from guest RAM hvmloader's image (needs "
                              "--hvmloader) and every module/block, and write their SHA-256 "
                              "and a PCR-style chain as JSON")),
        (("--json",), dict(action="store_true", help="print what was done as JSON")),
        TIMEOUT_ARG,
    )


def cmd_load(args, out, err):
    restore = _terminate_through_main()
    try:
        return _load(args, out, err)
    finally:
        restore()


def _load(args, out, err):

    if args.measure is not None:
        plan_outputs([("--measure", args.measure, False)],
                     [("IMAGE", args.image), ("--hvmloader", args.hvmloader)])
        d = os.path.dirname(os.path.abspath(args.measure))
        if os.path.isdir(args.measure) or not os.access(d, os.W_OK):
            raise UsageError(f"--measure {args.measure}: cannot write a file there; nothing "
                             f"loaded")
    # the lock gives up first, so that a busy domain is named as such
    common = dict(base=args.base, force=args.force, hvmloader_end=_hvmloader_end(args),
                  source=args.image, measure=args.measure is not None,
                  measure_file=args.measure, lock_timeout=max(1.0, args.timeout * 0.8))
    # (the measurement file is written by the load itself: staged before the keys
    # are published, in place once they are, so a full disk fails before any key)
    r = loader.load(args.domid, read_path(args.image), **common)
    for w in r.warnings:
        _warn(err, w)
    if args.json:
        _write_json(r.as_dict(), out)
        return 0
    for _, name, gpa, length in r.blocks:
        out.write(f"domain {r.domid}: loaded {name} ({length} bytes) at {gpa:#x}\n")
    for k, v in r.keys.items():
        out.write(f"  {k} = {v}\n")
    if args.measure is not None:
        out.write(f"  measurement: {args.measure} (pcr {r.measurement['pcr'][:16]}...)\n")
    return 0


def _terminate_through_main():
    """SIGTERM raises :class:`xcmod.cli.common.Terminated` until the function returned here is
    called (it restores the handler), so a load ended by it says what it changed
    (exit 143)."""

    def handler(signum, frame):
        raise Terminated()
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:              # not the main thread: leave SIGTERM alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def cmd_keys(args, out, err):

    if args.action == "known":
        rows = [{"key": k, "kind": v[0], "what": v[1]} for k, v in K.KEYS.items()]
        rows.append({"key": "bios-strings/oem-N", "kind": "text",
                     "what": "SMBIOS type 11 OEM string N (1-99)"})
        if args.json:
            _write_json(rows, out)
        else:
            for r in rows:
                out.write(f"{r['key']:<44} {r['kind']:<20} {r['what']}\n")
        return 0
    if args.action == "list":
        found = K.list_keys(args.domid)
        if args.json:
            _write_json({"domid": args.domid, "keys": found}, out)
        else:
            for k, v in found.items():
                flag = "" if K.kind_of(k) else "   (not a key hvmloader reads)"
                out.write(f"{k} = {v}{flag}\n")
        return 0
    if args.action == "get":
        values = K.get_keys(args.domid, args.keys)
        if args.json:
            _write_json(values, out)
        else:
            for v in values.values():
                if v is not None:
                    out.write(v + "\n")
        missing = [k for k, v in values.items() if v is None]
        if missing:
            err.write(f"{PROG}: error: {', '.join(missing)}: not set for domain "
                      f"{args.domid}\n")
            return 1
        return 0
    if args.action == "set":
        pairs = {}
        for kv in args.keys:
            k, sep, v = kv.partition("=")
            if not sep:
                raise UsageError(f"keys set {kv!r}: expected KEY=VALUE")
            pairs[k] = v
        # (the domain's load lock gives up first, so that a busy domain is named as such)
        done = list(K.set_keys(args.domid, pairs, lock_timeout=max(1.0, args.timeout * 0.8)))
    else:
        K.rm_keys(args.domid, args.keys, lock_timeout=max(1.0, args.timeout * 0.8))
        done = list(args.keys)
    if args.json:
        _write_json({"domid": args.domid, args.action: done}, out)
    return 0


def cmd_hvm_info(args, out, err):

    if args.domid == 0:
        raise UsageError("domain 0 has no HVM info table")
    info = hvminfo.read(args.domid)
    d = {"domid": args.domid, **info.as_dict()}
    if args.to_xenstore:
        d["xenstore"] = hvminfo.mirror_to_xenstore(args.domid, info)
    if args.json:
        _write_json(d, out)
        return 0
    out.write(f"HVM info table of domain {args.domid} at {d['address']:#x} "
              f"({d['length']} bytes, checksum OK)\n")
    out.write(f"  vcpus:              {d['nr_vcpus']} (online: "
              f"{','.join(map(str, d['vcpus_online'])) or 'none'})\n")
    out.write(f"  APIC mode:          {d['apic_mode']}\n")
    out.write(f"  low memory end:     {d['low_mem_end']:#x} ({d['low_mem_end'] >> 20} MiB)\n")
    rs = d["reserved_mem_start"]
    out.write(f"  reserved from:      {rs:#x}\n" if rs else "  reserved from:      none\n")
    hm = d["high_mem_end"]
    out.write(f"  high memory end:    {hm:#x}\n" if hm else "  high memory end:    none\n")
    for k, v in d.get("xenstore", {}).items():
        out.write(f"  wrote {k} = {v}\n")
    return 0


def cmd_guest_tables(args, out, err):
    from ..firmware.smbios import dump_bin
    from ..xen import guest
    from .render import printable

    plan_outputs([(o, p, d) for o, p, d in (("--smbios-dump", args.smbios_dump, False),
                                            ("--acpi-dir", args.acpi_dir, True))
                  if p is not None])
    g = guest.read(args.domid)
    files = []
    if args.smbios_dump is not None:
        if g.smbios is None:
            raise XcmodError(g.smbios_error)
        files.append((args.smbios_dump, dump_bin(g.smbios)))
    if args.acpi_dir is not None:
        if g.rsdp_address is None:
            raise XcmodError(g.acpi_error)
        tables = [t for _, t in g.tables]
        files.append((os.path.join(args.acpi_dir, "RSDP.dat"), g.rsdp))
        files += [(os.path.join(args.acpi_dir, n), t.raw)
                  for n, t in zip(_acpi_file_names(tables), tables)]
    d = g.as_dict()                 # everything decoded before the first byte is written
    text = _json_text(d) if args.json else _guest_tables_text(g, d)
    write_all(files)
    out.write(text)
    if not args.json:
        for path, blob in files:
            out.write(f"wrote {printable(path)} ({len(blob)} bytes)\n")
    return 0


def _guest_tables_text(g, d):
    from .render import _ok, printable
    lines = []
    if g.efi is not None:
        entries = ", ".join(f"{c['name']} {c['address']:#x}"
                            for c in d["efi"]["configuration_table"])
        lines.append(f"EFI: system table at {g.efi.address:#x} (UEFI {d['efi']['revision']}), "
                     f"configuration table: {entries or 'empty'}")
    elif g.efi_error:
        lines.append(f"EFI: {printable(g.efi_error)}")
    if g.smbios is not None:
        lines.append(f"SMBIOS {d['smbios']['version']}: {len(g.smbios.structures)} "
                     f"structures ({printable('; '.join(g.smbios.notes))}), found through "
                     f"{g.smbios_found}")
        for s in g.smbios.structures:
            strings = ", ".join(printable(x.decode("latin-1")) for x in s.strings)
            lines.append(f"  type {s.type:<3} handle {s.handle:#06x}  {strings}")
    else:
        lines.append(f"SMBIOS: {printable(g.smbios_error)}")
    if g.rsdp_address is not None:
        lines.append(f"ACPI: RSDP at {g.rsdp_address:#x}, {len(g.tables)} tables, found "
                     f"through {g.acpi_found}")
        for addr, t in g.tables:
            lines.append(f"  {printable(t.signature):<4} at {addr:#010x} {t.length:>7} bytes  "
                         f"OEM {t.oem_id!r} {t.oem_table_id!r}  checksum "
                         f"{_ok(t.as_dict()['checksum_ok'])}")
    else:
        lines.append(f"ACPI: {printable(g.acpi_error)}")
    return "".join(line + "\n" for line in lines)


@command("load")
def _parser_load(sub, argparse):
    ld = sub.add_parser("load", help="copy an image into a paused HVM guest for hvmloader",
                        description="Copy IMAGE into the RAM of paused HVM domain DOMID at "
                        "--base (after hvmloader), read it back to verify, then write "
                        "/local/domain/DOMID/hvmloader/modules/{address,length,count} in one "
                        "xenstore transaction, read-only for the guest.  Given a `build "
                        "--format xen` DIR instead, place smbios.bin and acpi.bin "
                        "page-aligned and write the four keys stock hvmloader reads, "
                        "hvmloader/{smbios,acpi}/{address,length}.  Nothing is written if "
                        "any check fails.  Run between `xl create -p` and `xl unpause`.")
    _add_args(ld, _load_args())
    ld.set_defaults(func=cmd_load)


@command("keys")
def _parser_keys(sub, argparse):
    k = sub.add_parser("keys", help="list, get, set or remove hvmloader's xenstore keys",
                       description="Manage the keys hvmloader reads from "
                       "/local/domain/DOMID (xen/include/public/hvm/hvm_xs_strings.h: "
                       "hvmloader/*, bios-strings/*).  Names and values are validated; "
                       "set and rm are one transaction, and set keys are read-only for "
                       "the guest.",
                       epilog="examples:\n"
                       "  xcmod keys known                       # every key and its kind\n"
                       "  xcmod keys list --domid 5\n"
                       "  xcmod keys set --domid 5 bios-strings/system-manufacturer=ACME "
                       "bios-strings/oem-1=rack7\n"
                       "  xcmod keys get --domid 5 hvmloader/acpi/address\n"
                       "  xcmod keys rm --domid 5 bios-strings/oem-1\n")
    ksub = k.add_subparsers(dest="action", metavar="ACTION",
                            help="list, get, set, rm or known; `xcmod keys ACTION --help`")
    ksub.required = True
    for action, helptext, nargs, meta in (
            ("list", "every hvmloader/* and bios-strings/* key the domain has", None, None),
            ("get", "print values; exit 1 if one is not set", "+", "KEY"),
            ("set", "write validated values in one transaction", "+", "KEY=VALUE"),
            ("rm", "remove keys in one transaction", "+", "KEY"),
            ("known", "every key hvmloader reads, with its kind", None, None)):
        a = ksub.add_parser(action, help=helptext, description=helptext)
        if nargs:
            a.add_argument("keys", nargs=nargs, metavar=meta,
                           help="relative to /local/domain/DOMID")
        if action != "known":
            _add_args(a, [*_domain_args("the domain"),
                          TIMEOUT_ARG if action in ("set", "rm") else TIMEOUT_READ_ARG])
        a.add_argument("--json", action="store_true", help="machine-readable output")
        a.set_defaults(func=cmd_keys)
        if not nargs:
            a.set_defaults(keys=[])
        if action == "known":
            a.set_defaults(domid=None)


@command("hvm-info")
def _parser_hvm_info(sub, argparse):
    h = sub.add_parser("hvm-info", help="decode a guest's HVM info table",
                       description="Read the HVM info table the domain builder left at "
                       "0x9F800 (hvm_info_table.h) through the same mapping path load uses, "
                       "check signature and checksum, and decode vcpus and memory ends.  "
                       "--to-xenstore mirrors the values to "
                       "/local/domain/DOMID/hvmloader/hvm-info/{vcpus,apic-mode,vcpu-online,"
                       "low-mem-end,reserved-mem-start,high-mem-end}, guest read-only.")
    _add_args(h, [*_domain_args("the domain"), TIMEOUT_READ_ARG])
    h.add_argument("--to-xenstore", action="store_true",
                   help="mirror the values into xenstore (one transaction)")
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.set_defaults(func=cmd_hvm_info)


@command("guest-tables")
def _parser_guest_tables(sub, argparse):
    gt = sub.add_parser("guest-tables", help="read the SMBIOS and ACPI tables a guest ended "
                        "up with", description="Read, from paused domain DOMID through the "
                        "mapping path load uses, the SMBIOS entry point and its table, and "
                        "every ACPI table reachable from the RSDP, from where the firmware "
                        "published them: a UEFI firmware's EFI system table (its configuration "
                        "table's SMBIOS3/SMBIOS and ACPI entries), else the F-segment "
                        "(SeaBIOS) or hvmloader's areas for OVMF (SMBIOS 0xEB000-0xEFFFF, RSDP "
                        "0xEA020), saying which; write them "
                        "for dmidecode (--smbios-dump, a --dump-bin file) and acpica "
                        "(--acpi-dir, SIG.dat per table).  Pause the guest first "
                        "(`xl pause`) once its firmware has run.")
    _add_args(gt, [*_domain_args("the domain"), TIMEOUT_READ_ARG])
    gt.add_argument("--smbios-dump", metavar="FILE", help="dmidecode --dump-bin file to write")
    gt.add_argument("--acpi-dir", metavar="DIR", help="directory for the ACPI tables")
    gt.add_argument("--json", action="store_true", help="machine-readable output")
    gt.set_defaults(func=cmd_guest_tables)
