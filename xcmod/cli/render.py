"""Human-readable rendering of the descriptions :mod:`xcmod.firmware.contents`
gives (``describe``, ``describe_block``), for ``inspect``."""


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


def _structures(structures, out):
    for s in structures:
        out.write(f"\nHandle {s['handle']:#06x}, DMI type {s['type']}, "
                  f"{s['length']} bytes\n")
        if s["strings"]:
            out.write("\tStrings:\n")
            for string in s["strings"]:
                out.write(f"\t\t{printable(string)}\n")


def _tables(tables, out):
    for t in tables:
        out.write(f"\t{printable(t['signature']):<4} {t['length']:>8} bytes  "
                  f"OEM {t['oem_id']!r:<8} {t['oem_table_id']!r:<10} "
                  f"checksum {_ok(t['checksum_ok'])}\n")


def render_stock(desc, out, source=None):
    """Stock hvmloader blocks (``build --format xen``), one section per block."""
    out.write(f"# {source}: stock hvmloader blocks\n")
    for b in desc["blocks"]:
        if b["type"] == "smbios":
            out.write(f"\nSMBIOS block {b['file']}: {b['length']} bytes, "
                      f"{len(b['structures'])} structures\n")
            _structures(b["structures"], out)
        else:
            out.write(f"\nACPI block {b['file']}: {b['length']} bytes, "
                      f"{len(b['tables'])} tables\n")
            _tables(b["tables"], out)


def render_text(desc, out, source=None):
    """Write ``desc`` in the spirit of dmidecode: one block per structure/table."""
    name = f"{source}: " if source else ""
    out.write(f"# {name}xcmod image, {desc['module_count']} modules, "
              f"{desc['image_length']} bytes\n")
    for n, m in enumerate(desc["modules"]):
        out.write(f"\nModule {n} at {m['offset']:#010x}: {m['type'].upper()}, "
                  f"{m['length']} bytes, checksum {_ok(m['checksum_ok'])}\n")
        if m["type"] == "smbios":
            ep = m["entry_point"] or "no"
            out.write(f"SMBIOS {m['version']} ({ep} entry point), "
                      f"{len(m['structures'])} structures\n")
            _structures(m["structures"], out)
        elif m["type"] == "acpi":
            out.write(f"ACPI, {len(m['tables'])} tables\n")
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
