# SPDX-License-Identifier: MIT
"""A UEFI guest on the real stack: the project's OvmfXen (``make ovmf``) booted by
xcmod's patched hvmloader under the host's Xen in the rig (Xen + dom0 under QEMU TCG),
the guest the rig carries as /etc/xen/test-hvm-xcmod-ovmf.cfg.  The scenario runs in
dom0 (tests/xenrig/dom0/scenario_ovmf.py) and reports
``XCMOD-RESULT`` lines; this test asserts on them.  Run with
``pytest -m xen tests/test_xen_rig_ovmf.py`` (it runs ``make ovmf-rig
hvmloader``, cached).  The rig's OvmfXen is the users' (ovmf/series) plus one
patch for the rig's outer QEMU, which aborts on edk2's CR8 write while Xen has
a virtual interrupt pending (ovmf/series-rig, ovmf/patches/rig-0001-*)."""
import base64

import pytest

from xcmod.firmware import acpi, smbios
from xcmod.firmware.contents import read_contents

from .samples import smbios_past_ovmf_room
from .fwgen import generate
from .xenrig.fixture import rig_fixture
from .xenrig.inputs import MSDM, SLIC, SSDT, build

pytestmark = pytest.mark.xen


def uefi_inputs(data, tmp_path_factory):
    """The image (fresh random SeaBIOS tables, which QEMU builds, for the SMBIOS, as on
    a host) and one with SMBIOS past OVMF's fixed room (20449 bytes): the capture's dir."""
    cap = tmp_path_factory.mktemp("seabios") / "cap"
    generate(str(cap), rand=True)
    build("build", "-q", "-o", data / "mods.bin", "--smbios", cap / "smbios.bin",
          "--acpi", SSDT, "--acpi", SLIC, "--acpi", MSDM, "--oem-ids", "slic")
    big = smbios_past_ovmf_room()
    (data / "big.dmi").write_bytes(smbios.dump_bin(big))
    build("build", "-q", "-o", data / "big.bin", "--smbios", data / "big.dmi", "--acpi", SSDT)
    return cap


# Build the image on the host, boot the rig once with the UEFI scenario.
rig = rig_fixture("ovmf", ["uefi"], 3000, uefi_inputs, make=("ovmf-rig", "hvmloader"))


def _system(text):
    """dmidecode's System Information (type 1) block: its Manufacturer and Product Name."""
    block = text[text.index("System Information"):].split("\n\n")[0]
    return [line.split(": ", 1)[1] for line in block.splitlines()
            if line.strip().startswith(("Manufacturer:", "Product Name:"))]


def _files(r):
    return {n: base64.b64decode(b) for n, b in r["acpi_files"].items()}


def test_default_load_leaves_ovmf_as_libxc_placed_it(rig):
    """libxc put OvmfXen (2 MiB) right after hvmloader; a default load lists it, goes
    after it, and changes no byte of guest RAM outside the image (OvmfXen intact)."""
    r = rig[0]["load"]
    assert r["rc"] == 0, r["err"]
    fw = [x for x in r["load"]["libxc"] if x["name"] == 'module "firmware"']
    assert [(x["start"], x["length"]) for x in fw] == [(r["firmware_at"], r["firmware_len"])]
    assert r["firmware_len"] == 2 << 20 and r["firmware_at"] < 0x200000
    assert r["load"]["base"] >= fw[0]["end"]
    assert r["firmware_intact"] and r["image_there"] and r["outside_unchanged"]


def test_explicit_base_over_ovmf_is_refused(rig):
    """--base 0x200000 lies inside OvmfXen: one line naming the module, RAM untouched."""
    r = rig[0]["refuse-base"]
    assert r["rc"] == 1 and r["untouched"]
    assert 'overlaps module "firmware" placed by libxc' in r["err"]
    assert r["err"].count("\n") == 1


def test_ovmf_publishes_the_modules_tables(rig):
    """Through its EFI system table OvmfXen publishes the module's SSDT, SLIC and MSDM
    byte for byte, the SLIC's OEM IDs on the RSDT/XSDT/FADT, and the module's SMBIOS
    (the random SeaBIOS capture's type 1 strings); hvmloader said it used the image."""
    r = rig[0]["published-mods"]
    assert r["seconds"] is not None, r["last"]
    assert r["rc"] == 0, r["err"]
    t = r["tables"]
    assert t["acpi"]["found"].startswith("the EFI configuration table's ACPI 2.0 entry")
    assert t["smbios"]["found"].startswith("the EFI configuration table's SMBIOS")
    files = _files(r)
    got = set(files.values())
    for path in (SSDT, SLIC, MSDM):
        assert open(path, "rb").read() in got, path
    slic = acpi.read_table(SLIC)
    rsdt = base64.b64decode(r["rsdt_header"])
    assert rsdt[:4] == b"RSDT"
    for sig, blob in (("RSDT", rsdt), ("XSDT", files["XSDT.dat"]), ("FACP", files["FACP.dat"])):
        assert (blob[10:16], blob[16:24]) == (slic.raw[10:16], slic.raw[16:24]), sig
    assert files["RSDP.dat"][9:15] == slic.raw[10:16]
    assert t["smbios"]["version"] == "2.8.0"             # OvmfXen's, whatever it copies
    module = read_contents(str(rig[1] / "mods.bin")).structures
    published = t["smbios"]["structures"]
    assert {m.type for m in module} <= {p["type"] for p in published}
    assert [p["strings"] for p in published if p["type"] == 1] == \
        [[x.decode("latin-1") for x in m.strings] for m in module if m.type == 1]
    source = open(rig[2] / "dmidecode.txt").read()     # the SeaBIOS capture's own
    assert _system(r["dmidecode"]) == _system(source) and len(_system(source)) == 2
    assert _system(r["dmidecode"]) != _system(rig[0]["published-stock"]["dmidecode"])
    assert any("xcmod: 3 module(s) at" in line for line in r["console"]), r["console"]


def test_baseline_has_none_of_it(rig):
    """The same guest without a load: OvmfXen publishes hvmloader's own tables only."""
    r = rig[0]["published-stock"]
    assert r["seconds"] is not None, r["last"]
    files = _files(r)
    assert not {"SLIC.dat", "MSDM.dat"} & set(files)
    assert open(SSDT, "rb").read() not in set(files.values())
    assert "Manufacturer: Xen" in r["dmidecode"]
    assert files["XSDT.dat"][10:16] == base64.b64decode(r["rsdt_header"])[10:16] == \
        b"Xen\0\0\0"
    assert not any("xcmod: 3 module(s)" in line for line in r["console"])


def test_smbios_past_the_room_costs_the_module_not_smbios(rig):
    """An SMBIOS module past hvmloader's fixed area for OVMF (0xEB000-0xEFFFF): the
    patched hvmloader refuses it with one console line giving both sizes and writes
    its own structures, so OVMF publishes SMBIOS (Xen's) and the module's SSDT."""
    r = rig[0]["published-oversize"]
    assert r["load_rc"] == 0, r["load_err"]
    assert r["seconds"] is not None, r["last"]
    refused = [ln for ln in r["console"] if "xcmod: SMBIOS module refused" in ln]
    assert len(refused) == 1, r["console"]
    assert "the firmware's room is 20449; hvmloader's own structures are used" in refused[0]
    assert not any("Could not write SMBIOS tables" in ln for ln in r["console"])
    assert "Manufacturer: Xen" in r["dmidecode"]
    assert not any(p["type"] == 200 for p in r["tables"]["smbios"]["structures"])
    assert open(SSDT, "rb").read() in set(_files(r).values())


@pytest.mark.parametrize("case,message", [
    ("in-firmware", 'overlaps the "firmware" module of hvm_start_info'),
    ("garbage", "hvmloader/modules/address is not a 32-bit number")])
def test_bogus_module_keys_never_stop_a_uefi_guest(rig, case, message):
    """Module keys no image backs (the address of OvmfXen's own module, or garbage):
    the patched hvmloader refuses them in one console line (keys over OvmfXen's own
    module are refused for the overlap, before any byte is read), and OvmfXen boots and
    publishes the tables it publishes with nothing loaded."""
    r, stock = rig[0][f"published-bogus-{case}"], rig[0]["published-stock"]
    assert r["seconds"] is not None, r["console"]
    lines = [ln.split("xcmod: ", 1)[1] for ln in r["console"] if "xcmod: " in ln]
    assert len(lines) == 1 and lines[0].startswith("modules ignored") and message in lines[0], \
        lines
    files = _files(r)
    assert sorted(files) == sorted(_files(stock))
    assert files["DSDT.dat"] == _files(stock)["DSDT.dat"]
    assert "Manufacturer: Xen" in r["dmidecode"]
    assert [p["type"] for p in r["tables"]["smbios"]["structures"]] == \
        [p["type"] for p in stock["tables"]["smbios"]["structures"]]


def test_time_to_tables(rig):
    """Report how long each guest ran from unpause until OVMF had published its
    tables, with and without the image (one boot each, same rig run, 8 s steps of
    running between the polls); each comes within the poll's bound."""
    m, s = rig[0]["published-mods"]["seconds"], rig[0]["published-stock"]["seconds"]
    assert m is not None and s is not None
    print(f"\nOvmfXen, guest run time from unpause to tables published (8 s steps): "
          f"modules {m:.0f} s, none {s:.0f} s")
