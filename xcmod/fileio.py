"""Writing output files so that a failure never leaves a partial one behind."""
import os
import tempfile


def atomic_write(path, data, mode=0o644):
    """Write ``data`` to ``path`` via a temporary file and rename."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".xcmod-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_all(files):
    """Write every ``(path, data)`` or none: temporaries first, then renames.

    Directories that do not exist are created, and removed again if any
    write fails before the renames.
    """
    created, temps = [], []
    try:
        for path, data in files:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                os.makedirs(directory)
                created.append(directory)
            fd, tmp = tempfile.mkstemp(prefix=".xcmod-", dir=directory)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
        for tmp, path in temps:
            os.replace(tmp, path)
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
