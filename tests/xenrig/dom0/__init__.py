# SPDX-License-Identifier: MIT
"""The rig's dom0 side: the scenarios `make test-xen` runs in dom0 and the helpers
they share.  The initramfs carries this package (tests/xenrig/initramfs.py); a job
runs ``python3 -m dom0 STEP...``, each STEP a function registered with
:func:`step` in one of the scenario modules, which prints its results as
``XCMOD-RESULT {json}`` lines (:func:`.rig.result`) for the host-side test.

* :mod:`.rig`: what the rig is, commands, results, domains, xenstore, guest RAM;
* :mod:`.xencons`: Xen's console, the guests' lines by domain with Xen's timestamps;
* :mod:`.tables`: a paused guest's tables (SeaBIOS's, and OvmfXen's through EFI);
* :mod:`.boots`: boots to SeaBIOS, and following a guest that reboots itself;
* scenarios: :mod:`.scenario` (operator, patched, reboots), :mod:`.bench`,
  :mod:`.scenario_ovmf`, :mod:`.scenario_libvirt`, :mod:`.installed`,
  :mod:`.scenario_series` (libxl/xl of the patched tree).
"""
STEPS = {}


def step(name):
    """Register the decorated function as dom0 step ``name``."""
    def register(fn):
        STEPS[name] = fn
        return fn
    return register
