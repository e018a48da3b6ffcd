# SPDX-License-Identifier: MIT
import io
import os
import subprocess

import pytest

from xcmod.cli import main

from . import fakexen, hvmharness
from .paths import BUILD, XCMOD_READ, real


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def cli():
    """Run ``xcmod ARGV`` in-process; return code, stdout and stderr."""
    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = main([str(a) for a in argv], out, err)
        return CliResult(code, out.getvalue(), err.getvalue())
    return run


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A real image: Dell SMBIOS plus two Lenovo tables."""
    from xcmod.firmware import acpi, smbios
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    t = smbios.read_file(real("smbios/infrasim/dell_c6320_smbios.bin"))
    tables = [acpi.read_table(real(p)) for p in ("acpi/lenovo-x1c6/SLIC.aml",
                                                  "acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")]
    return build_image([t.encode(), encode_acpi_module(tables)])


@pytest.fixture
def xen(tmp_path, monkeypatch):
    """A fresh fake-Xen state dir with the real xenstored; domain 5 (HVM, paused, 32 MiB)."""
    from xcmod.xen import _xen  # noqa: F401  (loads libxenctrl)
    maps = open("/proc/self/maps").read()
    assert os.path.join(BUILD, "fake-xen", "libxenctrl.so.") in maps, \
        "libxenctrl is not the test double: run the tests with `make test`"
    d = str(tmp_path / "fakexen")
    os.makedirs(d)
    monkeypatch.setenv("XCMOD_FAKEXEN_DIR", d)
    monkeypatch.setenv("XENSTORED_PATH", fakexen.socket_path(d))
    monkeypatch.delenv("XCMOD_FAKEXEN_FAIL", raising=False)
    monkeypatch.setenv("XCMOD_LOCK_DIR", os.path.join(d, "locks"))
    fakexen.create(d, 5, 32)
    yield d
    fakexen.stop(d)


@pytest.fixture(scope="session")
def xcmod_read():
    """Path to build/xcmod-read, built by make if it is missing."""
    if not os.path.exists(XCMOD_READ):
        subprocess.run(["make", "-s", os.path.relpath(XCMOD_READ, os.path.dirname(BUILD))],
                       cwd=os.path.dirname(BUILD), check=True)
    return XCMOD_READ


@pytest.fixture(scope="session")
def hvmt(tmp_path_factory):
    """The host harness of hvmloader's xcmod code (tests/hvmharness.py), built once."""
    return hvmharness.build_harness(tmp_path_factory.mktemp("hvmloader"))
