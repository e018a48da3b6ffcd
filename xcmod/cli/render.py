# SPDX-License-Identifier: MIT
"""Human-readable rendering of the descriptions :mod:`xcmod.firmware.contents`
gives (``describe``, ``describe_block``), for ``inspect``."""
from ..firmware.fields import field_label


def printable(text):
    """``text`` safe for a terminal: every control character (C0, DEL and the C1 range a
    Latin-1 decoding gives bytes 0x80-0x9F) shown as '.', as dmidecode shows them in
    SMBIOS strings; an escape sequence or a BEL in a guest's or host's string never
    reaches the terminal."""
    if text is None:
        return ""
    return "".join("." if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in str(text))


def _ok(flag):
    """A checksum's verdict; None: the thing has no checksum (the FACS)."""
    return "none (FACS)" if flag is None else "OK" if flag else "BAD"


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def handle_text(handle):
    """A handle as dmidecode prints it: 0xDA00."""
    return f"0x{handle:04X}"


def _structures(structures, out):
    """One dmidecode-style block per structure: handle, type and size, the type's
    name, the fields xcmod models decoded, and the strings no such field names."""
    for s in structures:
        out.write(f"\nHandle {handle_text(s['handle'])}, DMI type {s['type']}, "
                  f"{s['length']} bytes\n{s.get('name', '')}\n")
        fields = s.get("fields") or {}
        shown = set()
        for key, text in fields.items():
            out.write(f"\t{field_label(key)}: {printable(text)}\n")
            shown.add(text)
        rest = [x for x in s["strings"] if x not in shown]
        if rest:
            out.write("\tStrings:\n" if not fields else "\tOther strings:\n")
            for string in rest:
                out.write(f"\t\t{printable(string)}\n")


def _tables(tables, out):
    for t in tables:
        if "oem_id" not in t:           # a source's RSDP, or a table that does not parse
            why = f": {printable(t['error'])}" if "error" in t else ""
            out.write(f"\t{printable(t['signature']):<4} {t['length']:>8} bytes  "
                      f"{printable(t.get('origin', ''))}{why}\n")
            continue
        out.write(f"\t{printable(t['signature']):<4} {t['length']:>8} bytes  "
                  f"OEM {t['oem_id']!r:<8} {t['oem_table_id']!r:<10} "
                  f"checksum {_ok(t['checksum_ok'])}"
                  + (f"  {printable(t['origin'])}" if "origin" in t else "") + "\n")


def render_stock(desc, out, source=None):
    """Stock hvmloader blocks (``build --format xen``), one section per block."""
    out.write(f"# {source}: stock hvmloader blocks\n")
    for b in desc["blocks"]:
        if b["type"] == "smbios":
            out.write(f"\nSMBIOS block {b['file']}: {b['length']} bytes, "
                      f"{_plural(len(b['structures']), 'structure')}\n")
            _structures(b["structures"], out)
        else:
            out.write(f"\nACPI block {b['file']}: {b['length']} bytes, "
                      f"{_plural(len(b['tables']), 'table')}\n")
            _tables(b["tables"], out)


def render_text(desc, out, source=None):
    """Write ``desc`` in the spirit of dmidecode: one block per structure/table."""
    name = f"{source}: " if source else ""
    out.write(f"# {name}xcmod image, {_plural(desc['module_count'], 'module')}, "
              f"{desc['image_length']} bytes\n")
    for n, m in enumerate(desc["modules"]):
        out.write(f"\nModule {n} at {m['offset']:#010x}: {m['type'].upper()}, "
                  f"{m['length']} bytes, checksum {_ok(m['checksum_ok'])}\n")
        if m["type"] == "smbios":
            ep = m["entry_point"] or "no"
            out.write(f"SMBIOS {m['version']} ({ep} entry point), "
                      f"{_plural(len(m['structures']), 'structure')}\n")
            _structures(m["structures"], out)
        elif m["type"] == "acpi":
            out.write(f"ACPI, {_plural(len(m['tables']), 'table')}\n")
            _tables(m["tables"], out)
        elif m["type"] == "acpi-ids":
            out.write(f"ACPI OEM IDs for the guest's RSDP/RSDT/XSDT/FADT: "
                      f"OEM ID \"{printable(m['oem_id'])}\", OEM Table ID "
                      f"\"{printable(m['oem_table_id'])}\"\n")
        elif m["type"] == "orom" and "rom" in m:
            r = m["rom"]
            if "error" in r:
                out.write(f"PCI option ROM: invalid: {r['error']}\n")
                continue
            out.write(f"PCI option ROM {r['vendor_id']}:{r['device_id']}, class "
                      f"{r['class_code']}, {r['length']} bytes\n")
            for img in r["images"]:
                out.write(f"\timage at {img['offset']:#07x}: {img['code_type']}, "
                          f"{img['length']} bytes\n")


def render_source(desc, out):
    """A firmware source (what build reads): its SMBIOS table, then its ACPI tables."""
    out.write(f"# {printable(desc['source'])}: firmware source\n")
    sm = desc.get("smbios")
    for key in ("smbios_error", "acpi_error"):
        if key in desc:
            out.write(f"# {key.split('_')[0].upper()}: {printable(desc[key])}\n")
    if sm is not None:
        ep = sm["entry_point"] or "no"
        out.write(f"\nSMBIOS {sm['version']} ({ep} entry point), "
                  f"{_plural(len(sm['structures']), 'structure')}\n")
        for note in sm["notes"]:
            out.write(f"# {printable(note)}\n")
        _structures(sm["structures"], out)
    if desc["tables"] or (sm is None and "acpi_error" not in desc):
        out.write(f"\nACPI, {_plural(len(desc['tables']), 'table')}\n")
        _tables(desc["tables"], out)


def render_report(report, out):
    """A build's report (:class:`xcmod.builder.select.Report`), one line per decision;
    SMBIOS structures of one type that met the same fate for the same reason share a
    line."""
    out.write(f"report: policy {report.policy}, Xen {report.xen.version} "
              f"({report.xen.why}), format {report.format}\n")
    groups = []             # [(key, handles, first entry)]
    for e in report.entries:
        key = (e.area, e.action, e.reason, e.structure[0]) if e.structure else None
        if key and groups and groups[-1][0] == key:
            groups[-1][1].append(e.structure[1])
        else:
            groups.append((key, [e.structure[1]] if key else [], e))
    for key, handles, e in groups:
        reason = f": {e.reason}" if e.reason else ""
        item = e.item
        if len(handles) > 1:
            item = f"{key[3]} x{len(handles)} (handles {handles[0]:#06x}..{handles[-1]:#06x})"
        out.write(f"  {e.action:<10} {e.area:<6} {item}{reason}\n")
