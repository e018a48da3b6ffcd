# SPDX-License-Identifier: MIT
"""Running the real tools the tests check xcmod against, alike on every Debian release."""
import os
import shutil
import struct
import subprocess
import tempfile

NOBODY = 65534


def _as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def dmidecode_mem(ram, *args, dump_bin=None):
    """``dmidecode -d RAM ARGS [--dump-bin DUMP_BIN]``: the SMBIOS in a memory image.

    dmidecode 3.5 and later (Debian 13 has 3.6) refuse ``-d`` of anything but a
    character device when run as root ("Can't read memory from FILE"); 3.4
    (Debian 12) does not check.  So as root, on every release alike, it runs
    as nobody on a copy of RAM in a directory of nobody's, and the dump is
    copied out.  Returns the CompletedProcess (text); raises on failure.
    """
    if os.geteuid() != 0:
        extra = ["--dump-bin", str(dump_bin)] if dump_bin else []
        return subprocess.run(["dmidecode", "-d", str(ram), *args, *extra],
                              capture_output=True, text=True, check=True)
    work = tempfile.mkdtemp(prefix="dmidecode-")
    try:
        os.chown(work, NOBODY, NOBODY)
        copy = os.path.join(work, "ram")
        shutil.copyfile(ram, copy)
        os.chmod(copy, 0o444)
        extra = ["--dump-bin", os.path.join(work, "dump")] if dump_bin else []
        r = subprocess.run(["dmidecode", "-d", copy, *args, *extra], capture_output=True,
                           text=True, check=True, preexec_fn=_as_nobody)
        if dump_bin:
            shutil.copyfile(os.path.join(work, "dump"), dump_bin)
        return r
    finally:
        shutil.rmtree(work, ignore_errors=True)


def hvmloader_walk(block):
    """tools/firmware/hvmloader/smbios.c's walk, transcribed: u32 length, ptr, advance."""
    out, total = [], 0
    while total < len(block):
        (length,) = struct.unpack_from("<I", block, total)
        ptr = total + 4
        out.append(block[ptr:ptr + length])
        total += length + 4
    return out


def c_read(xcmod_read, path):
    """Run the C reference reader on ``path``."""
    return subprocess.run([xcmod_read, str(path)], capture_output=True, text=True)
