# SPDX-License-Identifier: MIT
"""What the rig takes from this machine: the installed Xen toolstack (``xcmod.hostxen``),
the Debian version of its package, the release's default kernel package and Debian's
own Python (its version, stdlib and cffi backend, asked of it)."""
import functools
import glob
import json
import os
import re
import subprocess

SYSTEM_PYTHON = "/usr/bin/python3"      # Debian's own, whose packages the dom0 gets


class Facts:
    """The toolstack, its hypervisor package and Debian's python3 (see the module docstring)."""

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
        self.deb_version = dpkg_version(utils)
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


def dpkg_version(package):
    """The installed version of Debian ``package``, or None."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", package],
                         capture_output=True, text=True).stdout
    return out[3:] if out.startswith("ii ") else None


def package_files(package):
    """The regular files installed Debian ``package`` owns (dpkg -L), or None."""
    if dpkg_version(package) is None:
        return None
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if os.path.isfile(p)]


def package_file(package, pattern):
    """The file of installed Debian ``package`` matching ``pattern`` (dpkg -L)."""
    found = [p for p in package_files(package) or () if re.search(pattern + "$", p)]
    if not found:
        raise SystemExit(f"xenrig: {package} is not installed or has no {pattern!r} "
                         f"(make setup installs it)")
    return found[0]


@functools.lru_cache(maxsize=None)
def kernel_package():
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"Depends: (linux-image-[\w.+-]+-amd64)", out)
    if not m:
        raise SystemExit("xenrig: cannot resolve linux-image-amd64's kernel package")
    return m.group(1)


def libs(paths):
    """Every shared library ``paths`` need (ldd), plus libgcc_s (xl aborts without it)
    and libnss_files."""
    found = set()
    for p in paths:
        out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                found.add(m.group(1))
    found |= set(glob.glob("/lib/x86_64-linux-gnu/libgcc_s.so.1"))
    found |= set(glob.glob("/lib/x86_64-linux-gnu/libnss_files.so.*"))
    return sorted(found)
