"""A Xen-less stand-in for trying and testing ``xcmod load``.

State directory: $XCMOD_FAKEXEN_DIR.  Libraries: LD_LIBRARY_PATH=build/fake-xen
(the C double of libxenctrl).  xenstore is Debian's real xenstored, run
without a hypervisor through build/fake-xen/xenstored-preload.so; clients
reach it through $XENSTORED_PATH = $XCMOD_FAKEXEN_DIR/run/socket.
"""
import os
import signal
import subprocess
import time

from ..paths import BUILD, XENSTORED

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


def create(d, domid, memory_mib, pv=False, running=False, vcpus=1):
    dom = os.path.join(d, f"dom{domid}")
    os.makedirs(dom, exist_ok=True)
    with open(os.path.join(dom, "info"), "w") as f:
        f.write(f"hvm={0 if pv else 1}\npaused={0 if running else 1}\ndying=0\n"
                f"memory_mib={memory_mib}\n")
    with open(os.path.join(dom, "ram"), "wb") as f:
        f.truncate(memory_mib << 20)
        if not pv and memory_mib << 20 > HVM_INFO_PADDR + 48:
            f.seek(HVM_INFO_PADDR)
            f.write(hvm_info_table(memory_mib, vcpus))
    start_xenstored(d)
    r = xs(d, "xenstore-write", f"/local/domain/{domid}/domid", str(domid))
    if r.returncode:
        raise SystemExit(f"fakexen: xenstore-write failed: {r.stderr.strip()}")


def read_ram(d, domid, gpa, length):
    with open(os.path.join(d, f"dom{domid}", "ram"), "rb") as f:
        f.seek(gpa)
        return f.read(length)
