# SPDX-License-Identifier: MIT
"""The kernel modules dom0 loads: the Xen drivers and what they depend on, read from
the extracted kernel package (which has no modules.dep: depmod makes it on install)."""
import lzma
import os
import re
import subprocess

from .debs import extracted

XEN_MODULES = ["xen-evtchn", "xen-privcmd", "xenfs", "xen-gntdev", "xen-gntalloc"]


def module_bytes(path):
    """A module file's bytes, uncompressed (Debian 13 ships them xz-compressed)."""
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True,
                              check=True).stdout
    return data


def kernel_modules(kver):
    """The Xen driver modules dom0 needs and the modules they depend on (their
    .modinfo "depends="), in load order, uncompressed: [(name, bytes)].  A driver
    the kernel has built in is left out."""
    files = {}
    for dirpath, _, names in os.walk(extracted(f"lib/modules/{kver}")):
        for n in names:
            m = re.fullmatch(r"(.+)\.ko(\.xz|\.zst)?", n)
            if m:
                files[m.group(1).replace("_", "-")] = os.path.join(dirpath, n)
    order, data = [], {}

    def add(name):
        name = name.replace("_", "-")
        if name in data or name not in files:
            return
        data[name] = module_bytes(files[name])
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data[name])
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            add(dep)
        order.append(name)

    for name in XEN_MODULES:
        add(name)
    return [(os.path.basename(files[n]).split(".ko")[0], data[n]) for n in order]
