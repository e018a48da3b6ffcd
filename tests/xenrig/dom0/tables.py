# SPDX-License-Identifier: MIT
"""A guest's tables as it ended up with them, read from the paused guest: by
``xcmod guest-tables``, dmidecode of its SMBIOS dump, and the RSDT by hand."""
import base64
import json
import os
import time

from .rig import readback, sh, sha, xcmod


def tables_of(domid, tag):
    """What the paused guest ended up with: guest-tables' JSON, the SMBIOS dump
    decoded by dmidecode, every ACPI table's bytes, and the RSDT (which
    guest-tables does not follow when there is an XSDT)."""
    return decoded(domid, tag, read_tables(domid, tag))


def read_tables(domid, tag):
    """``xcmod guest-tables`` of the paused guest, its SMBIOS dump and ACPI tables
    written under /tmp/TAG*: {"rc", "tables" (its JSON) or "err"}."""
    rc, out, err, _ = xcmod("guest-tables", "--domid", domid, "--json", "--smbios-dump",
                            f"/tmp/{tag}.dmi", "--acpi-dir", f"/tmp/{tag}-acpi")
    return {"rc": rc, "err": err} if rc else {"rc": 0, "tables": json.loads(out)}


def decoded(domid, tag, got):
    """:func:`read_tables`' result ``got`` completed, the guest still paused: the dump
    decoded by dmidecode, the ACPI tables' bytes and the RSDT read by hand."""
    if got["rc"]:
        return got
    dmi, adir = f"/tmp/{tag}.dmi", f"/tmp/{tag}-acpi"
    files = {n: open(f"{adir}/{n}", "rb").read() for n in sorted(os.listdir(adir))}
    rsdp = files.get("RSDP.dat", b"")
    rsdt = b""
    if len(rsdp) >= 20:
        addr = int.from_bytes(rsdp[16:20], "little")
        length = int.from_bytes(readback(domid, addr + 4, 4), "little")
        rsdt = readback(domid, addr, length)
    files["RSDT.dat"] = rsdt
    dmi_bytes = open(dmi, "rb").read()
    return {"rc": 0, "tables": got["tables"],
            "dmidecode": sh("dmidecode", "--from-dump", dmi)[1].decode("utf-8", "replace"),
            "smbios_sha256": sha(dmi_bytes),
            "acpi_sha256": {n: sha(b) for n, b in files.items()},
            "acpi_b64": {n: base64.b64encode(b).decode() for n, b in files.items()}}


def uefi_published(tables):
    """OVMF has published both tables through its EFI system table (as
    efi_published waits for)."""
    t = tables.get("tables") or {}
    return tables["rc"] == 0 and \
        (t.get("acpi") or {}).get("found", "").startswith("the EFI") and \
        (t.get("smbios") or {}).get("found", "").startswith("the EFI")


def efi_published(d, deadline):
    """Unpause ``d`` and poll (pause, guest-tables, unpause) until its EFI
    configuration table lists ACPI 2.0 and SMBIOS and both are read through
    it; returns (guest-tables JSON, seconds the guest ran until then, in 8 s
    steps: the polls run while it is paused), the guest paused; (last JSON or
    error, None) at the deadline."""
    ran, last = 0.0, None
    while time.monotonic() < deadline:
        # pause and unpause count in Xen: after a failed unpause the next pause
        # would leave the guest paused for good, so a failure ends the poll
        rc, _, err, _ = sh("xl", "unpause", str(d))
        if rc:
            return {"rc": rc, "err": f"xl unpause {d}: {err}"}, None
        t = time.monotonic()
        time.sleep(8)
        rc, _, err, _ = sh("xl", "pause", str(d))
        ran += time.monotonic() - t
        if rc:
            return {"rc": rc, "err": f"xl pause {d}: {err}"}, None
        rc, out, err, _ = xcmod("guest-tables", "--domid", d, "--json")
        last = json.loads(out) if rc == 0 else {"rc": rc, "err": err}
        if rc == 0 and last.get("efi") and "address" in last["efi"] and \
                (last.get("acpi") or {}).get("found", "").startswith("the EFI") and \
                (last.get("smbios") or {}).get("found", "").startswith("the EFI"):
            return last, ran
    return last, None


def efi_tables(d, tag):
    """:func:`tables_of` of paused ``d`` as the UEFI tests read it: the ACPI files
    (base64) apart from the RSDT, which guest-tables does not follow beside an
    XSDT and which is given as its 36-byte header."""
    got = tables_of(d, tag)
    if got["rc"]:
        return {"rc": got["rc"], "err": got["err"], "tables": None, "acpi_files": {},
                "dmidecode": "", "rsdt_header": None}
    files = dict(got["acpi_b64"])
    rsdt = base64.b64decode(files.pop("RSDT.dat"))
    return {"rc": 0, "err": "", "tables": got["tables"], "acpi_files": files,
            "dmidecode": got["dmidecode"],
            "rsdt_header": base64.b64encode(rsdt[:36]).decode() if rsdt else None}
