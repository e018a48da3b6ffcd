# SPDX-License-Identifier: MIT
"""The wrapper over libxenstore (xcmod.xen._xen): transactions, reads, writes, perms.

Connections find xenstored the way Xen's own tools do: libxenstore's xs_open
uses $XENSTORED_PATH (or /var/run/xenstored/socket, then /dev/xen/xenbus).
Every failing call raises XenError with errno.
"""
import errno as _errno
import os
import stat

from ..checks import text_arg
from ..errors import UsageError, XenError
from ..fileio import _kind
from .xenctrl import _xen, parse_domid


MAX_TRANSACTION_RETRIES = 16

# Every domain's keys live under DOMAIN_ROOT/<domid> (docs/misc/xenstore-paths.pandoc).
DOMAIN_ROOT = "/local/domain"


def domain_path(domid, *rel):
    """``/local/domain/<domid>``, or a path below it: ``domain_path(5, "hvmloader")``."""
    return "/".join((f"{DOMAIN_ROOT}/{domid}", *rel))


def require_domain(xs, domid):
    """``domain_path(domid)``, or XenError (ENOENT) if xenstore has no such domain."""
    base = domain_path(domid)
    if xs.read(base) is None:
        raise XenError(_errno.ENOENT, f"domain {domid}: {base} is not in xenstore")
    return base


# Where libxenstore connects (tools/xenstore/xs_lib.c, xs_daemon_path() and
# xs_domain_dev(), the same in RELEASE-4.17.5, 4.20 and master): $XENSTORED_PATH
# if set, else $XENSTORED_RUNDIR/socket (XEN_RUN_STORED/socket), then the xenbus
# device.  tools/libs/store/xs.c get_handle() stat()s the path and treats
# anything that is not a socket as the device: a regular file there would be
# opened and written a request, so xcmod checks first.
XENBUS_DEVICES = ("/dev/xen/xenbus", "/proc/xen/xenbus")


def check_xenstored_path(environ=None):
    """UsageError, naming the variable and what its path is, unless libxenstore would
    connect to xenstored's socket or to the xenbus device: $XENSTORED_PATH must name
    a socket (or one of :data:`XENBUS_DEVICES`, a character device);
    $XENSTORED_RUNDIR/socket, when it exists, a socket.  Nothing is opened."""
    env = os.environ if environ is None else environ
    for var in ("XENSTORED_PATH", "XENSTORED_RUNDIR"):
        value = env.get(var)
        if value is None:
            continue
        path = value if var == "XENSTORED_PATH" else os.path.join(value, "socket")
        if not value or "\0" in value:
            raise UsageError(f"{var} is set but {'empty' if not value else 'holds a NUL'}: "
                             f"it must name xenstored's socket; nothing sent to xenstored")
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:       # nothing there: xs_open fails, nothing is sent
            continue
        except OSError as e:
            raise UsageError(f"{var}: {path}: {e.strerror}; nothing sent to "
                             f"xenstored") from None
        if stat.S_ISSOCK(mode):
            continue
        if (var == "XENSTORED_PATH" and stat.S_ISCHR(mode)
                and os.path.realpath(path) in XENBUS_DEVICES):
            continue
        what = _kind(mode)
        shown = f"{var}={value}" + ("" if var == "XENSTORED_PATH" else f": {path}")
        raise UsageError(f"{shown} is {what}, not xenstored's socket (nor the xenbus "
                         f"device): nothing sent to it")


class XenStore:
    """An open xenstore connection; a context manager that always closes it."""

    def __init__(self):
        check_xenstored_path()
        self.ffi, self.lib = _xen()
        self.ffi.errno = 0
        h = self.lib.xs_open(0)
        if h == self.ffi.NULL:
            err = self.ffi.errno or _errno.ECONNREFUSED
            where = (f"XENSTORED_PATH={os.environ['XENSTORED_PATH']}"
                     if "XENSTORED_PATH" in os.environ else "XENSTORED_PATH names its socket")
            raise XenError(err, f"cannot connect to xenstored (is it running? {where})",
                           op="xs_open")
        self.h = h

    def close(self):
        if self.h is not None:
            self.lib.xs_close(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, op, path):
        err = self.ffi.errno or _errno.EIO
        raise XenError(err, f"xenstore {op} {path}: {os.strerror(err)}", op=op)

    def _fetch(self, op, path, t, convert, missing):
        """xs_read/xs_directory: a malloc'd result and its count, freed here;
        ``missing`` when the node does not exist (NULL with ENOENT)."""
        n = self.ffi.new("unsigned int *")
        self.ffi.errno = 0
        p = getattr(self.lib, f"xs_{op}")(self.h, t, path.encode(), n)
        if p == self.ffi.NULL:
            if self.ffi.errno == _errno.ENOENT:
                return missing
            self._fail(op, path)
        try:
            return convert(p, n[0])
        finally:
            self.lib.free(p)

    def read(self, path, t=0):
        """The value at ``path`` as bytes, or None if it does not exist."""
        return self._fetch("read", path, t, lambda p, n: bytes(self.ffi.buffer(p, n)), None)

    def write(self, path, value, t=0):
        data = value.encode() if isinstance(value, str) else value
        self.ffi.errno = 0
        if not self.lib.xs_write(self.h, t, path.encode(), data, len(data)):
            self._fail("write", path)

    def rm(self, path, t=0):
        self.ffi.errno = 0
        if not self.lib.xs_rm(self.h, t, path.encode()) and self.ffi.errno != _errno.ENOENT:
            self._fail("rm", path)

    def directory(self, path, t=0):
        """The names of ``path``'s children, or [] if it does not exist."""
        return self._fetch("directory", path, t,
                           lambda p, n: [self.ffi.string(p[i]).decode() for i in range(n)], [])

    def set_permissions(self, path, perms, t=0):
        """``perms``: [(domid, XS_PERM_*), ...]; the first is the owner."""
        arr = self.ffi.new("struct xs_permissions[]", len(perms))
        for i, (domid, bits) in enumerate(perms):
            arr[i].id, arr[i].perms = domid, bits
        self.ffi.errno = 0
        if not self.lib.xs_set_permissions(self.h, t, path.encode(), arr, len(perms)):
            self._fail("set_permissions", path)

    def write_for_guest(self, path, value, domid, t=0):
        """Write ``path`` owned by dom0 and readable, not writable, by ``domid`` alone."""
        self.write(path, value, t)
        self.set_permissions(path, [(0, self.PERM_NONE), (domid, self.PERM_READ)], t)

    def write_all_for_guest(self, values, domid):
        """Write ``values`` {path: value} in one transaction, each as :meth:`write_for_guest`."""
        def body(t):
            for path, value in values.items():
                self.write_for_guest(path, value, domid, t)
        self.transaction(body)

    def transaction(self, body, retries=MAX_TRANSACTION_RETRIES):
        """Run ``body(t)`` in a transaction, retried on EAGAIN at most ``retries`` times.

        Any exception from ``body`` aborts the transaction, so nothing it
        wrote becomes visible.
        """
        for _ in range(retries + 1):
            self.ffi.errno = 0
            t = self.lib.xs_transaction_start(self.h)
            if t == 0:
                self._fail("transaction_start", "")
            try:
                result = body(t)
            except BaseException:
                self.lib.xs_transaction_end(self.h, t, True)
                raise
            self.ffi.errno = 0
            if self.lib.xs_transaction_end(self.h, t, False):
                return result
            if self.ffi.errno != _errno.EAGAIN:
                self._fail("transaction_end", "")
        raise XenError(_errno.EAGAIN, f"xenstore transaction still conflicting after "
                       f"{retries} retries", op="transaction_end")

    @property
    def PERM_NONE(self):
        return self.lib.XS_PERM_NONE

    @property
    def PERM_READ(self):
        return self.lib.XS_PERM_READ


def resolve_domain(spec, xs=None):
    """The domid ``spec`` names: a number (ASCII decimal digits only, as xl takes one:
    :func:`xcmod.checks.parse_decimal`), or a domain name resolved as xl resolves
    it (the ``name`` key of each ``/local/domain/<domid>``).  A name no domain has,
    or that several have, is an error naming them.  ``xs``: an open XenStore, or None
    to open one when a name must be looked up."""
    spec = text_arg(spec, "--domain")
    if spec.isascii() and spec.isdigit():
        return parse_domid(spec, "--domain")
    if xs is None:
        with XenStore() as xs:
            return resolve_domain(spec, xs)
    want = spec.encode()
    found = sorted(int(d) for d in xs.directory(DOMAIN_ROOT)
                   if d.isascii() and d.isdigit() and len(d) <= 5 and
                   xs.read(domain_path(d, "name")) == want)
    if not found:
        raise XenError(_errno.ENOENT, f"no domain named {spec!r} (xenstore "
                       f"{DOMAIN_ROOT}/*/name)", op="resolve")
    if len(found) > 1:
        raise UsageError(f"domain name {spec!r} is ambiguous: domains "
                         f"{', '.join(map(str, found))} carry it; give --domid")
    return found[0]
