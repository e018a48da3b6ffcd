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
import subprocess
import time

HVMLOADER = "/usr/lib/xen-4.17/boot/hvmloader"
CFG = "/etc/xen/test-hvm.cfg"
CFG_QEMU = "/etc/xen/test-hvm-qemu.cfg"      # the same guest with the real qemu-xen


def sh(*args, timeout=120, cwd=None):
    t = time.monotonic()
    p = subprocess.run(list(args), capture_output=True, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.monotonic() - t


def result(step, **kw):
    print("XCMOD-RESULT " + json.dumps({"step": step, **kw}), flush=True)


def xcmod(*args):
    return sh("python3", "-m", "xcmod", *map(str, args))


def create(name, paused=True, cfg=CFG):
    rc, out, err, dt = sh("xl", "create", *(["-p"] if paused else []), cfg, f"name=\"{name}\"")
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


def main():
    mods = open("/data/mods.bin", "rb").read()

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
    from xcmod.acpi import encode_acpi_module
    from xcmod.format import build_image
    from xcmod.image import acpi_tables, single_module, XCMOD_TYPE_ACPI
    ssdt = acpi_tables(single_module(mods, XCMOD_TYPE_ACPI))
    with open("/tmp/big.bin", "wb") as f:
        f.write(build_image([encode_acpi_module(ssdt * 34000)]))
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
    r, _ = create("run-hvm", paused=False)
    time.sleep(3)
    before = readback(r, 0x200000, len(mods))
    rc, out, err, _ = xcmod("load", "--domid", r, "/data/mods.bin")
    after = readback(r, 0x200000, len(mods))
    result("refuse-running", rc=rc, err=err, untouched=before == after,
           image_absent=after != mods,
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
    rc_unpause = sh("xl", "unpause", str(s))[0]
    seen, deadline = "", time.monotonic() + 60
    while time.monotonic() < deadline and "Invoking SeaBIOS" not in seen:
        time.sleep(0.5)
        seen = sh("xl", "dmesg")[1].decode("utf-8", "replace")
    time.sleep(1)
    rc_pause = sh("xl", "pause", str(s))[0]
    hvm_log = [line for line in seen.splitlines() if "HVM" in line and "(d" in line]
    result("hvmloader-ran", unpause=rc_unpause, pause=rc_pause,
           invoked="Invoking SeaBIOS" in seen, log=hvm_log[-60:])
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
    rc, out, err, _ = sh("dmidecode", "--no-sysfs", "-d", "/tmp/mem.img")
    result("dmidecode-raw", rc=rc, out=out.decode("utf-8", "replace"), err=err)
    os.unlink("/tmp/mem.img")
    sh("xl", "destroy", str(s))

    # --- the example domain-creation script, as shipped ---------------------
    rc, out, err, _ = sh("sh", "/data/create-with-modules.sh", CFG, "/data/mods.bin")
    e = int(sh("xl", "domid", "test-hvm")[1] or -1)
    state = sh("xl", "list", "test-hvm")[1].decode()
    result("example-script", rc=rc, out=out.decode(), err=err,
           address=xs_read(f"/local/domain/{e}/hvmloader/modules/address"), xl_list=state)
    sh("xl", "destroy", "test-hvm")

    # --- benchmark: load of a 64 KiB image vs xl create -p, best of 5 --------
    # The domain has the real qemu-xen device model, as an operator's has.  The
    # interpreter's own floor for any `python3 -m` command (an empty module) and
    # `python3 -c pass` are timed in the same rounds, so they see the same load.
    os.makedirs("/tmp/floor", exist_ok=True)
    open("/tmp/floor/xcmod_bench_empty.py", "w").close()
    t = {"create": [], "load": [], "floor": [], "pass": []}
    rcs, errs = [], []
    for i in range(5):
        b, t_create = create(f"bench-hvm{i}", cfg=CFG_QEMU)
        rc, _, err, t_load = xcmod("load", "--domid", b, "/data/bench.bin")
        t["create"].append(t_create)
        t["load"].append(t_load)
        t["floor"].append(sh("python3", "-m", "xcmod_bench_empty", cwd="/tmp/floor")[3])
        t["pass"].append(sh("python3", "-c", "pass")[3])
        rcs.append(rc)
        errs.append(err)
        keys = xs_read(f"/local/domain/{b}/hvmloader/modules/address")
        sh("xl", "destroy", str(b))
    result("bench", rc=max(rcs), err="".join(errs), xl_create_seconds=min(t["create"]),
           real_dm_keys=keys, load_seconds=min(t["load"]),
           python_pass_seconds=min(t["pass"]), python_m_empty_seconds=min(t["floor"]),
           image_bytes=os.path.getsize("/data/bench.bin"))


if __name__ == "__main__":
    main()
