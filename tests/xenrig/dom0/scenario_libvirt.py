# SPDX-License-Identifier: MIT
"""libvirt's libxl driver in the rig's dom0 (tests/test_xen_rig_libvirt.py, step ``libvirt``).

The rig boots with ``libvirt=True``: Debian's libvirtd, virsh and the libxl
connection driver, libvirt's cpu_map with the rig's host-only model added
(tests/xenrig/libvirt.py's LIBVIRT_RIG_MODEL; the stock index is kept as index.xml.stock).  As an
operator would:

1. libvirtd with the stock cpu_map: the driver refuses this rig's CPU and the
   daemon exits (the cause, seen in the real rig); then with the rig's model.
2. ``xcmod export libvirt --driver xen`` of stock blocks, merged into a domain
   document, ``virsh define``, the exported ``start.sh`` (``virsh start
   --paused``, ``xcmod load --domain NAME`` of the SMBIOS block, ``virsh
   resume``); the guest's tables read back when SeaBIOS has them.
3. A module image through xcmod's patched hvmloader: libvirt's libxl driver
   cannot name an hvmloader (it never sets libxl's ``firmware``), so the
   patched build is put where libxl looks for the system's; the shipped
   examples/virsh-start-with-modules.sh (``virsh start --paused``, ``xcmod
   load --domain NAME``, ``virsh resume``).
4. Every boot: ``xcmod export libvirt --driver xen --hvmloader`` of the image
   (its carrier in ``<acpi><table>``), a disk whose boot sector resets the
   guest (.scenario's reboots) and ``on_reboot`` restart: ``virsh start``,
   then three boots, each re-created by libvirt alone, each read back.

Results are ``XCMOD-RESULT {json}`` lines.
"""
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

from . import step
from .boots import RESET_DISK, follow_boots, pause_when_ready
from .rig import RIG, result, sh, xcmod
from .xencons import console, guest_lines, wait_for_handover

CONF = "/etc/libvirt/libvirtd.conf"
CPU_INDEX = "/usr/share/libvirt/cpu_map/index.xml"
SOCKET = "/run/libvirt/libvirt-sock"
EMULATOR = "/usr/libexec/xen-qemu-system-i386"      # Debian's qemu-system-xen
# libvirt's libxl driver passes <xen:commandline> arguments to the device model
XEN_NS = "http://libvirt.org/schemas/domain/xen/1.0"
ET.register_namespace("xen", XEN_NS)


def virsh(*args, timeout=120):
    rc, out, err, dt = sh("virsh", *args, timeout=timeout)
    return rc, out.decode("utf-8", "replace"), err


def tail(path, n=30):
    try:
        return open(path, errors="replace").read().splitlines()[-n:]
    except OSError:
        return []


def libvirtd(tag, timeout=90):
    """Start libvirtd; (process, None) once virsh answers, (None, exit status) if
    the daemon exits first; its log in /var/log/libvirt/libvirtd-TAG.log."""
    log = f"/var/log/libvirt/libvirtd-{tag}.log"
    env = dict(os.environ, LIBVIRT_LOG_OUTPUTS=f"3:file:{log}")
    p = subprocess.Popen(["libvirtd", "-f", CONF], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return None, p.returncode
        if os.path.exists(SOCKET) and virsh("version")[0] == 0:
            return p, None
        time.sleep(0.5)
    p.kill()
    return None, "timeout"


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


def merge(document, memory_mib=64, on_reboot="destroy", disk=None):
    """The operator's side of "merge into your domain's XML": the exported
    document with what every domain has (memory, a vCPU, the device model), and
    ``disk`` as the device model's IDE disk (libvirt's disks need a PV backend in
    dom0, which the rig has not)."""
    dom = ET.fromstring(document)
    dom.find("memory").text = str(memory_mib)
    vcpu = ET.SubElement(dom, "vcpu")
    vcpu.text = "1"
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(dom, event).text = on_reboot if event == "on_reboot" else "destroy"
    devices = ET.SubElement(dom, "devices")
    ET.SubElement(devices, "emulator").text = EMULATOR
    if disk:        # the device model's own IDE disk, as boots.reboot_cfg gives it
        cmd = ET.SubElement(dom, f"{{{XEN_NS}}}commandline")
        for arg in ("-drive", f"file={disk},if=ide,index=0,media=disk,format=raw"):
            ET.SubElement(cmd, f"{{{XEN_NS}}}arg", value=arg)
    return ET.tostring(dom, encoding="unicode")


def define(name, document):
    path = f"/tmp/{name}.xml"
    with open(path, "w") as f:
        f.write(document)
    rc, out, err = virsh("define", path)
    return rc, err


def domid(name):
    rc, out, _ = virsh("domid", name)
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else None


def after_resume(name, tag):
    """The running domain ``name`` booted to SeaBIOS: pause it, read its tables."""
    d = domid(name)
    if d is None:
        return {"rc": 1, "err": f"virsh domid {name} found no running domain"}
    reached = wait_for_handover(d)
    looks, tables = pause_when_ready(d, tag)    # SeaBIOS copies the tables into place
    out = {"domid": d, "reached_seabios": reached, "looks": looks,
           "log": guest_lines(d), **tables}
    out["dumpxml"] = virsh("dumpxml", name)[1]
    out["destroy"] = virsh("destroy", name)[0]
    return out


@step("libvirt")
def libvirt():
    """libvirtd's refusal and start, exported documents started and restarted by libvirt."""
    os.environ["LIBVIRT_DEFAULT_URI"] = "xen:///system"
    os.environ["LC_ALL"] = "C"          # dom0 has no locales (virsh would warn on each call)
    os.environ["XCMOD"] = "python3 -m xcmod"    # the shipped scripts' xcmod (no console script)
    result("libvirt-rig", hw_caps=[line for line in sh("xl", "info")[1].decode().splitlines()
                                   if line.startswith("hw_caps")],
           version=sh("libvirtd", "--version")[1].decode().strip())
    os.makedirs("/run/libvirt", exist_ok=True)
    os.makedirs("/var/log/libvirt", exist_ok=True)
    if not os.path.exists("/var/run/libvirt"):      # libvirt's clients look in /var/run
        os.symlink("/run/libvirt", "/var/run/libvirt")

    # 1. the stock cpu_map, then the rig's model
    mount = sh("mount", "-o", "bind", CPU_INDEX + ".stock", CPU_INDEX)[0]
    p, status = libvirtd("stock-cpu-map", timeout=60)
    if p:
        stop(p)
    result("libvirtd-stock-cpu-map", mount=mount, exited=status,
           log=tail("/var/log/libvirt/libvirtd-stock-cpu-map.log"))
    sh("umount", CPU_INDEX)
    p, status = libvirtd("rig")
    result("libvirtd", up=p is not None, exited=status,
           log=tail("/var/log/libvirt/libvirtd-rig.log"),
           version=virsh("version")[1] if p else None)
    if p is None:
        raise SystemExit(1)

    # 2. stock blocks: the exported document, defined and started by libvirt
    #    (/var/lib/xcmod as the xcmod package makes it: export creates no parents)
    os.makedirs("/var/lib/xcmod", mode=0o755, exist_ok=True)
    out_dir = "/var/lib/xcmod/lv-blocks"
    rc, out, err, _ = xcmod("export", "libvirt", "--driver", "xen", "/data/blocks",
                            "--out-dir", out_dir, "--name", "lv-blocks", "--json")
    export = json.loads(out) if rc == 0 else None
    result("export", rc=rc, err=err, export=export)
    if export is None:
        raise SystemExit(1)
    document = merge("\n".join(export["lines"]))
    rc, err = define("lv-blocks", document)
    result("define-blocks", rc=rc, err=err, document=document)
    console()
    rc, out, err, _ = sh("sh", os.path.join(out_dir, "start.sh"))
    started = {"rc": rc, "out": out.decode(), "err": err}
    result("blocks", start=started, **(after_resume("lv-blocks", "lv-blocks") if rc == 0
                                       else {"rc": rc, "err": err}))

    # 3. a module image through the patched hvmloader, in the system's place
    system = RIG["hvmloader"]
    shutil.copy(system, "/tmp/hvmloader.system")
    shutil.copy(RIG["hvmloader_xcmod"], system)
    document = merge("<domain type='xen'><name>lv-mods</name><memory unit='MiB'>64</memory>"
                     "<os><type arch='x86_64' machine='xenfv'>hvm</type></os>"
                     "<features><acpi/></features></domain>")
    rc, err = define("lv-mods", document)
    steps = {"define": [rc, err]}
    console()
    # the shipped example: verify, virsh start --paused, xcmod load --domain, virsh resume
    rc, out, err, _ = sh("sh", "/data/virsh-start-with-modules.sh", "lv-mods",
                         "/data/mods-x.bin")
    steps["virsh-start-with-modules.sh"] = [rc, err, out.decode()]
    result("modules", steps=steps, **after_resume("lv-mods", "lv-mods"))

    # 4. every boot: the exported carrier document alone, a guest that resets itself
    #    (scenario.py's reboots), on_reboot restart: libvirt re-creates it each time
    out_dir = "/var/lib/xcmod/lv-reboot"
    rc, out, err, _ = xcmod("export", "libvirt", "--driver", "xen", "/data/mods-x.bin",
                            "--hvmloader", RIG["hvmloader_xcmod"], "--out-dir", out_dir,
                            "--name", "lv-reboot", "--json")
    export = json.loads(out) if rc == 0 else {}
    disk = "/tmp/lv-reboot.img"
    shutil.copy(RESET_DISK, disk)
    document = merge("\n".join(export.get("lines", ["<domain/>"])), memory_mib=32,
                     on_reboot="restart", disk=disk)
    rc_define, err_define = define("lv-reboot", document)
    rc_start, _, err_start = virsh("start", "lv-reboot")
    boots = follow_boots("lv-reboot", 3) if rc_start == 0 else []
    result("reboot-libvirt", export_rc=rc, export_err=err, export=export, document=document,
           define=[rc_define, err_define], start=[rc_start, err_start], boots=boots,
           dumpxml=virsh("dumpxml", "lv-reboot")[1])
    virsh("destroy", "lv-reboot")

    shutil.copy("/tmp/hvmloader.system", system)
    for name in ("lv-blocks", "lv-mods", "lv-reboot"):
        virsh("undefine", name)
    stop(p)

