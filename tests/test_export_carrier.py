# SPDX-License-Identifier: MIT
"""export xl / libvirt --driver xen with --hvmloader: the image whole in a carrier that
libxl's acpi_firmware= reads on every create; what stock-block exports leave out is named."""
import json
import re
import subprocess

import pytest

from xcmod.image import carrier

from .paths import real

SLIC = real("acpi/lenovo-x1c6/SLIC.aml")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
DELL = real("smbios/infrasim/dell_r640_smbios.bin")


@pytest.fixture
def image(tmp_path, cli):
    out = tmp_path / "vm7.bin"
    r = cli("build", "-q", "-o", out, "--policy", "passthrough-all", "--smbios", DELL,
            "--acpi", SSDT, "--acpi", SLIC, "--oem-ids", "slic")
    assert r.code == 0, r.err
    return out


def _cfg(lines):
    """{key: value} of xl.cfg lines (comments skipped), as xl's parser reads strings."""
    out = {}
    for line in lines:
        if line.startswith("#"):
            continue
        m = re.fullmatch(r'(\w+) = "([^"]*)"', line)
        assert m, line
        out[m[1]] = m[2]
    return out


def test_export_xl_writes_the_carrier_and_names_it_with_the_hvmloader(image, tmp_path, cli):
    """The two keys every xl (4.17, 4.20, master) reads for an HVM guest: firmware=
    (hvmloader) and acpi_firmware= (the carrier, the image byte for byte inside)."""
    hv = tmp_path / "hvmloader-xcmod"
    hv.write_bytes(b"\0")
    r = cli("export", "xl", image, "--hvmloader", hv, "--out-dir", tmp_path / "o")
    assert r.code == 0, r.err
    cfg = _cfg(r.out.splitlines())
    assert cfg == {"firmware": str(hv), "acpi_firmware": str(tmp_path / "o" / "vm7.carrier")}
    assert carrier.unwrap((tmp_path / "o" / "vm7.carrier").read_bytes()) == image.read_bytes()
    assert r.err == ""                                  # nothing left out, nothing to warn
    assert cli("verify", tmp_path / "o" / "vm7.carrier").code == 0


def test_export_xl_without_out_dir_writes_beside_the_image_and_json_says_so(image, tmp_path,
                                                                            cli):
    r = cli("export", "xl", image, "--hvmloader", "/nonexistent/hvmloader", "--json")
    assert r.code == 0, r.err
    j = json.loads(r.out)
    path = str(tmp_path / "vm7.carrier")
    assert j["files"] == [path] and j["not_carried"] == []
    assert _cfg(j["lines"])["acpi_firmware"] == path
    assert any("/nonexistent/hvmloader: no such file here" in w for w in j["warnings"])
    assert "no such file here" in r.err


def test_export_xl_of_a_carrier_names_it_in_place(image, tmp_path, cli):
    c = tmp_path / "given.carrier"
    c.write_bytes(carrier.wrap(image.read_bytes()))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("export", "xl", c, "--hvmloader", "/usr/lib/xcmod/hvmloader")
    assert r.code == 0, r.err
    assert _cfg(r.out.splitlines())["acpi_firmware"] == str(c)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_libvirt_xen_with_a_carrier_needs_no_start_script(image, tmp_path, cli):
    """The document alone carries the image: <acpi><table> names the carrier (libxl's
    acpi_firmware, read on every start and reboot), <features><acpi/> is on, no
    start.sh; that libvirt cannot name hvmloader is said in the XML and on stderr."""
    out = tmp_path / "lv"
    r = cli("export", "libvirt", "--driver", "xen", image, "--hvmloader",
            "/usr/lib/xcmod/hvmloader", "--out-dir", out, "--name", "vm7")
    assert r.code == 0, r.err
    xml = (out / "domain.xml").read_text()
    assert f"<table type='slic'>{out}/vm7.carrier</table>" in xml
    assert "  <features>\n    <acpi/>\n  </features>" in xml
    assert "cannot name an hvmloader" in xml and "cannot name an hvmloader" in r.err
    assert sorted(p.name for p in out.iterdir()) == ["domain.xml", "vm7.carrier"]
    assert carrier.unwrap((out / "vm7.carrier").read_bytes()) == image.read_bytes()
    if subprocess.run(["which", "virt-xml-validate"], capture_output=True).returncode == 0:
        v = subprocess.run(["virt-xml-validate", str(out / "domain.xml"), "domain"],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr


@pytest.mark.parametrize("argv, message", [
    (["qemu", "{img}", "--out-dir", "{d}/q"], "--hvmloader is for xl and libvirt --driver xen"),
    (["libvirt", "{img}", "--out-dir", "{d}/q"], "--hvmloader is for xl and libvirt --driver"),
    (["libvirt", "--driver", "xen", "{img}"], "needs --out-dir"),
    (["xl", "{d}/blocks"], "a `build --format xen` directory is for stock hvmloader"),
])
def test_carrier_export_misuse_is_one_line_and_writes_nothing(image, tmp_path, cli, argv,
                                                             message):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "acpi.bin").write_bytes(open(SLIC, "rb").read())
    words = [a.format(img=image, d=tmp_path) for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("export", *words, "--hvmloader", "/usr/lib/xcmod/hvmloader")
    assert r.code == 2 and r.out == "" and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_bad_image_or_a_quoted_path_is_refused(image, tmp_path, cli):
    bad = tmp_path / "bad.bin"
    data = bytearray(image.read_bytes())
    data[20] ^= 1                                          # the first module's checksum
    bad.write_bytes(bytes(data))
    r = cli("export", "xl", bad, "--hvmloader", "/h")
    assert r.code == 1 and f"{bad}: offset 0x14" in r.err and r.out == ""
    assert not (tmp_path / "bad.carrier").exists()
    r = cli("export", "xl", image, "--hvmloader", '/a"b')
    assert r.code == 2 and "without quotes" in r.err


def test_a_carrier_past_the_stock_limit_is_refused(tmp_path, cli, monkeypatch, image):
    monkeypatch.setattr(carrier, "CARRIER_MAX", 64)
    r = cli("export", "xl", image, "--hvmloader", "/h", "--out-dir", tmp_path / "o")
    assert r.code == 1 and "larger than the 64 bytes" in r.err, r.err
    assert not (tmp_path / "o").exists()


def test_stock_exports_name_what_they_cannot_carry(image, tmp_path, cli):
    """Without the carrier, the OEM IDs and the SMBIOS 3.0 entry point cannot go (stock
    blocks, QEMU, XAPI): each is named on stderr and in --json, never dropped silently."""
    for argv in (["xl", image, "--out-dir", tmp_path / "x"],
                 ["qemu", image, "--out-dir", tmp_path / "q"],
                 ["libvirt", "--driver", "xen", image, "--out-dir", tmp_path / "l"]):
        r = cli("export", *argv, "--json")
        assert r.code == 0, r.err
        left = json.loads(r.out)["not_carried"]
        assert any("OEM IDs 'LENOVO'/'TP-N23'" in x for x in left), left
        assert any("SMBIOS 3.0 entry point" in x for x in left), left
        for x in left:
            assert f"not carried by export {argv[0]}: {x}" in r.err


def test_libvirt_xen_stock_says_smbios_is_lost_on_reboot_and_start_sh_runs_this_xcmod(
        image, tmp_path, cli):
    import shlex
    import sys
    out = tmp_path / "l"
    r = cli("export", "libvirt", "--driver", "xen", image, "--out-dir", out, "--name", "w")
    assert r.code == 0, r.err
    assert "last one boot" in r.err
    script = (out / "start.sh").read_text()
    assert "python3 -m xcmod" not in script.replace(f"{sys.executable} -m xcmod", "")
    assert f"{shlex.quote(sys.executable)} -m xcmod" in script and "${XCMOD:-}" in script
