"""Writing output files so that a failure never leaves a partial one behind.

Every error names the user's own path, never the temporary file beside it.
"""
import os


def _named(e, path):
    """``e`` (an OSError) re-anchored on ``path``: the file the user asked for."""
    if isinstance(e, IsADirectoryError) or (e.filename2 and os.path.isdir(path)):
        return IsADirectoryError(e.errno, "is a directory, not a file to write", path)
    return type(e)(e.errno, e.strerror or str(e), path)


def write_all(files, mode=0o644):
    """Write every ``(path, data)`` or none: temporaries first, then renames.

    Directories that do not exist are created, and removed again if any
    write fails before the renames.  An OSError names the path being written.
    """
    import tempfile
    created, temps = [], []
    try:
        for path, data in files:
            path = os.fspath(path)
            try:
                if os.path.isdir(path):
                    raise IsADirectoryError(21, "", path)
                directory = os.path.dirname(os.path.abspath(path))
                if not os.path.isdir(directory):
                    os.makedirs(directory)
                    created.append(directory)
                fd, tmp = tempfile.mkstemp(prefix=".xcmod-", dir=directory)
                temps.append((tmp, path))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, mode)
            except OSError as e:
                raise _named(e, path) from None
        for tmp, path in temps:
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise _named(e, path) from None
    except BaseException:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        for directory in reversed(created):
            try:
                os.rmdir(directory)
            except OSError:
                pass
        raise


def atomic_write(path, data, mode=0o644):
    """Write ``data`` to ``path`` via a temporary file and rename."""
    write_all([(path, data)], mode)


def refuse_collisions(outputs, inputs=()):
    """Before anything is read or written: no two ``outputs`` [(option, path)] on one
    file, and none on an existing input file (an image written over its own
    source, a manifest over the image).  UsageError names both options."""
    from .errors import UsageError
    seen = {}
    for opt, p in outputs:
        real = os.path.realpath(p)
        if real in seen:
            raise UsageError(f"{opt} {p} and {seen[real]} name the same file: each output "
                             f"needs its own path")
        seen[real] = f"{opt} {p}"
    for opt, p in inputs:
        if not p or not os.path.isfile(p):   # `host`, a built-in policy name, a directory
            continue
        real = os.path.realpath(p)
        if real in seen:
            raise UsageError(f"{seen[real]} would overwrite the input {opt} {p}: nothing "
                             f"read or written")
