# SPDX-License-Identifier: MIT
"""The series' own producer in the rig (tests/test_xen_rig_series.py, issue 30):
libxl and xl built from the patched tree (`make xl-series`: the tree's tools/libs
and tools/xl with the upstream part of hvmloader/series, and the hvmloader of the
same patched tree), in /data/xl-series, run by dom0 against the rig's hypervisor
and Debian's xenstored and qemu-xen.  No `xcmod load`, no ``-p``: one xl.cfg line,
``firmware_tables="/data/mods-x.bin"``, and xl's own monitor re-creating the
domain through the patched libxl on each guest-initiated reboot."""
import os
import re
import subprocess

from . import step
from .boots import follow_boots, reboot_cfg
from .rig import result, sh, xl_info

SERIES = "/data/xl-series"
XL = f"{SERIES}/bin/xl"
HVMLOADER = f"{SERIES}/hvmloader"          # the same patched tree's hvmloader
IMAGE = "/data/mods-x.bin"
MISSING = "/data/no-such-image.bin"


def patched_xl(*args, timeout=120):
    """The patched xl, on the patched libraries (LD_LIBRARY_PATH): rc, out, err.
    A monitor it forks (xl create without -p) keeps that environment."""
    env = {**os.environ, "LD_LIBRARY_PATH": f"{SERIES}/lib"}
    p = subprocess.run([XL, *args], capture_output=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def domains():
    """The names of the domains Debian's xl lists."""
    out = sh("xl", "list")[1].decode("utf-8", "replace").splitlines()[1:]
    return [line.split()[0] for line in out if line.split()]


@step("series-xl")
def series_xl():
    os.makedirs("/var/log/xen", exist_ok=True)
    rc, out, err = patched_xl("info")
    info = dict(re.findall(r"^(xen_version)\s*:\s*(.*)$", out, re.M))
    versions = {"patched": info.get("xen_version"),
                "debian": xl_info().get("xen_version"), "patched_rc": rc, "patched_err": err}

    # A firmware_tables= that names no file: refused, nothing left behind.
    before = domains()
    bad = reboot_cfg("series-bad", [f'firmware = "{HVMLOADER}"', f'firmware_tables = "{MISSING}"'])
    brc, _, berr = patched_xl("create", bad)
    refused = {"rc": brc, "err": berr, "before": before, "after": domains()}

    # The control: the same config through Debian's xl (its libxl knows no
    # firmware_tables: it ignores the key), one boot.
    ctl = reboot_cfg("series-ctl", [f'firmware = "{HVMLOADER}"', f'firmware_tables = "{IMAGE}"'])
    crc, _, cerr, _ = sh("xl", "create", ctl)
    control = follow_boots("series-ctl", 1) if crc == 0 else []
    sh("xl", "destroy", "series-ctl")

    # The proof: the patched xl, the line alone, three boots (two guest resets).
    cfg = reboot_cfg("series-xl", [f'firmware = "{HVMLOADER}"', f'firmware_tables = "{IMAGE}"'])
    rc, _, err = patched_xl("create", cfg)
    boots = follow_boots("series-xl", 3) if rc == 0 else []
    sh("xl", "destroy", "series-xl")
    result("series-xl", versions=versions, refused=refused,
           control={"rc": crc, "err": cerr, "boots": control},
           rc=rc, err=err, boots=boots)
