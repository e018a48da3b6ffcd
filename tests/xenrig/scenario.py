# SPDX-License-Identifier: MIT
"""The operator scenario `make test-xen` runs in the rig's dom0.

Uses xcmod exactly as a domain-creation script would (``xl create -p``,
``python3 -m xcmod ...``, ``xl unpause``) and checks it with tools xcmod did
not write (``xenstore-read``, the ``readback`` C program, ``dmidecode``).
Every result is one console line ``XCMOD-RESULT {json}``; the host-side test
(tests/test_xen_rig.py) asserts on them.  Inputs come from /data: mods.bin,
blocks/ (build --format xen) and bench.bin.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

# What the rig was built from (tests/xenrig/__init__.py): the toolstack's
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


def main():
    mods = open("/data/mods.bin", "rb").read()
    result("rig", **RIG, running=xl_info())

    # --- module format into a paused domain --------------------------------
    d, t_create = create("mods-hvm")
    rc, out, err, _ = xcmod("hvm-info", "--domid", d, "--json")
    result("hvm-info", rc=rc, info=json.loads(out) if rc == 0 else None, err=err)
    rc, out, err, _ = xcmod("layout", "--memory", 32, "/data/mods.bin", "--hvmloader",
                            HVMLOADER, "--json")
    result("layout", rc=rc, layout=json.loads(out) if rc == 0 else None, err=err)
    rc, out, err, t_load = xcmod("load", "--domid", d, "/data/mods.bin", "--json",
                                 "--hvmloader", HVMLOADER, "--measure", "/tmp/launch.json")
    result("load-modules", rc=rc, out=out.decode(), err=err, seconds=t_load,
           measurement=json.load(open("/tmp/launch.json")) if rc == 0 else None)
    root = f"/local/domain/{d}/hvmloader/modules"
    keys = {k: xs_read(f"{root}/{k}") for k in ("address", "length", "count")}
    perms = sh("xenstore-ls", "-p", root)[1].decode()
    back = readback(d, 0x200000, len(mods))
    hv_len = json.load(open("/tmp/launch.json"))["regions"][0]["length"] if rc == 0 else 4096
    hv = readback(d, 0x100000, hv_len)
    result("modules-in-guest", keys=keys, perms=perms, image_sha256=sha(mods),
           readback_sha256=sha(back), hvmloader_ram_sha256=sha(hv))
    rc, out, err, _ = xcmod("keys", "set", "--domid", d, "bios-strings/oem-1=xcmod-rig",
                            "hvmloader/acpi/address=0x300000")
    lst = xcmod("keys", "list", "--domid", d, "--json")[1]
    result("keys", rc=rc, err=err, listed=json.loads(lst) if lst else None,
           oem=xs_read(f"/local/domain/{d}/bios-strings/oem-1"))
    # An image that fits max_memkb (32 MiB) but not the guest's RAM (24 MiB:
    # video RAM is not guest RAM): refused before any byte is written.
    # (10 tables of 1.7 MB each: hvmloader appends at most 15, so a large image is
    # made of large tables, each the SSDT's AML repeated)
    from xcmod.firmware.acpi import encode_acpi_module, parse_table
    from xcmod.firmware.contents import acpi_tables
    from xcmod.image.read import single_module
    from xcmod.image.spec import XCMOD_TYPE_ACPI, build_image
    raw = acpi_tables(single_module(mods, XCMOD_TYPE_ACPI))[0].raw
    big = bytearray(raw[:36] + raw[36:] * (1700000 // (len(raw) - 36)))
    big[4:8], big[9] = len(big).to_bytes(4, "little"), 0
    big[9] = -sum(big) & 0xFF
    with open("/tmp/big.bin", "wb") as f:
        f.write(build_image([encode_acpi_module([parse_table(bytes(big))] * 10)]))
    before = readback(d, 0x900000, 0x1000)
    rc, out, err, _ = xcmod("load", "--domid", d, "/tmp/big.bin", "--base", "0x900000")
    result("refuse-past-lowmem", rc=rc, err=err, size=os.path.getsize("/tmp/big.bin"),
           untouched=readback(d, 0x900000, 0x1000) == before)
    os.unlink("/tmp/big.bin")
    sh("xl", "destroy", str(d))

    # --- refusals: domain 0 and a running domain ----------------------------
    rc, out, err, _ = xcmod("load", "--domid", 0, "/data/mods.bin")
    result("refuse-dom0", rc=rc, err=err,
           keys=sh("xenstore-ls", "/local/domain/0/hvmloader/modules")[0])
    # The domain only has to be running.  A stock guest's SeaBIOS has been seen to
    # triple-fault under the rig's TCG while copying the BIOS tables (Xen then
    # destroys it, and every read of it fails); such a guest is replaced, at most
    # twice, and the result says how many were started.
    for started in range(1, 4):
        r, _ = create(f"run-hvm{started}", paused=False)
        time.sleep(3)
        rc_before, before, _, _ = sh("readback", str(r), "0x200000", hex(len(mods)))
        if rc_before == 0:
            break
        sh("xl", "destroy", str(r))
    rc, out, err, _ = xcmod("load", "--domid", r, "/data/mods.bin")
    after = readback(r, 0x200000, len(mods))
    result("refuse-running", rc=rc, err=err, untouched=before == after,
           image_absent=after != mods, guests_started=started,
           keys=xs_read(f"/local/domain/{r}/hvmloader/modules/address"))
    sh("xl", "destroy", str(r))

    # --- stock blocks, consumed by the real hvmloader ----------------------
    s, _ = create("stock-hvm")
    rc, out, err, _ = xcmod("load", "--domid", s, "/data/blocks", "--json")
    blocks = {}
    for kind in ("smbios", "acpi"):
        base = f"/local/domain/{s}/hvmloader/{kind}"
        addr, length = xs_read(f"{base}/address"), xs_read(f"{base}/length")
        data = open(f"/data/blocks/{kind}.bin", "rb").read()
        blocks[kind] = {"address": addr, "length": length, "file_sha256": sha(data),
                        "readback_sha256": sha(readback(s, int(addr, 16), int(length, 16)))
                        if addr and length else None}
    result("load-stock", rc=rc, err=err, blocks=blocks)
    reached, _, log, rc_unpause, rc_pause = boot_to_seabios(s)
    result("hvmloader-ran", unpause=rc_unpause, pause=rc_pause, invoked=reached, log=log[-60:])
    rc, out, err, _ = xcmod("guest-tables", "--domid", s, "--json", "--smbios-dump",
                            "/tmp/g.dmi", "--acpi-dir", "/tmp/gacpi")
    tables = {}
    if rc == 0:
        for n in sorted(os.listdir("/tmp/gacpi")):
            tables[n] = base64.b64encode(open(f"/tmp/gacpi/{n}", "rb").read()).decode()
    dmi = sh("dmidecode", "--from-dump", "/tmp/g.dmi")[1].decode("utf-8", "replace") \
        if rc == 0 else ""
    result("guest-tables", rc=rc, err=err, tables=json.loads(out) if rc == 0 else None,
           acpi_files=tables, dmidecode=dmi)
    # an independent look: guest memory laid out in a file, read by dmidecode alone
    with open("/tmp/mem.img", "wb") as f:
        f.write(readback(s, 0, 0x100000))
        f.seek(0xFC000000)
        f.write(readback(s, 0xFC000000, 0x200000))
    # as nobody: dmidecode 3.5 and later refuse -d on a regular file for root
    # (it must be a character device then), and reading a file needs no root
    rc, out, err, _ = sh("dmidecode", "--no-sysfs", "-d", "/tmp/mem.img", user=65534)
    result("dmidecode-raw", rc=rc, out=out.decode("utf-8", "replace"), err=err)
    os.unlink("/tmp/mem.img")
    sh("xl", "destroy", str(s))

    # --- the example domain-creation script, as shipped ---------------------
    # It stays to watch the guest (reboots are re-created and re-loaded): it is
    # started in the background, and ends once the domain is destroyed.
    log = open("/tmp/example.log", "w+")
    script = subprocess.Popen(["sh", "/data/create-with-modules.sh", CFG, "/data/mods.bin"],
                              stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "XCMOD": "python3 -m xcmod"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and script.poll() is None:
        log.seek(0)
        if "running with" in log.read():
            break
        time.sleep(0.5)
    e = int(sh("xl", "domid", "test-hvm")[1] or -1)
    state = sh("xl", "list", "test-hvm")[1].decode()
    address = xs_read(f"/local/domain/{e}/hvmloader/modules/address")
    sh("xl", "destroy", "test-hvm")
    try:
        rc = script.wait(timeout=60)
    except subprocess.TimeoutExpired:
        script.kill()
        rc = None
    log.seek(0)
    out = log.read()
    result("example-script", rc=rc, out=out, err=out, address=address, xl_list=state)

    # --- benchmark: load of a 64 KiB image vs xl create -p, best of 5 --------
    # The domain has the real qemu-xen device model, as an operator's has.  The
    # interpreter's own floor for any `python3 -m` command (`python3 -m
    # benchmarks.empty`, as make bench measures it) and `python3 -c pass` are
    # timed in the same rounds, so they see the same load.
    t = {"create": [], "load": [], "floor": [], "pass": []}
    rcs, errs = [], []
    for i in range(5):
        b, t_create = create(f"bench-hvm{i}", cfg=CFG_QEMU)
        rc, _, err, t_load = xcmod("load", "--domid", b, "/data/bench.bin")
        t["create"].append(t_create)
        t["load"].append(t_load)
        t["floor"].append(sh("python3", "-m", "benchmarks.empty")[3])
        t["pass"].append(sh("python3", "-c", "pass")[3])
        rcs.append(rc)
        errs.append(err)
        keys = xs_read(f"/local/domain/{b}/hvmloader/modules/address")
        sh("xl", "destroy", str(b))
    result("bench", rc=max(rcs), err="".join(errs), xl_create_seconds=min(t["create"]),
           real_dm_keys=keys, load_seconds=min(t["load"]),
           python_pass_seconds=min(t["pass"]), python_m_empty_seconds=min(t["floor"]),
           image_bytes=os.path.getsize("/data/bench.bin"))


# --- xcmod's patched hvmloader ------------------------------------------------

CONSOLE = []          # every line `xl dmesg -c` gave, in order
# A guest's line on Xen's console, with console_timestamps=boot:
# "(d5) [   41.123456] HVM Loader" (Xen's time since boot, in microseconds).
GUEST_LINE = re.compile(r"\(d(\d+)\) (?:\[\s*(\d+\.\d+)\] )?(.*)$")


def console():
    """Xen's console so far; read with -c so the ring never overflows."""
    out = sh("xl", "dmesg", "-c")[1].decode("utf-8", "replace")
    CONSOLE.extend(out.splitlines())
    return CONSOLE


def guest_timed(domid):
    """hvmloader's console lines of one domain: [(Xen's timestamp or None, text)]."""
    out = []
    for line in console():
        m = GUEST_LINE.search(line)
        if m and int(m.group(1)) == domid:
            out.append((float(m.group(2)) if m.group(2) else None, m.group(3).strip()))
    return out


def guest_lines(domid):
    """hvmloader's console lines of one domain (Xen prefixes them "(dN)")."""
    return [text for _, text in guest_timed(domid)]


def first_at(lines, prefix):
    """Xen's timestamp of the first of ``lines`` (guest_timed) starting with ``prefix``."""
    return next((t for t, text in lines if text.startswith(prefix)), None)


def between(lines, start, end):
    """Seconds from the first line starting with ``start`` to the first starting
    with ``end``, by Xen's console timestamps; None if either is missing."""
    a, b = first_at(lines, start), first_at(lines, end)
    return b - a if a is not None and b is not None else None


def hvmloader_span(domid):
    """Seconds from hvmloader's first line ("HVM Loader") to its hand-over
    ("Invoking SeaBIOS")."""
    return between(guest_timed(domid), "HVM Loader", "Invoking SeaBIOS")


def boot_to_seabios(domid, timeout=60):
    """Unpause; wait for hvmloader's "Invoking SeaBIOS"; pause once SeaBIOS has
    the tables in place.  Returns (reached, seconds from unpause, console lines,
    xl unpause's and xl pause's exit codes)."""
    console()
    t0 = time.monotonic()
    rc_unpause = sh("xl", "unpause", str(domid))[0]
    reached, dt = False, None
    while time.monotonic() - t0 < timeout:
        if any("Invoking SeaBIOS" in line for line in guest_lines(domid)):
            reached, dt = True, time.monotonic() - t0
            break
        time.sleep(0.1)
    time.sleep(1)
    rc_pause = sh("xl", "pause", str(domid))[0]
    return reached, dt, guest_lines(domid), rc_unpause, rc_pause


def tables_of(domid, tag):
    """What the paused guest ended up with: guest-tables' JSON, the SMBIOS dump
    decoded by dmidecode, every ACPI table's bytes, and the RSDT (which
    guest-tables does not follow when there is an XSDT)."""
    dmi, adir = f"/tmp/{tag}.dmi", f"/tmp/{tag}-acpi"
    rc, out, err, _ = xcmod("guest-tables", "--domid", domid, "--json", "--smbios-dump", dmi,
                            "--acpi-dir", adir)
    if rc:
        return {"rc": rc, "err": err}
    desc = json.loads(out)
    files = {n: open(f"{adir}/{n}", "rb").read() for n in sorted(os.listdir(adir))}
    rsdp = files.get("RSDP.dat", b"")
    rsdt = b""
    if len(rsdp) >= 20:
        addr = int.from_bytes(rsdp[16:20], "little")
        length = int.from_bytes(readback(domid, addr + 4, 4), "little")
        rsdt = readback(domid, addr, length)
    files["RSDT.dat"] = rsdt
    dmi_bytes = open(dmi, "rb").read()
    return {"rc": 0, "tables": desc,
            "dmidecode": sh("dmidecode", "--from-dump", dmi)[1].decode("utf-8", "replace"),
            "smbios_sha256": sha(dmi_bytes),
            "acpi_sha256": {n: sha(b) for n, b in files.items()},
            "acpi_b64": {n: base64.b64encode(b).decode() for n, b in files.items()}}


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


def patched_hvmloader():
    """The patched hvmloader (docs/hvmloader.md) against the same source unpatched."""
    mods = "/data/mods-x.bin"
    size = os.path.getsize(mods)
    # 1. nothing passed, then stock blocks: the two loaders build the same tables
    for what, load in (("none", None), ("blocks", ["/data/blocks"])):
        stock = boot_and_read(f"stock-{what}", CFG_STOCK, f"stock-{what}", load=load)
        patched = boot_and_read(f"xcmod-{what}", CFG_XCMOD, f"xcmod-{what}", load=load)
        result(f"same-tables-{what}", stock=stock, patched=patched)
    # 2. a module image: SMBIOS, SSDT + SLIC, and the SLIC's OEM IDs
    result("modules", **boot_and_read("xcmod-mods", CFG_XCMOD, "mods", load=[mods]))
    # 3. one byte of the loaded image flipped in guest RAM (in the SMBIOS payload)
    result("corrupt", **boot_and_read("xcmod-corrupt", CFG_XCMOD, "corrupt", load=[mods],
                                      poke=(0x200000 + 0x40, b"\xa5")))
    # 4. keys written by hand that no image backs
    bogus = {"address-zero": {"address": "0x0", "length": hex(size), "count": "3"},
             "past-ram": {"address": "0x3000000", "length": hex(size), "count": "3"},
             "huge-length": {"address": "0x200000", "length": "0xffffffff", "count": "3"},
             "garbage": {"address": "0x20zz00", "length": "lots", "count": "-1"},
             "in-hvmloader": {"address": "0x100000", "length": hex(size), "count": "3"}}
    for name, keys in bogus.items():
        r = boot_and_read(f"bogus-{name}", CFG_XCMOD, f"bogus-{name}",
                          keys={f"hvmloader/modules/{k}": v for k, v in keys.items()})
        result(f"bogus-{name}", **r)
    # 5. both the stock keys and the module keys: the modules win, and it is said
    result("both", **boot_and_read("xcmod-both", CFG_XCMOD, "both",
                                   load=["/data/blocks --base 0x900000", mods],
                                   keep_stock=True))
    # 6. layout plans around the patched binary
    rc, out, err, _ = xcmod("layout", "--memory", 32, mods, "--hvmloader", HVMLOADER_XCMOD,
                            "--json")
    result("layout-patched", rc=rc, err=err, layout=json.loads(out) if rc == 0 else None)


# --- boot cost, by Xen's console timestamps -------------------------------------

def wait_for_handover(domid, timeout=120, to="Invoking SeaBIOS"):
    """Unpaused ``domid``'s hvmloader has handed over (its line ``to``).  dom0 stays
    idle while hvmloader runs (under -icount its work would count in the guest's
    time): it sleeps, then looks once a second."""
    deadline = time.monotonic() + timeout
    time.sleep(2)
    while time.monotonic() < deadline:
        if any(text.startswith(to) for _, text in guest_timed(domid)):
            return True
        time.sleep(1)
    return False


def boot_bench(rounds=5):
    """hvmloader's first console line ("HVM Loader") to its hand-over ("Invoking
    SeaBIOS"), by Xen's console timestamps: the stock build with stock blocks, the
    patched build with the same blocks, and the patched build with modules of the
    same content; and for the UEFI guest (to "Invoking OVMF") the patched build
    without a load and with the modules; ``rounds`` boots each, the order rotated
    every round.  Also the
    part of each span hvmloader spends waiting for its first xenstore answer
    ("Xenbus rings" to "System requested"): dom0's xenstored has to be scheduled
    for it, whatever hvmloader is built from."""
    runs = (("stock-blocks", CFG_STOCK, "/data/blocks", "Invoking SeaBIOS"),
            ("xcmod-blocks", CFG_XCMOD, "/data/blocks", "Invoking SeaBIOS"),
            ("xcmod-modules", CFG_XCMOD, "/data/mods.bin", "Invoking SeaBIOS"),
            # the UEFI guest (real qemu-xen, OvmfXen): without a load, and with one
            ("ovmf-none", CFG_OVMF, None, "Invoking OVMF"),
            ("ovmf-modules", CFG_OVMF, "/data/mods.bin", "Invoking OVMF"))
    spans = {key: [] for key, *_ in runs}
    first_xs = {key: [] for key, *_ in runs}
    for i in range(rounds):
        for key, cfg, load, to in runs[i % len(runs):] + runs[:i % len(runs)]:
            d, _ = create(f"bench-{key}-{i}", cfg=cfg)
            rc = xcmod("load", "--domid", d, load)[0] if load else 0
            console()
            sh("xl", "unpause", str(d))
            reached = rc == 0 and wait_for_handover(d, to=to)
            lines = guest_timed(d) if reached else []
            spans[key].append(between(lines, "HVM Loader", to))
            first_xs[key].append(between(lines, "Xenbus rings", "System requested"))
            sh("xl", "destroy", str(d))
    result("boot-bench", spans=spans, first_xenstore=first_xs, rounds=rounds,
           running=xl_info())


# --- every boot: a guest that reboots itself (issue 28) ------------------------

# /data/reset.img (tests/test_xen_rig.py writes it): a disk whose boot sector
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


def new_domid(name, seen, timeout=180):
    """The id of domain ``name`` once it is one not in ``seen`` (xl or the script
    has created it again after a reboot); None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, out, _, _ = sh("xl", "domid", name)
        if rc == 0 and out.strip() and int(out) not in seen:
            return int(out)
        time.sleep(1)
    return None


def uefi_published(tables):
    """OVMF has published both tables through its EFI system table (as
    scenario_ovmf.published waits for)."""
    t = tables.get("tables") or {}
    return tables["rc"] == 0 and \
        (t.get("acpi") or {}).get("found", "").startswith("the EFI") and \
        (t.get("smbios") or {}).get("found", "").startswith("the EFI")


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
        # the firmware puts the tables into place after the hand-over: look until
        # guest-tables finds them, the guest paused for each look
        for looks in range(1, most + 1):
            time.sleep(every)
            sh("xl", "pause", str(d))
            tables = tables_of(d, f"{name}-{n}")
            if ready(tables) or looks == most:
                break
            sh("xl", "unpause", str(d))
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


def reboots():
    """A guest with on_reboot = "restart" that resets itself after each boot, over three
    boots (two guest-initiated reboots), by each path:

    * ``reboot-xl``: `xcmod export xl --hvmloader` lines and a plain `xl create`: xl's
      own monitor re-creates the domain, libxl hands hvmloader the carrier each time;
    * ``reboot-script``: examples/create-with-modules.sh (xl create -p -e, xcmod load,
      unpause, and the re-create and re-load on each reboot);
    * ``reboot-stock``: the `export xl` config with the same source's stock hvmloader
      (two boots: the first reaches the disk's boot sector, the reset says so);
    * ``reboot-uefi``: the UEFI guest (OvmfXen) with the `export xl` lines and a disk
      whose \\EFI\\BOOT\\BOOTX64.EFI resets it 10 s after OVMF starts it
      (/data/efireset.img, tests/xenrig/efireset.py); plain `xl create`."""
    mods = "/data/mods-x.bin"
    os.makedirs("/var/log/xen", exist_ok=True)
    rc, out, err, _ = xcmod("export", "xl", mods, "--hvmloader", HVMLOADER_XCMOD,
                            "--out-dir", "/tmp/carrier", "--json")
    export = json.loads(out) if rc == 0 else {"rc": rc, "err": err}
    lines = [x for x in export.get("lines", []) if not x.startswith("#")]
    result("reboot-export", rc=rc, err=err, export=export)

    cfg = reboot_cfg("reboot-xl", lines)
    rc, _, err, _ = sh("xl", "create", cfg)
    boots = follow_boots("reboot-xl", 3) if rc == 0 else []
    sh("xl", "destroy", "reboot-xl")
    result("reboot-xl", rc=rc, err=err, boots=boots)

    stock = [x.replace(HVMLOADER_XCMOD, RIG["hvmloader_stock"]) for x in lines]
    cfg = reboot_cfg("reboot-stock", stock)
    rc, _, err, _ = sh("xl", "create", cfg)
    boots = follow_boots("reboot-stock", 2) if rc == 0 else []
    sh("xl", "destroy", "reboot-stock")
    result("reboot-stock", rc=rc, err=err, boots=boots, cfg=stock)

    cfg = reboot_cfg("reboot-uefi", lines, base=CFG_OVMF, disk_image="/data/efireset.img")
    rc, _, err, _ = sh("xl", "create", cfg)
    boots = follow_boots("reboot-uefi", 3, to="Invoking OVMF", looks=60, every=2,
                         ready=uefi_published) if rc == 0 else []
    sh("xl", "destroy", "reboot-uefi")
    result("reboot-uefi", rc=rc, err=err, boots=boots)

    cfg = reboot_cfg("reboot-script", [f'firmware = "{HVMLOADER_XCMOD}"'])
    log = open("/tmp/reboot-script.log", "w+")
    script = subprocess.Popen(["sh", "/data/create-with-modules.sh", cfg, mods], stdout=log,
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "XCMOD": "python3 -m xcmod"})
    boots = follow_boots("reboot-script", 3)
    sh("xl", "destroy", "reboot-script")     # the script sees it gone and ends
    try:
        script_rc = script.wait(timeout=60)
    except subprocess.TimeoutExpired:
        script.kill()
        script_rc = None
    log.seek(0)
    result("reboot-script", rc=script_rc, out=log.read(), boots=boots)


if __name__ == "__main__":
    if sys.argv[1:] == ["boot-bench"]:
        boot_bench()
    elif sys.argv[1:] == ["reboots"]:
        reboots()
    else:
        main()
        patched_hvmloader()
        reboots()
