# SPDX-License-Identifier: MIT
"""xcmod as an operator installs it (issue 29; docs/install.md): the rig booted with
the files of the Debian packages installed on this machine (``make deb``, then
``apt-get install ./build/deb/xcmod_*.deb ./build/deb/xcmod-firmware_*.deb``):
/usr/bin/xcmod, its modules for Debian's python3 with their compiled ``_*.so``, and
/usr/lib/xcmod/hvmloader, and none of the clone's xcmod.  A guest boots the installed
hvmloader with the carrier lines of the installed ``xcmod export xl``, another with
the installed ``xcmod load``; both have the whole image (tests/xenrig/dom0/installed.py).

Without the packages installed the tests are skipped, except under CI=true
(.ci/run installs them), where that is an error."""
import hashlib
import os

import pytest

from .xenrig.fixture import rig_fixture
from .xenrig.host import dpkg_version
from .xenrig.inputs import modules_image
from .xenrig.verdicts import image_tables

pytestmark = pytest.mark.xen

PACKAGES = ("xcmod", "xcmod-firmware")
HVMLOADER = "/usr/lib/xcmod/hvmloader"
DIST = "/usr/lib/python3/dist-packages/xcmod/"


def packages_installed():
    """The packages are installed, or the module is skipped (an error under CI=true)."""
    missing = [p for p in PACKAGES if dpkg_version(p) is None]
    missing += [p for p in ("/usr/bin/xcmod", HVMLOADER) if not os.path.isfile(p)]
    if missing:
        why = (f"not installed: {', '.join(missing)} (make deb; apt-get install "
               f"./build/deb/xcmod_*.deb ./build/deb/xcmod-firmware_*.deb)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)


def installed_inputs(data, tmp_path_factory):
    modules_image(data / "mods-x.bin")


rig = rig_fixture("installed", ["installed"], 900, installed_inputs, variant="installed",
                  before=packages_installed)


def test_dom0_runs_the_installed_command_and_modules(rig):
    """dom0's xcmod is the package's: /usr/bin/xcmod of the installed version, its
    modules and compiled bindings under /usr/lib/python3/dist-packages, and the
    hvmloader at /usr/lib/xcmod the host's installed one, byte for byte."""
    r = rig.results["installed-command"]
    assert r["where"] == "/usr/bin/xcmod"
    assert r["version_rc"] == 0 and r["version"] == f"xcmod {dpkg_version('xcmod')}", r
    init, reader, xen = r["modules"] or (None, None, None)
    assert init == DIST + "__init__.py", r["modules_err"]
    for so in (reader, xen):
        assert so.startswith(DIST) and ".cpython-" in so and so.endswith(".so"), so
    assert r["hvmloader_sha256"] == hashlib.sha256(open(HVMLOADER, "rb").read()).hexdigest()


def test_installed_hvmloader_takes_the_exported_carrier(rig):
    """`xcmod export xl IMAGE --hvmloader /usr/lib/xcmod/hvmloader` (installed) gives
    firmware= and the carrier; `xl create` of them: the installed hvmloader finds the
    image itself (no keys) and the guest's tables carry all of it."""
    r = rig.results["installed-carrier"]
    assert r["rc"] == 0, r["err"]
    assert [x.split(" = ")[0] for x in r["lines"]] == ["firmware", "acpi_firmware"]
    assert f'firmware = "{HVMLOADER}"' in r["lines"]
    b = r["boot"]
    image_tables(b, rig.data)
    assert b["module_keys"] is None
    assert any(x.startswith("xcmod: image in the OEMM table") for x in b["log"]), b["log"]


def test_installed_load_reaches_the_installed_hvmloader(rig):
    """`xcmod load` (installed) into a guest whose firmware= is the installed hvmloader:
    the keys are written and the guest's tables carry the whole image."""
    b = rig.results["installed-load"]["boot"]
    assert b["load"][0] == 0, b["load"]
    assert b["module_keys"] == "0x200000"
    image_tables(b, rig.data)
    assert any(x.startswith("xcmod: 3 module(s) at 0x200000") for x in b["log"]), b["log"]
