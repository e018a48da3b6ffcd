# SPDX-License-Identifier: MIT
"""xcmod's one exception hierarchy.

Every error xcmod raises on purpose is an :class:`XcmodError`.  Bad input
(files, images, arguments) is also a :class:`ValueError`; failures of the Xen
libraries are also an :class:`OSError` carrying ``errno``.
"""
import errno
import os
from errno import errorcode


class XcmodError(Exception):
    """Base class of every error xcmod raises on purpose."""


class FormatError(XcmodError, ValueError):
    """Bytes that are not what they claim to be: an image, a table, a dump.

    ``source`` names the file (or other origin) and ``offset`` the byte
    offset within it where the first problem was found; ``str()`` gives the
    one line the CLI prints.
    """

    def __init__(self, message, *, source=None, offset=None, code=None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.offset = offset
        self.code = code

    def with_source(self, source, base=0):
        """Return this error re-anchored in ``source`` at ``base + offset``."""
        offset = None if self.offset is None else base + self.offset
        return FormatError(self.message, source=source, offset=offset, code=self.code)

    def __str__(self):
        parts = []
        if self.source is not None:
            parts.append(str(self.source))
        if self.offset is not None:
            parts.append(f"offset {self.offset:#x}")
        parts.append(self.message)
        return ": ".join(parts)


class UsageError(XcmodError, ValueError):
    """Arguments that cannot work together, or a value out of range."""


class PolicyError(XcmodError, ValueError):
    """The sources cannot pass under the policy (a refused explicit table, a leak...)."""


class LayoutError(XcmodError, ValueError):
    """An image does not fit the guest: it overlaps what hvmloader owns, or runs past
    the guest's low RAM."""


class HostAccessError(XcmodError, PermissionError):
    """Reading the host's firmware was refused: it needs root."""

    def __init__(self, path):
        PermissionError.__init__(self, errno.EACCES, os.strerror(errno.EACCES), path)
        self.path = path

    def __str__(self):
        return (f"{self.path}: permission denied: reading the host's firmware tables needs "
                f"root (run xcmod as root, or dump them there with 'dmidecode --dump-bin' "
                f"and 'acpidump -b')")


class XenError(XcmodError, OSError):
    """A Xen library call failed or Xen refused; ``errno`` says why.

    ``str()`` is one line: the operation, the reason, then errno's name and
    libxc's own last error text where it has one, as in
    ``... : No such file or directory (ENOENT: libxc: ...)``.
    """

    def __init__(self, errno_, message, *, detail=None, op=None):
        OSError.__init__(self, errno_, message)
        self.detail = detail
        self.op = op

    def __str__(self):
        extra = [x for x in (errorcode.get(self.errno), self.detail) if x]
        return f"{self.strerror} ({': '.join(extra)})" if extra else self.strerror
