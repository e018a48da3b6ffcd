# SPDX-License-Identifier: MIT
"""The UEFI scenario tests/test_xen_rig_ovmf.py runs in the rig's dom0.

A guest booting the project's OvmfXen through xcmod's patched hvmloader
(/etc/xen/test-hvm-xcmod-ovmf.cfg), as an operator runs it: ``xl create -p``,
``xcmod load`` with default options, ``xl unpause``; then, from the paused
guest, the tables OVMF publishes through its EFI system table.  A second
guest of the same config without a load is the baseline.  Guest RAM is read
with the ``readback`` C program, independently of xcmod; OvmfXen's module is
found there by its content.  Results are ``XCMOD-RESULT {json}`` lines, as in
scenario.py, whose helpers this uses (both are in /data).
"""
import base64
import json
import os
import sys
import time

sys.path.insert(0, "/data")
from scenario import create, readback, result, sh, xcmod  # noqa: E402

# keys written by hand that no image backs (as scenario.py's for SeaBIOS): one
# pointing into OvmfXen's module, which libxc placed after hvmloader, and garbage
BOGUS = {"in-firmware": lambda fw_at, size: {"address": hex(fw_at), "length": hex(size),
                                             "count": "3"},
         "garbage": lambda fw_at, size: {"address": "0x20zz00", "length": "lots",
                                         "count": "-1"}}

CFG = "/etc/xen/test-hvm-xcmod-ovmf.cfg"
OVMF = "/usr/lib/xcmod/OvmfXen.fd"
# hvmloader, libxc's firmware module and start info, and where the image goes
LOW = (0x100000, 0x800000)
PUBLISH_TIMEOUT = 600


def published(d, deadline):
    """Unpause ``d`` and poll (pause, guest-tables, unpause) until its EFI
    configuration table lists ACPI 2.0 and SMBIOS and both are read through
    it; returns (guest-tables JSON, seconds the guest ran until then, in 8 s
    steps: the polls run while it is paused), the guest paused; (last JSON or
    error, None) at the deadline."""
    ran, last = 0.0, None
    while time.monotonic() < deadline:
        sh("xl", "unpause", str(d))
        t = time.monotonic()
        time.sleep(8)
        sh("xl", "pause", str(d))
        ran += time.monotonic() - t
        rc, out, err, _ = xcmod("guest-tables", "--domid", d, "--json")
        last = json.loads(out) if rc == 0 else {"rc": rc, "err": err}
        if rc == 0 and last.get("efi") and "address" in last["efi"] and \
                (last.get("acpi") or {}).get("found", "").startswith("the EFI") and \
                (last.get("smbios") or {}).get("found", "").startswith("the EFI"):
            return last, ran
    return last, None


def tables_of(d, tag):
    """guest-tables of paused ``d`` with its ACPI files (base64) and dmidecode's text."""
    adir, dump = f"/tmp/{tag}-acpi", f"/tmp/{tag}.dmi"
    rc, out, err, _ = xcmod("guest-tables", "--domid", d, "--json", "--smbios-dump", dump,
                            "--acpi-dir", adir)
    files = {}
    if rc == 0:
        for n in sorted(os.listdir(adir)):
            files[n] = base64.b64encode(open(os.path.join(adir, n), "rb").read()).decode()
    dmi = sh("dmidecode", "--from-dump", dump)[1].decode("utf-8", "replace") if rc == 0 else ""
    rsdt = None                      # guest-tables walks the XSDT; the RSDT by hand
    if "RSDP.dat" in files:
        addr = int.from_bytes(base64.b64decode(files["RSDP.dat"])[16:20], "little")
        rsdt = base64.b64encode(readback(d, addr, 36)).decode() if addr else None
    return {"rc": rc, "err": err, "tables": json.loads(out) if rc == 0 else None,
            "acpi_files": files, "dmidecode": dmi, "rsdt_header": rsdt}


def console(d):
    """hvmloader's lines for domain ``d`` on Xen's console."""
    text = sh("xl", "dmesg")[1].decode("utf-8", "replace")
    return [ln for ln in text.splitlines() if f"(d{d})" in ln][-80:]


def create_or_report(name):
    """``create`` of the UEFI guest; on failure, the device model's log too."""
    try:
        return create(name, cfg=CFG)[0]
    except SystemExit:
        log = f"/var/log/xen/qemu-dm-{name}.log"
        result("dm-log", log=open(log).read()[-4000:] if os.path.exists(log) else None)
        raise


def main():
    fd = open(OVMF, "rb").read()
    mods = open("/data/mods.bin", "rb").read()

    # --- with modules ------------------------------------------------------
    d = create_or_report("uefi-mods")
    before = readback(d, LOW[0], LOW[1] - LOW[0])
    at = before.find(fd)
    rc, out, err, _ = xcmod("load", "--domid", d, "/data/mods.bin", "--base", "0x200000")
    result("refuse-base", rc=rc, err=err,
           untouched=readback(d, LOW[0], LOW[1] - LOW[0]) == before)
    rc, out, err, seconds = xcmod("load", "--domid", d, "/data/mods.bin", "--json")
    load = json.loads(out) if rc == 0 else None
    after = readback(d, LOW[0], LOW[1] - LOW[0])
    res = {"rc": rc, "err": err, "load": load, "seconds": seconds, "firmware_len": len(fd),
           "firmware_at": LOW[0] + at if at >= 0 else None,
           "firmware_intact": at >= 0 and after[at:at + len(fd)] == fd}
    if load:
        i = load["base"] - LOW[0]
        res.update(image_there=after[i:i + len(mods)] == mods,
                   outside_unchanged=(after[:i] == before[:i] and
                                      after[i + len(mods):] == before[i + len(mods):]))
    result("load", **res)
    g, t = published(d, time.monotonic() + PUBLISH_TIMEOUT)
    result("published-mods", seconds=t, last=g if t is None else None,
           console=console(d), **(tables_of(d, "mods") if t is not None else {}))
    sh("xl", "destroy", str(d))

    # --- baseline: the same guest, nothing loaded ---------------------------
    b = create_or_report("uefi-stock")
    g, t = published(b, time.monotonic() + PUBLISH_TIMEOUT)
    result("published-stock", seconds=t, last=g if t is None else None,
           console=console(b), **(tables_of(b, "stock") if t is not None else {}))
    sh("xl", "destroy", str(b))

    # --- an SMBIOS module past the firmware's fixed room ---------------------
    o = create_or_report("uefi-big")
    rc, out, err, _ = xcmod("load", "--domid", o, "/data/big.bin")
    g, t = published(o, time.monotonic() + PUBLISH_TIMEOUT) if rc == 0 else (None, None)
    result("published-oversize", load_rc=rc, load_err=err, seconds=t,
           last=g if t is None else None, console=console(o),
           **(tables_of(o, "big") if t is not None else {}))
    sh("xl", "destroy", str(o))

    # --- module keys no image backs: refused on the console, the guest boots --
    for name, keys in BOGUS.items():
        g = create_or_report(f"uefi-bogus-{name}")
        for k, v in keys(res["firmware_at"] or 0, len(mods)).items():
            sh("xenstore-write", f"/local/domain/{g}/hvmloader/modules/{k}", v)
        _, t = published(g, time.monotonic() + PUBLISH_TIMEOUT)
        result(f"published-bogus-{name}", seconds=t, console=console(g),
               **(tables_of(g, f"bogus-{name}") if t is not None else {}))
        sh("xl", "destroy", str(g))


if __name__ == "__main__":
    main()
