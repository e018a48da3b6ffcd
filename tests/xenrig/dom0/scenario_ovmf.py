# SPDX-License-Identifier: MIT
"""The UEFI scenario tests/test_xen_rig_ovmf.py runs in the rig's dom0 (step ``uefi``).

A guest booting the project's OvmfXen through xcmod's patched hvmloader
(/etc/xen/test-hvm-xcmod-ovmf.cfg), as an operator runs it: ``xl create -p``,
``xcmod load`` with default options, ``xl unpause``; then, from the paused
guest, the tables OVMF publishes through its EFI system table.  A second
guest of the same config without a load is the baseline.  Guest RAM is read
with the ``readback`` C program, independently of xcmod; OvmfXen's module is
found there by its content.  Results are ``XCMOD-RESULT {json}`` lines.
"""
import json
import os
import time

from . import step
from .rig import CFG_OVMF as CFG, create, readback, result, sh, xcmod
from .tables import efi_published, efi_tables
from .xencons import domain_tail

# keys written by hand that no image backs (as .scenario's for SeaBIOS): one
# pointing into OvmfXen's module, which libxc placed after hvmloader, and garbage
BOGUS = {"in-firmware": lambda fw_at, size: {"address": hex(fw_at), "length": hex(size),
                                             "count": "3"},
         "garbage": lambda fw_at, size: {"address": "0x20zz00", "length": "lots",
                                         "count": "-1"}}

OVMF = "/usr/lib/xcmod/OvmfXen.fd"
# hvmloader, libxc's firmware module and start info, and where the image goes
LOW = (0x100000, 0x800000)
PUBLISH_TIMEOUT = 600


def create_or_report(name):
    """``create`` of the UEFI guest; on failure, the device model's log too."""
    try:
        return create(name, cfg=CFG)[0]
    except SystemExit:
        log = f"/var/log/xen/qemu-dm-{name}.log"
        result("dm-log", log=open(log).read()[-4000:] if os.path.exists(log) else None)
        raise


@step("uefi")
def uefi():
    """The UEFI guest with a default load, without, with SMBIOS past the room, and bogus keys."""
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
    g, t = efi_published(d, time.monotonic() + PUBLISH_TIMEOUT)
    result("published-mods", seconds=t, last=g if t is None else None,
           console=domain_tail(d), **(efi_tables(d, "mods") if t is not None else {}))
    sh("xl", "destroy", str(d))

    # --- baseline: the same guest, nothing loaded ---------------------------
    b = create_or_report("uefi-stock")
    g, t = efi_published(b, time.monotonic() + PUBLISH_TIMEOUT)
    result("published-stock", seconds=t, last=g if t is None else None,
           console=domain_tail(b), **(efi_tables(b, "stock") if t is not None else {}))
    sh("xl", "destroy", str(b))

    # --- an SMBIOS module past the firmware's fixed room ---------------------
    o = create_or_report("uefi-big")
    rc, out, err, _ = xcmod("load", "--domid", o, "/data/big.bin")
    g, t = efi_published(o, time.monotonic() + PUBLISH_TIMEOUT) if rc == 0 else (None, None)
    result("published-oversize", load_rc=rc, load_err=err, seconds=t,
           last=g if t is None else None, console=domain_tail(o),
           **(efi_tables(o, "big") if t is not None else {}))
    sh("xl", "destroy", str(o))

    # --- module keys no image backs: refused on the console, the guest boots --
    for name, keys in BOGUS.items():
        g = create_or_report(f"uefi-bogus-{name}")
        for k, v in keys(res["firmware_at"] or 0, len(mods)).items():
            sh("xenstore-write", f"/local/domain/{g}/hvmloader/modules/{k}", v)
        _, t = efi_published(g, time.monotonic() + PUBLISH_TIMEOUT)
        result(f"published-bogus-{name}", seconds=t, console=domain_tail(g),
               **(efi_tables(g, f"bogus-{name}") if t is not None else {}))
        sh("xl", "destroy", str(g))
