"""The real-Xen rig: the Xen 4.17 hypervisor and a Linux dom0 under QEMU TCG.

Everything comes from Debian packages.  The hypervisor, the kernel and
busybox are downloaded with ``apt-get download`` into ``build/xenrig/debs``
(and extracted, never installed); the Xen tools, Python, SeaBIOS, hvmloader
and dmidecode are the ones `make setup` installed on this machine, copied
into the dom0 initramfs with the shared libraries they need.

    python -m tests.xenrig run SCRIPT [DATA]   # boot, run SCRIPT in dom0 with sh

The dom0 /init (``init.sh``) starts xenstored and xen-init-dom0, then runs the
script in /data (DATA's files) with ``python3 -m xcmod``, ``xl``,
``xenstore-*``, ``dmidecode`` and ``readback`` on PATH and
``/etc/xen/test-hvm.cfg`` ready for ``xl create -p`` (``test-hvm-xcmod.cfg``
boots xcmod's patched hvmloader from ``make hvmloader``, ``test-hvm-stock.cfg``
the same source unpatched); it prints
``XEN-RUN-EXIT <status>`` when the script ends.  :func:`run` streams the
console, stops QEMU at that line and returns the status; every wait is
bounded.
"""
import glob
import gzip
import io
import os
import re
import selectors
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build", "xenrig")
DEBS = os.path.join(BUILD, "debs")
EXTRACT = os.path.join(BUILD, "root")

DOWNLOAD = ["xen-hypervisor-4.17-amd64", "busybox-static"]   # + the kernel, resolved below
XEN_BIN = "/usr/lib/xen-4.17/bin"
TOOLS = [f"{XEN_BIN}/xl", f"{XEN_BIN}/xenstored", f"{XEN_BIN}/xen-init-dom0",
         f"{XEN_BIN}/libxl-save-helper", f"{XEN_BIN}/xenconsoled", "/usr/sbin/dmidecode", "/usr/bin/python3.11"]
TOOLS += sorted(glob.glob("/usr/bin/xenstore*"))
# qemu-xen, the real device model, for the benchmark domain (test-hvm-qemu.cfg)
QEMU_XEN = "/usr/libexec/xen-qemu-system-i386"
TOOLS.append(QEMU_XEN)
FILES = ["/usr/lib/xen-4.17/boot/hvmloader", "/usr/share/seabios/bios-256k.bin",
         "/usr/lib/python3/dist-packages/_cffi_backend.cpython-311-x86_64-linux-gnu.so"]
XEN_MODULES = ["xen-evtchn", "xen-privcmd", "xenfs/xenfs", "xen-gntdev", "xen-gntalloc"]
PY_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
           "distutils", "unittest", "__pycache__", "site-packages", "dist-packages",
           "config-3.11-x86_64-linux-gnu", "venv", "sqlite3", "curses", "dbm"}
PYTHON = "/usr/bin/python3.11"

XEN_CMDLINE = ("console=com1 com1=115200,8n1 dom0_mem=512M,max:512M dom0_max_vcpus=1 "
               "loglvl=all guest_loglvl=all noreboot smap=0 conring_size=1M")
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen rdinit=/init quiet"
EXIT_RE = re.compile(r"XEN-RUN-EXIT (\d+)")


def log(msg):
    print(f"xenrig: {msg}", file=sys.stderr, flush=True)


def kernel_package():
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"Depends: (linux-image-[\w.+-]+-amd64)", out)
    if not m:
        raise SystemExit("xenrig: cannot resolve linux-image-amd64's kernel package")
    return m.group(1)


def fetch():
    """Download (once) and extract the hypervisor, kernel and busybox packages."""
    os.makedirs(DEBS, exist_ok=True)
    wanted = DOWNLOAD + [kernel_package()]
    have = os.listdir(DEBS)
    missing = [p for p in wanted if not any(f.startswith(p + "_") for f in have)]
    if missing:
        log(f"apt-get download {' '.join(missing)}")
        subprocess.run(["apt-get", "download", *missing], cwd=DEBS, check=True,
                       stdout=subprocess.DEVNULL)
    stamp = os.path.join(EXTRACT, ".stamp")
    if not os.path.exists(stamp):
        shutil.rmtree(EXTRACT, ignore_errors=True)
        os.makedirs(EXTRACT)
        for deb in sorted(glob.glob(os.path.join(DEBS, "*.deb"))):
            subprocess.run(["dpkg-deb", "-x", deb, EXTRACT], check=True)
        open(stamp, "w").close()
    xen_gz = os.path.join(EXTRACT, "boot", "xen-4.17-amd64.gz")
    xen = os.path.join(BUILD, "xen")
    if not os.path.exists(xen):
        with gzip.open(xen_gz) as src, open(xen, "wb") as dst:
            shutil.copyfileobj(src, dst)
    vmlinuz = sorted(glob.glob(os.path.join(EXTRACT, "boot", "vmlinuz-*")))[-1]
    return xen, vmlinuz


def _libs(paths):
    """Every shared library ``paths`` need (ldd), plus libgcc_s (xl aborts without it)."""
    libs = set()
    for p in paths:
        out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                libs.add(m.group(1))
    libs |= set(glob.glob("/lib/x86_64-linux-gnu/libgcc_s.so.1"))
    libs |= set(glob.glob("/lib/x86_64-linux-gnu/libnss_files.so.*"))
    return sorted(libs)


class Cpio:
    """A newc cpio archive written in Python (no cpio tool needed)."""

    def __init__(self, f):
        self.f, self.ino, self.seen = f, 1, set()

    def _entry(self, name, mode, data=b"", nlink=1):
        name = name.lstrip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        self.ino += 1
        self.f.write(hdr.encode() + nb)
        self.f.write(b"\0" * (-(110 + len(nb)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def dirs(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755, nlink=2)

    def dir(self, path):
        self.dirs(path + "/x")

    def file(self, path, data, mode=0o755):
        self.dirs(path)
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path, target):
        self.dirs(path)
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def copy(self, src, dst=None):
        dst = dst or src
        if os.path.islink(src) and not os.path.isabs(os.readlink(src)):
            self.symlink(dst, os.readlink(src))
            self.copy(os.path.join(os.path.dirname(src), os.readlink(src)),
                      os.path.join(os.path.dirname(dst), os.readlink(src)))
            return
        with open(src, "rb") as f:
            self.file(dst, f.read(), os.stat(src).st_mode & 0o777)

    def tree(self, src, dst, skip=()):
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d not in skip]
            rel = os.path.relpath(dirpath, src)
            target = os.path.normpath(os.path.join(dst, rel))
            self.dir(target)
            for n in filenames:
                p = os.path.join(dirpath, n)
                if os.path.islink(p) and not os.path.exists(p):
                    continue
                self.copy(p, os.path.join(target, n))

    def close(self):
        self._entry("TRAILER!!!", 0)


def build_readback():
    out = os.path.join(BUILD, "readback")
    src = os.path.join(HERE, "readback.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", out, src, "-lxenctrl"],
                       check=True)
    return out


def python_tree():
    """The dom0's Python: the stdlib (trimmed), xcmod and construct, byte-compiled.

    The initramfs gives every file mtime 0, so timestamp-checked .pyc files
    would all be stale and every import would compile from source (seconds
    under TCG); unchecked-hash .pyc files are used as they are.
    """
    import construct
    stage = os.path.join(BUILD, "python")
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree("/usr/lib/python3.11", os.path.join(stage, "usr/lib/python3.11"),
                    ignore=shutil.ignore_patterns(*PY_SKIP, "*.pyc"), symlinks=True)
    dist = os.path.join(stage, "usr/lib/python3/dist-packages")
    shutil.copytree(os.path.join(ROOT, "xcmod"), os.path.join(dist, "xcmod"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(os.path.dirname(construct.__file__), os.path.join(dist, "construct"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([PYTHON, "-m", "compileall", "-q", "-j0", "--invalidation-mode",
                    "unchecked-hash", stage], check=True, stdout=subprocess.DEVNULL)
    return stage


def build_initramfs(vmlinuz):
    """The dom0 initramfs: busybox, Xen tools and libraries, Python and xcmod."""
    os.makedirs(BUILD, exist_ok=True)
    readback = build_readback()
    stage = python_tree()
    kver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    out = os.path.join(BUILD, "initrd.cpio.gz")
    buf = io.BytesIO()
    c = Cpio(buf)
    for d in ("proc", "sys", "dev", "tmp", "run", "data", "etc/xen", "var/lib/xen", "root"):
        c.dir(d)
    c.file("init", open(os.path.join(HERE, "init.sh"), "rb").read())
    c.copy(os.path.join(EXTRACT, "bin", "busybox"), "bin/busybox")
    c.symlink("bin/sh", "busybox")
    for m in XEN_MODULES:
        c.copy(os.path.join(EXTRACT, "lib", "modules", kver, "kernel", "drivers", "xen",
                            m + ".ko"), f"lib/modules/{os.path.basename(m)}.ko")
    for t in TOOLS + FILES:
        c.copy(t)
    compiled = glob.glob(os.path.join(ROOT, "xcmod", "*", "_*.abi3.so"))   # the two cffi modules
    for lib in _libs(TOOLS + [readback, *compiled, FILES[-1]]):
        c.copy(lib)
        c.copy(lib, "/usr" + lib if lib.startswith("/lib/") else lib)
    c.copy("/lib64/ld-linux-x86-64.so.2")
    c.symlink("usr/bin/python3", "python3.11")
    c.symlink("usr/sbin/xl", f"{XEN_BIN}/xl")
    c.tree(stage, "/")
    c.tree("/usr/share/qemu/keymaps", "usr/share/qemu/keymaps")
    c.file("usr/local/bin/dm-standin", open(os.path.join(HERE, "dm_standin.py"), "rb").read())
    c.file("usr/local/bin/readback", open(readback, "rb").read())
    # xcmod's patched hvmloader and the same source built without the patches
    for name, built in (("hvmloader-xcmod", "hvmloader"), ("hvmloader-stock", "hvmloader.stock")):
        c.file(f"usr/lib/xen-4.17/boot/{name}",
               open(os.path.join(ROOT, "build", "hvmloader", built), "rb").read(), 0o644)
    for cfg in ("test-hvm.cfg", "test-hvm-qemu.cfg", "test-hvm-xcmod.cfg", "test-hvm-stock.cfg"):
        c.file(f"etc/xen/{cfg}", open(os.path.join(HERE, cfg), "rb").read(), 0o644)
    c.file("etc/xen/xl.conf", b"# defaults\n", 0o644)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    c.file("etc/group", b"root:x:0:\n", 0o644)
    c.close()
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(buf.getvalue())
    return out


def job_cpio(script, data_dir):
    """A second initramfs with /rig/job.sh and DATA's files under /data."""
    buf = io.BytesIO()
    c = Cpio(buf)
    c.file("rig/job.sh", open(script, "rb").read())
    if data_dir:
        c.tree(data_dir, "data", ())
    c.close()
    f = tempfile.NamedTemporaryFile(prefix="xenrig-job-", suffix=".cpio", delete=False)
    f.write(buf.getvalue())
    f.close()
    return f.name


def prepare():
    xen, vmlinuz = fetch()
    return xen, vmlinuz, build_initramfs(vmlinuz)


def _quiet(line):
    """Xen's and the guests' own console chatter, shown only with XENRIG_VERBOSE=1."""
    return line.startswith(("(XEN)", "(d")) or not line.strip()


def run(script, data_dir=None, timeout=300, out=None, prepared=None, verbose=None):
    """Boot the rig, run ``script`` in dom0, stream the console to ``out``.

    Returns (exit status, full console text).  Status 124 if the script did
    not finish within ``timeout`` seconds, 125 if QEMU or Xen died first; then
    the console's last 40 lines are printed whatever the verbosity.
    """
    if verbose is None:
        verbose = os.environ.get("XENRIG_VERBOSE") == "1"
    out = out or sys.stdout
    xen, vmlinuz, initrd = prepared or prepare()
    job = job_cpio(script, data_dir)
    both = tempfile.NamedTemporaryFile(prefix="xenrig-initrd-", delete=False)
    with open(initrd, "rb") as a, open(job, "rb") as b:
        both.write(a.read())
        both.write(gzip.compress(b.read(), 1))
    both.close()
    os.unlink(job)
    args = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max",
            "-m", "1536", "-smp", "2", "-nographic", "-no-reboot", "-monitor", "none",
            "-serial", "stdio", "-kernel", xen, "-append", XEN_CMDLINE,
            "-initrd", f"{vmlinuz} {DOM0_CMDLINE},{both.name}"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    text, status, deadline = [], None, time.monotonic() + timeout
    started = False          # dom0's init is up: from here on the console is the job's
    pending = b""
    try:
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                status = 124
                break
            if not sel.select(min(left, 1.0)):
                if p.poll() is not None:
                    status = 125
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                status = 125
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                text.append(line)
                started = started or "RIG: dom0 up" in line
                if verbose or (started and not _quiet(line)):
                    out.write(line + "\n")
                    out.flush()
                m = EXIT_RE.search(line)
                if m:
                    status = int(m.group(1))
    finally:
        p.kill()
        p.wait(timeout=10)
        os.unlink(both.name)
    if status in (124, 125):
        reason = "timed out" if status == 124 else "QEMU/Xen stopped"
        tail = "\n".join(text[-40:])
        out.write(f"xenrig: {reason} before XEN-RUN-EXIT; console tail:\n{tail}\n")
    return status, "\n".join(text)
