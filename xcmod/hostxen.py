# SPDX-License-Identifier: MIT
"""The Xen installed on this host: its version and where its files are.

Everything here is read off the machine, never assumed from a release name,
so one xcmod serves Debian 12 (Xen 4.17), Debian 13 (Xen 4.20) and a Xen
installed from source alike:

* **Debian's packages** install the toolstack under ``/usr/lib/xen-X.Y``
  (``boot/hvmloader``, ``bin/xl``, ``bin/xenstored``); the exact version is
  the ``xen-utils-X.Y`` package's, read from dpkg's status file
  (``4.20.4+63-g7abfd2bce2-0+deb13u1`` -> ``4.20.4``).
* **Xen's own ``make install``** uses ``/usr/lib/xen`` or ``/usr/libexec/xen``;
  its line is the installed libxenctrl's soname (``libxenctrl.so.X.Y``) and
  the point release is the running hypervisor's, where it is of that line
  (``/sys/hypervisor/version``).

:func:`installed` returns what it found, or None on a host without Xen.
"""
import os

_UPSTREAM_PREFIXES = ("/usr/lib/xen", "/usr/libexec/xen")
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
             "/usr/lib", "/usr/local/lib")
_DPKG_STATUS = "/var/lib/dpkg/status"
_DPKG_STATUS_MAX = 64 << 20          # a status file of 64 MiB is not dpkg's
_SMALL_FILE_MAX = 4096


class Xen:
    """An installed Xen toolstack."""
    __slots__ = ("version", "prefix", "found_by")

    def __init__(self, version, prefix, found_by):
        self.version = version      # "4.20.4", or "4.20" where the point is unknown
        self.prefix = prefix        # /usr/lib/xen-X.Y (Debian), /usr/lib/xen (make install)
        self.found_by = found_by    # how the version was read, for reports

    def __repr__(self):
        return f"Xen({self.version!r}, {self.prefix!r}, {self.found_by!r})"

    @property
    def line(self):
        """The release line, "4.20"."""
        return ".".join(self.version.split(".")[:2])

    @property
    def hvmloader(self):
        return os.path.join(self.prefix, "boot", "hvmloader")

    @property
    def bin_dir(self):
        return os.path.join(self.prefix, "bin")

    def tool(self, name):
        """The path of one of the toolstack's programs (xl, xenstored, ...), or None."""
        for d in (self.bin_dir, os.path.join(self.prefix, "sbin"), "/usr/sbin", "/usr/bin"):
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
        return None


def _digits(text):
    """The ASCII digits ``text`` starts with ("20" of "20.4+63"), maybe ""."""
    n = 0
    while n < len(text) and "0" <= text[n] <= "9":
        n += 1
    return text[:n]


def _line_of(text):
    """(4, 20) for text that is exactly "4.20", else None."""
    major, dot, minor = text.partition(".")
    if dot and major == _digits(major) != "" and minor == _digits(minor) != "":
        return int(major), int(minor)
    return None


def _point_after(prefix, text):
    """The digits after ``prefix`` + "." at the start of ``text`` ("4" for "4.20",
    "4.20.4+63-g7a..."), or None."""
    if text.startswith(prefix + "."):
        return _digits(text[len(prefix) + 1:]) or None
    return None


def _read_small(path, limit=_SMALL_FILE_MAX):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("ascii", "replace").strip()
    except OSError:
        return None


def running_hypervisor(root="/"):
    """The running hypervisor's version ("4.20.4") from /sys/hypervisor, or None."""
    d = os.path.join(root, "sys/hypervisor")
    if _read_small(os.path.join(d, "type")) != "xen":
        return None
    major = _read_small(os.path.join(d, "version/major"))
    minor = _read_small(os.path.join(d, "version/minor"))
    extra = _read_small(os.path.join(d, "version/extra")) or ""
    if not (major and minor and major.isdigit() and minor.isdigit()):
        return None
    point = _point_after("", extra)         # extra is ".4" or ".4-pre" or ""
    return f"{major}.{minor}" + (f".{point}" if point else "")


def _dpkg_version(package, root):
    """The installed version of ``package`` from dpkg's status file, or None."""
    path = os.path.join(root, _DPKG_STATUS.lstrip("/"))
    try:
        with open(path, "rb") as f:
            text = b"\n" + f.read(_DPKG_STATUS_MAX)
    except OSError:
        return None
    start = text.find(b"\nPackage: " + package.encode() + b"\n")
    if start < 0:
        return None
    end = text.find(b"\n\n", start + 1)
    para = text[start:end if end >= 0 else len(text)].decode("utf-8", "replace")
    installed = version = None
    for line in para.split("\n"):
        if line.startswith("Status: ") and line.endswith(" installed"):
            installed = True
        elif line.startswith("Version: "):
            value = line[len("Version: "):]
            version = value if value and value.split() == [value] else None
    return version if installed else None


def _debian(root):
    base = os.path.join(root, "usr/lib")
    try:
        names = os.listdir(base)
    except OSError:
        return None
    lines = []
    for n in names:
        line = _line_of(n[len("xen-"):]) if n.startswith("xen-") else None
        if line and os.path.isdir(os.path.join(base, n, "boot")):
            lines.append(line)
    if not lines:
        return None
    major, minor = max(lines)
    line = f"{major}.{minor}"
    prefix = os.path.join("/usr/lib", f"xen-{line}")
    deb = _dpkg_version(f"xen-utils-{line}", root)
    point = _point_after(line, deb or "")
    if point:
        return Xen(f"{line}.{point}", prefix, f"Debian package xen-utils-{line} {deb}")
    return Xen(line, prefix, f"{prefix} (no xen-utils-{line} in dpkg's status)")


def _upstream(root):
    prefix = next((p for p in _UPSTREAM_PREFIXES
                   if os.path.isfile(os.path.join(root, p.lstrip("/"), "boot", "hvmloader"))), None)
    if prefix is None:
        return None
    line = None
    for d in _LIB_DIRS:
        try:
            names = os.listdir(os.path.join(root, d.lstrip("/")))
        except OSError:
            continue
        found = next((n for n in names if n.startswith("libxenctrl.so.") and
                      _line_of(n[len("libxenctrl.so."):])), None)
        if found:
            line, lib = found[len("libxenctrl.so."):], os.path.join(d, found)
            break
    if line is None:
        return None
    running = running_hypervisor(root)
    if running and running.startswith(line + "."):
        return Xen(running, prefix, f"{lib} and the running hypervisor {running}")
    return Xen(line, prefix, lib)


def installed(root="/"):
    """The Xen toolstack installed under ``root``, or None.

    Debian's versioned prefix (the newest, if several lines are installed)
    is preferred to an upstream one.
    """
    return _debian(root) or _upstream(root)
