# SPDX-License-Identifier: MIT
"""Load an image into a paused HVM guest and tell hvmloader where it is.

    >>> import xcmod
    >>> xcmod.load(5, open("mods.bin", "rb").read())        # doctest: +SKIP
    LoadResult(domid=5, base=2097152, length=3840, count=2, keys={...})

Two formats, one procedure:

* an xcmod image goes at ``base`` and is announced under
  ``hvmloader/modules/{address,length,count}``;
* stock blocks (``build --format xen``: smbios.bin, acpi.bin) go page-aligned
  from ``base`` and are announced with the four keys stock hvmloader reads,
  ``hvmloader/{smbios,acpi}/{address,length}``.

Keys always true: whatever ends the process, at any point (an error, SIGINT,
SIGTERM, SIGKILL, a xenstored that stops answering), the load keys in
xenstore afterwards describe what guest RAM holds, or are absent.  One
procedure orders every load's writes so (:func:`_load_blocks`):

1. check everything that can be checked without changing anything: the
   blocks (the C reader and hvmloader's rules), the arguments, the domain,
   the layout, that xenstored answers;
2. **unpublish**, in a committed transaction: remove the keys this load will
   write, the other path's keys (a module image and stock blocks exclude each
   other, :func:`stale_paths`), and any other load key whose range this load
   overwrites, so no key describes RAM about to change;
3. copy the blocks into guest RAM and verify them through a fresh mapping
   (and read back what ``measure`` asks for; its file is staged, not yet in
   place);
4. **publish**, in a second transaction: read the guest RAM back once more
   and write the new keys, guest read-only; then the measurement file is
   renamed into place (if that fails, the keys are removed again).

Loads into one domain, and ``xcmod keys set``/``rm``, are serialised by a lock
per domain (:func:`domain_lock`).  :data:`PROGRESS` records how far the load
in this process got, so every message says truthfully whether guest RAM was
changed and which keys were removed or written.

The layout keeps clear of what libxc's domain builder placed after hvmloader
(the "firmware" module: OVMF's 2 MiB reach past 0x200000), as the guest's
hvm_start_info lists it (:func:`_libxc_regions`).
"""
import errno as _errno
import fcntl
import os
import stat
import time

from ..checks import bool_arg, bytes_arg, path_arg, seconds_arg
from ..errors import FormatError, UsageError, XcmodError, XenError
from ..fileio import _kind, plan_outputs, stage
from ..image.blocks import IMAGE, Block, check
from .hvminfo import HVM_INFO_PADDR, SIZE, low_mem_end
from .layout import (
    DEFAULT_BASE,
    HVMLOADER_PHYSICAL_ADDRESS,
    PCI_MEM_START,
    check_hvmloader_end,
    plan,
    start_info_regions,
)
from .xenctrl import XenControl, check_domid
from .xenstore import XenStore, domain_path, require_domain


# The nodes a load writes under /local/domain/<domid>/: the module image's and
# stock hvmloader's two (hvm_xs_strings.h), with the keys each holds.
LOAD_KEYS = {"hvmloader/modules": ("address", "length", "count"),
             "hvmloader/smbios": ("address", "length"),
             "hvmloader/acpi": ("address", "length")}


def stale_paths(domid, keys):
    """The other path's nodes, which a load writing ``keys`` removes: a module image's
    load removes the stock blocks' nodes and the reverse.  A stock load of one block
    leaves the other block's keys alone (libxl may have written them for
    ``acpi_firmware=`` or ``smbios_firmware=``) unless it overwrites that block's RAM
    (:func:`_unpublish`)."""
    root = domain_path(domid)
    modules = any(k.startswith(f"{root}/hvmloader/modules/") for k in keys)
    return [f"{root}/{node}" for node in LOAD_KEYS
            if (node == "hvmloader/modules") != modules]


# Where the per-domain lock files live (XCMOD_LOCK_DIR overrides, for tests).
LOCK_DIR = "/run/xcmod"
DEFAULT_LOCK_TIMEOUT = 30.0


def lock_dir():
    """The lock directory, checked for what it must be: ``$XCMOD_LOCK_DIR`` or
    :data:`LOCK_DIR`, an absolute path to a directory (made, mode 0700, if its parent
    exists) that is not a link and that no one but its owner may write into
    (another user could otherwise put a link or a FIFO where a lock file goes).
    UsageError naming the variable and what the path is otherwise."""
    d = os.environ.get("XCMOD_LOCK_DIR")
    name = f"XCMOD_LOCK_DIR={d}" if d is not None else f"the lock directory {LOCK_DIR}"
    d = LOCK_DIR if d is None else d
    if not d or not os.path.isabs(d) or "\0" in d:
        raise UsageError(f"{name}: must be an absolute path to a directory; nothing loaded")
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        if not os.path.isdir(os.path.dirname(d.rstrip("/")) or "/"):
            raise UsageError(f"{name}: neither it nor its parent directory exists; "
                             f"nothing loaded") from None
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise XenError(e.errno, f"lock directory {d}: {e.strerror}", op="lock") from None
        st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        what = "a link" if stat.S_ISLNK(st.st_mode) else _kind(st.st_mode)
        raise UsageError(f"{name}: is {what}, not a directory; nothing loaded")
    if st.st_mode & 0o022 and not (st.st_mode & stat.S_ISVTX and st.st_uid == os.geteuid()):
        raise UsageError(f"{name}: is writable by others (mode {stat.S_IMODE(st.st_mode):o}): "
                         f"a lock there protects nothing; nothing loaded")
    return d


class domain_lock:
    """An exclusive lock on one domain's loads, held for a ``with`` block.

    A ``flock`` on ``<lock dir>/domain-<domid>.lock`` (:func:`lock_dir`): the
    kernel drops it when its holder exits, however it exits, so a crashed load
    never leaves it stuck.  Waits at most ``timeout`` seconds, then raises
    ETIMEDOUT.  The lock file is opened without following a link and must be a
    regular file.  Two processes that disagree on the lock directory do not
    exclude each other: what still keeps a domain's keys true then is the load's
    mark in xenstore (:func:`_load_blocks`), re-checked in the transaction that
    publishes the keys.
    """

    def __init__(self, domid, timeout=DEFAULT_LOCK_TIMEOUT):
        self.domid, self.fd = domid, None
        self.timeout = seconds_arg(timeout, "lock_timeout")

    def __enter__(self):
        path = os.path.join(lock_dir(), f"domain-{self.domid}.lock")
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW |
                              os.O_NONBLOCK | os.O_NOCTTY, 0o600)
        except OSError as e:
            if e.errno == _errno.ELOOP:
                raise UsageError(f"lock file {path}: is a link; nothing loaded") from None
            raise XenError(e.errno, f"lock {path}: {e.strerror}", op="lock") from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            raise UsageError(f"lock file {path}: is not a regular file; nothing loaded")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise XenError(_errno.ETIMEDOUT, f"domain {self.domid}: another load "
                                   f"still holds {path} after {self.timeout:g} s",
                                   op="lock") from None
                time.sleep(0.01)

    def __exit__(self, *exc):
        os.close(self.fd)             # releases the flock


# Loads in progress: each writes its mark, MARKS/<pid>-<nonce> = "<pid> <start time>",
# in the transaction that unpublishes, and removes it when done; the transaction
# that publishes refuses while another live load's mark is there (docs/safety.md,
# "What protects a domain when two processes disagree on the lock directory").
# Readable by dom0 alone; a mark whose process is gone (SIGKILL) is stale.
MARKS = "xcmod-load"


def _start_time(pid):
    """Field 22 of /proc/<pid>/stat (the process's start time), or None if it is gone;
    "?" where /proc cannot say (then the mark counts as live)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        return "?"


def _live(value):
    """Whether a mark's value names a process still running (on this host)."""
    try:
        pid, start = value.decode("ascii").split()
        now = _start_time(int(pid))
    except (AttributeError, UnicodeDecodeError, ValueError):
        return False                    # not a mark xcmod wrote
    return now is not None and (now == "?" or now == start)


def _other_loads(xs, domid, own, t):
    """The names of the live marks of other loads of ``domid`` (read in ``t``); stale
    ones are removed in ``t``."""
    base = domain_path(domid, MARKS)
    others = []
    for name in xs.directory(base, t):
        if name == own:
            continue
        if _live(xs.read(f"{base}/{name}", t)):
            others.append(name)
        else:
            xs.rm(f"{base}/{name}", t)
    return others


def _busy(domid, others, when, outcome="this one publishes no key"):
    pids = ", ".join(sorted({n.split("-")[0] for n in others}))
    return XenError(_errno.EBUSY, f"domain {domid}: another load of this domain (process "
                    f"{pids}) {when}, not excluded by the lock (a different "
                    f"XCMOD_LOCK_DIR?); {outcome}", op="load")


def _drop_own_mark(xs, domid, own, t):
    """Remove this load's mark in ``t`` (and the marks' node once empty)."""
    base = domain_path(domid, MARKS)
    xs.rm(f"{base}/{own}", t)
    if not xs.directory(base, t):
        xs.rm(base, t)


class Vanished(XenError):
    """The domain went away during the load (its xenstore directory removed, or the
    domain destroyed or dying): no key was written for it."""


def _vanished(domid, how):
    e = Vanished(_errno.ESRCH, f"domain {domid} vanished during the load ({how}): no key "
                 f"written, none re-created for it", op="load")
    e.noted = True
    return e


def _still_there(xc, domid):
    """Vanished unless libxc still has the domain, not dying."""
    try:
        info = xc.domain_info(domid)
    except XenError as e:
        if e.errno in (_errno.ESRCH, _errno.ENOENT):
            raise _vanished(domid, "destroyed") from None
        raise
    if info.dying:
        raise _vanished(domid, "dying")


def _require_here(xs, domid, t):
    """In transaction ``t``: Vanished if /local/domain/<domid> is gone."""
    if xs.read(domain_path(domid), t) is None:
        raise _vanished(domid, f"{domain_path(domid)} removed from xenstore")


class LoadResult:
    """What a load did (a plain class: see layout.Region on import cost).

    ``blocks``: [(kind, name, gpa, length)] as placed; ``count``: the modules of
    an xcmod image (the value of hvmloader/modules/count), None for stock blocks;
    ``libxc``: the Regions libxc placed that the layout kept clear of.
    """

    def __init__(self, domid, base, length, count, keys=None, blocks=None, measurement=None,
                 warnings=None, libxc=None):
        self.domid, self.base, self.length, self.count = domid, base, length, count
        self.libxc = libxc or []
        self.keys = keys or {}
        self.blocks = blocks or []            # [(kind, name, gpa, length)]
        self.measurement = measurement
        self.warnings = warnings or []        # what the caller should be told

    def __repr__(self):
        return (f"LoadResult(domid={self.domid}, base={self.base}, length={self.length}, "
                f"count={self.count}, keys={self.keys!r})")

    def as_dict(self):
        d = {"domid": self.domid, "base": self.base, "length": self.length,
             "count": self.count, "keys": self.keys,
             "blocks": [{"kind": k, "name": n, "address": a, "length": n_}
                        for k, n, a, n_ in self.blocks],
             "libxc": [r.as_dict() for r in self.libxc],
             "warnings": self.warnings}
        if self.measurement is not None:
            d["measurement"] = self.measurement
        return d


def _keys_for(domid, placed, count):
    """The keys that announce ``placed`` [(Block, gpa)] to hvmloader, by each block's kind;
    an image's node also gets its module ``count``."""
    keys = {}
    for blk, gpa in placed:
        node = "modules" if blk.kind == IMAGE else blk.kind
        root = domain_path(domid, "hvmloader", node)
        keys[f"{root}/address"] = f"{gpa:#x}"
        keys[f"{root}/length"] = f"{len(blk):#x}"
        if blk.kind == IMAGE:
            keys[f"{root}/count"] = str(count)
    return keys


def _range(address, length):
    """[start, end) a node's address and length values (bytes, or None if missing)
    describe, or None if they describe none (hvmloader would ignore them too)."""
    try:
        a, n = int(address.decode("ascii"), 0), int(length.decode("ascii"), 0)
    except (AttributeError, UnicodeDecodeError, ValueError):
        return None
    return (a, a + n) if a >= 0 and n > 0 else None


class Progress:
    """How far the load in this process got, so that whatever ends it (an error,
    SIGINT, SIGTERM, the --timeout watchdog) the message says what is true: whether
    guest RAM was changed and which keys were removed or written.  :data:`PROGRESS`
    is the one instance; :meth:`note` is the clause the messages end with."""

    def __init__(self):
        self.start(None)
        self.phase = "idle"

    def start(self, domid):
        self.domid, self.phase, self.removed, self.ram = domid, "checking", [], []

    def ram_text(self):
        """The guest RAM ranges this load writes, as the messages show them."""
        return ", ".join(f"{a:#x}-{b - 1:#x}" for a, b in self.ram)

    def _removed(self):
        return (f"the keys of the earlier load ({', '.join(self.removed)}) were removed"
                if self.removed else "")

    def note(self):
        """One clause: what this load has changed in the domain so far."""
        p, removed = self.phase, self._removed()
        if p in ("idle", "checking"):
            return "no key written, guest RAM untouched"
        if p == "unpublishing":
            return ("guest RAM untouched; the earlier load's keys may or may not have been "
                    "removed (the transaction removing them did not complete); no key written")
        if p == "unpublished":
            return "guest RAM untouched; " + (removed + "; " if removed else "") + \
                "no key written"
        if p == "copying":
            return (f"guest RAM at {self.ram_text()} may have been changed (the copy did not "
                    f"complete); {removed + ', ' if removed else ''}no key written for it")
        if p == "copied":
            return (f"guest RAM at {self.ram_text()} holds the new blocks; "
                    f"{removed + ', ' if removed else ''}no key written for them")
        if p == "publishing":
            return (f"guest RAM at {self.ram_text()} holds the new blocks, verified; their keys "
                    f"may or may not have been written (the transaction did not complete)")
        return f"guest RAM at {self.ram_text()} holds the new blocks and their keys are written"


PROGRESS = Progress()


def _noted(e, note=None):
    """``e`` (an error raised mid-load) again, its message ending with ``note``
    (:data:`PROGRESS`'s by default): the one line the user reads says what changed."""
    note = note or PROGRESS.note()
    if isinstance(e, XenError):
        new = XenError(e.errno, f"{e.strerror}; {note}", detail=e.detail, op=e.op)
    elif isinstance(e, FormatError):
        new = FormatError(f"{e.message}; {note}", source=e.source, offset=e.offset,
                          code=e.code)
    elif isinstance(e, OSError):            # (OSError picks the subclass from errno)
        new = OSError(e.errno, f"{e.strerror or e}; {note}", e.filename)
    else:                                   # UsageError, LayoutError: a message each
        new = type(e)(f"{e}; {note}")
    new.noted = True
    return new


def _unpublish(xs, t, domid, keys, ranges):
    """In transaction ``t``: remove every load node that will not describe guest RAM once
    ``ranges`` [(start, end)] are overwritten and ``keys`` written: the nodes ``keys``
    write (rewritten whole afterwards, so no key of an earlier load is left beside
    them), the other path's (:func:`stale_paths`), and any other node whose
    address/length overlap ``ranges``.  Returns the nodes removed."""
    root = domain_path(domid)
    present = set(xs.directory(f"{root}/hvmloader", t))
    stale = set(stale_paths(domid, keys))
    removed = []
    for node in LOAD_KEYS:
        if node.split("/", 1)[1] not in present:
            continue
        path = f"{root}/{node}"
        drop = path in stale or any(k.startswith(path + "/") for k in keys)
        if not drop:
            r = _range(*(xs.read(f"{path}/{k}", t) for k in ("address", "length")))
            drop = r is not None and any(r[0] < e and s < r[1] for s, e in ranges)
        if drop:
            xs.rm(path, t)
            removed.append(node)
    return removed


class _Load:
    """One load's writes, in the order the module docstring gives: :meth:`place`
    (nothing written), :meth:`unpublish` (this load's mark written, the old keys
    removed), :meth:`copy`, :meth:`publish` (the mark dropped, the RAM read again
    and the keys written in one transaction), then :meth:`commit_measurement`.
    Each step says how far it got in :data:`PROGRESS`."""

    def __init__(self, domid, blocks, count, force, hvmloader_end, base):
        self.domid, self.blocks, self.count = domid, blocks, count
        self.force, self.hvmloader_end, self.base = force, hvmloader_end, base
        self.warnings = []
        self.own = f"{os.getpid()}-{os.urandom(6).hex()}"    # this load's mark's name

    def place(self, xc):
        """Where each block goes (the layout's checks), the domain's own checks of each
        range, and the keys that will describe them."""
        info = xc.domain_info(self.domid)
        lowmem_end, what = _guest_lowmem_end(xc, self.domid, info, self.warnings)
        self.libxc = _libxc_regions(xc, self.domid, info, self.force, lowmem_end,
                                    self.warnings)
        layout = plan([(b.name, len(b)) for b in self.blocks], info.memory_mib, self.base,
                      self.hvmloader_end, lowmem_end=lowmem_end, lowmem_what=what,
                      libxc=self.libxc)
        self.placed = [(b, region.start) for b, region in zip(self.blocks, layout.blocks)]
        for b, gpa in self.placed:
            xc.check_domain(self.domid, gpa, len(b), force=self.force)
        self.keys = _keys_for(self.domid, self.placed, self.count)
        self.ranges = [(gpa, gpa + len(b)) for b, gpa in self.placed]

    def unpublish(self, xs):
        """Write this load's mark and remove the keys of the earlier load, in one
        transaction, refused while another load's mark is there."""
        domid, own = self.domid, self.own
        require_domain(xs, domid)
        pid = os.getpid()
        mark = f"{pid} {_start_time(pid)}".encode()

        def body(t):
            _require_here(xs, domid, t)
            others = _other_loads(xs, domid, own, t)
            if others:
                raise _busy(domid, others, "is running")
            # this load's mark, there until it is done: another load's
            # publish refuses while it is (whatever lock directory it used)
            path = domain_path(domid, MARKS, own)
            xs.write(path, mark, t)
            xs.set_permissions(path, [(0, xs.PERM_NONE)], t)
            return _unpublish(xs, t, domid, self.keys, self.ranges)
        PROGRESS.phase = "unpublishing"
        PROGRESS.removed = xs.transaction(body)
        PROGRESS.phase = "unpublished"

    def copy(self, xc):
        """Copy every block into guest RAM, the domain still there after it."""
        PROGRESS.ram = self.ranges
        PROGRESS.phase = "copying"
        try:
            for b, gpa in self.placed:
                xc.copy_to_guest(self.domid, gpa, b.data)
        except XenError:
            _still_there(xc, self.domid)     # a copy into a domain destroyed meanwhile
            raise
        PROGRESS.phase = "copied"
        _still_there(xc, self.domid)

    def publish(self, xc, xs):
        """In one transaction: the domain still there, no other load's mark, this one's
        dropped, guest RAM read back equal to the blocks, the keys written."""
        domid, own, placed = self.domid, self.own, self.placed

        def body(t):
            PROGRESS.phase = "copied"        # (again, when a conflict retries)
            # Never re-create the directory of a domain that is gone.
            _require_here(xs, domid, t)
            # Another load of this domain is running (a different lock directory):
            # its bytes may be on their way into RAM, whatever the read below
            # shows, so no key now.  (Read in the transaction: a mark written
            # after the read makes the commit conflict, and the retry sees it.)
            others = _other_loads(xs, domid, own, t)
            if others:
                raise _busy(domid, others, "ran during this one")
            _drop_own_mark(xs, domid, own, t)
            # The keys may only describe bytes that are there: read the
            # guest RAM once more, inside the transaction that writes them.
            for b, gpa in placed:
                if xc.read_from_guest(domid, gpa, len(b)) != b.data:
                    raise XenError(_errno.EIO, f"domain {domid}: guest RAM at "
                                   f"{gpa:#x} changed after {b.name} was copied "
                                   f"there (another writer?)", op="verify")
            _unpublish(xs, t, domid, self.keys, self.ranges)    # written by hand meanwhile?
            for path, value in self.keys.items():
                xs.write_for_guest(path, value, domid, t)
            PROGRESS.phase = "publishing"    # the commit is what follows
        xs.transaction(body)
        PROGRESS.phase = "published"

    def commit_measurement(self, xs, staged):
        """Put the staged measurement file in place; if it cannot be, remove the keys
        again (the measurement is part of the load: without it, no keys)."""
        try:
            staged.commit()
        except OSError as e:
            PROGRESS.phase = "publishing"
            xs.transaction(lambda t: _unpublish(xs, t, self.domid, self.keys, self.ranges))
            PROGRESS.phase = "copied"
            raise _noted(e, f"guest RAM at {PROGRESS.ram_text()} holds the new "
                            f"blocks; their keys were written and removed "
                            f"again, none is left") from None


def _load_blocks(domid, blocks, count, force, hvmloader_end, base, measure, lock_timeout,
                 measure_file=None):
    """Place ``blocks`` (checked Blocks), unpublish, copy, verify, publish their keys: the
    one procedure of every load (module docstring, :class:`_Load`).  Returns (keys,
    placed, measurement, warnings, libxc regions)."""
    load = _Load(domid, blocks, count, force, hvmloader_end, base)
    PROGRESS.start(domid)
    try:
        with domain_lock(domid, lock_timeout), XenControl() as xc:
            load.place(xc)
            with XenStore() as xs:
                load.unpublish(xs)
                try:
                    measurement = _copy_and_publish(load, xc, xs, measure, measure_file)
                except BaseException:
                    _drop_mark(xs, domid, load.own)
                    raise
    except (OSError, ValueError) as e:          # XenError, FormatError, UsageError...
        if PROGRESS.phase in ("checking", "published") or getattr(e, "noted", False):
            raise
        raise _noted(e) from None
    return (load.keys, [(b.kind, b.name, g, len(b)) for b, g in load.placed], measurement,
            load.warnings, load.libxc)


def _copy_and_publish(load, xc, xs, measure, measure_file):
    """Steps 3 and 4 of the procedure (module docstring), after the unpublish; the
    measurement (or None)."""
    load.copy(xc)
    measurement = staged = None
    if measure:
        measurement = _measure(xc, load.domid, load.placed, load.hvmloader_end)
        if measure_file is not None:
            staged = _stage_measurement(measure_file, measurement)
    try:
        load.publish(xc, xs)
    except BaseException:
        if staged is not None:
            staged.abort()
        raise
    if staged is not None:
        load.commit_measurement(xs, staged)
    return measurement


def _drop_mark(xs, domid, own):
    """Best effort, after a failed load: remove this load's mark if the domain's
    directory is still there (nothing is re-created)."""
    def body(t):
        if xs.read(domain_path(domid), t) is not None:
            _drop_own_mark(xs, domid, own, t)
    try:
        xs.transaction(body, retries=2)
    except Exception:
        pass


def _libxc_regions(xc, domid, info, force, lowmem_end, warnings):
    """What libxc's domain builder placed after hvmloader, which the image must not
    overwrite: the modules the guest's hvm_start_info lists (the "firmware"
    module, SeaBIOS or OVMF) and the start info itself, found at vCPU0's %rbx.

    [] for a domain the shim will refuse anyway (PV, dying, running without
    ``force``).  [] and a line in ``warnings`` where there is no start info:
    the layout is then what it was without one, from DEFAULT_BASE.  A start
    info whose numbers are wrong is a FormatError: nothing is loaded.
    """
    if not info.hvm or info.dying or not (info.paused or force):
        return []
    ram_end = lowmem_end or min(info.max_memkb * 1024, PCI_MEM_START)
    regions, reason = start_info_regions(lambda a, n: xc.read_from_guest(domid, a, n),
                                         xc.start_info_gpa(domid), ram_end,
                                         f"domain {domid}")
    if regions is None:
        warnings.append(f"domain {domid}: no hvm_start_info ({reason}), so what libxc "
                        f"placed after hvmloader is unknown: the image is placed as if "
                        f"nothing were there, from {DEFAULT_BASE:#x} or --base (where "
                        f"OVMF's 2 MiB firmware module, for one, would lie)")
        return []
    return regions


def _stage_measurement(path, measurement):
    """The measurement JSON written to a temporary beside ``path``, fsync'ed: a full
    disk fails here, before any key is written.  Committed after the keys."""
    import json     # here: only a load with --measure writes JSON
    return stage([(path, (json.dumps(measurement, indent=2, sort_keys=False) + "\n")
                   .encode())])


def _guest_lowmem_end(xc, domid, info, warnings):
    """(end, what): where the guest's low RAM really ends, and where that comes from.

    The HVM info table's low_mem_pgend, which hvmloader itself follows:
    max_memkb also counts memory the guest does not see as RAM (the device
    model's video RAM, for one).  Without a valid table (a PV domain, or one the
    builder left none in) max_memkb is the limit, and for an HVM domain a
    warning in ``warnings`` says so.  A domain with no memory at all gets end 0,
    so the image is refused as not fitting (LayoutError), not as a usage error.
    """
    fallback = (min(info.max_memkb * 1024, PCI_MEM_START),
                f"max_memkb of domain {domid}: {info.memory_mib} MiB")
    if not info.hvm or info.max_memkb * 1024 < HVM_INFO_PADDR + SIZE:
        return fallback
    try:
        return (low_mem_end(xc.read_from_guest(domid, HVM_INFO_PADDR, SIZE)),
                "from the guest's HVM info table")
    except XcmodError as e:
        warnings.append(f"domain {domid}: HVM info table at {HVM_INFO_PADDR:#x} unusable "
                        f"({getattr(e, 'message', e)}); the image is "
                        f"checked against max_memkb "
                        f"({info.memory_mib} MiB) instead, which counts video RAM too")
        return fallback


def _measure(xc, domid, placed, hvmloader_end):
    """SHA-256 of hvmloader's range and every block, as read back from guest RAM."""
    from ..image.manifest import block_items, measure
    items = [("hvmloader", xc.read_from_guest(domid, HVMLOADER_PHYSICAL_ADDRESS,
                                             hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS))]
    for b, gpa in placed:          # as build --manifest has them, but read back
        items += block_items(b.kind, b.name, xc.read_from_guest(domid, gpa, len(b)))
    doc = measure(items)
    doc["domid"] = domid
    doc["regions"] = ([{"name": "hvmloader", "address": HVMLOADER_PHYSICAL_ADDRESS,
                        "length": hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS}] +
                      [{"name": b.name, "address": g, "length": len(b)} for b, g in placed])
    return doc


def load(domid, image, base=None, force=False, hvmloader_end=None, source=None,
         measure=False, lock_timeout=DEFAULT_LOCK_TIMEOUT, measure_file=None):
    """Copy ``image`` into domain ``domid`` and publish the keys hvmloader reads.

    ``base`` None places it after hvmloader and what libxc placed there (the
    firmware module), at 0x200000 at the lowest; an explicit ``base`` that
    overlaps any of it is refused.

    ``image`` is an xcmod image (bytes, or ``[Block(IMAGE, ...)]``) or stock blocks
    (``[Block(SMBIOS, ...), Block(ACPI, ...)]``, as :func:`xcmod.image.blocks.read_path`
    gives for a ``build --format xen`` directory).  Everything the load needs, the
    blocks, the domid, every argument and what ``measure`` needs, is checked before
    guest RAM is touched; a misused argument is a UsageError.  ``measure_file``
    (with ``measure``): the path the measurement JSON is written to, in place only
    once the keys are (a disk that is full fails the load before any key is written).
    Whatever ends the load, the keys afterwards describe guest RAM or are absent
    (module docstring); an error's message says whether guest RAM was changed.
    """
    if isinstance(image, (list, tuple)):
        blocks = list(image)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        if source is not None:
            path_arg(source, "source")
        blocks = [Block(IMAGE, bytes_arg(image, "image"), source)]
    else:
        raise UsageError(f"image must be the bytes of an image or a list of Blocks, not "
                         f"{type(image).__name__} (xcmod.read_blocks(path) reads a file)")
    count = check(blocks)
    if check_domid(domid) == 0:
        raise XenError(_errno.EPERM, "domain 0: refusing to load into domain 0")
    bool_arg(force, "force")
    bool_arg(measure, "measure")
    seconds_arg(lock_timeout, "lock_timeout")
    check_hvmloader_end(hvmloader_end)
    if measure and hvmloader_end is None:
        raise UsageError("--measure needs --hvmloader ELF: the hvmloader image the domain "
                         "runs is measured from guest RAM over the range its ELF loads")
    if measure_file is not None:
        if not measure:
            raise UsageError("measure_file needs measure=True")
        measure_file = path_arg(measure_file, "--measure")
        plan_outputs([("--measure", measure_file, False)],
                     [("source", source)] if isinstance(source, (str, os.PathLike)) else [])
    keys, placed, m, warnings, libxc = _load_blocks(domid, blocks, count, force, hvmloader_end,
                                                    base, measure, lock_timeout, measure_file)
    return LoadResult(domid, placed[0][2], sum(n for *_, n in placed), count, keys, placed, m,
                      warnings, libxc)
