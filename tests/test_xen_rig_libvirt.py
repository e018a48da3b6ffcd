# SPDX-License-Identifier: MIT
"""libvirt's libxl driver on the real stack: the rig (tests/xenrig) booted with
Debian's libvirtd, virsh and libvirt_driver_libxl.so in dom0, and
`xcmod export libvirt --driver xen` run end to end by libvirt itself: define,
start paused, ``xcmod load --domain NAME``, resume, the guest's tables read
back.  The scenario runs in dom0 (tests/xenrig/dom0/scenario_libvirt.py) and
reports ``XCMOD-RESULT`` lines; this test asserts on them.

libvirt's libxl driver decodes the host CPU and, when no model of its cpu_map
fits, fails its state initialisation and libvirtd exits (x86Decode's "Cannot
find suitable CPU model for given data").  Under QEMU's TCG with -cpu max no
model fits (no VME in TCG, no SEP from Xen on an AMD vendor): the rig adds one
host-only CPU model to the cpu_map copy in dom0 (xenrig.libvirt.LIBVIRT_RIG_MODEL), and
the first test shows the refusal without it."""
import base64
import os
import re
import shutil

import pytest

from . import xenrig
from .xenrig.fixture import rig_fixture
from .xenrig.inputs import (PASSED_UUID, SLIC, SMBIOS_SRC, SSDT, build, modules_image,
                            reset_disk)
from .xenrig.verdicts import image_tables

pytestmark = pytest.mark.xen


def libvirt_inputs(data, tmp_path_factory):
    """Stock blocks, the module image, the disk that resets, the shipped virsh script."""
    shutil.copy(os.path.join(xenrig.ROOT, "examples", "virsh-start-with-modules.sh"), data)
    build("build", "-q", "--format", "xen", "-o", data / "blocks", "--smbios", SMBIOS_SRC,
          "--acpi", SSDT, "--acpi", SLIC)
    modules_image(data / "mods-x.bin")
    (data / "reset.img").write_bytes(reset_disk())


# Build the inputs on the host, boot the rig with libvirt once.
rig = rig_fixture("libvirt", ["libvirt"], 1200, libvirt_inputs, variant="libvirt",
                  make=("hvmloader",))


def _files(r):
    return [base64.b64decode(v) for v in r["acpi_b64"].values()]


def test_libvirt_refuses_the_rigs_cpu_without_the_rig_model(rig):
    """With Debian's own cpu_map the libxl driver cannot decode the rig's CPU and
    libvirtd exits; with the rig's host-only model it runs the driver."""
    refused = rig[0]["libvirtd-stock-cpu-map"]
    assert refused["mount"] == 0
    assert refused["exited"] not in (None, "timeout"), refused
    log = "\n".join(refused["log"])
    assert "Cannot find suitable CPU model for given data" in log, log
    up = rig[0]["libvirtd"]
    assert up["up"], up["log"]
    assert "Running hypervisor: Xen " + xenrig.facts().line in up["version"]
    running = re.search(r"Running hypervisor: .*", up["version"]).group(0)
    print(f"\nrig: {rig[0]['libvirt-rig']['version']}, {running}; without the rig model: "
          f"{next(line for line in refused['log'] if 'x86Decode' in line).split(': ', 1)[1]}")


def test_exported_document_runs_under_libvirt_with_stock_blocks(rig):
    """`xcmod export libvirt --driver xen` of stock blocks: libvirt defines the
    domain, start.sh starts it paused, loads the SMBIOS block and resumes it; the
    stock hvmloader gives the guest the SSDT and SLIC (libvirt's <acpi><table>,
    libxl's acpi_firmware) and the SMBIOS block's structures."""
    ex = rig[0]["export"]
    assert ex["rc"] == 0, ex["err"]
    assert rig[0]["define-blocks"]["rc"] == 0, rig[0]["define-blocks"]["err"]
    r = rig[0]["blocks"]
    assert r["start"]["rc"] == 0, r["start"]["err"]
    assert r["rc"] == 0, r.get("err")
    assert r["reached_seabios"], r["log"][-20:]
    acpi_path = "/var/lib/xcmod/lv-blocks/acpi.bin"
    assert re.search(r"<table type=['\"]slic['\"]>" + re.escape(acpi_path), r["dumpxml"]), \
        r["dumpxml"]
    files = _files(r)
    assert open(SSDT, "rb").read() in files and open(SLIC, "rb").read() in files
    text = r["dmidecode"]
    assert "Manufacturer: Dell Inc." in text and "Product Name: PowerEdge R640" in text
    assert "DMI type 218" in text
    assert not any(line.startswith("xcmod:") for line in r["log"])   # stock hvmloader


def test_module_image_through_libvirt_and_the_patched_hvmloader(rig):
    """examples/virsh-start-with-modules.sh as shipped (virsh start --paused, xcmod load
    --domain NAME of a module image, virsh resume): the patched hvmloader (in the system hvmloader's place: libvirt cannot name one)
    takes SMBIOS, SSDT, SLIC and the SLIC's OEM IDs from the modules."""
    r = rig[0]["modules"]
    for step, (rc, err, *_) in r["steps"].items():
        assert rc == 0, (step, err)
    assert r["rc"] == 0, r.get("err")
    assert r["reached_seabios"], r["log"][-20:]
    assert "domain lv-mods running with mods-x.bin" in r["steps"]["virsh-start-with-modules.sh"][2]
    assert any(line.startswith("xcmod: 3 module(s)") for line in r["log"]), r["log"]
    text = r["dmidecode"]
    assert "Product Name: PowerEdge R640" in text
    assert re.search(r"UUID: (\S+)", text).group(1).lower() == PASSED_UUID
    files = _files(r)
    assert open(SSDT, "rb").read() in files and open(SLIC, "rb").read() in files
    slic = open(SLIC, "rb").read()
    rsdt = base64.b64decode(r["acpi_b64"]["RSDT.dat"])
    assert (rsdt[10:16], rsdt[16:24]) == (slic[10:16], slic[16:24])


def test_libvirt_restarts_the_guest_with_the_image_from_the_document_alone(rig):
    """`export libvirt --driver xen --hvmloader`: the document (its carrier in
    <acpi><table>, no start.sh) defined and started by libvirt, a guest that resets
    itself with on_reboot restart: libvirt re-creates it twice, and each of the three
    boots has every passed table and string."""
    r = rig[0]["reboot-libvirt"]
    assert r["export_rc"] == 0, r["export_err"]
    assert not any(f.endswith("start.sh") for f in r["export"]["files"])
    assert r["define"][0] == 0 and r["start"][0] == 0, (r["define"], r["start"])
    boots = r["boots"]
    assert [b["boot"] for b in boots] == [1, 2, 3], boots
    assert len({b["domid"] for b in boots}) == 3
    for b in boots:
        image_tables(b, rig[1])
        assert b["module_keys"] is None          # nothing loaded: the carrier alone
