# SPDX-License-Identifier: MIT
"""The real-Xen rig: the host's Xen hypervisor and a Linux dom0 under QEMU TCG.

Everything comes from Debian packages and is derived from this machine, never
written down (:mod:`.host`): the Xen line and version from the installed
toolstack (``xcmod.hostxen``: ``/usr/lib/xen-X.Y``, ``xen-utils-X.Y``), the
hypervisor package of the same version (``xen-hypervisor-X.Y-amd64``), the
release's default kernel (``linux-image-amd64``'s dependency) and Debian's own
Python (``/usr/bin/python3``).  On Debian 12 that is its Xen with a bookworm
dom0, on Debian 13 its Xen with a trixie dom0.  The hypervisor, the kernel and
busybox are downloaded with ``apt-get download`` into ``build/xenrig/debs``
(:mod:`.debs`; extracted, never installed, the kernel's Xen modules picked by
:mod:`.kmod`); the Xen tools, Python, SeaBIOS, hvmloader and dmidecode are the
ones `make setup` installed on this machine, copied into the dom0 initramfs
(:mod:`.initramfs`, written by :mod:`.cpio`) with the shared libraries they need.

    python -m tests.xenrig run SCRIPT [DATA]   # boot, run SCRIPT in dom0 with sh

The dom0 /init (``init.sh``) starts xenstored and xen-init-dom0, then runs the
script in /data (DATA's files) with ``python3 -m xcmod``, ``xl``,
``xenstore-*``, ``dmidecode`` and ``readback`` on PATH, the scenarios'
package ``dom0`` importable (``python3 -m dom0 STEP...``, tests/xenrig/dom0) and
``/etc/xen/test-hvm.cfg`` ready for ``xl create -p`` (``test-hvm-xcmod.cfg``
boots xcmod's patched hvmloader from ``make hvmloader``, ``test-hvm-stock.cfg``
the same source unpatched, ``test-hvm-xcmod-ovmf.cfg`` a UEFI guest: the
patched hvmloader and ``make ovmf-rig``'s OvmfXen at
``/usr/lib/xcmod/OvmfXen.fd``); ``/etc/xenrig.json`` says what the rig was built
from.  It prints ``XEN-RUN-EXIT <status>`` when the script ends.  :func:`run`
(:mod:`.console`) streams the console, stops QEMU at that line and returns the
status; every wait is bounded.  The tests' side: :mod:`.fixture` (one boot per
test module), :mod:`.inputs` (what they pass), :mod:`.verdicts` (what they check).
"""
import functools
import json
import os

from .console import ICOUNT, XEN_LINE, boot
from .debs import fetch
from .host import facts
from .initramfs import build_initramfs
from .rigpaths import HERE, HVMLOADER_BUILD, ROOT, log

__all__ = ["ICOUNT", "XEN_LINE", "HERE", "HVMLOADER_BUILD", "ROOT", "boot", "durations", "facts",
           "job", "log", "prepare", "run"]


def prepare(variant="base"):
    """The hypervisor, the kernel and the initramfs of ``variant``, built once a process
    for the same firmware builds (a test module's `make hvmloader` may rebuild them)."""
    builds = [os.path.join(HVMLOADER_BUILD, n) for n in ("hvmloader", "hvmloader.stock")]
    builds.append(os.path.join(ROOT, "build", "ovmf-rig", "OVMF.fd"))
    return _prepare(variant, tuple(os.path.getmtime(p) if os.path.exists(p) else None
                                   for p in builds))


@functools.lru_cache(maxsize=None)
def _prepare(variant, builds):
    xen, vmlinuz = fetch()
    return xen, vmlinuz, build_initramfs(vmlinuz, variant)


def run(script, data_dir=None, timeout=300, out=None, prepared=None, verbose=None,
        icount=None, libvirt=False):
    """Boot the rig and run the sh file ``script`` in dom0 (``libvirt``: dom0 has
    libvirt's libxl driver too): (exit status, console text); see :func:`.console.boot`."""
    prepared = prepared or prepare("libvirt" if libvirt else "base")
    status, text, _ = boot(prepared, open(script, "rb").read(), data_dir, timeout=timeout,
                           out=out, verbose=verbose, icount=icount)
    return status, text


def durations(marks):
    """Where a boot's time went, from :func:`.console.boot`'s marks: [(what, host
    seconds)], dom0's start, each step the job timed (``XCMOD-STEP name``), and the
    whole run."""
    out, last = [], 0.0
    for t, line in marks:
        if line.startswith("RIG: dom0 up"):
            out.append(("dom0 boot", t))
        elif line.startswith("XCMOD-STEP "):
            out.append((line.split()[1], t - last))
        elif line.startswith("XEN-RUN-EXIT"):
            out.append(("whole run", t))
        last = t
    return out


def job(steps, data_dir, log_path, timeout, variant="base", icount=None, verbose=None):
    """Boot the rig of ``variant`` for a test, run ``python3 -m dom0 STEPS`` in dom0
    (tests/xenrig/dom0): the console into file ``log``, an AssertionError with the
    console's tail unless the job exited 0; the job's ``XCMOD-RESULT {json}`` lines
    by their "step", and the durations (:func:`durations`), which it prints."""
    script = ("exec python3 -m dom0 " + " ".join(steps) + "\n").encode()
    with open(log_path, "w") as out:
        status, text, marks = boot(prepare(variant), script, str(data_dir), timeout=timeout,
                                   out=out, verbose=verbose, icount=icount)
    tail = "\n".join(text.splitlines()[-60:])
    assert status == 0, f"rig exited {status}; console tail:\n{tail}"
    results = {}
    for line in text.splitlines():
        if line.startswith("XCMOD-RESULT "):
            d = json.loads(line[len("XCMOD-RESULT "):])
            results[d["step"]] = d
    took = durations(marks)
    print(f"\nrig {' '.join(steps)} ({variant}{', -icount' if icount else ''}): " +
          ", ".join(f"{what} {seconds:.0f} s" for what, seconds in took))
    return results, took
