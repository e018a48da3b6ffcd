"""The ``python -m xcmod`` command line.

Every command is a function ``cmd_NAME(args, out, err) -> int`` writing to the
streams it is given.  :func:`main` turns every error xcmod raises on purpose
(and OSError from files) into one line on stderr and exit status 1; usage
errors exit 2, as argparse does.  Heavy modules are imported inside the
commands, so a command only pays for what it uses; a plain ``load`` command
line does not even import argparse (see :func:`parse_plain`).
"""
import os
import sys

PROG = "xcmod"

DESCRIPTION = """\
Pass host SMBIOS structures and ACPI tables into Xen HVM guests: build an
image (or the blocks stock hvmloader reads) from the host's firmware under a
pass-through policy, check it, look inside, export it to xl/QEMU/libvirt, and
load it into a paused guest for hvmloader.
"""

EPILOG = """\
examples:
  xcmod build -o mods.bin --smbios host --acpi host  # as root, default policy
  xcmod build -o mods.bin --smbios host.dmi --acpi slic.dat --acpi ssdt1.dat
  xcmod build --format xen -o blocks/ --smbios host --policy site.toml
  xcmod inspect mods.bin            # dmidecode-like listing; --json for scripts
  xcmod verify mods.bin             # exit 0 if valid, 1 naming the first problem
  xcmod extract mods.bin --smbios-dump guest.dmi --acpi-dir tables/
  dmidecode --from-dump guest.dmi   # real tools read what is inside
  xcmod layout --memory 32 mods.bin # where it goes in guest RAM, and what it needs
  xcmod load --domid 5 mods.bin     # between `xl create -p` and `xl unpause`
  xcmod export xl blocks/           # xl.cfg lines for the stock blocks

The image format is described in docs/format.md and csrc/xcmod_module.h,
policies in docs/policy.md.
"""


def _json_text(obj):
    import json          # here, not at the top: `load` without --json never needs it
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def _write_json(obj, out):
    out.write(_json_text(obj))


def _note(err, msg):
    err.write(f"{PROG}: note: {msg}\n")


# --------------------------------------------------------------------- build

def cmd_build(args, out, err):
    from ..build import policy as policy_mod
    from ..errors import UsageError
    from ..fileio import write_all
    from ..image.spec import build_image, iter_modules, verify_image
    from ..build.select import select

    if not args.smbios and not args.acpi and not args.orom:
        raise UsageError("nothing to build: give --smbios SRC, --acpi SRC and/or --orom FILE")
    _refuse_colliding_paths(args)
    if args.oem_ids and args.format == "xen":
        raise UsageError("--oem-ids needs --format modules: stock hvmloader has no way to "
                         "take OEM IDs")
    pol = policy_mod.load(args.policy, xen=args.xen)
    if args.guest:
        pol.guest = args.guest
    if args.secret_file:
        pol.secret_file = args.secret_file
    policy_mod.add_cli_overrides(pol, args.set)
    sel = select(pol, args.smbios, args.acpi, args.orom, fmt=args.format, strict=args.strict)
    if not (sel.smbios and sel.smbios.structures) and not sel.acpi and not sel.oroms:
        skipped = sum(1 for e in sel.report.entries if e.action in ("dropped", "skipped"))
        raise UsageError(f"nothing to build: no structure or table passes policy {pol.name} "
                         f"({skipped} dropped or skipped; --policy passthrough-all keeps "
                         f"everything)")

    summary = {"output": args.output, "format": args.format, "modules": []}
    if sel.smbios is not None and sel.smbios.structures:
        summary["modules"].append({"type": "smbios", "structures": len(sel.smbios.structures),
                                   "version": "%d.%d.%d" % sel.smbios.version})
    if sel.acpi:
        summary["modules"].append({"type": "acpi", "tables": [t.signature for t in sel.acpi]})
    for rom in sel.oroms:
        summary["modules"].append({"type": "orom", **rom.describe()})
    ids = None
    if args.oem_ids:
        from ..firmware.acpi import oem_ids
        ids = oem_ids(args.oem_ids, sel.acpi)
        summary["modules"].append({"type": "acpi-ids", "oem_id": ids[0].decode("ascii"),
                                   "oem_table_id": ids[1].decode("ascii")})

    files, items = [], []
    if args.format == "xen":
        from ..image import stock
        if sel.smbios is not None and sel.smbios.structures:
            blob = stock.encode_smbios_block(sel.smbios.structures)
            list(stock.iter_smbios_block(blob, "<built SMBIOS block>"))
            files.append((os.path.join(args.output, stock.SMBIOS_FILE), blob))
        if sel.acpi:
            blob = stock.encode_acpi_block(sel.acpi)
            stock.parse_acpi_block(blob, "<built ACPI block>")
            files.append((os.path.join(args.output, stock.ACPI_FILE), blob))
        _refuse_stale(args.output, [p for p, _ in files], stock)
        items = [(os.path.basename(p), b) for p, b in files]
        whole = None
        summary["files"] = [{"path": p, "length": len(b)} for p, b in files]
    else:
        from ..firmware.acpi import encode_acpi_ids_module, encode_acpi_module
        modules = []
        if sel.smbios is not None and sel.smbios.structures:
            modules.append(sel.smbios.encode())
        if sel.acpi:
            modules.append(encode_acpi_module(sel.acpi))
        if ids:
            modules.append(encode_acpi_ids_module(*ids))
        modules += [rom.encode() for rom in sel.oroms]
        image = build_image(modules)
        verify_image(image, source="<built image>")   # never write what we cannot read back
        files.append((args.output, image))
        items = [(f"module {i} {m.type_name}", image[m.offset:m.offset + m.length])
                 for i, m in enumerate(iter_modules(image))]
        whole = (os.path.basename(args.output), image)
        summary["length"] = len(image)
    if args.manifest:
        from ..image.manifest import measure
        files.append((args.manifest, _json_text(measure(items, whole)).encode()))
    if args.report:
        files.append((args.report, _json_text(sel.report.as_dict()).encode()))
    write_all(files)

    summary["report"] = sel.report.as_dict()
    if args.json:
        _write_json(summary, out)
        return 0
    parts = []
    for m in summary["modules"]:
        if m["type"] == "smbios":
            parts.append(f"SMBIOS {m['version']}: {m['structures']} structures")
        elif m["type"] == "acpi":
            parts.append(f"ACPI: {len(m['tables'])} tables ({' '.join(m['tables'])})")
        elif m["type"] == "acpi-ids":
            parts.append(f"ACPI OEM IDs \"{m['oem_id']}\" \"{m['oem_table_id']}\"")
        else:
            parts.append(f"option ROM {m['vendor_id']}:{m['device_id']}")
    if args.format == "xen":
        wrote = ", ".join(f"{p} ({len(b)} bytes)" for p, b in files[:len(items)])
        out.write(f"wrote {wrote}; {'; '.join(parts)}\n")
    else:
        out.write(f"{args.output}: {summary['length']} bytes, {'; '.join(parts)}\n")
    for w in sel.report.warnings:
        _warn(err, f"{w.item}: {w.reason}")
    if not args.quiet:
        sel.report.render(out)
    return 0


def _refuse_colliding_paths(args):
    """Before anything is read: no two outputs on one path, and no output on an input
    (an image written over its own --smbios source, a manifest over the image)."""
    from ..errors import UsageError
    outputs = [(opt, p) for opt, p in (("-o", args.output), ("--manifest", args.manifest),
                                       ("--report", args.report)) if p]
    if args.format == "xen" and args.output:      # -o names a directory of blocks
        outputs = [(opt, p) for opt, p in outputs if opt != "-o"] + \
            [("-o", os.path.join(args.output, n)) for n in ("smbios.bin", "acpi.bin")]
    inputs = [("--smbios", s) for s in ([args.smbios] if args.smbios else [])]
    inputs += [("--acpi", a) for a in args.acpi] + [("--orom", o) for o in args.orom]
    inputs += [(opt, p) for opt, p in (("--policy", args.policy),
                                       ("--secret-file", args.secret_file)) if p]
    seen = {}
    for opt, p in outputs:
        real = os.path.realpath(p)
        if real in seen:
            raise UsageError(f"{opt} {p} and {seen[real]} name the same file: each output "
                             f"needs its own path")
        seen[real] = f"{opt} {p}"
    for opt, p in inputs:
        p = p[len("mem:"):] if p.startswith("mem:") else p
        if not os.path.exists(p):         # `host`, a built-in policy name, a typo
            continue
        real = os.path.realpath(p)
        if real in seen:
            raise UsageError(f"{seen[real]} would overwrite the input {opt} {p}: nothing "
                             f"read or written")


def _refuse_stale(directory, writing, stock):
    """A stock-block directory must not keep a block this build does not write."""
    for name in (stock.SMBIOS_FILE, stock.ACPI_FILE):
        path = os.path.join(directory, name)
        if os.path.exists(path) and path not in writing:
            from ..errors import UsageError
            raise UsageError(f"{path} is left from an earlier build and this build has no "
                             f"{name.split('.')[0].upper()} block: remove it or use a fresh "
                             f"directory")


def _warn(err, msg):
    err.write(f"{PROG}: warning: {msg}\n")


# --------------------------------------------------------------------- fields

def cmd_fields(args, out, err):
    from ..build.policy import default_scrub_fields
    from ..firmware.fields import FIELDS

    scrubbed = set(default_scrub_fields())
    rows = [{"field": k, "type": f.type, "offset": f.offset, "kind": f.kind,
             "scrubbed_by_default": k in scrubbed} for k, f in FIELDS.items()]
    if args.json:
        _write_json(rows, out)
        return 0
    for r in rows:
        off = "var" if r["offset"] is None else f"{r['offset']:#04x}"
        mark = "  (scrubbed by default)" if r["scrubbed_by_default"] else ""
        out.write(f"{r['field']:<42} type {r['type']:<3} offset {off:<5} {r['kind']}{mark}\n")
    return 0


# ------------------------------------------------------------------- inspect

def cmd_inspect(args, out, err):
    from ..image import stock
    from ..image.read import describe, read, sniff
    from .render import render_stock, render_text

    if os.path.isdir(args.image):
        desc = stock.describe_dir(args.image)
    else:
        data = read(args.image)
        kind = sniff(data)
        if kind in ("acpi", "smbios"):
            desc = {"format": "xen", "blocks": [stock.describe_block(kind, data, args.image)]}
        else:   # an image, or what the image reader names the problem of
            desc = describe(data, source=args.image)
    if args.json:
        _write_json(desc, out)
    elif desc.get("format") == "xen":
        render_stock(desc, out, source=args.image)
    else:
        render_text(desc, out, source=args.image)
    return 0


# -------------------------------------------------------------------- verify

def cmd_verify(args, out, err):
    from ..errors import FormatError
    from ..image.spec import verify_image
    from ..image.read import read

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
    from ..errors import UsageError
    from ..fileio import write_all
    from ..image.spec import XCMOD_TYPE_ACPI, XCMOD_TYPE_SMBIOS
    from ..image.read import acpi_tables, read, single_module, smbios_table
    from ..firmware.smbios import dump_bin

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


# -------------------------------------------------------------------- export

def cmd_export(args, out, err):
    from ..build import export
    from ..fileio import write_all

    content = export.read_source(args.source)
    files, lines = export.plan(args.target, content, args.out_dir, driver=args.driver,
                               name=args.name, vm=args.vm)
    write_all(files)
    if args.json:
        _write_json({"target": args.target, "files": [p for p, _ in files], "lines": lines},
                    out)
    else:
        for line in lines:
            out.write(line + "\n")
    return 0


# -------------------------------------------------------------------- layout

def _int(text):
    """An integer in any base Python and strtoll agree on (0x.., decimal)."""
    try:
        return int(text, 0)
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _bounded(what, low, high):
    """An argparse type: an integer in [low, high], or a usage error naming ``what``."""
    def parse(text):
        value = _int(text)
        if not low <= value <= high:
            import argparse
            raise argparse.ArgumentTypeError(f"{what} must be {low:#x}..{high:#x} "
                                             f"({low}..{high}), not {text}")
        return value
    parse.__name__ = what.replace(" ", "_")
    return parse


# Xen's public xen.h: domids from DOMID_FIRST_RESERVED (0x7FF0) up are not
# domains.  Guest physical addresses hvmloader reads are 32-bit.
_domid = _bounded("a domid", 0, 0x7FEF)      # = xen.DOMID_MAX (not imported: load stays fast)
_gpa = _bounded("a guest physical address", 0, 0xFFFFFFFF)
_mib = _bounded("guest memory in MiB", 1, 1 << 24)
_seconds = _bounded("a timeout in seconds", 1, 3600)

DEFAULT_TIMEOUT = 30
TIMEOUT_ARG = (("--timeout",), dict(
    type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
    help=f"give up after this long if xenstored, libxc or another load of the same domain "
    f"does not answer: one line, exit 1, no key written (default {DEFAULT_TIMEOUT})"))


def _watchdog(seconds, err, command):
    """End the process with one line if ``command`` is still running after ``seconds``;
    returns the function that calls this off once the command is done.

    A stopped xenstored blocks libxenstore in read() with no timeout of its
    own, so no check in Python could return; a thread ends the process
    instead.  Keys are only written in one transaction, so none is half
    written; xenstored is asked (and so found unanswering) before any guest RAM
    is touched.  _thread is built in: no import cost on load's path.
    """
    import _thread
    done = _thread.allocate_lock()
    done.acquire()

    def fire():
        if done.acquire(timeout=seconds):
            return                        # the command finished in time
        err.write(f"{PROG}: error: {command}: no answer from xenstored or libxc within "
                  f"{seconds} s (ETIMEDOUT); gave up, no key written\n")
        err.flush()
        os._exit(1)
    _thread.start_new_thread(fire, ())
    return done.release


def _blocks_of(path):
    """[(name, bytes)] of an image file or a `build --format xen` directory, validated."""
    from ..image.spec import verify_image
    from ..image.read import read
    if os.path.isdir(path):
        from ..image import stock
        return stock.validated_blocks(*stock.read_dir(path), path)
    data = read(path)
    verify_image(data, source=path)
    return [("xcmod modules", data)]


def cmd_layout(args, out, err):
    from ..xen import layout

    blocks = _blocks_of(args.image)
    plan = layout.plan([(n, len(b)) for n, b in blocks], args.memory, args.base,
                       _hvmloader_end(args))
    if args.json:
        _write_json(plan.as_dict(), out)
    else:
        layout.render(plan, out)
    return 0


# ---------------------------------------------------------------------- load

def cmd_load(args, out, err):
    from ..xen import loader
    from ..errors import UsageError

    if args.measure:
        d = os.path.dirname(os.path.abspath(args.measure))
        if not os.access(d, os.W_OK):
            raise UsageError(f"{args.measure}: cannot write there; nothing loaded")
    # the lock gives up first, so that a busy domain is named as such
    common = dict(base=args.base, force=args.force, hvmloader_end=_hvmloader_end(args),
                  source=args.image, measure=bool(args.measure),
                  lock_timeout=max(1.0, args.timeout * 0.8))
    from ..image.blocks import read_path
    r = loader.load(args.domid, read_path(args.image), **common)
    if args.measure:
        from ..fileio import atomic_write      # (tempfile: only when there is a file)
        atomic_write(args.measure, _json_text(r.measurement).encode())
    for w in r.warnings:
        _warn(err, w)
    if args.json:
        _write_json(r.as_dict(), out)
        return 0
    for _, name, gpa, length in r.blocks:
        out.write(f"domain {r.domid}: loaded {name} ({length} bytes) at {gpa:#x}\n")
    for k, v in r.keys.items():
        out.write(f"  {k} = {v}\n")
    if args.measure:
        out.write(f"  measurement: {args.measure} (pcr {r.measurement['pcr'][:16]}...)\n")
    return 0


# ---------------------------------------------------------------------- keys

def cmd_keys(args, out, err):
    from ..xen import keys as K
    from ..errors import UsageError, XenError
    from ..xen.xenstore import XenStore

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
    if args.domid == 0 and args.action in ("set", "rm"):
        raise UsageError("domain 0: refusing to change hvmloader keys of domain 0")
    base = f"/local/domain/{args.domid}"
    items = []
    if args.action in ("get", "rm"):
        for k in args.keys:
            K.check_name(k)
            items.append(k)
    elif args.action == "set":
        for kv in args.keys:
            k, sep, v = kv.partition("=")
            if not sep:
                raise UsageError(f"keys set {kv!r}: expected KEY=VALUE")
            items.append((k, K.check_value(k, v)))
    with XenStore() as xs:
        if xs.read(base) is None:
            import errno
            raise XenError(errno.ENOENT, f"domain {args.domid}: {base} is not in xenstore")
        if args.action == "list":
            found = {}

            def walk(rel):
                v = xs.read(f"{base}/{rel}")
                if v:
                    found[rel] = v.decode("utf-8", "replace")
                for child in xs.directory(f"{base}/{rel}"):
                    walk(f"{rel}/{child}")
            for root in K.ROOTS:
                walk(root)
            if args.json:
                _write_json({"domid": args.domid, "keys": found}, out)
            else:
                for k, v in found.items():
                    flag = "" if K.kind_of(k) else "   (not a key hvmloader reads)"
                    out.write(f"{k} = {v}{flag}\n")
            return 0
        if args.action == "get":
            values = {k: xs.read(f"{base}/{k}") for k in items}
            missing = [k for k, v in values.items() if v is None]
            if args.json:
                _write_json({k: (v.decode() if v is not None else None)
                             for k, v in values.items()}, out)
            else:
                for k, v in values.items():
                    if v is not None:
                        out.write(v.decode("utf-8", "replace") + "\n")
            if missing:
                err.write(f"{PROG}: {', '.join(missing)}: not set for domain {args.domid}\n")
                return 1
            return 0

        def body(t):
            for item in items:
                if args.action == "set":
                    k, v = item
                    xs.write_for_guest(f"{base}/{k}", v, args.domid, t)
                else:
                    xs.rm(f"{base}/{item}", t)
        xs.transaction(body)
    if args.json:
        _write_json({"domid": args.domid, args.action: [i[0] if isinstance(i, tuple) else i
                                                        for i in items]}, out)
    return 0


# ------------------------------------------------------------------ hvm-info

def cmd_hvm_info(args, out, err):
    from ..xen import hvminfo

    if args.domid == 0:
        from ..errors import UsageError
        raise UsageError("domain 0 has no HVM info table")
    info = hvminfo.read(args.domid)
    d = {"domid": args.domid, **info.as_dict()}
    if args.to_xenstore:
        from ..xen.xenstore import XenStore
        base = f"/local/domain/{args.domid}/hvmloader/hvm-info"
        values = info.xenstore_values()
        with XenStore() as xs:
            def body(t):
                for k, v in values.items():
                    xs.write_for_guest(f"{base}/{k}", v, args.domid, t)
            xs.transaction(body)
        d["xenstore"] = {f"{base}/{k}": v for k, v in values.items()}
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


# --------------------------------------------------------------- guest-tables

def cmd_guest_tables(args, out, err):
    from .render import _ok
    from ..xen import guest
    from ..errors import XcmodError
    from ..fileio import write_all
    from ..firmware.smbios import dump_bin

    g = guest.read(args.domid)
    files = []
    if args.smbios_dump:
        if g.smbios is None:
            raise XcmodError(g.smbios_error)
        files.append((args.smbios_dump, dump_bin(g.smbios)))
    if args.acpi_dir:
        if g.rsdp_address is None:
            raise XcmodError(g.acpi_error)
        tables = [t for _, t in g.tables]
        files.append((os.path.join(args.acpi_dir, "RSDP.dat"), g.rsdp))
        files += [(os.path.join(args.acpi_dir, n), t.raw)
                  for n, t in zip(_acpi_file_names(tables), tables)]
    write_all(files)
    d = g.as_dict()
    if args.json:
        _write_json(d, out)
        return 0
    if g.smbios is not None:
        out.write(f"SMBIOS {d['smbios']['version']}: {len(g.smbios.structures)} structures "
                  f"({'; '.join(g.smbios.notes)})\n")
        for s in g.smbios.structures:
            strings = ", ".join(x.decode("latin-1") for x in s.strings)
            out.write(f"  type {s.type:<3} handle {s.handle:#06x}  {strings}\n")
    else:
        out.write(f"SMBIOS: {g.smbios_error}\n")
    if g.rsdp_address is not None:
        out.write(f"ACPI: RSDP at {g.rsdp_address:#x}, {len(g.tables)} tables\n")
        for addr, t in g.tables:
            out.write(f"  {t.signature:<4} at {addr:#010x} {t.length:>7} bytes  OEM "
                      f"{t.oem_id!r} {t.oem_table_id!r}  checksum "
                      f"{_ok(t.as_dict()['checksum_ok'])}\n")
    else:
        out.write(f"ACPI: {g.acpi_error}\n")
    for path, blob in files:
        out.write(f"wrote {path} ({len(blob)} bytes)\n")
    return 0


# ---------------------------------------------------------------------- main

def _placement_args():
    """--base and --hvmloader, shared by every command that places an image."""
    from ..xen.layout import DEFAULT_BASE
    return (
        (("--base",), dict(type=_gpa, default=DEFAULT_BASE, metavar="GPA",
                           help=f"guest physical base address (page-aligned; default "
                           f"{DEFAULT_BASE:#x})")),
        (("--hvmloader",), dict(metavar="ELF",
                                help="hvmloader binary, to take its real end instead of "
                                "assuming 1 MiB (e.g. /usr/lib/xen-4.17/boot/hvmloader)")),
    )


def _load_args():
    """The arguments of `load`, declared once for argparse and :func:`parse_plain`."""
    return (
        (("image",), dict(metavar="IMAGE|DIR")),
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


def _domain_args(what):
    """--domid N and --domain NAME|ID: one of them names the domain (see main)."""
    return ((("--domid",), dict(type=_domid, default=None, help=f"{what}, by domid")),
            (("--domain",), dict(metavar="NAME|ID", default=None,
                                 help=f"{what}, by name as xl resolves it (or a domid)")))


def _add_args(parser, specs):
    for flags, kw in specs:
        parser.add_argument(*flags, **kw)


class Args:
    """What :func:`parse_plain` returns: the attributes argparse's Namespace would have."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def parse_plain(argv, specs, **defaults):
    """Parse a plain command line of ``specs`` without argparse, or return None.

    ``python -m xcmod load`` runs in domain-creation scripts between `xl
    create -p` and `xl unpause`, and importing and building argparse (re,
    gettext, shutil, a help formatter per option) costs more than the load
    itself on a slow or emulated CPU.  Plain means: every option spelled in
    full, once, as ``--opt VALUE`` or ``--opt=VALUE`` (flags bare), no value
    starting with "-", every positional given, every required option present
    and every ``type`` accepting its value.  Anything else (``-h``, ``--``, an
    abbreviation, a repeat, a bad value) returns None, and argparse parses the
    line and words the error.  For a plain line the result is what argparse's
    Namespace would hold (tests/test_cli.py holds the two to that).
    """
    # (first flag, argparse's dest for it, add_argument keywords)
    named = [(f[0], f[0].lstrip("-").replace("-", "_"), kw) for f, kw in specs]
    options, positionals, ns = {}, [], dict(defaults)
    for flag, dest, kw in named:
        if flag.startswith("-"):
            options[flag] = (dest, kw)
            ns[dest] = kw.get("default", False if kw.get("action") == "store_true" else None)
        else:
            positionals.append(dest)
    seen, words, values = set(), iter(argv), []
    for word in words:
        if not word.startswith("-"):
            values.append(word)
            continue
        name, eq, value = word.partition("=")
        if name not in options or name in seen:
            return None
        seen.add(name)
        dest, kw = options[name]
        if kw.get("action") == "store_true":
            if eq:
                return None
            ns[dest] = True
            continue
        if not eq:
            value = next(words, "-")
        if value.startswith("-"):
            return None
        ns[dest] = value
    if len(values) != len(positionals):
        return None
    ns.update(zip(positionals, values))
    for flag, dest, kw in named:
        if kw.get("required") and flag not in seen:
            return None
        if "type" in kw and isinstance(ns[dest], str):    # argparse types str defaults too
            try:
                ns[dest] = kw["type"](ns[dest])
            except Exception:
                return None
    return Args(**ns)


def _hvmloader_end(args):
    """The end of hvmloader from --hvmloader ELF, or None for the planner's default."""
    if not args.hvmloader:
        return None
    from ..xen.layout import hvmloader_end_from_elf
    return hvmloader_end_from_elf(args.hvmloader)


XEN_CHOICES = ("4.17", "master")
COMMANDS = ("build", "fields", "inspect", "verify", "extract", "export", "layout", "load",
            "keys", "hvm-info", "guest-tables")

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
  xcmod build -o mods.bin --smbios host.dmi --acpi slic.dat --set system.manufacturer=ACME
  xcmod build --format xen -o blocks/ --smbios host --acpi tables/ --xen 4.17
  xcmod build -o mods.bin --smbios host --policy site.toml --guest vm7 \\
              --secret-file /etc/xcmod/secret --manifest mods.json
  xcmod build -o mods.bin --orom /usr/lib/ipxe/qemu/pxe-e1000.rom
"""


class _Skip:
    """Stands in for the parser of a command that is not being run: every
    call (add_argument, set_defaults, add_subparsers...) does nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: _Skip()


class _OnlyOne:
    """With ``only`` set, builds that command's parser alone (each argparse
    parser costs gettext lookups and a formatter: 15 ms apiece on a slow
    CPU); with None, every command, as `xcmod --help` needs."""

    def __init__(self, sub, only):
        self.sub, self.only = sub, only

    def add_parser(self, name, **kw):
        if self.only is None or name == self.only:
            return self.sub.add_parser(name, **kw)
        return _Skip()


def build_parser(only=None):
    """The argument parser; with ``only``, just that command's arguments are defined."""
    import argparse
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    real_sub = p.add_subparsers(dest="command", metavar="COMMAND")
    real_sub.required = True
    sub = _OnlyOne(real_sub, only)

    b = sub.add_parser("build", help="build a module image (or stock hvmloader blocks) from "
                       "host firmware, under a pass-through policy",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=BUILD_DESCRIPTION, epilog=BUILD_EPILOG)
    b.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="image file to write (--format modules), or directory for "
                   "smbios.bin and acpi.bin (--format xen)")
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
    b.add_argument("--xen", choices=XEN_CHOICES, default=None,
                   help="the hvmloader whose rules apply (default 4.17, or the policy's xen)")
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

    fl = sub.add_parser("fields", help="list the SMBIOS field names policies and --set use",
                        description="Every field name a policy's [override] or scrub.fields "
                        "and --set accept, with its structure type and offset.")
    fl.add_argument("--json", action="store_true", help="machine-readable output")
    fl.set_defaults(func=cmd_fields)

    i = sub.add_parser("inspect", help="list the modules, structures and tables of an image",
                       description="Show what an image holds, in the spirit of dmidecode: an "
                       "xcmod image, a `build --format xen` directory, or one stock "
                       "smbios.bin/acpi.bin block.  Checksum problems of an image are shown, "
                       "not fatal; use verify for a verdict.")
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

    ex = sub.add_parser("export", help="print xl.cfg lines, QEMU or libvirt arguments for a "
                        "build", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Give the SMBIOS structures and ACPI tables of SOURCE (an "
                        "image, or a `build --format xen` directory) to another toolstack, "
                        "writing the files it needs into --out-dir.",
                        epilog="examples:\n"
                        "  xcmod export xl blocks/                 # smbios_firmware=, acpi_firmware=\n"
                        "  xcmod export qemu mods.bin --out-dir q/ # -smbios file=... -acpitable file=...\n"
                        "  xcmod export libvirt mods.bin --out-dir /var/lib/xcmod/vm7 --name vm7\n"
                        "  xcmod export libvirt --driver xen blocks/ --out-dir /var/lib/xcmod/vm7\n"
                        "  xcmod export xapi mods.bin --vm 5b2d2a52-...  # xe vm-param-set\n")
    ex.add_argument("target", choices=("xl", "qemu", "libvirt", "xapi"))
    ex.add_argument("source", metavar="SOURCE")
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
    ex.add_argument("--json", action="store_true", help="print {files, lines} as JSON")
    ex.set_defaults(func=cmd_export)

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

    k = sub.add_parser("keys", help="list, get, set or remove hvmloader's xenstore keys",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
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
    ksub = k.add_subparsers(dest="action", metavar="ACTION")
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
            _add_args(a, [*_domain_args("the domain"), TIMEOUT_ARG])
        a.add_argument("--json", action="store_true", help="machine-readable output")
        a.set_defaults(func=cmd_keys)
        if not nargs:
            a.set_defaults(keys=[])
        if action == "known":
            a.set_defaults(domid=None)

    h = sub.add_parser("hvm-info", help="decode a guest's HVM info table",
                       description="Read the HVM info table the domain builder left at "
                       "0x9F800 (hvm_info_table.h) through the same mapping path load uses, "
                       "check signature and checksum, and decode vcpus and memory ends.  "
                       "--to-xenstore mirrors the values to "
                       "/local/domain/DOMID/hvmloader/hvm-info/{vcpus,apic-mode,vcpu-online,"
                       "low-mem-end,reserved-mem-start,high-mem-end}, guest read-only.")
    _add_args(h, [*_domain_args("the domain"), TIMEOUT_ARG])
    h.add_argument("--to-xenstore", action="store_true",
                   help="mirror the values into xenstore (one transaction)")
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.set_defaults(func=cmd_hvm_info)

    gt = sub.add_parser("guest-tables", help="read the SMBIOS and ACPI tables a guest ended "
                        "up with", description="Read, from paused domain DOMID through the "
                        "mapping path load uses, the SMBIOS entry point in the F-segment and "
                        "its table, and every ACPI table reachable from the RSDP; write them "
                        "for dmidecode (--smbios-dump, a --dump-bin file) and acpica "
                        "(--acpi-dir, SIG.dat per table).  Pause the guest first "
                        "(`xl pause`) once its firmware has run.")
    _add_args(gt, [*_domain_args("the domain"), TIMEOUT_ARG])
    gt.add_argument("--smbios-dump", metavar="FILE", help="dmidecode --dump-bin file to write")
    gt.add_argument("--acpi-dir", metavar="DIR", help="directory for the ACPI tables")
    gt.add_argument("--json", action="store_true", help="machine-readable output")
    gt.set_defaults(func=cmd_guest_tables)
    return p


def main(argv=None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv and not argv[0].startswith("-") else None
    args = None
    if first == "load":
        args = parse_plain(argv[1:], _load_args(), command="load", func=cmd_load)
    if args is None:
        parser = build_parser(only=first if first in COMMANDS else None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 2
    from ..errors import XcmodError
    if hasattr(args, "domain") and (args.domid is None) == (args.domain is None):
        err.write(f"{PROG} {args.command}: error: name the domain with --domid N or "
                  f"--domain NAME|ID (one of them)\n")
        return 2
    stop_watchdog = _watchdog(args.timeout, err, args.command) \
        if getattr(args, "timeout", None) else (lambda: None)
    try:
        if getattr(args, "domain", None) is not None:
            from ..xen.xenstore import XenStore, resolve_domain
            with XenStore() as xs:
                args.domid = resolve_domain(args.domain, xs)
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
    finally:
        stop_watchdog()


def console_main():
    """Entry point of the ``xcmod`` console script."""
    sys.exit(main(sys.argv[1:]))
