#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for the qemu-xen device model, enough for `xl create -p`,
`xl pause` and `xl unpause` of an HVM guest with no devices.

libxl starts the device model with, among others, ``-xen-domid N`` and a QMP
control socket ``-chardev socket,id=libxl-cmd,path=P|fd=F,...``.  It then
waits for ``/local/domain/0/device-model/N/state`` = ``running`` and talks
QMP on that socket.  This stand-in writes the xenstore keys a real device
model writes, sends a QMP greeting and answers every command: query-chardev
with an empty list, everything else with an empty object.
"""
import json
import os
import socket
import subprocess
import sys
import threading


def arg_after(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def qmp_sockets(argv):
    """The listening sockets of every ``-chardev socket`` libxl gave us."""
    out = []
    for i, a in enumerate(argv):
        if a != "-chardev":
            continue
        spec = argv[i + 1]
        if not spec.startswith("socket,"):
            continue
        opts = dict(kv.split("=", 1) for kv in spec.split(",")[1:] if "=" in kv)
        if "fd" in opts:
            out.append(socket.socket(fileno=int(opts["fd"])))
        elif "path" in opts:
            try:
                os.unlink(opts["path"])
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX)
            s.bind(opts["path"])
            s.listen(4)
            out.append(s)
    return out


GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": "xcmod-dm-standin"}, "capabilities": []}}


def serve(conn, log):
    f = conn.makefile("rw")
    f.write(json.dumps(GREETING) + "\r\n")
    f.flush()
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        name = cmd.get("execute")
        log.write(f"qmp: {name}\n")
        log.flush()
        ret = [] if name in ("query-chardev", "query-qmp-schema") else {}
        if name == "query-status":
            ret = {"status": "running", "running": True, "singlestep": False}
        reply = {"return": ret}
        if "id" in cmd:
            reply["id"] = cmd["id"]
        f.write(json.dumps(reply) + "\r\n")
        f.flush()


def listen(sock, log):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn, log), daemon=True).start()


def main(argv):
    domid = arg_after(argv, "-xen-domid")
    log = open(f"/var/log/xen/dm-standin-{domid}.log", "a")
    log.write("argv: " + " ".join(argv) + "\n")
    log.flush()
    socks = qmp_sockets(argv)
    xs = lambda path, value: subprocess.run(["xenstore-write", path, value], check=False)
    xs(f"/local/domain/{domid}/console/tty", "/dev/null")
    xs(f"/local/domain/0/device-model/{domid}/state", "running")
    threads = [threading.Thread(target=listen, args=(s, log), daemon=True) for s in socks]
    for t in threads:
        t.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
