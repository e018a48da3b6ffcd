# SPDX-License-Identifier: MIT
"""Fresh tables built by a real BIOS (SeaBIOS under QEMU) survive build -> extract."""
import json
import os
import subprocess

import pytest

from . import fwgen

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", params=[0, 1])
def fwgen_run(request, tmp_path_factory):
    """One tests.fwgen --random run: SMBIOS dump, ACPI tables, and the values asked for."""
    out = tmp_path_factory.mktemp(f"fwgen{request.param}")
    return fwgen.generate(str(out), rand=True) and out


def _handles_and_fields(text):
    return text[text.index("Handle "):]


def test_smbios_round_trip_matches_dmidecode(fwgen_run, tmp_path, cli):
    """dmidecode decodes the extracted dump exactly as it decodes SeaBIOS's own."""
    img, dump = tmp_path / "m.bin", tmp_path / "g.dmi"
    assert cli("build", "-o", img, "--policy", "passthrough-all", "--smbios",
               fwgen_run / "smbios.bin").code == 0
    assert cli("extract", img, "--smbios-dump", dump).code == 0
    ours = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    theirs = (fwgen_run / "dmidecode.txt").read_text()
    assert _handles_and_fields(ours) == _handles_and_fields(theirs)
    params = json.loads((fwgen_run / "params.json").read_text())
    serial = [kv.split("=", 1)[1] for kv in params["smbios"][1].split(",") if kv.startswith("serial=")][0]
    assert serial in ours


def test_acpi_round_trip_is_byte_identical(fwgen_run, tmp_path, cli):
    """Every table SeaBIOS built (RSDP excepted) that hvmloader does not build itself comes
    back out byte for byte; one it builds itself, named, is refused by name."""
    from xcmod.builder.policy import HVMLOADER_ACPI_OWN
    adir = fwgen_run / "acpi"
    every = sorted(n for n in os.listdir(adir) if not n.startswith("RSDP"))
    names = [n for n in every if (adir / n).read_bytes()[:4].decode() not in HVMLOADER_ACPI_OWN]
    own = [n for n in every if n not in names]
    img, out = tmp_path / "a.bin", tmp_path / "out"
    assert own and names, every
    r = cli("build", "-o", img, "--policy", "passthrough-all", "--acpi", adir / own[0])
    assert r.code == 1 and "is built by hvmloader itself" in r.err and not img.exists()
    args = [a for n in names for a in ("--acpi", adir / n)]
    r = cli("build", "-o", img, "--policy", "passthrough-all", *args)
    assert r.code == 0, r.err
    assert cli("extract", img, "--acpi-dir", out).code == 0
    got = {n: (out / n).read_bytes() for n in os.listdir(out)}
    want = sorted((adir / n).read_bytes() for n in names)
    assert sorted(got.values()) == want
