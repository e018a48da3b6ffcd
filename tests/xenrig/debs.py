# SPDX-License-Identifier: MIT
"""The Debian packages the rig boots from, downloaded with ``apt-get download`` into
``build/xenrig/debs`` once and extracted (never installed): the hypervisor of the
installed toolstack's exact version, the release's kernel and busybox-static."""
import glob
import gzip
import os
import shutil
import subprocess

from .host import facts, kernel_package
from .rigpaths import BUILD, log

DEBS = os.path.join(BUILD, "debs")
EXTRACT = os.path.join(BUILD, "root")


def fetch():
    """Download (once) and extract the hypervisor, kernel and busybox packages:
    (the uncompressed hypervisor, the kernel)."""
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


def extracted(path):
    """``path`` in the extracted packages: /path, or /usr/path where the package
    ships the merged-/usr layout (Debian 13's busybox-static and kernel)."""
    for p in (os.path.join(EXTRACT, path), os.path.join(EXTRACT, "usr", path)):
        if os.path.exists(p):
            return p
    raise SystemExit(f"xenrig: neither /{path} nor /usr/{path} in {EXTRACT}")
