# SPDX-License-Identifier: MIT
"""The one wrapper over libxenctrl and the C shim (xcmod.xen._xen).

Every call's return code is checked here and turned into :class:`XenError`
(an OSError carrying errno, plus libxc's xc_get_last_error() text).  The
compiled module is imported on first use only.
"""
import errno as _errno
import os

from ..checks import parse_decimal
from ..errors import UsageError, XenError


# errno for each shim return code (csrc/xcmod_load.h), by its name there.
_RC_ERRNO = {
    "XCMOD_LOAD_E_ARGUMENT": _errno.EINVAL, "XCMOD_LOAD_E_NO_DOMAIN": _errno.ESRCH,
    "XCMOD_LOAD_E_DOM0": _errno.EPERM, "XCMOD_LOAD_E_NOT_HVM": _errno.EINVAL,
    "XCMOD_LOAD_E_RUNNING": _errno.EBUSY, "XCMOD_LOAD_E_MEMORY": _errno.ENOSPC,
    "XCMOD_LOAD_E_VERIFY": _errno.EIO, "XCMOD_LOAD_E_DYING": _errno.ESRCH,
}
# For these, errno and xc_get_last_error() come from libxc itself.
_RC_FROM_LIBXC = ("XCMOD_LOAD_E_GETINFO", "XCMOD_LOAD_E_MAP", "XCMOD_LOAD_E_CONTEXT")
# These report the image offset where the copy failed.
_RC_WITH_OFFSET = ("XCMOD_LOAD_E_MAP", "XCMOD_LOAD_E_VERIFY")


def _xen():
    """(ffi, lib) of the compiled binding; XenError (ENOSYS) in one line if it was not built."""
    try:
        from . import _xen
    except ImportError as e:
        from importlib.util import find_spec
        if find_spec(f"{__package__}._xen") is None:
            raise XenError(_errno.ENOSYS, "xcmod was installed without its Xen binding "
                           "(xcmod.xen._xen): install libxen-dev (Debian) and reinstall xcmod "
                           "to use load, keys, hvm-info and guest-tables",
                           op="import") from None
        raise XenError(_errno.ELIBACC, f"cannot load xcmod's Xen binding: {e}",
                       op="import") from None
    return _xen.ffi, _xen.lib


# Xen's public xen.h: ids from DOMID_FIRST_RESERVED (0x7FF0) up name no domain.
DOMID_MAX = 0x7FEF


def parse_domid(text, what="--domid"):
    """A domid written as text: ASCII decimal digits only (leading zeros allowed, as xl
    reads a domid), 0..DOMID_MAX; UsageError naming ``what`` otherwise."""
    n = parse_decimal(text, what)
    if n > DOMID_MAX:
        raise UsageError(f"{what}: {text} is not a domain id (0..{DOMID_MAX})")
    return n


def check_domid(domid):
    """``domid`` as an int in 0..DOMID_MAX, or UsageError."""
    if isinstance(domid, bool) or not isinstance(domid, int) or not 0 <= domid <= DOMID_MAX:
        raise UsageError(f"domid {domid!r} is not a domain id (0..{DOMID_MAX})")
    return domid


class DomainInfo:
    """struct xcmod_domain_info (a plain class: see layout.Region on import cost)."""
    __slots__ = ("domid", "hvm", "paused", "dying", "max_memkb", "nr_pages")

    def __init__(self, domid, hvm, paused, dying, max_memkb, nr_pages):
        self.domid, self.hvm, self.paused, self.dying = domid, hvm, paused, dying
        self.max_memkb, self.nr_pages = max_memkb, nr_pages

    def __repr__(self):
        return "DomainInfo(%s)" % ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)

    @property
    def memory_mib(self):
        return self.max_memkb // 1024


class _Captured:
    """File descriptor 2 caught in a memory file until :meth:`close`, which puts it back
    and returns what was written there (libxc's logger prints its errors itself; xcmod
    says them in its own one line)."""

    def __init__(self):
        self.saved = self.sink = None
        try:
            self.sink = os.memfd_create("xcmod-libxc-log")
            self.saved = os.dup(2)
            os.dup2(self.sink, 2)
        except (AttributeError, OSError):       # no memfd: leave stderr alone
            self.saved = None

    def close(self):
        if self.saved is None:
            return ""
        os.dup2(self.saved, 2)
        os.close(self.saved)
        os.lseek(self.sink, 0, os.SEEK_SET)
        data = os.read(self.sink, 4096)
        os.close(self.sink)
        return " ".join(data.decode("utf-8", "replace").split())

    @staticmethod
    def replay(text):
        os.write(2, (text + "\n").encode())


class XenControl:
    """An open xc_interface; use as a context manager so it is always closed."""

    def __init__(self):
        self.ffi, self.lib = _xen()
        lib = self.lib
        self._rc_errno = {getattr(lib, name): e for name, e in _RC_ERRNO.items()}
        self._rc_from_libxc = {getattr(lib, name) for name in _RC_FROM_LIBXC}
        self._rc_with_offset = {getattr(lib, name) for name in _RC_WITH_OFFSET}
        self.ffi.errno = 0
        said = _Captured()          # libxc's logger writes its own line to stderr
        try:
            xch = lib.xc_interface_open(self.ffi.NULL, self.ffi.NULL, 0)
            err = self.ffi.errno or _errno.EIO
        finally:
            text = said.close()
        if xch == self.ffi.NULL:
            raise XenError(err, f"cannot open the Xen control interface: "
                           f"{_errno.errorcode.get(err, err)} ({os.strerror(err)})",
                           detail=f"libxc: {text}" if text else None, op="xc_interface_open")
        if text:
            said.replay(text)
        self.xch = xch

    def close(self):
        if self.xch is not None:
            self.lib.xc_interface_close(self.xch)
            self.xch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _last_error(self):
        e = self.lib.xc_get_last_error(self.xch)
        if e == self.ffi.NULL:
            return None
        text = self.ffi.string(e.message).decode("utf-8", "replace").strip()
        return text or None

    def _check(self, rc, op, domid, fail_offset=None):
        if rc == self.lib.XCMOD_LOAD_OK:
            return
        from_libxc = rc in self._rc_from_libxc
        err = (self.ffi.errno if from_libxc else self._rc_errno.get(rc)) or _errno.EIO
        reason = self.ffi.string(self.lib.xcmod_load_strerror(rc)).decode()
        where = f"domain {domid}: {reason}"
        if fail_offset is not None:
            where += f" at image offset {fail_offset:#x}"
        detail = self._last_error() if from_libxc else None
        raise XenError(err, where, detail=detail, op=op)

    def _call(self, fn, domid, *args):
        """Call a shim function on ``domid``; numbers are range-checked here, at the
        edge, so a bad one is a UsageError naming it, not cffi's OverflowError."""
        check_domid(domid)
        for a in args:
            if isinstance(a, int) and not 0 <= a < 1 << 64:
                raise UsageError(f"domain {domid}: {a:#x} is not a guest address or length")
        args = (domid, *args)
        self.ffi.errno = 0
        self.lib.xc_clear_last_error(self.xch)
        return fn(self.xch, *args)

    @staticmethod
    def _info(info):
        return DomainInfo(info.domid, bool(info.hvm), bool(info.paused), bool(info.dying),
                          info.max_memkb, info.nr_pages)

    def domain_info(self, domid):
        info = self.ffi.new("struct xcmod_domain_info *")
        rc = self._call(self.lib.xcmod_domain_info, domid, info)
        self._check(rc, "xc_domain_getinfolist", domid)
        return self._info(info)

    def check_domain(self, domid, gpa, length, force=False):
        """The shim's pre-checks; raises XenError naming the first that fails."""
        info = self.ffi.new("struct xcmod_domain_info *")
        flags = self.lib.XCMOD_LOAD_FORCE if force else 0
        rc = self._call(self.lib.xcmod_check_domain, domid, gpa, length, flags, info)
        self._check(rc, "check", domid)
        return self._info(info)

    def copy_to_guest(self, domid, gpa, data):
        """Copy ``data`` to guest physical ``gpa`` and verify it by reading back."""
        buf = self.ffi.from_buffer(data)
        fail = self.ffi.new("size_t *")
        rc = self._call(self.lib.xcmod_copy_to_guest, domid, gpa, buf, len(data), fail)
        self._check(rc, "copy", domid, fail[0] if rc in self._rc_with_offset else None)

    def start_info_gpa(self, domid):
        """Where libxc left the guest's hvm_start_info: vCPU0's initial %rbx (0: none).
        Unchecked: the caller looks for the magic there (see layout.start_info_regions)."""
        gpa = self.ffi.new("uint64_t *")
        rc = self._call(self.lib.xcmod_start_info_gpa, domid, gpa)
        self._check(rc, "xc_vcpu_getcontext", domid)
        return gpa[0]

    def read_from_guest(self, domid, gpa, length):
        buf = self.ffi.new("uint8_t[]", length)
        rc = self._call(self.lib.xcmod_read_from_guest, domid, gpa, buf, length)
        self._check(rc, "read", domid)
        return bytes(self.ffi.buffer(buf, length))
