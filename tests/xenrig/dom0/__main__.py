# SPDX-License-Identifier: MIT
"""python3 -m dom0 STEP...: run the named steps in order; after each, one console
line ``XCMOD-STEP <name> <seconds>`` (the host prints where the time went)."""
import sys
import time

from . import (STEPS, bench, installed, scenario, scenario_libvirt, scenario_ovmf,  # noqa: F401
               scenario_series)


def main(names):
    unknown = [n for n in names if n not in STEPS]
    if not names or unknown:
        print(f"usage: python3 -m dom0 STEP...  (steps: {' '.join(sorted(STEPS))}; "
              f"unknown: {' '.join(unknown)})", file=sys.stderr)
        return 2
    for name in names:
        t = time.monotonic()
        STEPS[name]()
        print(f"XCMOD-STEP {name} {time.monotonic() - t:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
