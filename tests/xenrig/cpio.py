# SPDX-License-Identifier: MIT
"""A newc cpio archive written in Python (no cpio tool needed): what the kernel
unpacks as an initramfs."""
import os
import stat


class Cpio:
    """Entries written to the file object ``f``; a path is written once (the first wins)."""

    def __init__(self, f):
        self.f, self.ino, self.seen = f, 1, set()

    def _entry(self, name, mode, data=b"", nlink=1):
        name = name.lstrip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        self.ino += 1
        self.f.write(hdr.encode() + nb)
        self.f.write(b"\0" * (-(110 + len(nb)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def dirs(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755, nlink=2)

    def dir(self, path):
        self.dirs(path + "/x")

    def file(self, path, data, mode=0o755):
        self.dirs(path)
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path, target):
        self.dirs(path)
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def copy(self, src, dst=None):
        dst = dst or src
        if os.path.islink(src) and not os.path.isabs(os.readlink(src)):
            self.symlink(dst, os.readlink(src))
            self.copy(os.path.join(os.path.dirname(src), os.readlink(src)),
                      os.path.join(os.path.dirname(dst), os.readlink(src)))
            return
        with open(src, "rb") as f:
            self.file(dst, f.read(), os.stat(src).st_mode & 0o777)

    def tree(self, src, dst, skip=()):
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d not in skip]
            rel = os.path.relpath(dirpath, src)
            target = os.path.normpath(os.path.join(dst, rel))
            self.dir(target)
            for n in filenames:
                p = os.path.join(dirpath, n)
                if os.path.islink(p) and not os.path.exists(p):
                    continue
                self.copy(p, os.path.join(target, n))

    def close(self):
        self._entry("TRAILER!!!", 0)
