# SPDX-License-Identifier: MIT
"""QEMU and the console: boot Xen and dom0 under QEMU TCG with the initramfs and a
job, stream the serial console, stop at the job's ``XEN-RUN-EXIT <status>``."""
import gzip
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time

from .initramfs import job_cpio

# console_timestamps=boot: every line of Xen's console, the guests' hvmloader
# lines included, carries Xen's own time since boot in microseconds, which is
# what the rig times hvmloader with.
XEN_CMDLINE = ("console=com1 com1=115200,8n1 dom0_mem=512M,max:512M dom0_max_vcpus=1 "
               "loglvl=all guest_loglvl=all noreboot smap=0 conring_size=1M "
               "console_timestamps=boot")
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen rdinit=/init quiet"
EXIT_RE = re.compile(r"XEN-RUN-EXIT (\d+)")
# Xen's own console line, as the rig's console_timestamps=boot has it
XEN_LINE = re.compile(r"\(XEN\) \[\s*\d+\.\d{6}\] ")
# QEMU's -icount for measuring: the guest's clocks (the TSC Xen's console
# timestamps come from included) advance by one nanosecond per instruction the
# emulated CPUs execute, not with the host's time, so a measurement does not
# depend on what else the host is doing; sleep=off lets idle time pass at once.
ICOUNT = "shift=0,sleep=off"
# The lines whose arrival (host seconds since QEMU started) boot() notes
MARKS = ("RIG: ", "XCMOD-STEP ", "XEN-RUN-EXIT ")


def unsplice(line):
    """Xen writes its own lines to the serial port in the middle of dom0's (Xen
    4.20's "uart interrupt taking more than 4ms, switched to polling", under TCG,
    cut an XCMOD-RESULT line in two).  Returns (the line to take or None, the
    start of a dom0 line to put before the next one)."""
    m = XEN_LINE.search(line, 1)
    if m is None:
        return line, ""
    if XEN_LINE.match(line):            # Xen's line after Xen's: nothing was cut
        return line, ""
    return line[m.start():], line[:m.start()]


def quiet(line):
    """Xen's and the guests' own console chatter, shown only with XENRIG_VERBOSE=1."""
    return line.startswith(("(XEN)", "(d")) or not line.strip()


def boot(prepared, script, data_dir=None, timeout=300, out=None, verbose=None, icount=None):
    """Boot the rig (``prepared``: the hypervisor, kernel and initramfs), run
    ``script`` (sh, bytes) in dom0, stream the console to ``out``.

    ``icount`` (or XENRIG_ICOUNT in the environment): QEMU's -icount option,
    e.g. :data:`ICOUNT`, for measurements by guest time.

    Returns (exit status, full console text, [(host seconds, line)] of the
    :data:`MARKS` lines).  Status 124 if the script did not finish within
    ``timeout`` seconds, 125 if QEMU or Xen died first; then the console's last
    40 lines are printed whatever the verbosity.
    """
    if verbose is None:
        verbose = os.environ.get("XENRIG_VERBOSE") == "1"
    out = out or sys.stdout
    xen, vmlinuz, initrd = prepared
    job = job_cpio(script, data_dir)
    both = tempfile.NamedTemporaryFile(prefix="xenrig-initrd-", delete=False)
    with open(initrd, "rb") as a, open(job, "rb") as b:
        both.write(a.read())
        both.write(gzip.compress(b.read(), 1))
    both.close()
    os.unlink(job)
    args = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max",
            "-m", "1536", "-smp", "2", "-nographic", "-no-reboot", "-monitor", "none",
            "-serial", "stdio", "-kernel", xen, "-append", XEN_CMDLINE,
            "-initrd", f"{vmlinuz} {DOM0_CMDLINE},{both.name}"]
    icount = icount or os.environ.get("XENRIG_ICOUNT")
    if icount:
        args += ["-icount", icount]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    text, marks, status, deadline = [], [], None, t0 + timeout
    started = False          # dom0's init is up: from here on the console is the job's
    pending = b""
    cut = ""                 # a dom0 line Xen's own line cut in two, its first part
    try:
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                status = 124
                break
            if not sel.select(min(left, 1.0)):
                if p.poll() is not None:
                    status = 125
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                status = 125
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line, cut = unsplice(cut + raw.decode("utf-8", "replace").rstrip("\r"))
                if line is None:
                    continue
                text.append(line)
                if line.startswith(MARKS):
                    marks.append((time.monotonic() - t0, line))
                started = started or "RIG: dom0 up" in line
                if verbose or (started and not quiet(line)):
                    out.write(line + "\n")
                    out.flush()
                m = EXIT_RE.search(line)
                if m:
                    status = int(m.group(1))
    finally:
        p.kill()
        p.wait(timeout=10)
        os.unlink(both.name)
    if status in (124, 125):
        reason = "timed out" if status == 124 else "QEMU/Xen stopped"
        tail = "\n".join(text[-40:])
        out.write(f"xenrig: {reason} before XEN-RUN-EXIT; console tail:\n{tail}\n")
    return status, "\n".join(text), marks
