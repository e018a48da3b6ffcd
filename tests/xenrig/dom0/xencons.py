# SPDX-License-Identifier: MIT
"""Xen's console in dom0 (``xl dmesg -c``, read so the ring never overflows): the
guests' lines by domain, with Xen's timestamps (console_timestamps=boot)."""
import re
import time

from .rig import sh

CONSOLE = []          # every line `xl dmesg -c` gave, in order
BY_DOMAIN = {}        # domid: [(Xen's timestamp or None, text)] of its lines, in order
# A guest's line on Xen's console, with console_timestamps=boot:
# "(d5) [   41.123456] HVM Loader" (Xen's time since boot, in microseconds).
GUEST_LINE = re.compile(r"\(d(\d+)\) (?:\[\s*(\d+\.\d+)\] )?(.*)$")


def console():
    """Xen's console so far; read with -c so the ring never overflows."""
    out = sh("xl", "dmesg", "-c")[1].decode("utf-8", "replace")
    for line in out.splitlines():
        CONSOLE.append(line)
        m = GUEST_LINE.search(line)
        if m:
            BY_DOMAIN.setdefault(int(m.group(1)), []).append(
                (float(m.group(2)) if m.group(2) else None, m.group(3).strip()))
    return CONSOLE


def guest_timed(domid):
    """hvmloader's console lines of one domain: [(Xen's timestamp or None, text)]."""
    console()
    return list(BY_DOMAIN.get(domid, ()))


def domain_tail(domid, n=80):
    """The last ``n`` console lines of domain ``domid``, as Xen printed them."""
    return [ln for ln in console() if f"(d{domid})" in ln][-n:]


def guest_lines(domid):
    """hvmloader's console lines of one domain (Xen prefixes them "(dN)")."""
    return [text for _, text in guest_timed(domid)]


def first_at(lines, prefix):
    """Xen's timestamp of the first of ``lines`` (guest_timed) starting with ``prefix``."""
    return next((t for t, text in lines if text.startswith(prefix)), None)


def between(lines, start, end):
    """Seconds from the first line starting with ``start`` to the first starting
    with ``end``, by Xen's console timestamps; None if either is missing."""
    a, b = first_at(lines, start), first_at(lines, end)
    return b - a if a is not None and b is not None else None


def hvmloader_span(domid):
    """Seconds from hvmloader's first line ("HVM Loader") to its hand-over
    ("Invoking SeaBIOS")."""
    return between(guest_timed(domid), "HVM Loader", "Invoking SeaBIOS")


def wait_for_handover(domid, timeout=120, to="Invoking SeaBIOS"):
    """Unpaused ``domid``'s hvmloader has handed over (its line ``to``).  dom0 stays
    idle while hvmloader runs (under -icount its work would count in the guest's
    time): it sleeps, then looks once a second."""
    deadline = time.monotonic() + timeout
    time.sleep(2)
    while time.monotonic() < deadline:
        if any(text.startswith(to) for _, text in guest_timed(domid)):
            return True
        time.sleep(1)
    return False

