# SPDX-License-Identifier: MIT
"""The dom0 initramfs: busybox, the Xen tools and their libraries, Debian's Python
with xcmod and the dom0 helper package (``dom0``, the scenarios), the hvmloaders
and OvmfXen the guests boot, the xl configs beside this file; and the per-run
archive with the job and its /data.

Variants: ``base``; ``libvirt`` (the base with :func:`.libvirt.libvirt_cpio` put
over it); ``installed`` (xcmod as Debian's packages installed it on this machine,
``make deb``: /usr/bin/xcmod, its modules and /usr/lib/xcmod/hvmloader, instead of
the clone's xcmod)."""
import glob
import gzip
import io
import json
import os
import shutil
import subprocess
import tempfile

from .cpio import Cpio
from .debs import extracted
from .host import facts, libs, package_files
from .kmod import kernel_modules
from .libvirt import libvirt_cpio
from .rigpaths import BUILD, HERE, HVMLOADER_BUILD, ROOT

# qemu-xen, the real device model, for the guests that need one (test-hvm-qemu.cfg)
QEMU_XEN = "/usr/libexec/xen-qemu-system-i386"
PY_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
           "distutils", "unittest", "__pycache__", "site-packages", "dist-packages",
           "venv", "sqlite3", "curses", "dbm"}
CFGS = ("test-hvm.cfg", "test-hvm-qemu.cfg", "test-hvm-xcmod.cfg", "test-hvm-stock.cfg",
        "test-hvm-xcmod-ovmf.cfg")
DIST = "usr/lib/python3/dist-packages"
# Where dom0 has `make ovmf-rig`'s OvmfXen (test-hvm-xcmod-ovmf.cfg's bios_path_override)
OVMF_IN_DOM0 = "usr/lib/xcmod/OvmfXen.fd"
# The installed packages the ``installed`` variant carries (make deb; docs/install.md)
INSTALLED = ("xcmod", "xcmod-firmware", "python3-construct")
VARIANTS = ("base", "libvirt", "installed")


def build_readback():
    out = os.path.join(BUILD, "readback")
    src = os.path.join(HERE, "readback.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", out, src, "-lxenctrl"],
                       check=True)
    return out


def installed_files():
    """The files of :data:`INSTALLED` the ``installed`` variant carries: the Python
    modules, /usr/bin/xcmod and /usr/lib/xcmod/hvmloader (the rig's own OvmfXen
    keeps its place: the installed one is not booted)."""
    files = []
    for package in INSTALLED:
        owned = package_files(package)
        if owned is None:
            raise SystemExit(f"xenrig: Debian package {package} is not installed "
                             f"(make deb; apt-get install ./build/deb/xcmod*.deb)")
        files += [p for p in owned if p.startswith(("/usr/bin/", "/" + DIST + "/",
                                                     "/usr/lib/xcmod/hvmloader"))]
    return files


def python_tree(variant):
    """The dom0's Python: Debian's stdlib (trimmed), xcmod (the clone's, or for
    ``installed`` the installed package's), construct, the ``dom0`` package and
    ``benchmarks.empty`` (the interpreter floor), byte-compiled.

    The initramfs gives every file mtime 0, so timestamp-checked .pyc files
    would all be stale and every import would compile from source (seconds
    under TCG); unchecked-hash .pyc files are used as they are.
    """
    import construct
    py = facts().python
    stage = os.path.join(BUILD, f"python-{variant}")
    shutil.rmtree(stage, ignore_errors=True)
    skip = PY_SKIP | {os.path.basename(py["libpl"])}     # config-X.Y-<multiarch>
    shutil.copytree(py["stdlib"], stage + py["stdlib"],
                    ignore=shutil.ignore_patterns(*skip, "*.pyc"), symlinks=True)
    dist = os.path.join(stage, DIST)
    plain = shutil.ignore_patterns("__pycache__", "*.pyc")
    if variant == "installed":
        for path in installed_files():
            if path.startswith("/" + DIST + "/"):
                os.makedirs(os.path.dirname(stage + path), exist_ok=True)
                shutil.copy2(path, stage + path)
    else:
        shutil.copytree(os.path.join(ROOT, "xcmod"), os.path.join(dist, "xcmod"), ignore=plain)
        shutil.copytree(os.path.dirname(construct.__file__), os.path.join(dist, "construct"),
                        ignore=plain)
    shutil.copytree(os.path.join(HERE, "dom0"), os.path.join(dist, "dom0"), ignore=plain)
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


def xl_config(name, prefix):
    """One of the xl configs beside this file, with the toolstack's prefix."""
    text = open(os.path.join(HERE, name)).read()
    return text.replace("@XEN_PREFIX@", prefix).encode()


def build_initramfs(vmlinuz, variant="base"):
    """The dom0 initramfs of ``variant`` (see the module docstring): its path."""
    if variant not in VARIANTS:
        raise ValueError(f"xenrig: no initramfs variant {variant!r}")
    f = facts()
    os.makedirs(BUILD, exist_ok=True)
    readback = build_readback()
    stage = python_tree(variant)
    hvmloaders, build_info = hvmloader_builds()
    kver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    python = f.python["executable"]                 # /usr/bin/python3.X
    tools = f.tools + ["/usr/sbin/dmidecode", python, QEMU_XEN]
    tools += sorted(glob.glob("/usr/bin/xenstore*"))
    files = [f.hvmloader, "/usr/share/seabios/bios-256k.bin", f.python["cffi_backend"]]
    if variant == "installed":
        files += [p for p in installed_files() if not p.startswith("/" + DIST + "/")]
    out = os.path.join(BUILD, f"initrd-{variant}.cpio.gz")
    buf = io.BytesIO()
    c = Cpio(buf)
    for d in ("proc", "sys", "dev", "tmp", "run", "data", "etc/xen", "var/lib/xen", "root"):
        c.dir(d)
    c.file("init", open(os.path.join(HERE, "init.sh"), "rb").read())
    c.copy(extracted("bin/busybox"), "bin/busybox")
    c.symlink("bin/sh", "busybox")
    modules = kernel_modules(kver)
    for name, data in modules:
        c.file(f"lib/modules/{name}.ko", data, 0o644)
    for t in tools + files:
        c.copy(t)
    compiled = glob.glob(os.path.join(stage, DIST, "xcmod", "*", "_*.so"))  # the cffi modules
    base_libs = libs(tools + [readback, *compiled, f.python["cffi_backend"]])
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
    # what the rig is, for init.sh (sh) and the scenarios (Python)
    c.file("etc/xenrig.env", f"XEN_BIN={f.bin_dir}\nXEN_MODULES='{' '.join(n for n, _ in modules)}'\n"
           .encode(), 0o644)
    rig = {**f.describe(), "hvmloader": f.hvmloader, "kernel": kver, "variant": variant,
           "hvmloader_xcmod": os.path.join(f.prefix, "boot", "hvmloader-xcmod"),
           "hvmloader_stock": os.path.join(f.prefix, "boot", "hvmloader-stock"),
           "hvmloader_build_info": build_info}
    c.file("etc/xenrig.json", json.dumps(rig, indent=1).encode(), 0o644)
    c.close()
    with gzip.open(out, "wb", compresslevel=1) as fo:
        fo.write(buf.getvalue())
    if variant == "libvirt":         # a second archive, unpacked over the first
        with open(out, "ab") as fo:
            fo.write(libvirt_cpio(base_libs))
    return out


def job_cpio(script, data_dir):
    """A second initramfs with /rig/job.sh (``script``'s bytes) and DATA's files under
    /data: the path of a temporary file."""
    buf = io.BytesIO()
    c = Cpio(buf)
    c.file("rig/job.sh", script)
    if data_dir:
        c.tree(data_dir, "data", ())
    c.close()
    f = tempfile.NamedTemporaryFile(prefix="xenrig-job-", suffix=".cpio", delete=False)
    f.write(buf.getvalue())
    f.close()
    return f.name
