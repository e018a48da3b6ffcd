# SPDX-License-Identifier: MIT
"""Every file xcmod reads and writes, through one reader and one writer.

Reading (:func:`read_input`): a path is stat'ed first, anything but a regular
file (a FIFO, a device such as /dev/zero, a socket, a directory where a file
is expected) is refused with one line naming it, and at most the input's
ceiling is read, never more, whatever the file's size claims (sysfs files say
4096 or 0).  The ceilings (README "Input ceilings") are the constants below.

Writing (:func:`write_all`): all files or none, temporaries first, then
renames; errors name the user's own path, never the temporary beside it; an
existing file keeps its mode; directories created for the outputs are removed
again if the write fails.  :func:`plan_outputs` applies the one output rule
(below, and docs/safety.md) before anything is read or written, and under
:func:`deferred` (every CLI command) nothing is renamed into place before the
whole command succeeded.
"""
import errno
import os
import stat
import sys

from .checks import path_arg
from .errors import FormatError, HostAccessError, UsageError


KIB, MIB = 1 << 10, 1 << 20

# The ceilings of every input (README "Input ceilings"); a larger one is refused.
# An image or a stock block (smbios.bin, acpi.bin): what xcmod's hvmloader can use
# fits far below (an SMBIOS module of at most 48 KiB, ACPI tables copied into
# hvmloader's own area), and guest low RAM ends below 4 GiB in any case.
IMAGE_MAX = 64 * MIB
# An SMBIOS source (dump, RSMB blob, structure table, sysfs DMI) and the table an
# entry point points to: a 2.1 table is at most 64 KiB, real 3.0 tables are tens
# of KiB, and hvmloader takes an SMBIOS module of at most 48 KiB.
SMBIOS_SOURCE_MAX = 1 * MIB
# sysfs smbios_entry_point: the entry point's own length is one byte.
SMBIOS_ENTRY_POINT_MAX = 255
# One ACPI table file: its Length is 32-bit, the largest real DSDTs are a few
# hundred KiB.
ACPI_TABLE_MAX = 16 * MIB
# An ACPI source in total: acpidump text (hex, ~4.5 bytes per table byte) or
# all the table files of one directory.
ACPI_SOURCE_MAX = 64 * MIB
# A PCI option ROM: the expansion ROM BAR decodes at most 16 MiB.
OROM_MAX = 16 * MIB
# A policy file: a few hundred bytes in practice.
POLICY_MAX = 64 * KIB
# --secret-file: an HMAC key (a 32-byte secret in base64 is 45 bytes).
SECRET_MAX = 4 * KIB
# --hvmloader ELF: hvmloader is some 300 KiB.
HVMLOADER_ELF_MAX = 16 * MIB

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file"),
          (stat.S_ISLNK, "a link"))


def _size_text(n):
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} bytes"


def _kind(mode):
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path, what):
    """``os.stat(path)`` if ``path`` is a regular file (after symlinks); FormatError naming
    what it is otherwise (a FIFO would block ``open``, /dev/zero never ends)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise FormatError(f"is {_kind(st.st_mode)}, not a regular file ({what} is read "
                          f"from regular files only): nothing read", source=path)
    return st


def read_input(path, what, limit, *, host=False):
    """The bytes of regular file ``path`` (``what`` it is, for messages), at most
    ``limit`` of them; FormatError if it is not a regular file or is larger.

    A reading refused for permissions is a HostAccessError when ``host`` is
    set or the path is the host's firmware (/sys/firmware, /dev/mem).
    """
    path = path_arg(path, what)
    try:
        st = check_regular(path, what)
        if st.st_size > limit:
            raise FormatError(f"{st.st_size} bytes: more than {what} can be (at most "
                              f"{_size_text(limit)}); nothing read", source=path)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except PermissionError:
        if host or path.startswith(("/sys/firmware/", "/dev/mem")):
            raise HostAccessError(path) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):      # replaced since the stat
            check_regular(path, what)
        chunks, total = [], 0
        while True:                     # sysfs sizes are 4096 or 0: read to EOF
            chunk = os.read(fd, min(limit + 1 - total, 1 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FormatError(f"more than {_size_text(limit)}: larger than {what} can "
                                  f"be", source=path)
        return b"".join(chunks)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ outputs
#
# The one output rule (docs/safety.md), for every command that writes a file:
#
# * an output never lands on anything an input reaches: the real files
#   (os.stat's st_dev/st_ino, links followed) of every input file and of every
#   file an input directory reaches are compared with what each output path
#   reaches, not only the paths;
# * an output never replaces a node that is not a regular file: a device node,
#   a FIFO, a socket, a directory, a link of any kind (to /proc/self/fd/1, to a
#   file: nothing is written through a link);
# * an output's directory must exist: only a directory an option names as one
#   (--acpi-dir, --out-dir, --format xen -o) is created, and only when its own
#   parent exists;
# * it is in place only once the whole command succeeded: the CLI runs every
#   command under :func:`deferred`, and :func:`write_all` then only stages.

# How far an input directory is walked for the files it reaches: the readers
# read one level (and sysfs's dynamic/), so two levels and at most this many
# entries are all an input can reach.
_WALK_DEPTH = 2
_WALK_MAX = 4096


def _inside(child, parent):
    return child != parent and child.startswith(parent.rstrip("/") + "/")


def _reached(path):
    """{(st_dev, st_ino): shown path} of the files ``path`` reaches (itself and, for a
    directory, its entries, links followed) and the set of their real paths (a
    dangling link's target included: an output created there would become an input)."""
    ids, reals, todo, seen = {}, set(), [(path, 0)], 0
    while todo and seen < _WALK_MAX:
        p, depth = todo.pop()
        seen += 1
        reals.add(os.path.realpath(p))
        try:
            st = os.stat(p)
        except OSError:
            continue
        ids.setdefault((st.st_dev, st.st_ino), p)
        if stat.S_ISDIR(st.st_mode) and depth < _WALK_DEPTH:
            try:
                names = os.listdir(p)
            except OSError:
                continue
            todo += [(os.path.join(p, n), depth + 1) for n in names[:_WALK_MAX]]
    return ids, reals


def check_output_node(path, opt):
    """Refuse (UsageError) an output ``path`` that exists and is not a regular file: a
    device node, a FIFO, a socket, a directory, or a link of any kind (to
    /proc/self/fd/1, to /dev/null, to another file, dangling): the rename that puts
    an output in place would replace the node, and xcmod never follows a link to
    write, so a link is refused, naming what it points to."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise _named(e, path) from None
    if stat.S_ISREG(lst.st_mode):
        return
    if stat.S_ISLNK(lst.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        try:
            to = _kind(os.stat(path).st_mode) if not os.path.isfile(path) else "a file"
        except OSError:
            to = "nothing"
        raise UsageError(f"{opt} {path}: is a link (to {to}: {target!r}), not a regular "
                         f"file: an output is never written through a link nor replaces "
                         f"one; name the file itself; nothing read or written")
    raise UsageError(f"{opt} {path}: is {_kind(lst.st_mode)}, not a regular file: an "
                     f"output only replaces a regular file; nothing read or written")


def _parent_ok(real, outs, names_dir):
    """Whether the directory of output file ``real`` exists or will be made: it is (or
    lies inside) an output directory, or the option names it (``names_dir``) and its
    own parent exists."""
    parent = os.path.dirname(real)
    if os.path.isdir(parent):
        return True
    if names_dir and os.path.isdir(os.path.dirname(parent)):
        return True
    return any(d and (parent == r or _inside(parent, r)) for _, r, d in outs)


def plan_outputs(outputs, inputs=()):
    """Refuse, before anything is read or written, outputs that cannot all be written
    without harm (the output rule above).

    ``outputs``: [(option, path, is_dir)] or [(option, path, is_dir, names_dir)]: a
    file, or a directory the command writes files of its own naming into
    (``--acpi-dir``, ``--out-dir``); ``names_dir``: the file lies in the directory
    the option names (``--format xen -o DIR``), which may be created.
    ``inputs``: [(option, path)] of what the command reads (files or directories;
    ones that do not exist, ``host``, a built-in policy name, are not files and
    are left out).  Refused, as a UsageError naming both: an empty path; two
    outputs on one file; an output inside an output directory; an output that
    is, reaches, or lies inside, an input or a file an input directory reaches;
    an input inside an output directory; an output that exists and is not a
    regular file (a link of any kind included); an output whose directory does
    not exist.  ``-`` (:data:`STDOUT`) is standard output: at most one.
    """
    outs, names = _outputs(outputs)
    _check_parents(outs, names)
    _check_apart(outs)
    _check_inputs(outs, inputs)


def _outputs(outputs):
    """([(shown, realpath, is_dir)], {shown: names_dir}) of the outputs that are files
    or directories (standard output left out), each checked on its own."""
    outs, names, to_stdout = [], {}, None
    for entry in outputs:
        opt, p, is_dir = entry[:3]
        p = path_arg(p, opt)
        if p == STDOUT:
            if is_dir or (len(entry) > 3 and entry[3]):
                raise UsageError(f"{opt} -: standard output is one stream, not a directory "
                                 f"of files (name ./- for a directory called -)")
            if to_stdout is not None:
                raise UsageError(f"{opt} - and {to_stdout} - both name standard output: "
                                 f"at most one output goes there")
            to_stdout = opt
            continue
        real = os.path.realpath(p)
        if not is_dir and os.path.isdir(p):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a file to write", p)
        if is_dir and os.path.lexists(p) and not os.path.isdir(p):
            if os.path.exists(p):
                raise NotADirectoryError(errno.ENOTDIR, f"exists and is not a directory: "
                                         f"{opt} names the directory the files are written "
                                         f"into", p)
            raise UsageError(f"{opt} {p}: is a link to nothing; nothing read or written")
        if not is_dir:
            check_output_node(p, opt)
        outs.append((f"{opt} {p}", real, is_dir))
        names[f"{opt} {p}"] = bool(entry[3]) if len(entry) > 3 else False
    return outs, names


def _check_parents(outs, names):
    """Every output's directory exists (or is the output directory named)."""
    for o, real, is_dir in outs:
        if is_dir:
            if not os.path.isdir(real) and not os.path.isdir(os.path.dirname(real)):
                raise UsageError(f"{o}: the directory {os.path.dirname(real)} does not exist "
                                 f"(xcmod creates the output directory named, not its "
                                 f"parents): nothing read or written")
        elif not _parent_ok(real, outs, names[o]):
            raise UsageError(f"{o}: the directory {os.path.dirname(real)} does not exist "
                             f"(xcmod creates no directory for an output file): nothing "
                             f"read or written")


def _check_apart(outs):
    """No two outputs on one file, none inside an output directory."""
    for i, (a, ra, da) in enumerate(outs):
        for b, rb, db in outs[:i]:
            if ra == rb:
                raise UsageError(f"{a} and {b} name the same file: each output needs its "
                                 f"own path")
            if (db and _inside(ra, rb)) or (da and _inside(rb, ra)):
                inner, outer = (a, b) if db and _inside(ra, rb) else (b, a)
                raise UsageError(f"{inner} lies inside {outer}, which is written into: "
                                 f"give each output its own place")


def _check_inputs(outs, inputs):
    """No output is, reaches or lies inside an input, nor an input inside an output
    directory."""
    out_ids = {}
    for o, ro, is_dir in outs:
        try:
            st = os.stat(ro)
            out_ids[(st.st_dev, st.st_ino)] = o
        except OSError:
            pass
    for opt, p in inputs:
        if not p or not isinstance(p, (str, bytes, os.PathLike)):
            continue
        p = os.fsdecode(os.fspath(p))
        if not os.path.exists(p):        # `host`, a built-in policy name, a typo
            continue
        real = os.path.realpath(p)
        in_dir = os.path.isdir(p)
        for o, ro, is_dir in outs:
            if ro == real:
                raise UsageError(f"{o} would overwrite the input {opt} {p}: nothing read "
                                 f"or written")
            if in_dir and _inside(ro, real):
                raise UsageError(f"{o} lies inside the input {opt} {p}: nothing read or "
                                 f"written")
            if is_dir and _inside(real, ro):
                raise UsageError(f"the input {opt} {p} lies inside {o}, which is written "
                                 f"into: nothing read or written")
        ids, reals = _reached(p)
        for key, shown in ids.items():
            if key in out_ids:
                o = out_ids[key]
                how = "" if shown == p else f" (through {shown})"
                raise UsageError(f"{o} is the same file as the input {opt} {p}{how}: "
                                 f"nothing read or written")
        for o, ro, is_dir in outs:
            hit = ro in reals or any(_inside(r, ro) for r in reals) if is_dir else ro in reals
            if hit:
                raise UsageError(f"{o} is reached by a link in the input {opt} {p}: "
                                 f"nothing read or written")


def _named(e, path):
    """``e`` (an OSError) re-anchored on ``path``: the file the user asked for."""
    if isinstance(e, IsADirectoryError) or (e.filename2 and os.path.isdir(path)):
        return IsADirectoryError(e.errno, "is a directory, not a file to write", path)
    return type(e)(e.errno, e.strerror or str(e), path)


def _makedirs(directory, created):
    """Create ``directory`` and its missing parents, each recorded in ``created``
    (outermost first) so a failure can remove every one of them again."""
    missing = []
    d = directory
    while not os.path.isdir(d):
        missing.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    for d in reversed(missing):
        os.mkdir(d)
        created.append(d)


# An output path that means standard output (``-o -``); ``./-`` names a file "-".
STDOUT = "-"


def _stdout_bytes(data):
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:                  # a text stream (a test's StringIO): no bytes
        raise UsageError("-: standard output takes no bytes here (not a binary stream)")
    stream.write(data)
    stream.flush()


class Staged:
    """Files written to temporaries beside their paths, not yet in place:
    :meth:`commit` renames them all (and writes what goes to standard output),
    :meth:`abort` removes every temporary and every directory made for them.
    :func:`stage` makes one."""

    def __init__(self):
        self.created, self.temps, self.stdout = [], [], []

    def commit(self):
        try:
            for tmp, path in self.temps:      # (a node may have appeared since the plan)
                check_output_node(path, "output")
            for tmp, path in self.temps:
                try:
                    os.replace(tmp, path)
                except OSError as e:
                    raise _named(e, path) from None
        except BaseException:
            self.abort()
            raise
        self.temps = []
        stdout, self.stdout = self.stdout, []
        for data in stdout:
            _stdout_bytes(data)

    def abort(self):
        self.stdout = []
        for tmp, _ in self.temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self.temps = []
        for directory in reversed(self.created):
            try:
                os.rmdir(directory)
            except OSError:
                pass
        self.created = []


def _temporary(directory):
    """(fd, path) of a new file ``.xcmod-<random>`` in ``directory``, created with
    O_EXCL and mode 0600 and ``O_NOFOLLOW``, as tempfile.mkstemp creates it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = os.path.join(directory, f".xcmod-{os.urandom(8).hex()}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", directory)


def stage(files, mode=0o644):
    """Write every ``(path, data)`` to a temporary beside ``path`` (fsync'ed); a
    :class:`Staged` to commit or abort.  A file that exists keeps its mode (a 0600
    file stays 0600); a new one gets ``mode``.  On any failure nothing is left."""
    s = Staged()
    try:
        for path, data in files:
            path = os.fspath(path)
            if path == STDOUT:
                s.stdout.append(bytes(data))
                continue
            try:
                if os.path.isdir(path):
                    raise IsADirectoryError(21, "", path)
                check_output_node(path, "output")
                try:
                    keep = stat.S_IMODE(os.stat(path).st_mode)
                except FileNotFoundError:
                    keep = mode
                directory = os.path.dirname(os.path.abspath(path))
                _makedirs(directory, s.created)
                fd, tmp = _temporary(directory)
                s.temps.append((tmp, path))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, keep)
            except OSError as e:
                raise _named(e, path) from None
    except BaseException:
        s.abort()
        raise
    return s


# The Staged writes of the command running under deferred(), or None.
_DEFERRED = None


class deferred:
    """``with deferred() as d: ...; d.commit()``: every :func:`write_all` inside only
    stages its files; :meth:`commit` puts them all in place (in order), and leaving
    the block without it (an exception, a failing command) removes them all.  The
    CLI runs every command so (:func:`xcmod.cli.main`): a file is in place only
    once the whole command, rendering and encoding included, succeeded."""

    def __enter__(self):
        global _DEFERRED
        self.previous, self.staged = _DEFERRED, []
        _DEFERRED = self.staged
        return self

    def commit(self):
        global _DEFERRED
        _DEFERRED = self.previous
        staged, self.staged = self.staged, []
        for i, s in enumerate(staged):
            try:
                s.commit()
            except BaseException:
                for later in staged[i + 1:]:
                    later.abort()
                raise

    def __exit__(self, *exc):
        global _DEFERRED
        _DEFERRED = self.previous
        for s in self.staged:
            s.abort()
        self.staged = []


def abort_pending():
    """Remove every file staged under :class:`deferred` (for the --timeout watchdog,
    which ends the process without unwinding)."""
    for s in list(_DEFERRED or ()):
        s.abort()


def write_all(files, mode=0o644):
    """Write every ``(path, data)`` or none: temporaries first, then renames (under
    :func:`deferred`, the renames wait for its commit).

    Directories that do not exist are created, and removed again if any
    write fails (:func:`plan_outputs` has refused every one that the output
    rule does not allow).  An OSError names the path being written.
    """
    staged = stage(files, mode)
    if _DEFERRED is not None:
        _DEFERRED.append(staged)
    else:
        staged.commit()


def atomic_write(path, data, mode=0o644):
    """Write ``data`` to ``path`` via a temporary file and rename."""
    write_all([(path, data)], mode)
