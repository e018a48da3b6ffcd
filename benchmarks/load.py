# SPDX-License-Identifier: MIT
"""Load benchmarks, run by ``make bench`` under the libxenctrl double and the
real xenstored (LD_LIBRARY_PATH=build/fake-xen).  Guest RAM is a file mapped
by the double, so copy figures are against an in-process copy of the same
bytes measured in the same run, never absolute claims about Xen.
"""
import os
import sys
import tempfile

from xcmod.image.spec import build_image, encode_module

from .__main__ import best

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests import fakexen  # noqa: E402


def opaque_image(size):
    """An image of about ``size`` bytes (one module of a type readers skip)."""
    return build_image([encode_module(0x7F00, b"", os.urandom(size - 64))])


def main():
    import xcmod
    from xcmod.xen.xenctrl import XenControl
    small, big = opaque_image(64 << 10), opaque_image(64 << 20)
    with tempfile.TemporaryDirectory() as d:
        os.environ.update(XCMOD_FAKEXEN_DIR=d, XENSTORED_PATH=fakexen.socket_path(d),
                          XCMOD_LOCK_DIR=os.path.join(d, "locks"))
        fakexen.create(d, 5, 96)
        try:
            t_small, m_small = best(lambda: xcmod.load(5, small), repeat=50)
            print(f"library load, 64 KiB image:   {t_small * 1e3:7.3f} ms best, "
                  f"{m_small * 1e3:.3f} ms median (verify, lock, getinfo, copy+readback, "
                  f"recheck in 1 transaction)")
            # the same load without the per-domain lock (what load cost before it)
            from xcmod.xen import loader
            locked = loader.domain_lock

            class nolock:
                def __init__(self, *a):
                    pass

                def __enter__(self):
                    return self

                def __exit__(self, *a):
                    pass
            loader.domain_lock = nolock
            try:
                t_nolock, m_nolock = best(lambda: xcmod.load(5, small), repeat=50)
            finally:
                loader.domain_lock = locked
            print(f"  same, without the lock:     {t_nolock * 1e3:7.3f} ms best, "
                  f"{m_nolock * 1e3:.3f} ms median: the lock costs "
                  f"{(m_small - m_nolock) * 1e3:+.3f} ms median ({m_small / m_nolock:.2f}x)")
            with XenControl() as xc:
                t_copy, _ = best(lambda: xc.copy_to_guest(5, 0x1000000, big), repeat=5)
            buf = bytearray(len(big))
            t_mem, _ = best(lambda: buf.__setitem__(slice(None), big), repeat=5)
            mb = len(big) / 1e6
            print(f"copy+verify 64 MiB to guest:  {t_copy * 1e3:7.1f} ms = {mb / t_copy:7.0f} MB/s; "
                  f"in-process memcpy {mb / t_mem:7.0f} MB/s; ratio {t_mem / t_copy:.0%}")
        finally:
            fakexen.stop(d)


if __name__ == "__main__":
    main()
