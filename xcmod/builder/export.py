# SPDX-License-Identifier: MIT
"""Hand a build to other toolstacks: xl, QEMU, libvirt (QEMU and Xen drivers), XAPI.

* ``xl``: xl.cfg's ``smbios_firmware=`` and ``acpi_firmware=`` take files in
  exactly the stock formats of ``build --format xen`` (libxl loads them into
  the guest and sets the ``hvmloader/{smbios,acpi}/*`` keys itself).
* ``qemu``: ``-smbios file=F`` loads ONE structure per file (QEMU
  hw/smbios/smbios.c counts a file as one table and takes its type from the
  first header), ``-acpitable file=F`` one whole table per file.
* ``libvirt --driver qemu``: a domain document with native ``<sysinfo
  type='smbios'>`` (the strings of types 0, 1, 2, 3 and 11) and ``<os><smbios
  mode='sysinfo'/>``, the SLIC as ``<os><acpi><table type='slic'>`` (libvirt
  passes it as ``-acpitable sig=SLIC,file=``, so it can carry nothing else),
  and ``<qemu:commandline>`` only for what native XML cannot express: other
  SMBIOS types and other tables.
* ``libvirt --driver xen``: libvirt's libxl driver maps ``<os><acpi><table
  type='slic'>`` to libxl's ``acpi_firmware``, which takes any concatenation of
  tables (src/libxl/libxl_conf.c), so the whole stock ACPI block goes there,
  under hvmloader's rules.  It maps no SMBIOS: the recipe is to start the
  domain paused, ``xcmod load --domain NAME`` the SMBIOS block, and resume.
* ``xapi``: XAPI's 13 user-settable ``bios-strings`` keys (xapi_globs.ml
  ``settable_vm_bios_string_keys``), printable ASCII of at most 512 characters,
  set once per VM; XAPI passes no tables, and no OEM strings of the VM's own.
"""
import os
import re
import shlex
import sys

from ..errors import FormatError, UsageError
from ..fileio import IMAGE_MAX, read_input
from ..firmware.contents import Contents
from ..firmware.fields import FIELDS, get_string
from ..firmware.smbios import END_OF_TABLE, SmbiosTable
from ..image import stock
from ..image.blocks import ACPI, IMAGE, SMBIOS, STOCK_FILES, Block, check
from ..image.carrier import is_carrier, open_carrier, wrap
from ..image.read import read, sniff
from ..image.spec import XCMOD_TYPE_ACPI_IDS, XCMOD_TYPE_OROM, XCMOD_TYPE_SMBIOS, iter_modules
from . import xenrules
from .select import Report, stock_rules

TARGETS = ("xl", "qemu", "libvirt", "xapi")
LIBVIRT_NS = "http://libvirt.org/schemas/domain/qemu/1.0"

# libvirt's <sysinfo type='smbios'> blocks and entry names (formatdomain.rst,
# "SMBIOS System Information"), with the SMBIOS field each takes.  The system
# UUID is left out: libvirt insists it equal the domain's own <uuid>.
SYSINFO = (
    ("bios", (("vendor", "bios.vendor"), ("version", "bios.version"),
              ("date", "bios.release_date"))),
    ("system", (("manufacturer", "system.manufacturer"),
                ("product", "system.product_name"), ("version", "system.version"),
                ("serial", "system.serial_number"), ("sku", "system.sku_number"),
                ("family", "system.family"))),
    ("baseBoard", (("manufacturer", "baseboard.manufacturer"),
                   ("product", "baseboard.product_name"), ("version", "baseboard.version"),
                   ("serial", "baseboard.serial_number"), ("asset", "baseboard.asset_tag"),
                   ("location", "baseboard.location_in_chassis"))),
    ("chassis", (("manufacturer", "chassis.manufacturer"), ("version", "chassis.version"),
                 ("serial", "chassis.serial_number"), ("asset", "chassis.asset_tag"),
                 ("sku", "chassis.sku_number"))),
)
# The types whose strings sysinfo (and XAPI) carry; with the end-of-table
# marker every consumer writes itself, the rest needs a structure of its own.
NATIVE_SMBIOS_TYPES = (0, 1, 2, 3, 11)
# libvirt accepts a BIOS date only as mm/dd/yy or mm/dd/yyyy (virsysinfo.c).
LIBVIRT_DATE = re.compile(r"\d\d/\d\d/(\d\d|\d\d\d\d)")

# XAPI (ocaml/xapi/xapi_globs.ml): the keys a VM's bios-strings may set, the
# SMBIOS field behind each, and the rules it checks.
XAPI_KEYS = (
    ("bios-vendor", "bios.vendor"), ("bios-version", "bios.version"),
    ("system-manufacturer", "system.manufacturer"),
    ("system-product-name", "system.product_name"), ("system-version", "system.version"),
    ("system-serial-number", "system.serial_number"),
    ("baseboard-manufacturer", "baseboard.manufacturer"),
    ("baseboard-product-name", "baseboard.product_name"),
    ("baseboard-version", "baseboard.version"),
    ("baseboard-serial-number", "baseboard.serial_number"),
    ("baseboard-asset-tag", "baseboard.asset_tag"),
    ("baseboard-location-in-chassis", "baseboard.location_in_chassis"),
    ("enclosure-asset-tag", "chassis.asset_tag"),
)
XAPI_MAX_LENGTH = 512


def _strings(content):
    """{field key: text} of the string fields the SMBIOS structures set, and the
    type 11 OEM strings."""
    first = {}
    for s in content.structures:
        first.setdefault(s.type, s)
    out = {}
    for key, f in FIELDS.items():
        s = first.get(f.type)
        if s is not None and f.kind == "string":
            raw = get_string(s, f)
            if raw:
                out[key] = raw.decode("latin-1")
    oem = [x.decode("latin-1") for s in content.structures if s.type == 11 for x in s.strings]
    return out, oem


def _qemu_files(content, base, structures, tables):
    """One file per structure / table and the QEMU option that loads it."""
    files, args = [], []
    for n, s in enumerate(structures):
        p = os.path.join(base, f"smbios-{n:03d}-type{s.type}.bin")
        files.append((p, s.data))
        args.append(("-smbios", f"file={p}"))
    for n, t in enumerate(tables):
        sig = "".join(c if c.isalnum() else "_" for c in t.signature)
        p = os.path.join(base, f"acpi-{n:03d}-{sig}.dat")
        files.append((p, t.raw))
        args.append(("-acpitable", f"file={p}"))
    return files, args


def _xml_text(v):
    """XML 1.0 can hold ``v`` as character data (no C0 controls but tab, LF, CR)."""
    return all(c in "\t\n\r" or ord(c) >= 0x20 for c in v)


def _xml(tag, attrs="", text=None, indent=0):
    # (here, not at the top: xml.sax pulls in urllib, http.client and email,
    # which only export libvirt, the one target writing XML, should pay for)
    from xml.sax.saxutils import escape
    pad = "  " * indent
    if text is None:
        return f"{pad}<{tag}{attrs}/>"
    return f"{pad}<{tag}{attrs}>{escape(text)}</{tag}>"


def libvirt_qemu(content, base, name):
    """(files, lines): a domain document for libvirt's QEMU driver."""
    from xml.sax.saxutils import quoteattr
    strings, oem = _strings(content)
    notes, sysinfo = [], []
    for block, entries in SYSINFO:
        rows = []
        for entry, key in entries:
            v = strings.get(key)
            if v is None:
                continue
            if entry == "date" and not LIBVIRT_DATE.fullmatch(v):
                notes.append(f"BIOS date {v!r} left out: libvirt takes mm/dd/yy(yy) only")
                continue
            if not _xml_text(v):
                notes.append(f"{key} left out: control characters XML cannot hold")
                continue
            rows.append(_xml("entry", f" name={quoteattr(entry)}", v, 3))
        if rows:
            sysinfo += [f"    <{block}>", *rows, f"    </{block}>"]
    if [v for v in oem if not _xml_text(v)]:
        notes.append("OEM strings with control characters XML cannot hold left out")
    oem = [v for v in oem if _xml_text(v)]
    if oem:
        sysinfo += ["    <oemStrings>", *(_xml("entry", "", v, 3) for v in oem),
                    "    </oemStrings>"]
    slic = [t for t in content.tables if t.signature == "SLIC"][:1]
    rest_tables = [t for t in content.tables if t not in slic]
    rest_structures = [s for s in content.structures
                       if s.type not in (*NATIVE_SMBIOS_TYPES, END_OF_TABLE)]
    files, args = _qemu_files(content, base, rest_structures, rest_tables)
    slic_path = os.path.join(base, "SLIC.dat")
    if slic:
        files.append((slic_path, slic[0].raw))
    lines = [f"<domain type='kvm' xmlns:qemu='{LIBVIRT_NS}'>",
             "  <!-- xcmod export libvirt, QEMU driver: merge into your domain's XML -->",
             _xml("name", "", name, 1), "  <memory unit='MiB'>1024</memory>", "  <os>",
             "    <type arch='x86_64'>hvm</type>"]
    if slic:
        lines += ["    <acpi>", _xml("table", " type='slic'", slic_path, 3), "    </acpi>"]
    if sysinfo:
        lines.append("    <smbios mode='sysinfo'/>")
    lines.append("  </os>")
    if content.tables:
        lines += ACPI_FEATURE
    if sysinfo:
        lines += ["  <sysinfo type='smbios'>", *sysinfo, "  </sysinfo>"]
    for n in notes:
        lines.append(f"  <!-- {n} -->")
    if args:
        lines += ["  <!-- native XML cannot express these: SMBIOS types other than "
                  "0-3 and 11 (one -smbios file per structure) and ACPI tables other "
                  "than one SLIC (-acpitable file=) -->", "  <qemu:commandline>"]
        for opt, val in args:
            lines.append(f"    <qemu:arg value={quoteattr(opt)}/>")
            lines.append(f"    <qemu:arg value={quoteattr(val)}/>")
        lines.append("  </qemu:commandline>")
    lines.append("</domain>")
    return files, lines


# Without <features><acpi/>, libvirt gives the guest no ACPI at all: the QEMU
# driver passes -no-acpi (the tables never reach SeaBIOS), the libxl driver sets
# libxl's acpi to false (acpi_firmware is never read).  Seen with
# tests/test_outputs.py's virt-qemu-run boot.
ACPI_FEATURE = ["  <features>", "    <acpi/>", "  </features>"]


def stock_content(content, warnings):
    """``content`` as this host's Xen's stock hvmloader (:func:`.xenrules.default`)
    takes it from the two blocks: the same rules
    and warnings as ``build --format xen`` (:func:`.select.stock_rules`), each
    structure hvmloader would ignore dropped and said in ``warnings``."""
    xen = xenrules.default()
    report = Report("export", xen, "xen")
    structures, tables = stock_rules(content.structures, content.tables, xen, report)
    warnings += [f"{e.item}: {e.reason}" for e in report.entries
                 if e.action in ("dropped", "warning")]
    return Contents(SmbiosTable(structures) if structures else None, tables,
                    content.stock_dir, content.source)


def libvirt_xen(content, base, name):
    """(files, lines): a domain document for libvirt's libxl driver, and the recipe
    for the SMBIOS part it cannot carry (``content`` already under hvmloader's rules)."""
    files, lines = [], ["<domain type='xen'>",
                        "  <!-- xcmod export libvirt, libxl driver: merge into your domain's "
                        "XML -->",
                        _xml("name", "", name, 1), "  <memory unit='MiB'>1024</memory>",
                        "  <os>", "    <type arch='x86_64' machine='xenfv'>hvm</type>"]
    if content.tables:
        acpi = os.path.join(base, STOCK_FILES[ACPI])
        files.append((acpi, stock.encode_acpi_block(content.tables)))
        lines += ["    <acpi>", _xml("table", " type='slic'", acpi, 3), "    </acpi>"]
    lines.append("  </os>")
    if content.tables:
        lines += ACPI_FEATURE
    if content.structures:
        smb_dir = os.path.join(base, "smbios")
        files.append((os.path.join(smb_dir, STOCK_FILES[SMBIOS]),
                      stock.encode_smbios_block(content.structures)))
        start = os.path.join(base, "start.sh")
        files.append((start, START_SH.format(name=shlex.quote(name), xcmod=xcmod_command(),
                                             blocks=shlex.quote(smb_dir)).encode()))
        # (an XML comment may not hold "--": the recipe is the script beside it)
        lines.append(f"  <!-- libvirt's libxl driver maps no SMBIOS: sh {start} starts the "
                     f"domain paused, loads {smb_dir} with xcmod, and resumes it -->")
    lines.append("</domain>")
    return files, lines


START_SH = """#!/bin/sh
# Written by `xcmod export libvirt --driver xen`: libvirt's libxl driver takes
# the ACPI tables (<acpi><table>) but no SMBIOS, so start the domain paused,
# load the SMBIOS block, then let it run.  Nothing half-made stays.
# The SMBIOS block lasts one boot: when the guest reboots, libvirt re-creates
# the domain itself, running, and no load happens (export with --hvmloader
# for a document that keeps everything across reboots: docs/toolstacks.md).
# XCMOD: the xcmod command to run (split at spaces); by default the one that
# wrote this script.
set -eu
xcmod() {{
    if [ -n "${{XCMOD:-}}" ]; then $XCMOD "$@"; else {xcmod} "$@"; fi
}}
virsh start --paused {name}
if ! xcmod load --domain {name} {blocks}; then
    echo "start.sh: load failed, destroying {name}" >&2
    virsh destroy {name}
    exit 1
fi
virsh resume {name}
"""


def xcmod_command():
    """The shell words that run this xcmod: its console script when that is what
    runs (argv[0] an executable named xcmod), else this Python with ``-m xcmod``;
    never a bare ``python3``, which may not see the venv xcmod lives in."""
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "xcmod" and os.access(argv0, os.X_OK):
        return shlex.quote(argv0)
    return f"{shlex.quote(sys.executable or 'python3')} -m xcmod"


def xapi(content, vm):
    """Lines: one `xe vm-param-set` with every bios-strings key XAPI takes, and a
    comment naming what cannot pass."""
    strings, oem = _strings(content)
    sets, left = [], []
    for key, field in XAPI_KEYS:
        v = strings.get(field)
        if v is None:
            continue
        if len(v) > XAPI_MAX_LENGTH or not all(0x20 <= ord(c) < 0x7F for c in v):
            left.append(f"{key} ({field}): XAPI takes printable ASCII of at most "
                        f"{XAPI_MAX_LENGTH} characters")
            continue
        sets.append(f"bios-strings:{key}={shlex.quote(v)}" if shlex.quote(v) == v
                    else shlex.quote(f"bios-strings:{key}={v}"))
    covered = {f for _, f in XAPI_KEYS}
    left += [f"{k}: XAPI has no key for it" for k in sorted(strings) if k not in covered]
    if oem:
        left.append(f"{len(oem)} type 11 OEM string(s): XAPI sets oem-* itself")
    others = sorted({s.type for s in content.structures
                     if s.type not in (*NATIVE_SMBIOS_TYPES, END_OF_TABLE)})
    if others:
        left.append(f"SMBIOS types {', '.join(map(str, others))}: XAPI passes no structures")
    if content.tables:
        left.append(f"ACPI {' '.join(t.signature for t in content.tables)}: XAPI passes no "
                    f"tables")
    lines = ["# XAPI bios-strings (set once per VM, while it is halted)"]
    lines += [f"# not passed: {x}" for x in left]
    if sets:
        target = f"uuid={shlex.quote(vm)}" if vm else 'uuid="$VM_UUID"'
        lines.append(f"xe vm-param-set {target} {' '.join(sets)}")
    return lines


def plan(target, content, out_dir, driver="qemu", name="guest", vm=None, warnings=None):
    """(files to write [(path, bytes)], lines to print) for ``target``; what the
    user should be told (structures hvmloader would ignore...) goes to ``warnings``."""
    warnings = [] if warnings is None else warnings
    if not content.structures and not content.tables:
        raise FormatError("holds no SMBIOS structures and no ACPI tables: nothing to "
                          "export", source=content.source)
    files = []
    if target == "xapi":
        return [], xapi(content, vm)
    if target == "libvirt":
        if out_dir is None:
            raise UsageError("export libvirt needs --out-dir DIR for the files the domain "
                             "XML names")
        base = os.path.abspath(out_dir)
        if driver == "xen":
            content = stock_content(content, warnings)
            files, lines = libvirt_xen(content, base, name)
            if content.structures:
                warnings.append("the SMBIOS structures start.sh loads last one boot: on a "
                                "guest reboot libvirt re-creates the domain without them "
                                "(export with --hvmloader keeps everything)")
        else:
            files, lines = libvirt_qemu(content, base, name)
        files.append((os.path.join(base, "domain.xml"), ("\n".join(lines) + "\n").encode()))
        return files, lines
    if target == "xl":
        content = stock_content(content, warnings)
        if content.stock_dir and out_dir is None:
            base = content.stock_dir
        else:
            if out_dir is None:
                raise UsageError("export xl from an image needs --out-dir DIR for "
                                 "smbios.bin and acpi.bin")
            base = os.path.abspath(out_dir)
            if content.structures:
                files.append((os.path.join(base, STOCK_FILES[SMBIOS]),
                              stock.encode_smbios_block(content.structures)))
            if content.tables:
                files.append((os.path.join(base, STOCK_FILES[ACPI]),
                              stock.encode_acpi_block(content.tables)))
        lines = []
        if content.structures:
            lines.append(f'smbios_firmware = "{os.path.join(base, STOCK_FILES[SMBIOS])}"')
        if content.tables:
            lines.append(f'acpi_firmware = "{os.path.join(base, STOCK_FILES[ACPI])}"')
        return files, lines

    if out_dir is None:
        raise UsageError(f"export {target} needs --out-dir DIR: QEMU takes one SMBIOS "
                         f"structure and one ACPI table per file")
    files, args = _qemu_files(content, os.path.abspath(out_dir), content.structures,
                              content.tables)
    return files, [f"{opt} {shlex.quote(val)}" for opt, val in args]


# ---------------------------------------------------------------------------
# What an image holds beyond its SMBIOS structures and ACPI tables


def image_extras(path):
    """What the image at ``path`` holds that :class:`Contents` does not (its OEM IDs
    module, option ROMs, an SMBIOS entry point other than the 2.4 one hvmloader
    4.17-4.20 writes), as lines naming each: what a stock-block target loses.  A
    directory of stock blocks or a stock block file: none."""
    if path is None or os.path.isdir(path):
        return []
    data = read(path)
    if sniff(data) != "modules":
        return []
    out = []
    for m in iter_modules(data, source=path):
        th = m.type_header
        if m.type == XCMOD_TYPE_ACPI_IDS:
            out.append(f"OEM IDs {th.oem_id.decode('latin-1').rstrip(' ')!r}/"
                       f"{th.oem_table_id.decode('latin-1').rstrip(' ')!r} (for the firmware's "
                       f"own RSDP/RSDT/XSDT/FADT, which keep their builder's IDs)")
        elif m.type == XCMOD_TYPE_OROM:
            out.append(f"option ROM {th.vendor_id:04x}:{th.device_id:04x}")
        elif m.type == XCMOD_TYPE_SMBIOS and (th.major_version, th.minor_version) != (2, 4):
            out.append(f"SMBIOS {th.major_version}.{th.minor_version} entry point (the "
                       f"firmware writes its own; stock hvmloader's is 2.4)")
    return out


# ---------------------------------------------------------------------------
# The carrier: the whole image in acpi_firmware=, for xcmod's patched hvmloader

CARRIER_SUFFIX = ".carrier"


def _cfg_path(path, what):
    """``path``, absolute, as an xl.cfg / XML string can hold it."""
    path = os.path.abspath(path)
    if any(c in path for c in '"\\\'') or not all(0x20 <= ord(c) != 0x7F for c in path):
        raise UsageError(f"{what} {path!r}: xl.cfg and libvirt need a path without "
                         f"quotes, backslashes or control characters")
    return path


def carrier_plan(target, source, out_dir, hvmloader, name="guest", warnings=None):
    """(files, lines, notes) for ``target`` ("xl" or "libvirt", the libxl driver) with
    the image at ``source`` wrapped in a carrier (:mod:`xcmod.image.carrier`) that
    libxl reads as ``acpi_firmware`` on every create, reboots included, and
    ``hvmloader`` the patched hvmloader that unwraps it.  The image goes whole:
    nothing is left out.  ``notes`` are what the operator must do besides."""
    warnings = [] if warnings is None else warnings
    if os.path.isdir(source):
        raise UsageError("--hvmloader carries an xcmod image; a `build --format xen` "
                         "directory is for stock hvmloader (export it without --hvmloader)")
    data = read_input(source, "an xcmod image", IMAGE_MAX)
    image, label = open_carrier(data, source)
    check([Block(IMAGE, image, label)])   # the C reader and the patched hvmloader's rules
    hvmloader = _cfg_path(hvmloader, "--hvmloader")
    if not os.path.isfile(hvmloader):
        warnings.append(f"{hvmloader}: no such file here (the path is written as given; "
                        f"libxl reads it on the host that creates the domain)")
    files = []
    if is_carrier(data) and out_dir is None:
        carrier = _cfg_path(source, "SOURCE")          # already one: named where it is
    else:
        stem = os.path.splitext(os.path.basename(source))[0] or "image"
        base = os.path.abspath(out_dir if out_dir is not None else
                               os.path.dirname(os.path.abspath(source)))
        carrier = _cfg_path(os.path.join(base, stem + CARRIER_SUFFIX), "the carrier")
        files.append((carrier, wrap(image, source=source)))
    notes = []
    if target == "libvirt" and out_dir is None:
        raise UsageError("export libvirt needs --out-dir DIR for the carrier and domain.xml")
    if target == "xl":
        lines = ["# xcmod export xl: the image rides in acpi_firmware= (one OEMM table), which",
                 "# libxl reads on every create and reboot; firmware= boots the patched",
                 "# hvmloader that takes it.  UEFI guests: add bios = \"ovmf\" (firmware=",
                 "# names hvmloader here, so not firmware = \"uefi\").",
                 f'firmware = "{hvmloader}"',
                 f'acpi_firmware = "{carrier}"']
        return files, lines, notes
    notes.append(f"libvirt's libxl driver cannot name an hvmloader (<loader> is the BIOS "
                 f"or OVMF, libxl's system_firmware): install {hvmloader} as libxl's own "
                 f"hvmloader (its firmware directory, e.g. /usr/lib/xen-X.Y/boot/hvmloader; "
                 f"docs/toolstacks.md)")
    lines = ["<domain type='xen'>",
             "  <!-- xcmod export libvirt, libxl driver: merge into your domain's XML -->",
             _xml("name", "", name, 1), "  <memory unit='MiB'>1024</memory>",
             "  <os>", "    <type arch='x86_64' machine='xenfv'>hvm</type>",
             "    <acpi>", _xml("table", " type='slic'", carrier, 3), "    </acpi>",
             "  </os>", *ACPI_FEATURE,
             "  <!-- the table above is xcmod's carrier (the whole image, read by libxl as "
             "acpi_firmware on every start and reboot).  libvirt cannot name an hvmloader: "
             f"install {hvmloader} as libxl's own (docs/toolstacks.md) -->",
             "</domain>"]
    files.append((os.path.join(os.path.abspath(out_dir), "domain.xml"),
                  ("\n".join(lines) + "\n").encode()))
    return files, lines, notes
