# SPDX-License-Identifier: MIT
"""The series' producer, run (issue 30, "proven in the rig"): libxl and xl built from
the patched tree (`make xl-series`: Debian's source of the installed Xen with the
upstream part of hvmloader/series, tools/libs and tools/xl only, and that tree's
hvmloader) run in the rig's dom0 against the rig's hypervisor (the same release
line), Debian's xenstored and qemu-xen.  A guest gets the image from one xl.cfg
line, ``firmware_tables="/data/mods-x.bin"``, with no `xcmod load` and no ``-p``,
on its first boot and after each of two guest-initiated reboots (xl's monitor
re-creates it through the patched libxl).  The scenario is
tests/xenrig/dom0/scenario_series.py."""
import base64
import os
import re
import shutil

import pytest

from . import xenrig
from .xenrig.fixture import rig_fixture
from .xenrig.host import libs
from .xenrig.inputs import SLIC, modules_image, reset_disk
from .xenrig.verdicts import image_tables

pytestmark = pytest.mark.xen

SERIES_BUILD = os.path.join(xenrig.ROOT, "build", "xl-series")     # make xl-series


def _release_line(names):
    """The Xen release line ("X.Y") of the libraries built: libxenctrl's soname."""
    found = {m.group(1) for n in names for m in [re.fullmatch(r"libxenctrl\.so\.(\d+\.\d+)", n)]
             if m}
    assert len(found) == 1, f"no single libxenctrl.so.X.Y in {SERIES_BUILD}/lib: {names}"
    return found.pop()


def series_inputs(data, tmp_path_factory):
    """The image, the reset disk, and make xl-series's xl, libraries and hvmloader
    (/data/xl-series), with what they were built from.  The system libraries the
    patched ones need beyond the C library go beside them (the tree's configure
    links what it finds, libbz2 say, which Debian's xl, hence the dom0, may lack)."""
    not_built = os.path.join(SERIES_BUILD, "not-built")
    if os.path.exists(not_built):
        pytest.skip(f"make xl-series: {open(not_built).read().strip()}")
    # make xl-series builds only the installed line (xcmod.hostxen's, as facts())
    built = _release_line(os.listdir(os.path.join(SERIES_BUILD, "lib")))
    assert built == xenrig.facts().line, \
        f"make xl-series built Xen {built}'s libxl for a Xen {xenrig.facts().line} rig"
    modules_image(data / "mods-x.bin")
    (data / "reset.img").write_bytes(reset_disk())
    series = data / "xl-series"
    shutil.copytree(SERIES_BUILD, series, symlinks=True)
    ours = set(os.listdir(series / "lib"))
    binaries = [series / "bin" / "xl", *sorted((series / "lib").glob("lib*.so.*"))]
    for lib in libs(binaries):
        name = os.path.basename(lib)
        if name not in ours and not name.startswith(("libc.so", "ld-linux")):
            shutil.copy(lib, series / "lib" / name)
    return open(os.path.join(SERIES_BUILD, "build-info")).read()


rig = rig_fixture("series", ["series-xl"], 1800, series_inputs, make=("xl-series",))


def test_the_patched_xl_runs_on_the_rigs_hypervisor(rig):
    """The patched tree is of the hypervisor's release line (series_inputs skips
    otherwise): its xl, on its own libxenctrl, libxenlight..., reads the running
    Xen as Debian's xl does."""
    assert "series: 10 upstream patches" in rig.extra
    v = rig.results["series-xl"]["versions"]
    assert v["patched_rc"] == 0, v["patched_err"]
    assert v["patched"] and v["patched"] == v["debian"], v


def test_a_missing_firmware_tables_file_is_refused_with_no_domain_left(rig):
    """firmware_tables= naming no file: xl create fails, the error names the file and
    why, and no domain is left behind."""
    r = rig.results["series-xl"]["refused"]
    assert r["rc"] != 0
    lines = [x for x in r["err"].splitlines() if "/data/no-such-image.bin" in x]
    assert any("No such file or directory" in x for x in lines), r["err"]
    print("\npatched xl create, firmware_tables naming no file:\n" + r["err"].strip())
    assert r["after"] == r["before"] and "series-bad" not in r["after"], r


def test_debians_xl_ignores_the_line(rig):
    """The control: the same config through Debian's xl (its libxl has no
    firmware_tables) boots the same hvmloader with its stock tables."""
    c = rig.results["series-xl"]["control"]
    assert c["rc"] == 0, c["err"]
    [b] = c["boots"]
    assert b["reached"] and b["rc"] == 0, b
    assert "Vendor: Xen" in b["dmidecode"] and "PowerEdge" not in b["dmidecode"]
    files = [base64.b64decode(v) for v in b["acpi_b64"].values()]
    assert open(SLIC, "rb").read() not in files


def test_the_xl_cfg_line_alone_gives_every_boot_the_image(rig):
    """`xl create` (the patched xl) of a config whose only way to the image is
    firmware_tables=: three boots, two of them re-created by xl's monitor after the
    guest reset itself; each has the image's SMBIOS strings, every OEM structure,
    SSDT and SLIC, and the SLIC's OEM IDs; no hvmloader/modules key is ever written."""
    r = rig.results["series-xl"]
    assert r["rc"] == 0, r["err"]
    boots = r["boots"]
    assert [b["boot"] for b in boots] == [1, 2, 3], boots
    assert len({b["domid"] for b in boots}) == 3          # three domains: two reboots
    for b in boots:
        image_tables(b, rig.data)
        assert b["module_keys"] is None
        print(f"\nboot {b['boot']}: domain {b['domid']}, tables after {b['looks']} look(s); "
              f"hvmloader: " + "; ".join(b["log"]))
