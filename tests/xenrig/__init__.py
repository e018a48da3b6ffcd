# SPDX-License-Identifier: MIT
"""The real-Xen rig: the host's Xen hypervisor and a Linux dom0 under QEMU TCG.

Everything comes from Debian packages and is derived from this machine, never
written down: the Xen line and version from the installed toolstack
(``xcmod.hostxen``: ``/usr/lib/xen-X.Y``, ``xen-utils-X.Y``), the hypervisor
package of the same version (``xen-hypervisor-X.Y-amd64``), the release's
default kernel (``linux-image-amd64``'s dependency) and Debian's own Python
(``/usr/bin/python3``: its version, stdlib and cffi backend, asked of it).
On Debian 12 that is its Xen with a bookworm dom0, on Debian 13 its Xen with
a trixie dom0.  The hypervisor, the kernel and busybox are downloaded
with ``apt-get download`` into ``build/xenrig/debs`` (and extracted, never
installed); the Xen tools, Python, SeaBIOS, hvmloader and dmidecode are the
ones `make setup` installed on this machine, copied into the dom0 initramfs
with the shared libraries they need.

    python -m tests.xenrig run SCRIPT [DATA]   # boot, run SCRIPT in dom0 with sh

The dom0 /init (``init.sh``) starts xenstored and xen-init-dom0, then runs the
script in /data (DATA's files) with ``python3 -m xcmod``, ``xl``,
``xenstore-*``, ``dmidecode`` and ``readback`` on PATH and
``/etc/xen/test-hvm.cfg`` ready for ``xl create -p`` (``test-hvm-xcmod.cfg``
boots xcmod's patched hvmloader from ``make hvmloader``, ``test-hvm-stock.cfg``
the same source unpatched, ``test-hvm-xcmod-ovmf.cfg`` a UEFI guest: the
patched hvmloader and ``make ovmf-rig``'s OvmfXen at
``/usr/lib/xcmod/OvmfXen.fd``); ``/etc/xenrig.json`` says what the rig was built
from.  It prints ``XEN-RUN-EXIT <status>`` when the script ends.  :func:`run`
streams the console, stops QEMU at that line and returns the status; every
wait is bounded.
"""
import functools
import glob
import gzip
import io
import json
import lzma
import os
import re
import selectors
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build", "xenrig")
DEBS = os.path.join(BUILD, "debs")
EXTRACT = os.path.join(BUILD, "root")
HVMLOADER_BUILD = os.path.join(ROOT, "build", "hvmloader")    # make hvmloader

SYSTEM_PYTHON = "/usr/bin/python3"      # Debian's own, whose packages the dom0 gets
# qemu-xen, the real device model, for the benchmark domain (test-hvm-qemu.cfg)
QEMU_XEN = "/usr/libexec/xen-qemu-system-i386"
XEN_MODULES = ["xen-evtchn", "xen-privcmd", "xenfs", "xen-gntdev", "xen-gntalloc"]
PY_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
           "distutils", "unittest", "__pycache__", "site-packages", "dist-packages",
           "venv", "sqlite3", "curses", "dbm"}
CFGS = ("test-hvm.cfg", "test-hvm-qemu.cfg", "test-hvm-xcmod.cfg", "test-hvm-stock.cfg",
        "test-hvm-xcmod-ovmf.cfg")

# console_timestamps=boot: every line of Xen's console, the guests' hvmloader
# lines included, carries Xen's own time since boot in microseconds, which is
# what the rig times hvmloader with.
XEN_CMDLINE = ("console=com1 com1=115200,8n1 dom0_mem=512M,max:512M dom0_max_vcpus=1 "
               "loglvl=all guest_loglvl=all noreboot smap=0 conring_size=1M "
               "console_timestamps=boot")
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen rdinit=/init quiet"
EXIT_RE = re.compile(r"XEN-RUN-EXIT (\d+)")


def log(msg):
    print(f"xenrig: {msg}", file=sys.stderr, flush=True)


class Facts:
    """What the rig takes from this machine (see the module docstring)."""

    def __init__(self):
        from xcmod import hostxen
        xen = hostxen.installed()
        if xen is None or not os.path.isfile(xen.hvmloader):
            raise SystemExit("xenrig: no Xen toolstack with an hvmloader installed "
                             "(make setup installs xen-utils-X.Y)")
        self.xen = xen
        self.line = xen.line                          # "X.Y"
        self.prefix = xen.prefix                      # /usr/lib/xen-X.Y
        self.bin_dir = xen.bin_dir
        self.hvmloader = xen.hvmloader
        # The hypervisor of exactly the installed toolstack's Debian version.
        utils = f"xen-utils-{self.line}"
        self.deb_version = _dpkg_version(utils)
        if self.deb_version is None:
            raise SystemExit(f"xenrig: {xen} is not Debian's {utils}: the rig boots Debian's "
                             f"hypervisor of the installed toolstack")
        self.hypervisor = f"xen-hypervisor-{self.line}-amd64"
        self.xen_gz = f"boot/xen-{self.line}-amd64.gz"
        tools = ["xl", "xenstored", "xen-init-dom0", "libxl-save-helper", "xenconsoled"]
        missing = [t for t in tools if not os.path.isfile(os.path.join(self.bin_dir, t))]
        if missing:
            raise SystemExit(f"xenrig: {self.bin_dir} has no {', '.join(missing)}")
        self.tools = [os.path.join(self.bin_dir, t) for t in tools]
        # Debian's python3: its version, stdlib and cffi backend, asked of it.
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import json, os, sys, sysconfig, _cffi_backend; "
             "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
             "'executable': os.path.realpath(sys.executable), "
             "'stdlib': sysconfig.get_paths()['stdlib'], "
             "'libpl': sysconfig.get_config_var('LIBPL'), "
             "'cffi_backend': _cffi_backend.__file__}))"],
            capture_output=True, text=True)
        if probe.returncode:
            raise SystemExit(f"xenrig: {SYSTEM_PYTHON} without the cffi backend "
                             f"(make setup installs python3-cffi-backend): {probe.stderr}")
        self.python = json.loads(probe.stdout)

    def describe(self):
        return {"xen_version": self.xen.version, "xen_line": self.line,
                "xen_prefix": self.prefix, "xen_bin": self.bin_dir,
                "xen_deb_version": self.deb_version, "python": self.python["version"],
                "kernel_package": kernel_package()}


@functools.lru_cache(maxsize=None)
def facts():
    return Facts()


def _dpkg_version(package):
    out = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", package],
                         capture_output=True, text=True).stdout
    return out[3:] if out.startswith("ii ") else None


@functools.lru_cache(maxsize=None)
def kernel_package():
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"Depends: (linux-image-[\w.+-]+-amd64)", out)
    if not m:
        raise SystemExit("xenrig: cannot resolve linux-image-amd64's kernel package")
    return m.group(1)


def fetch():
    """Download (once) and extract the hypervisor, kernel and busybox packages."""
    f = facts()
    os.makedirs(DEBS, exist_ok=True)
    # name=version for the hypervisor: the same Debian version as the toolstack
    wanted = {f.hypervisor: f.deb_version, "busybox-static": None, kernel_package(): None}
    have = os.listdir(DEBS)

    def present(pkg, version):
        start = pkg + "_" + (version.replace(":", "%3a") + "_" if version else "")
        return [n for n in have if n.startswith(start) and n.endswith(".deb")]

    missing = [p + (f"={v}" if v else "") for p, v in wanted.items() if not present(p, v)]
    if missing:
        log(f"apt-get download {' '.join(missing)}")
        subprocess.run(["apt-get", "download", *missing], cwd=DEBS, check=True,
                       stdout=subprocess.DEVNULL)
        have = os.listdir(DEBS)
    debs = sorted(max(present(p, v)) for p, v in wanted.items())
    stamp = os.path.join(EXTRACT, ".stamp")
    if not os.path.exists(stamp) or open(stamp).read() != "\n".join(debs):
        shutil.rmtree(EXTRACT, ignore_errors=True)
        os.makedirs(EXTRACT)
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", os.path.join(DEBS, deb), EXTRACT], check=True)
        with open(stamp, "w") as out:
            out.write("\n".join(debs))
    xen_gz = os.path.join(EXTRACT, f.xen_gz)
    xen = os.path.join(BUILD, "xen")
    if not os.path.exists(xen) or os.path.getmtime(xen) < os.path.getmtime(stamp):
        with gzip.open(xen_gz) as src, open(xen + ".new", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(xen + ".new", xen)
    vmlinuz = sorted(glob.glob(os.path.join(EXTRACT, "boot", "vmlinuz-*")))[-1]
    return xen, vmlinuz


def _extracted(path):
    """``path`` in the extracted packages: /path, or /usr/path where the package
    ships the merged-/usr layout (Debian 13's busybox-static and kernel)."""
    for p in (os.path.join(EXTRACT, path), os.path.join(EXTRACT, "usr", path)):
        if os.path.exists(p):
            return p
    raise SystemExit(f"xenrig: neither /{path} nor /usr/{path} in {EXTRACT}")


def _module_bytes(path):
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True,
                              check=True).stdout
    return data


def kernel_modules(kver):
    """The Xen driver modules dom0 needs and the modules they depend on (their
    .modinfo "depends="; the package has no modules.dep, depmod makes it on
    install), in load order, uncompressed (Debian 13 ships them xz-compressed):
    [(name, bytes)].  A driver the kernel has built in is left out."""
    files = {}
    for dirpath, _, names in os.walk(_extracted(f"lib/modules/{kver}")):
        for n in names:
            m = re.fullmatch(r"(.+)\.ko(\.xz|\.zst)?", n)
            if m:
                files[m.group(1).replace("_", "-")] = os.path.join(dirpath, n)
    order, data = [], {}

    def add(name):
        name = name.replace("_", "-")
        if name in data or name not in files:
            return
        data[name] = _module_bytes(files[name])
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data[name])
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            add(dep)
        order.append(name)

    for name in XEN_MODULES:
        add(name)
    return [(os.path.basename(files[n]).split(".ko")[0], data[n]) for n in order]


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
    """The dom0's Python: Debian's stdlib (trimmed), xcmod, construct and
    ``benchmarks.empty`` (the interpreter floor), byte-compiled.

    The initramfs gives every file mtime 0, so timestamp-checked .pyc files
    would all be stale and every import would compile from source (seconds
    under TCG); unchecked-hash .pyc files are used as they are.
    """
    import construct
    py = facts().python
    stage = os.path.join(BUILD, "python")
    shutil.rmtree(stage, ignore_errors=True)
    skip = PY_SKIP | {os.path.basename(py["libpl"])}     # config-X.Y-<multiarch>
    shutil.copytree(py["stdlib"], stage + py["stdlib"],
                    ignore=shutil.ignore_patterns(*skip, "*.pyc"), symlinks=True)
    dist = os.path.join(stage, "usr/lib/python3/dist-packages")
    shutil.copytree(os.path.join(ROOT, "xcmod"), os.path.join(dist, "xcmod"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(os.path.dirname(construct.__file__), os.path.join(dist, "construct"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.makedirs(os.path.join(dist, "benchmarks"))
    for n in ("__init__.py", "empty.py"):
        shutil.copy(os.path.join(ROOT, "benchmarks", n), os.path.join(dist, "benchmarks", n))
    subprocess.run([py["executable"], "-m", "compileall", "-q", "-j0", "--invalidation-mode",
                    "unchecked-hash", stage], check=True, stdout=subprocess.DEVNULL)
    return stage


def hvmloader_builds():
    """`make hvmloader`'s two binaries and what they were built from."""
    built = {n: os.path.join(HVMLOADER_BUILD, n) for n in ("hvmloader", "hvmloader.stock")}
    info = os.path.join(HVMLOADER_BUILD, "build-info")
    missing = [p for p in (*built.values(), info) if not os.path.isfile(p)]
    if missing:
        raise SystemExit(f"xenrig: {missing[0]} missing: run make hvmloader [XEN_SRC=DIR]")
    return built, open(info).read()


def ovmf_build():
    """`make ovmf-rig`'s OvmfXen (the UEFI guest's firmware, test-hvm-xcmod-ovmf.cfg)."""
    path = os.path.join(ROOT, "build", "ovmf-rig", "OVMF.fd")
    if not os.path.isfile(path):
        raise SystemExit(f"xenrig: {path} missing: run make ovmf-rig")
    return path


# Where dom0 has it (test-hvm-xcmod-ovmf.cfg's bios_path_override)
OVMF_IN_DOM0 = "usr/lib/xcmod/OvmfXen.fd"


def xl_config(name, prefix):
    """One of the xl configs beside this file, with the toolstack's prefix."""
    text = open(os.path.join(HERE, name)).read()
    return text.replace("@XEN_PREFIX@", prefix).encode()


def build_initramfs(vmlinuz, libvirt=False):
    """The dom0 initramfs: busybox, Xen tools and libraries, Python and xcmod;
    with ``libvirt``, libvirt's libxl driver too (:func:`libvirt_cpio`)."""
    f = facts()
    os.makedirs(BUILD, exist_ok=True)
    readback = build_readback()
    stage = python_tree()
    hvmloaders, build_info = hvmloader_builds()
    kver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    python = f.python["executable"]                 # /usr/bin/python3.X
    tools = f.tools + ["/usr/sbin/dmidecode", python, QEMU_XEN]
    tools += sorted(glob.glob("/usr/bin/xenstore*"))
    files = [f.hvmloader, "/usr/share/seabios/bios-256k.bin", f.python["cffi_backend"]]
    out = os.path.join(BUILD, "initrd-libvirt.cpio.gz" if libvirt else "initrd.cpio.gz")
    buf = io.BytesIO()
    c = Cpio(buf)
    for d in ("proc", "sys", "dev", "tmp", "run", "data", "etc/xen", "var/lib/xen", "root"):
        c.dir(d)
    c.file("init", open(os.path.join(HERE, "init.sh"), "rb").read())
    c.copy(_extracted("bin/busybox"), "bin/busybox")
    c.symlink("bin/sh", "busybox")
    modules = kernel_modules(kver)
    for name, data in modules:
        c.file(f"lib/modules/{name}.ko", data, 0o644)
    for t in tools + files:
        c.copy(t)
    compiled = glob.glob(os.path.join(ROOT, "xcmod", "*", "_*.abi3.so"))   # the two cffi modules
    base_libs = _libs(tools + [readback, *compiled, f.python["cffi_backend"]])
    for lib in base_libs:
        c.copy(lib)
        c.copy(lib, "/usr" + lib if lib.startswith("/lib/") else lib)
    c.copy("/lib64/ld-linux-x86-64.so.2")
    c.symlink("usr/bin/python3", os.path.basename(python))
    c.symlink("usr/sbin/xl", os.path.join(f.bin_dir, "xl"))
    c.tree(stage, "/")
    c.tree("/usr/share/qemu/keymaps", "usr/share/qemu/keymaps")
    c.file("usr/local/bin/dm-standin", open(os.path.join(HERE, "dm_standin.py"), "rb").read())
    c.file("usr/local/bin/readback", open(readback, "rb").read())
    # xcmod's patched hvmloader and the same source built without the patches
    for name, built in (("hvmloader-xcmod", "hvmloader"), ("hvmloader-stock", "hvmloader.stock")):
        c.file(os.path.join(f.prefix, "boot", name), open(hvmloaders[built], "rb").read(), 0o644)
    c.file(OVMF_IN_DOM0, open(ovmf_build(), "rb").read(), 0o644)
    for cfg in CFGS:
        c.file(f"etc/xen/{cfg}", xl_config(cfg, f.prefix), 0o644)
    c.file("etc/xen/xl.conf", b"# defaults\n", 0o644)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    c.file("etc/group", b"root:x:0:\n", 0o644)
    # what the rig is, for init.sh (sh) and the scenario (Python)
    c.file("etc/xenrig.env", f"XEN_BIN={f.bin_dir}\nXEN_MODULES='{' '.join(n for n, _ in modules)}'\n"
           .encode(), 0o644)
    rig = {**f.describe(), "hvmloader": f.hvmloader, "kernel": kver,
           "hvmloader_xcmod": os.path.join(f.prefix, "boot", "hvmloader-xcmod"),
           "hvmloader_stock": os.path.join(f.prefix, "boot", "hvmloader-stock"),
           "hvmloader_build_info": build_info}
    c.file("etc/xenrig.json", json.dumps(rig, indent=1).encode(), 0o644)
    c.close()
    with gzip.open(out, "wb", compresslevel=1) as fo:
        fo.write(buf.getvalue())
    if libvirt:         # a second archive, unpacked over the first
        with open(out, "ab") as fo:
            fo.write(libvirt_cpio(base_libs))
    return out


# libvirt's libxl driver in dom0 (tests/test_xen_rig_libvirt.py): Debian's
# monolithic daemon, its client and the one connection driver it needs, as
# `make setup` installed them (libvirt-daemon-driver-xen).  libvirt reads its
# CPU models only from here (cpu_map.c), never from a path it is given.
LIBVIRT_PACKAGES = {"libvirtd": ("libvirt-daemon", r"/sbin/libvirtd"),
                    "virsh": ("libvirt-clients", r"/bin/virsh"),
                    "driver": ("libvirt-daemon-driver-xen", r"/libvirt_driver_libxl\.so")}
LIBVIRT_CPU_MAP = "/usr/share/libvirt/cpu_map"
# libvirt's libxl driver decodes the host CPU from Xen's physinfo hw_caps and
# fails its whole state initialisation, libvirtd exiting, when no model of its
# cpu_map has every feature it lists ("Cannot find suitable CPU model for given
# data", x86Decode).  Every x86 model needs vme or sep; QEMU's TCG never emulates
# VME and Xen clears SEP on the AMD vendor -cpu max has.  A rig model that needs
# only the FPU, for host decoding only (guest='off': guest CPU definitions decode
# as before), lets the driver start; nothing changes for Xen or the guests.
LIBVIRT_RIG_MODEL = b"""<cpus>
  <model name='xenrig-tcg'>
    <decode host='on' guest='off'/>
    <feature name='fpu'/>
  </model>
</cpus>
"""
LIBVIRTD_CONF = b"""# the rig's libvirtd: root on the local socket, no polkit; a log to read back
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""


def _package_file(package, pattern):
    """The file of installed Debian ``package`` matching ``pattern`` (dpkg -L)."""
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True).stdout
    found = [p for p in out.splitlines() if re.search(pattern + "$", p) and os.path.isfile(p)]
    if not found:
        raise SystemExit(f"xenrig: {package} is not installed or has no {pattern!r} "
                         f"(make setup installs it)")
    return found[0]


def libvirt_cpio(base_libs):
    """An initramfs to put over the rig's: libvirtd, virsh, the libxl connection
    driver and the libraries of theirs the rig lacks (``base_libs``), libvirt's
    cpu_map with :data:`LIBVIRT_RIG_MODEL` added, and /etc/libvirt/libvirtd.conf:
    its gzip'd bytes."""
    files = [_package_file(*spec) for spec in LIBVIRT_PACKAGES.values()]
    buf = io.BytesIO()
    c = Cpio(buf)
    for path in files:
        c.copy(path)
    # one copy of each (libicudata alone is 31 MB), a link in the other /lib:
    # the rig's dom0 unpacks its initramfs into half of its 512 MiB
    for lib in sorted(set(_libs(files)) - set(base_libs)):
        c.copy(lib)
        if lib.startswith("/lib/"):
            c.symlink("/usr" + lib, lib)
    index = open(os.path.join(LIBVIRT_CPU_MAP, "index.xml"), "rb").read()
    anchor = b"<include filename='x86_features.xml'/>"
    if anchor not in index:
        raise SystemExit(f"xenrig: {LIBVIRT_CPU_MAP}/index.xml has no {anchor.decode()}")
    for n in sorted(os.listdir(LIBVIRT_CPU_MAP)):
        if n != "index.xml":
            c.copy(os.path.join(LIBVIRT_CPU_MAP, n))
    c.file(f"{LIBVIRT_CPU_MAP}/x86_xenrig.xml", LIBVIRT_RIG_MODEL, 0o644)
    c.file(f"{LIBVIRT_CPU_MAP}/index.xml.stock", index, 0o644)    # to show the refusal
    c.file(f"{LIBVIRT_CPU_MAP}/index.xml", index.replace(
        anchor, anchor + b"\n    <include filename='x86_xenrig.xml'/>", 1), 0o644)
    c.file("etc/libvirt/libvirtd.conf", LIBVIRTD_CONF, 0o644)
    c.close()
    return gzip.compress(buf.getvalue(), 1)


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


def prepare(libvirt=False):
    xen, vmlinuz = fetch()
    return xen, vmlinuz, build_initramfs(vmlinuz, libvirt)


# Xen's own console line, as the rig's console_timestamps=boot has it
XEN_LINE = re.compile(r"\(XEN\) \[\s*\d+\.\d{6}\] ")


def _unsplice(line):
    """Xen writes its own lines to the serial port in the middle of dom0's (Xen
    4.20's "uart interrupt taking more than 4ms, switched to polling", under TCG,
    cut an XCMOD-RESULT line in two).  Returns (the line to take or None, the
    start of a dom0 line to put before the next one)."""
    m = XEN_LINE.search(line, 1)
    if m is None:
        return line, ""
    if XEN_LINE.match(line):            # Xen's line after Xen's: nothing was cut
        return line, ""
    return line[m.start():], line[:m.start()]


def _quiet(line):
    """Xen's and the guests' own console chatter, shown only with XENRIG_VERBOSE=1."""
    return line.startswith(("(XEN)", "(d")) or not line.strip()


# QEMU's -icount for measuring: the guest's clocks (the TSC Xen's console
# timestamps come from included) advance by one nanosecond per instruction the
# emulated CPUs execute, not with the host's time, so a measurement does not
# depend on what else the host is doing; sleep=off lets idle time pass at once.
ICOUNT = "shift=0,sleep=off"


def job(script, data_dir, log, timeout, **kw):
    """:func:`run` of the dom0 job ``script`` (a file beside this one) for a test: the
    console into file ``log``, an AssertionError with the console's tail unless the
    job exited 0; the job's ``XCMOD-RESULT {json}`` lines by their "step"."""
    with open(log, "w") as out:
        status, text = run(os.path.join(HERE, script), str(data_dir), timeout=timeout,
                           out=out, **kw)
    tail = "\n".join(text.splitlines()[-60:])
    assert status == 0, f"rig exited {status}; console tail:\n{tail}"
    results = {}
    for line in text.splitlines():
        if line.startswith("XCMOD-RESULT "):
            d = json.loads(line[len("XCMOD-RESULT "):])
            results[d["step"]] = d
    return results


def run(script, data_dir=None, timeout=300, out=None, prepared=None, verbose=None,
        icount=None, libvirt=False):
    """Boot the rig, run ``script`` in dom0, stream the console to ``out``.

    ``libvirt``: dom0 has libvirt's libxl driver as well (:func:`libvirt_cpio`).

    ``icount`` (or XENRIG_ICOUNT in the environment): QEMU's -icount option,
    e.g. :data:`ICOUNT`, for measurements by guest time.

    Returns (exit status, full console text).  Status 124 if the script did
    not finish within ``timeout`` seconds, 125 if QEMU or Xen died first; then
    the console's last 40 lines are printed whatever the verbosity.
    """
    if verbose is None:
        verbose = os.environ.get("XENRIG_VERBOSE") == "1"
    out = out or sys.stdout
    xen, vmlinuz, initrd = prepared or prepare(libvirt)
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
    icount = icount or os.environ.get("XENRIG_ICOUNT")
    if icount:
        args += ["-icount", icount]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    text, status, deadline = [], None, time.monotonic() + timeout
    started = False          # dom0's init is up: from here on the console is the job's
    pending = b""
    cut = ""                 # a dom0 line Xen's own line cut in two, its first part
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
                line, cut = _unsplice(cut + raw.decode("utf-8", "replace").rstrip("\r"))
                if line is None:
                    continue
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
