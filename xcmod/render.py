"""Human-readable rendering of image descriptions (see image.describe)."""


def _ok(flag):
    return "OK" if flag else "BAD"


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
            for s in m["structures"]:
                out.write(f"\nHandle {s['handle']:#06x}, DMI type {s['type']}, "
                          f"{s['length']} bytes\n")
                if s["strings"]:
                    out.write("\tStrings:\n")
                    for string in s["strings"]:
                        out.write(f"\t\t{string}\n")
        elif m["type"] == "acpi":
            out.write(f"ACPI, {len(m['tables'])} tables\n")
            for t in m["tables"]:
                out.write(f"\t{t['signature']:<4} {t['length']:>8} bytes  "
                          f"OEM {t['oem_id']!r:<8} {t['oem_table_id']!r:<10} "
                          f"checksum {_ok(t['checksum_ok'])}\n")
