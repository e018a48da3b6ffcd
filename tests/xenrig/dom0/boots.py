# SPDX-License-Identifier: MIT
"""Booting guests and following them: to SeaBIOS and back paused, and the boots of
a guest that reboots itself (issue 28), whoever re-creates it."""
import re
import subprocess
import time

from .rig import CFG_QEMU, SAME_UUID, create, sh, xcmod, xs_read
from .tables import decoded, read_tables, tables_of
from .xencons import console, guest_lines, wait_for_handover


def boot_to_seabios(domid, timeout=60, looks=8, every=0.5):
    """Unpause; wait for hvmloader's "Invoking SeaBIOS"; pause once SeaBIOS has
    the tables in place (guest-tables finds them; at most ``looks`` looks,
    ``every`` seconds of running apart; one pause at once when hvmloader never
    got there).  Returns (reached, seconds from unpause, console lines, xl
    unpause's and the last xl pause's exit codes), the guest paused."""
    console()
    t0 = time.monotonic()
    rc_unpause = sh("xl", "unpause", str(domid))[0]
    reached, dt = False, None
    while time.monotonic() - t0 < timeout:
        if any("Invoking SeaBIOS" in line for line in guest_lines(domid)):
            reached, dt = True, time.monotonic() - t0
            break
        time.sleep(0.1)
    if reached:
        _, rc_pause = pause_when(domid, lambda: xcmod("guest-tables", "--domid", domid)[0] == 0,
                                 looks, every)
    else:
        rc_pause = sh("xl", "pause", str(domid))[0]
    return reached, dt, guest_lines(domid), rc_unpause, rc_pause


def boot_and_read(name, cfg, tag, load=None, keys=None, poke=None, keep_stock=False):
    """Create paused, load / set keys / corrupt, boot to SeaBIOS, read the tables.

    ``keep_stock``: write the stock blocks' keys back after the loads (a load
    removes the other path's keys), as an operator writing them by hand would."""
    d, _ = create(name, cfg=cfg, uuid=SAME_UUID)
    steps, stock = {}, {}
    for path in load or ():
        steps[f"load {path}"] = xcmod("load", "--domid", d, *path.split())[:3:2]
        if keep_stock and not stock:
            stock = {f"hvmloader/{k}/{f}": xs_read(f"/local/domain/{d}/hvmloader/{k}/{f}")
                     for k in ("smbios", "acpi") for f in ("address", "length")}
    keys = {**(keys or {}), **stock}
    steps["stock-keys"] = stock
    if keys:
        for k, v in keys.items():
            sh("xenstore-write", f"/local/domain/{d}/{k}", v)
    if poke:
        gpa, data = poke
        p = subprocess.run(["readback", "-w", str(d), hex(gpa)], input=data, capture_output=True)
        steps["poke"] = [p.returncode, p.stderr.decode()]
    reached, dt, log, _, _ = boot_to_seabios(d)
    out = {"domid": d, "steps": steps, "reached_seabios": reached, "seconds": dt, "log": log,
           **tables_of(d, tag)}
    sh("xl", "destroy", str(d))
    return out


# /data/reset.img (tests/xenrig/inputs.py): a disk whose boot sector
# waits 10 s on the BIOS tick count, then resets the guest through the PIIX3's
# reset control register (port 0xCF9), which qemu-xen turns into a shutdown of
# reason reboot: a guest-initiated reboot, as Windows setup's.  The disk is the
# device model's own (see reboot_cfg).
RESET_DISK = "/data/reset.img"


def reboot_cfg(name, lines, base=CFG_QEMU, disk_image=RESET_DISK):
    """An xl config of the real-device-model guest ``base`` (test-hvm-qemu.cfg, or the
    UEFI guest's) that boots ``disk_image`` and restarts on reboot, with ``lines``
    added (firmware=, ...; a firmware= of ``base`` gives way to theirs)."""
    text = open(base).read()
    text = re.sub(r'(?m)^name = .*$', f'name = "{name}"', text)
    text = re.sub(r'(?m)^on_reboot = .*$', 'on_reboot = "restart"', text)
    if any(x.startswith("firmware") for x in lines):
        text = re.sub(r'(?m)^firmware = .*$', '', text)
    disk = f"/tmp/{name}.img"
    with open(disk_image, "rb") as src, open(disk, "wb") as dst:
        dst.write(src.read())
    # qemu-xen opens the disk itself (an emulated IDE disk, no libxl disk): libxl's
    # disks need a PV backend in dom0 (blkback or a dom0 qemu), which the rig has not
    text += f'device_model_args_hvm = [ "-drive", "file={disk},if=ide,index=0,media=disk,' \
            f'format=raw" ]\n'
    text += "".join(line + "\n" for line in lines)
    path = f"/tmp/{name}.cfg"
    with open(path, "w") as f:
        f.write(text)
    return path


def new_domid(name, seen, timeout=180, run_bound=900):
    """The id of domain ``name`` once it is one not in ``seen`` (xl or the script
    has created it again after a reboot); None on timeout.  Two waits, each on
    its own clock: the previous boot's guest running on to its reset (as slow as
    the emulated CPU on a busy host; at most ``run_bound`` s), then the
    toolstack's re-create, ``timeout`` s from the moment that domain is gone."""
    start = time.monotonic()
    gone = None
    while True:
        now = time.monotonic()
        rc, out, _, _ = sh("xl", "domid", name)
        d = int(out) if rc == 0 and out.strip().isdigit() else None
        if d is not None and d not in seen:
            return d
        if d is None and gone is None:
            gone = now
        if (gone is not None and now - gone > timeout) or now - start > run_bound + timeout:
            return None
        time.sleep(1)


def pause_when(d, ready, looks=8, every=1):
    """Let the running domain ``d`` run ``every`` seconds, pause it and ask
    ``ready()``, until it says yes (at most ``looks`` looks, unpaused between
    them).  Pause and unpause count in Xen, so a failed one ends the looks: the
    next pause would leave the guest paused for good.  Returns (looks taken, the
    last xl pause's exit code), ``d`` paused."""
    for n in range(1, looks + 1):
        time.sleep(every)
        rc = sh("xl", "pause", str(d))[0]
        if rc or ready() or n == looks or sh("xl", "unpause", str(d))[0]:
            return n, rc


def pause_when_ready(d, tag, looks=8, every=1, ready=lambda tables: tables["rc"] == 0):
    """The running domain ``d`` past its hvmloader's hand-over: the firmware puts
    the tables into place after it, so look until guest-tables finds them
    (:func:`pause_when`; ``ready`` judges a look, which is guest-tables alone, the
    rest of the reading once it is ready).  Returns (looks taken, the tables), ``d``
    paused."""
    seen = {}

    def look():
        seen["look"] = read_tables(d, tag)
        return ready(seen["look"])
    n, _ = pause_when(d, look, looks, every)
    return n, decoded(d, tag, seen["look"] if "look" in seen else read_tables(d, tag))


def follow_boots(name, boots, to="Invoking SeaBIOS", looks=8, every=1,
                 ready=lambda tables: tables["rc"] == 0):
    """Each of ``boots`` boots of domain ``name``, whoever re-creates it: wait for its
    hvmloader's hand-over, pause it once the firmware has the tables (``ready``; at
    most ``looks`` looks, ``every`` seconds of running apart), read them
    (guest-tables, dmidecode; the DSDT left out), note the xenstore keys a load
    writes, and let it run on to its reset."""
    most = looks
    out, seen = [], []
    for n in range(boots):
        d = new_domid(name, seen)
        if d is None:
            out.append({"boot": n + 1, "domid": None, "reached": False})
            break
        seen.append(d)
        reached = wait_for_handover(d, timeout=180, to=to)
        looks, tables = pause_when_ready(d, f"{name}-{n}", most, every, ready)
        tables.get("acpi_b64", {}).pop("DSDT.dat", None)
        tables.pop("acpi_sha256", None)
        keys = xs_read(f"/local/domain/{d}/hvmloader/modules/address")
        sh("xl", "unpause", str(d))
        out.append({"boot": n + 1, "domid": d, "reached": reached, "module_keys": keys,
                    "looks": looks, "ready": ready(tables),
                    "log": [t for t in guest_lines(d) if t.startswith(("xcmod:", "ACPI:"))],
                    **tables})
        if not out[-1]["ready"]:        # no tables this boot: the next would not say more
            break
    return out

