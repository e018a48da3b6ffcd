# SPDX-License-Identifier: MIT
"""python -m tests.fakexen create|read-ram|xs-read|stop (see README)."""
import argparse
import sys

from . import create, read_ram, state_dir, stop, xs


def main(argv):
    p = argparse.ArgumentParser(prog="python -m tests.fakexen")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="create a domain (starts xenstored if needed)")
    c.add_argument("--domid", type=int, required=True)
    c.add_argument("--memory-mib", type=int, required=True)
    c.add_argument("--pv", action="store_true")
    c.add_argument("--running", action="store_true")
    c.add_argument("--vcpus", type=int, default=1)
    c.add_argument("--firmware", choices=("seabios", "ovmf", "none"), default="seabios",
                   help="the firmware module libxc would place after hvmloader, listed "
                   "in the hvm_start_info vCPU0's %%rbx points at (none: %%rbx 0)")
    r = sub.add_parser("read-ram", help="raw guest RAM bytes to stdout")
    r.add_argument("--domid", type=int, required=True)
    r.add_argument("--gpa", type=lambda s: int(s, 0), required=True)
    r.add_argument("--length", type=lambda s: int(s, 0), required=True)
    x = sub.add_parser("xs-read", help="a xenstore value to stdout; exit 1 if absent")
    x.add_argument("path")
    sub.add_parser("stop", help="stop xenstored")
    a = p.parse_args(argv)
    d = state_dir()
    if a.cmd == "create":
        placed = create(d, a.domid, a.memory_mib, a.pv, a.running, a.vcpus,
                        None if a.firmware == "none" else a.firmware)
        if placed:
            fw, si = placed["firmware"], placed["start_info"]
            print(f"firmware module {fw[0]:#x}-{fw[1] - 1:#x}, hvm_start_info at {si:#x}")
    elif a.cmd == "read-ram":
        sys.stdout.buffer.write(read_ram(d, a.domid, a.gpa, a.length))
    elif a.cmd == "xs-read":
        res = xs(d, "xenstore-read", a.path)
        if res.returncode:
            return 1
        sys.stdout.write(res.stdout)
    elif a.cmd == "stop":
        stop(d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
