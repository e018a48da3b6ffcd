# SPDX-License-Identifier: MIT
"""What every dom0 step uses: what the rig was built from (/etc/xenrig.json), the
xl configs it carries, running commands (``sh``, ``xcmod``), results on the console
(``XCMOD-RESULT {json}``), domains, xenstore and guest RAM (the ``readback`` C program)."""
import hashlib
import json
import os
import re
import subprocess
import time

# What the rig was built from (tests/xenrig/initramfs.py): the toolstack's
# prefix, hence Debian's hvmloader and the two `make hvmloader` builds.
RIG = json.load(open("/etc/xenrig.json")) if os.path.exists("/etc/xenrig.json") else {}
HVMLOADER = RIG.get("hvmloader")
HVMLOADER_XCMOD = RIG.get("hvmloader_xcmod")    # make hvmloader
CFG = "/etc/xen/test-hvm.cfg"
CFG_QEMU = "/etc/xen/test-hvm-qemu.cfg"      # the same guest with the real qemu-xen
CFG_XCMOD = "/etc/xen/test-hvm-xcmod.cfg"    # the guest booting the patched hvmloader
CFG_STOCK = "/etc/xen/test-hvm-stock.cfg"    # ... and the same source unpatched
CFG_OVMF = "/etc/xen/test-hvm-xcmod-ovmf.cfg"  # a UEFI guest: patched hvmloader, OvmfXen
# One UUID for the guests whose tables are compared: hvmloader puts the
# domain's UUID into SMBIOS type 1, so two domains differ there otherwise.
SAME_UUID = "5b2d2a52-7d0a-4e7f-9a43-2f6c0de1b001"


def sh(*args, timeout=120, cwd=None, user=None):
    t = time.monotonic()
    p = subprocess.run(list(args), capture_output=True, timeout=timeout, cwd=cwd, user=user)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.monotonic() - t


def result(step, **kw):
    print("XCMOD-RESULT " + json.dumps({"step": step, **kw}), flush=True)


def xcmod(*args):
    return sh("python3", "-m", "xcmod", *map(str, args))


def create(name, paused=True, cfg=CFG, uuid=None):
    extra = [f"uuid=\"{uuid}\""] if uuid else []
    rc, out, err, dt = sh("xl", "create", *(["-p"] if paused else []), cfg, f"name=\"{name}\"",
                          *extra)
    if rc:
        result("create-failed", domain=name, err=err)
        raise SystemExit(1)
    domid = int(sh("xl", "domid", name)[1])
    return domid, dt


def xs_read(path):
    rc, out, _, _ = sh("xenstore-read", path)
    return out.decode().strip() if rc == 0 else None


def readback(domid, gpa, length):
    rc, out, err, _ = sh("readback", str(domid), hex(gpa), hex(length))
    if rc:
        raise SystemExit(f"readback failed: {err}")
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


def xl_info():
    """The running hypervisor's version and command line, as `xl info` gives them."""
    info = sh("xl", "info")[1].decode("utf-8", "replace")
    return dict(re.findall(r"^(xen_version|xen_commandline)\s*:\s*(.*)$", info, re.M))

