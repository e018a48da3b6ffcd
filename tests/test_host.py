# SPDX-License-Identifier: MIT
"""Firmware sources: the running host's sysfs, acpidump text, memory-image scans."""
import json
import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcmod.errors import FormatError
from xcmod.firmware import host, smbios

from . import fwgen
from .referees import dmidecode_mem
from .paths import ROOT, real

DUMP = real("smbios/infrasim/dell_c6320_smbios.bin")


def test_host_acpi_reads_sysfs_as_the_kernel_shows_it(tmp_path, cli):
    """--acpi host takes every table in /sys/firmware/acpi/tables (and dynamic/), byte
    for byte, through the bounded reader (sysfs sizes say nothing); under
    passthrough-all every one that is not hvmloader's own passes into the image and
    comes back out byte for byte, the others are reported as skipped."""
    from xcmod.builder.policy import HVMLOADER_ACPI_OWN
    paths = [os.path.join(d, n) for d in (host.SYSFS_ACPI,
                                          os.path.join(host.SYSFS_ACPI, "dynamic"))
             if os.path.isdir(d) for n in sorted(os.listdir(d))
             if os.path.isfile(os.path.join(d, n))]
    assert paths, "this machine exposes ACPI tables in sysfs"
    want = {p: open(p, "rb").read() for p in paths}
    got = {c.origin: c.raw for c in host.acpi_candidates("host")}
    assert got == want
    img, out = tmp_path / "m.bin", tmp_path / "out"
    passing = [b for b in want.values() if b[:4].decode("latin-1") not in HVMLOADER_ACPI_OWN
               and b[:8] != b"RSD PTR "]
    extra = [] if passing else ["--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")]
    r = cli("build", "-o", img, "--acpi", "host", *extra, "--policy", "passthrough-all",
            "--json")
    assert r.code == 0, r.err
    skipped = [e for e in json.loads(r.out)["report"]["entries"] if e["action"] == "skipped"]
    assert len(skipped) == len(want) - len(passing)
    assert cli("extract", img, "--acpi-dir", out).code == 0
    extra_raw = [open(extra[1], "rb").read()] if extra else []
    assert sorted((out / n).read_bytes() for n in os.listdir(out)) == \
        sorted(passing + extra_raw)


def test_host_acpi_default_policy_reports_each_table(tmp_path, cli):
    """Under the default policy every host table is accounted for in the report."""
    r = cli("build", "-o", tmp_path / "m", "--acpi", "host", "--acpi",
            real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "--json")
    assert r.code == 0, r.err
    import json
    entries = json.loads(r.out)["report"]["entries"]
    for n in os.listdir(host.SYSFS_ACPI):
        if os.path.isfile(os.path.join(host.SYSFS_ACPI, n)):
            assert any(os.path.join(host.SYSFS_ACPI, n) in e["item"] for e in entries), n


def test_sysfs_layout_directory_includes_dynamic(tmp_path):
    """A sysfs-layout copy is read in natural order, dynamic/ tables after static ones."""
    (tmp_path / "dynamic").mkdir()
    (tmp_path / "data").mkdir()
    ssdt = open(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "rb").read()
    dyn = open(real("acpi/lenovo-x1c6/SSDT-x5_4-Cpu0Hwp.aml"), "rb").read()
    for name in ("SSDT10", "SSDT2"):
        (tmp_path / name).write_bytes(ssdt)
    (tmp_path / "dynamic" / "SSDT11").write_bytes(dyn)
    got = host.acpi_candidates(str(tmp_path))
    assert [os.path.relpath(c.origin, tmp_path) for c in got] == ["SSDT2", "SSDT10",
                                                                   "dynamic/SSDT11"]
    assert not any(c.explicit for c in got)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="SDT0123456789_.a٣", max_size=8), max_size=12))
def test_table_files_sort_as_numbers_within_text(names):
    """host's natural order (no ``re``) sorts as splitting at runs of ASCII digits
    does, those runs compared as numbers: SSDT2 before SSDT10."""
    import re

    def by_regex(name):
        return [int(p) if p.isdigit() and p.isascii() else p
                for p in re.split(r"([0-9]+)", name)]
    assert sorted(names, key=host._natural_key) == sorted(names, key=by_regex)


@pytest.mark.parametrize("line,sig", [
    (b"SSDT @ 0x0000000000000000", b"SSDT"), (b"ASF! @ 0xBFEE1000  \t", b"ASF!"),
    (b"SSDT @ 0x", None), (b"SSDT @ 0x00g0", None), (b"SSD @ 0x00", None),
    (b"SSDT  @ 0x00", None), (b"SS\x01T @ 0x00", None), (b"SSDT @ 0x00 x", None)])
def test_acpidump_head_lines(line, sig):
    """An acpidump table's first line: four printable characters, " @ 0x", hex digits,
    nothing after but white space."""
    assert host._acpidump_head(line) == sig


def test_acpidump_text_matches_acpixtract(tmp_path):
    """Tables parsed from real `acpidump -o` output equal what acpica's acpixtract extracts."""
    text = tmp_path / "dump.txt"
    subprocess.run(["acpidump", "-o", str(text)], check=True, capture_output=True)
    ours = {c.signature: c.raw for c in host.acpi_candidates(str(text))}
    xdir = tmp_path / "x"
    xdir.mkdir()
    subprocess.run(["acpixtract", "-a", str(text)], cwd=xdir, check=True, capture_output=True)
    theirs = {n.split(".")[0].upper(): (xdir / n).read_bytes() for n in os.listdir(xdir)}
    assert ours and ours == theirs


def test_acpidump_text_errors_name_the_line(tmp_path):
    """A corrupted acpidump text is refused at the line where it goes wrong."""
    bad = tmp_path / "t.txt"
    bad.write_text("SSDT @ 0x0000000000000000\n    0000: 53 53 44 54\n    0020: 00\n")
    with pytest.raises(FormatError, match="line 3: offset 0x20 in SSDT, expected 0x4"):
        host.acpi_candidates(str(bad))


def test_permission_denied_says_root_is_needed():
    """As an unprivileged user, --acpi host fails in one line saying root is needed."""
    import tempfile

    import construct
    # The unprivileged user cannot read /root (this interpreter's home) nor
    # pytest's 0700 tmp tree, so it runs Debian's python3 on a copy of xcmod
    # and construct in a world-readable directory.
    top = tempfile.mkdtemp(prefix="xcmod-nobody-")
    try:
        # (with the compiled C reader, which walks every image: not the Xen binding)
        shutil.copytree(os.path.join(ROOT, "xcmod"), os.path.join(top, "xcmod"),
                        ignore=shutil.ignore_patterns("_xen*.so", "__pycache__"))
        shutil.copytree(os.path.dirname(construct.__file__), os.path.join(top, "construct"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for d, _, _ in os.walk(top):
            os.chmod(d, 0o777)
        env = dict(os.environ, PYTHONPATH=top)
        out = os.path.join(top, "m")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/usr/bin/python3", "-m", "xcmod", "build", "-o", out,
                            "--acpi", "host"], capture_output=True, text=True, env=env, cwd="/")
        assert r.returncode == 1, r
        assert r.stderr.count("\n") == 1 and "permission denied" in r.stderr, r.stderr
        assert "needs root" in r.stderr and "Traceback" not in r.stderr
        assert not os.path.exists(out)
    finally:
        shutil.rmtree(top)


def test_host_smbios_reports_what_is_missing(tmp_path, cli):
    """--smbios host uses sysfs (or /dev/mem); with neither it names both plainly."""
    r = cli("build", "-o", tmp_path / "m", "--smbios", "host")
    if os.path.isdir(host.SYSFS_DMI) or os.path.exists(host.DEV_MEM):
        assert r.code == 0 or "permission denied" in r.err, r
    else:
        assert r.code == 1 and "no SMBIOS tables" in r.err and "/dev/mem" in r.err


def _memory_image(tmp_path, ep_at=0xF5A10, table_at=0xE4000):
    data = open(DUMP, "rb").read()
    t = smbios.parse_dump(data)
    ep = bytearray(smbios.build_entry_point(t, table_at))
    mem = bytearray(0x100000)
    mem[ep_at:ep_at + len(ep)] = ep
    mem[table_at:table_at + len(t.table_bytes)] = t.table_bytes
    path = tmp_path / "mem.img"
    path.write_bytes(mem)
    return path, t


def test_legacy_scan_finds_the_table(tmp_path):
    """mem:IMAGE finds the entry point on a paragraph in the F-segment and reads its table."""
    path, t = _memory_image(tmp_path)
    got = host.read_smbios(f"mem:{path}")
    assert [s.data for s in got.structures] == [s.data for s in t.structures]
    assert "entry point found at 0xf5a10" in got.notes[0]


def test_legacy_scan_without_anchor(tmp_path):
    """A memory image with no valid anchor is one FormatError at 0xf0000."""
    path = tmp_path / "zero.img"
    path.write_bytes(bytes(0x100000))
    with pytest.raises(FormatError, match="offset 0xf0000: no SMBIOS entry point"):
        host.read_smbios(f"mem:{path}")


@pytest.mark.qemu
def test_legacy_scan_of_a_real_seabios_ram_snapshot(tmp_path):
    """On guest RAM SeaBIOS filled, mem: finds what `dmidecode -d RAM` finds."""
    work = tmp_path / "work"
    work.mkdir()
    ram = fwgen.snapshot_ram("pc", 32, ["type=1,manufacturer=ScanCo,serial=SCAN-1234"], [],
                          str(work))
    dump = tmp_path / "d.bin"
    dmidecode_mem(ram, "-q", dump_bin=dump)
    theirs = smbios.read_file(str(dump))
    ours = host.read_smbios(f"mem:{ram}")
    assert [s.data for s in ours.structures] == [s.data for s in theirs.structures]
    assert any(b"ScanCo" in s.data for s in ours.structures)
    shutil.rmtree(work)


def _sm3_image(path, address, max_size):
    """A memory image holding only a valid _SM3_ entry point at 0xF0000."""
    import struct
    ep = bytearray(struct.pack("<5sBBBBBBBIQ", b"_SM3_", 0, 0x18, 3, 0, 0, 1, 0, max_size,
                               address))
    ep[5] = -sum(ep) & 0xFF
    mem = bytearray(0x100000)
    mem[0xF0000:0xF0000 + len(ep)] = ep
    path.write_bytes(mem)


@given(address=st.integers(0, (1 << 64) - 1), max_size=st.integers(0, (1 << 32) - 1))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mem_image_with_any_table_address_is_one_format_error_or_a_table(tmp_path, address,
                                                                        max_size):
    """mem: with a _SM3_ entry point naming any 64-bit table address gives a table or
    one FormatError, never another exception."""
    path = tmp_path / "mem.img"
    _sm3_image(path, address, max_size)
    try:
        host.read_smbios(f"mem:{path}")
    except FormatError as e:
        assert str(e).startswith(str(path))


@pytest.mark.parametrize("address", [1 << 63, 0x200000])
def test_mem_table_past_the_image_is_named(tmp_path, cli, address):
    """A _SM3_ table address past the image end (or past any file offset) is named as
    such, not reported as a policy question."""
    path = tmp_path / "mem.img"
    _sm3_image(path, address, 0x1000)
    r = cli("build", "-o", tmp_path / "m.bin", "--smbios", f"mem:{path}",
            "--policy", "passthrough-all")
    assert r.code == 1 and "Traceback" not in r.err
    assert "past the end of the image" in r.err or "beyond any file offset" in r.err, r.err
    assert "passthrough-all" not in r.err
