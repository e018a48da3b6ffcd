# SPDX-License-Identifier: MIT
"""python -m tests.xenrig run SCRIPT [DATA] | prepare [--variant V]   (see tests/xenrig/__init__.py)."""
import argparse
import os
import sys

from . import prepare, run
from .initramfs import VARIANTS


def main(argv):
    p = argparse.ArgumentParser(prog="python -m tests.xenrig")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="boot the rig and run SCRIPT in dom0 with sh")
    r.add_argument("script")
    r.add_argument("data", nargs="?", help="directory whose files appear in dom0 at /data")
    r.add_argument("--timeout", type=int, default=300)
    r.add_argument("--libvirt", action="store_true",
                   help="dom0 has libvirtd with libvirt's libxl driver too")
    pr = sub.add_parser("prepare", help="download and build the rig (cached under build/xenrig)")
    pr.add_argument("--variant", choices=VARIANTS, default="base")
    a = p.parse_args(argv)
    if a.cmd == "prepare":
        print("\n".join(prepare(a.variant)))
        return 0
    if not os.path.isfile(a.script):
        p.error(f"{a.script}: no such script")
    if a.data and not os.path.isdir(a.data):
        p.error(f"{a.data}: not a directory")
    status, _ = run(a.script, a.data, timeout=a.timeout, libvirt=a.libvirt)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
