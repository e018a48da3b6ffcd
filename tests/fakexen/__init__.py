# SPDX-License-Identifier: MIT
"""A Xen-less stand-in for trying and testing ``xcmod load``.

State directory: $XCMOD_FAKEXEN_DIR.  Libraries: LD_LIBRARY_PATH=build/fake-xen
(the C double of libxenctrl).  xenstore is Debian's real xenstored, run
without a hypervisor through build/fake-xen/xenstored-preload.so; clients
reach it through $XENSTORED_PATH = $XCMOD_FAKEXEN_DIR/run/socket.
"""
import os
import signal
import struct
import subprocess
import time

from ..paths import BUILD, HVMLOADER, XENSTORED

PRELOAD = os.path.join(BUILD, "fake-xen", "xenstored-preload.so")


def state_dir():
    d = os.environ.get("XCMOD_FAKEXEN_DIR")
    if not d:
        raise SystemExit("fakexen: set XCMOD_FAKEXEN_DIR to a state directory")
    return d


def socket_path(d):
    return os.path.join(d, "run", "socket")


def client_env(d):
    return dict(os.environ, XENSTORED_PATH=socket_path(d), XCMOD_FAKEXEN_DIR=d)


def xenstored_pid(d):
    return int(open(os.path.join(d, "xenstored.pid")).read())


def _listening(path):
    """xenstored accepts connections on ``path`` (not just: the file exists)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_xenstored(d):
    """Start the real xenstored for state dir ``d`` unless it is running."""
    pidfile = os.path.join(d, "xenstored.pid")
    if os.path.exists(pidfile):
        try:
            os.kill(int(open(pidfile).read()), 0)
            return
        except (OSError, ValueError):
            pass
    os.makedirs(os.path.join(d, "run"), exist_ok=True)
    with open(os.path.join(d, "xsd_port"), "w") as f:
        f.write("1")
    with open(os.path.join(d, "xsd_kva"), "wb") as f:
        f.write(bytes(4096))
    env = dict(os.environ, XCMOD_FAKEXEN_DIR=d, XENSTORED_RUNDIR=os.path.join(d, "run"),
               XENSTORED_PATH=socket_path(d), LD_PRELOAD=PRELOAD)
    env.pop("LD_LIBRARY_PATH", None)
    # A socket file left by an earlier xenstored is not this one listening.
    try:
        os.unlink(socket_path(d))
    except FileNotFoundError:
        pass
    log = open(os.path.join(d, "xenstored.log"), "wb")
    p = subprocess.Popen([XENSTORED, "-N"], env=env, cwd=d, stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    with open(pidfile, "w") as f:
        f.write(str(p.pid))
    for _ in range(500):
        if _listening(socket_path(d)):
            return
        if p.poll() is not None:
            raise SystemExit(f"fakexen: xenstored exited ({p.returncode}), see xenstored.log")
        time.sleep(0.01)
    raise SystemExit("fakexen: xenstored did not create its socket")


def stop(d):
    pidfile = os.path.join(d, "xenstored.pid")
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:     # our child: reap it
                    break
            except ChildProcessError:                  # started by another process
                os.kill(pid, 0)
            time.sleep(0.005)
    except (OSError, ValueError):
        pass
    for path in (pidfile, socket_path(d)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def xs(d, *args):
    """Run a real xenstore client (xenstore-read, -write, -ls ...) against ``d``."""
    return subprocess.run(list(args), env=client_env(d), capture_output=True, text=True)


# What libxc's build_hvm_info() and libxl leave in a new HVM guest at
# HVM_INFO_PADDR (hvm_info_table.h), written here independently of xcmod.
HVM_INFO_PADDR = 0x9F800
FAKE_RESERVED_MEM_PGSTART = 0xFEFF0      # libxc: ioreq_server_pfn(0)


def hvm_info_table(memory_mib, vcpus):
    import struct
    low = min(memory_mib << 20, 0xF0000000) >> 12
    high = ((memory_mib << 20) - 0xF0000000 + (1 << 32)) >> 12 if memory_mib << 20 > 0xF0000000 else 0
    online = bytearray(16)
    for i in range(vcpus):
        online[i // 8] |= 1 << (i % 8)
    t = bytearray(struct.pack("<8sIBBxxIIII16s", b"HVM INFO", 48, 0, 1, vcpus, low,
                              FAKE_RESERVED_MEM_PGSTART, high, bytes(online)))
    t[12] = -sum(t) & 0xFF
    return bytes(t)


# What libxc's HVM builder leaves after hvmloader (tools/libs/guest/xg_dom_x86.c:
# alloc_magic_pages_hvm(), bootlate_hvm(), vcpu_hvm(); xg_dom_hvmloader.c:
# modules_init()), written here independently of xcmod: the firmware module
# right after hvmloader's segments, then a segment holding the hvm_start_info
# (xen/include/public/arch-x86/hvm/start_info.h), its module list (room for
# HVMLOADER_MODULE_MAX_COUNT = 2 entries), the modules' command lines
# (MAX_GUEST_CMDLINE = 1024 bytes of room each) and the memory map; its
# address goes into vCPU0's %rbx.
FAKE_HVMLOADER_END = 0x134000          # Debian 4.17's hvmloader, page-aligned
FIRMWARE_SIZES = {"seabios": 256 << 10, "ovmf": 2 << 20}   # bios-256k.bin, OVMF.fd
START_INFO_MAGIC = 0x336EC578


def firmware_image(length, seed=0):
    """``length`` bytes that stand for a firmware image (none of them a run of zeros)."""
    import random
    return random.Random(f"fakexen-firmware-{seed}-{length}").randbytes(length)


def libxc_boot_info(f, memory_mib, firmware, hvmloader_end=FAKE_HVMLOADER_END):
    """Write into RAM file ``f`` what libxc would: the firmware module and the start
    info listing it.  Returns {"firmware": (start, end), "start_info": gpa}."""
    import struct
    page = lambda v: (v + 0xFFF) & ~0xFFF
    fw_at = page(hvmloader_end)
    si = page(fw_at + len(firmware))
    modlist = si + 56                       # device-model guests: no command line
    cmdlines = modlist + 2 * 32
    memmap = cmdlines + 2 * 1024
    low = min(memory_mib << 20, 0xF0000000)
    e820 = [(0, low, 1), (0xFC000000, 0x4000000, 2)]
    f.seek(fw_at)
    f.write(firmware)
    f.seek(si)
    f.write(struct.pack("<IIIIQQQQII", START_INFO_MAGIC, 1, 0, 1, modlist, 0, 0, memmap,
                        len(e820), 0))
    f.write(struct.pack("<QQQQ", fw_at, len(firmware), cmdlines, 0) + bytes(32))
    f.write(b"firmware".ljust(2 * 1024, b"\0"))
    for addr, size, kind in e820:
        f.write(struct.pack("<QQII", addr, size, kind, 0))
    return {"firmware": (fw_at, fw_at + len(firmware)), "start_info": si}


def create(d, domid, memory_mib, pv=False, running=False, vcpus=1, firmware="seabios"):
    """A domain in state dir ``d``.  An HVM one gets the HVM info table and, as libxc
    gives it, ``firmware`` ("seabios", "ovmf", bytes; None for no start info: vCPU0's
    %rbx 0) with the hvm_start_info that lists it.  Returns where they are (see
    :func:`libxc_boot_info`), or None."""
    dom = os.path.join(d, f"dom{domid}")
    os.makedirs(dom, exist_ok=True)
    with open(os.path.join(dom, "info"), "w") as f:
        f.write(f"hvm={0 if pv else 1}\npaused={0 if running else 1}\ndying=0\n"
                f"memory_mib={memory_mib}\n")
    if isinstance(firmware, str):
        firmware = firmware_image(FIRMWARE_SIZES[firmware])
    placed = None
    with open(os.path.join(dom, "ram"), "wb") as f:
        f.truncate(memory_mib << 20)
        if not pv and memory_mib << 20 > HVM_INFO_PADDR + 48:
            f.seek(HVM_INFO_PADDR)
            f.write(hvm_info_table(memory_mib, vcpus))
        if not pv and firmware is not None and \
                FAKE_HVMLOADER_END + len(firmware) + 0x2000 <= memory_mib << 20:
            placed = libxc_boot_info(f, memory_mib, firmware)
    with open(os.path.join(dom, "vcpu0"), "w") as f:
        f.write(f"rbx={placed['start_info'] if placed else 0:#x}\n")
    start_xenstored(d)
    r = xs(d, "xenstore-write", f"/local/domain/{domid}/domid", str(domid))
    if r.returncode:
        raise SystemExit(f"fakexen: xenstore-write failed: {r.stderr.strip()}")
    return placed


def read_ram(d, domid, gpa, length):
    with open(os.path.join(d, f"dom{domid}", "ram"), "rb") as f:
        f.seek(gpa)
        return f.read(length)


def keys(d, domid=5):
    """The domain's hvmloader/ keys as xenstore-ls lists them ("" when it has none)."""
    r = xs(d, "xenstore-ls", f"/local/domain/{domid}/hvmloader")
    return r.stdout if r.returncode == 0 else ""


def ram(d, domid, length, gpa=0x200000):
    """``length`` bytes of the domain's RAM from ``gpa`` (by default load's base)."""
    return read_ram(d, domid, gpa, length)


def put_hvmloader(d, domid, hvmloader=HVMLOADER):
    """Load Debian's hvmloader PT_LOAD segments into the guest, as libxc would."""
    data = open(hvmloader, "rb").read()
    phoff, = struct.unpack_from("<I", data, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
    ram = os.path.join(d, f"dom{domid}", "ram")
    end = 0
    with open(ram, "r+b") as f:
        for i in range(phnum):
            p_type, off, _, paddr, filesz, memsz, _, _ = struct.unpack_from(
                "<IIIIIIII", data, phoff + i * phentsize)
            if p_type == 1:
                f.seek(paddr)
                f.write(data[off:off + filesz])
                end = max(end, paddr + memsz)
    return end
