# SPDX-License-Identifier: MIT
"""Soak (``make soak``, not in the default run): 10,000 loads leak nothing."""
import os

import pytest


CYCLES = int(os.environ.get("XCMOD_SOAK_CYCLES", "10000"))
WARMUP = 200
RSS_SLACK_KIB = 1024     # allocator noise; a leak of even 128 bytes a cycle exceeds it


def _usage():
    fds = len(os.listdir("/proc/self/fd"))
    maps = sum(1 for _ in open("/proc/self/maps"))
    rss = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmRSS:"))
    return fds, maps, rss


@pytest.mark.soak
def test_ten_thousand_loads_leak_no_fd_mapping_or_memory(xen, image):
    """Open fds and mappings stay equal and RSS flat over 10,000 full load cycles."""
    import xcmod
    for _ in range(WARMUP):
        xcmod.load(5, image)
    fds0, maps0, rss0 = _usage()
    for _ in range(CYCLES):
        xcmod.load(5, image)
    fds1, maps1, rss1 = _usage()
    print(f"\nsoak: {CYCLES} loads; fds {fds0}->{fds1}, mappings {maps0}->{maps1}, "
          f"RSS {rss0}->{rss1} KiB")
    assert fds1 == fds0
    assert maps1 == maps0
    assert rss1 - rss0 <= RSS_SLACK_KIB
