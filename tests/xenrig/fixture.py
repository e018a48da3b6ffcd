# SPDX-License-Identifier: MIT
"""One boot of the rig per test module: :func:`rig_fixture` makes the module's
``rig`` fixture from the dom0 steps to run (tests/xenrig/dom0) and the inputs to
put in /data.  A new scenario is a step function in dom0 (``@step``) named here,
and the test asserting on its ``XCMOD-RESULT`` lines."""
import subprocess
from typing import Any, NamedTuple

import pytest

from . import ICOUNT, ROOT, job


class RigRun(NamedTuple):
    results: dict       # the XCMOD-RESULT lines by their "step"
    data: Any           # the directory dom0 had at /data (a pathlib.Path)
    extra: Any          # what the inputs function returned
    clock: str          # what the Xen console's timestamps count
    durations: list     # [(what, host seconds)] of the boot


def rig_fixture(name, steps, timeout, inputs=None, variant="base", make=(), icount=False,
                before=None):
    """A module-scoped fixture: ``make`` targets run (cached builds), ``inputs(data,
    tmp_path_factory)`` writes /data's files, then one boot of the rig of ``variant``
    runs ``python3 -m dom0 STEPS``; a :class:`RigRun`.  ``icount``: under QEMU's
    -icount (guest time), or, where this QEMU aborts the rig under it ("Bad icount
    read", Debian 13's QEMU 10.0), by host time, said in ``clock``.  ``before``: a
    check run first (it skips or fails the module's tests)."""

    @pytest.fixture(scope="module")
    def rig(tmp_path_factory):
        if before:
            before()
        if make:
            subprocess.run(["make", "-s", *make], cwd=ROOT, check=True)
        data = tmp_path_factory.mktemp(f"rigdata-{name}")
        extra = inputs(data, tmp_path_factory) if inputs else None
        logs = tmp_path_factory.mktemp(f"riglog-{name}")
        if not icount:
            results, took = job(steps, data, logs / "console.log", timeout, variant)
            return RigRun(results, data, extra, "host time", took)
        try:
            results, took = job(steps, data, logs / "console.log", timeout, variant,
                                icount=ICOUNT)
            return RigRun(results, data, extra, f"-icount {ICOUNT}", took)
        except AssertionError as e:
            if "Bad icount read" not in str(e):
                raise
        results, took = job(steps, data, logs / "console-hosttime.log", timeout, variant)
        return RigRun(results, data, extra,
                      "host time (this QEMU aborts the rig under -icount: Bad icount read)",
                      took)

    return rig
