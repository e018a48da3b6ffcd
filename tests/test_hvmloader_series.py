# SPDX-License-Identifier: MIT
"""The upstream hvmloader series (issue 30): hvmloader finds the image as the
start-info module named "tables" (xl.cfg's firmware_tables=), and the stock
paths' own fixes (OEM structure count, SMBIOS past the firmware's area, a
passed FADT/DSDT), on `make hvmloader`'s patched sources, with the host
harness of tests/test_hvmloader_c.py; and `make hvmloader-series`'s output."""
import os
import re
import struct
import subprocess

import pytest

from xcmod.firmware.acpi import encode_acpi_module

from xcmod.image.spec import build_image

from .hvmharness import (IMAGE, IMAGE_AT, NHLT, SSDT, START_INFO_AT, Raw, acpi_table,
                         blob_keys, keys, passed, run, smbios_struct)
from .paths import ROOT

BLOCK_AT = 0x10600000
AREA_AT, AREA_LEN = 0x11800000, 20449        # OVMF/ROMBIOS: 0xEB000 + 0x1f .. 0xEFFFF


def tables_module(at=IMAGE_AT, image=IMAGE):
    return {"start_info": hex(START_INFO_AT),
            "module": [f"{at - 0x40000:#x}:0x1000:firmware", f"{at:#x}:{len(image):#x}:tables"]}


# --- the "tables" module -----------------------------------------------------------

def test_the_tables_module_is_used_without_any_key(hvmt, tmp_path):
    """The image libxl lists as "tables": found by name, validated, used (its
    tables pass, its OEM IDs reach the RSDT through acpi_config); not refused
    for overlapping its own entry of the module list."""
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(IMAGE_AT, IMAGE)],
                              **tables_module())
    assert rc == 0, console
    assert any(l.startswith(f"xcmod: 3 module(s) at {IMAGE_AT:#x},") for l in console), console
    assert passed(values) == ["SLIC", "SSDT"]
    assert 'own RSDT oem_id="CRASH " oem_table_id="ME      "' in values


def test_a_tables_module_over_another_module_is_refused(hvmt, tmp_path):
    """A "tables" module listed over the firmware module: refused, naming it."""
    fw = f"{IMAGE_AT - 0x1000:#x}:0x40000:firmware"
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(IMAGE_AT, IMAGE)],
                              start_info=hex(START_INFO_AT),
                              module=[fw, f"{IMAGE_AT:#x}:{len(IMAGE):#x}:tables"])
    assert rc == 0, console
    assert "active=0" in values[0]
    assert any('overlaps the "firmware" module' in l for l in console), console
    assert passed(values) == []


def test_an_invalid_tables_module_leaves_the_blocks(hvmt, tmp_path):
    """A damaged image: one line, and acpi_firmware='s block is used as stock."""
    bad = bytearray(IMAGE)
    bad[40] ^= 0xFF
    rc, console, values = run(hvmt, tmp_path, "acpi", "4",
                              files=[(IMAGE_AT, bytes(bad)), (BLOCK_AT, NHLT)],
                              xs=blob_keys(BLOCK_AT, NHLT), **tables_module(image=bytes(bad)))
    assert rc == 0, console
    assert any(l.startswith("xcmod: modules ignored: image at") for l in console), console
    assert passed(values) == ["NHLT"]
    assert 'own RSDT oem_id="Xen" oem_table_id="HVM"' in values


def test_the_keys_of_xcmod_load_win_over_the_tables_module(hvmt, tmp_path):
    """Compat: hvmloader/modules/* (an explicit load for this boot) take precedence."""
    other = build_image([encode_acpi_module([Raw(NHLT)])])
    xs = {**keys(BLOCK_AT, other), "hvmloader/modules/count": "1"}
    rc, console, values = run(hvmt, tmp_path, "acpi", "4",
                              files=[(IMAGE_AT, IMAGE), (BLOCK_AT, other)], xs=xs,
                              **tables_module())
    assert rc == 0, console
    assert passed(values) == ["NHLT"]


# --- the stock paths' own fixes ------------------------------------------------------

def smbios_block(structures):
    """smbios_firmware='s format: each structure preceded by its 32-bit length."""
    return b"".join(struct.pack("<I", len(s)) + s for s in structures)


def smbios_keys(block):
    return {"hvmloader/smbios/address": hex(BLOCK_AT), "hvmloader/smbios/length": str(len(block))}


def write_smbios(hvmt, tmp_path, block, **opts):
    out = tmp_path / "smbios.bin"
    rc, console, values = run(hvmt, tmp_path, "smbios", str(out), files=[(BLOCK_AT, block)],
                              xs=smbios_keys(block), **opts)
    assert rc == 0, console
    if "smbios none" in values:
        return console, None, []
    data = out.read_bytes()
    ep, table = data[:0x1F], data[0x1F:]
    structs, pos = [], 0
    while pos < len(table):
        flen = table[pos + 1]
        end = table.index(b"\0\0", pos + flen) + 2
        structs.append(table[pos])
        pos = end
    return console, struct.unpack_from("<H", ep, 28)[0], structs


def test_every_oem_structure_of_a_stock_block_is_counted(hvmt, tmp_path):
    """smbios_firmware= with three OEM structures: the entry point's count is the
    number of structures in the table (stock hvmloader counted the three as one,
    so readers stopping at the count missed two and the end structure)."""
    oem = [smbios_struct(t, bytes(4), ["OEM %d" % t], handle=0xE000 + t) for t in (200, 201, 202)]
    console, count, types = write_smbios(hvmt, tmp_path, smbios_block(oem))
    assert [t for t in types if t >= 128] == [200, 201, 202]
    assert count == len(types), (count, types)


def test_a_stock_block_too_large_for_the_area_costs_only_itself(hvmt, tmp_path):
    """OVMF/ROMBIOS: structures from smbios_firmware= that take the table past the
    20 KiB area are refused with one line; the guest keeps hvmloader's own SMBIOS
    (stock hvmloader wrote no SMBIOS at all)."""
    big = [smbios_struct(200 + i, bytes(250), ["x" * 200] * 10, handle=0xE000 + i)
           for i in range(12)]
    block = smbios_block(big)
    assert len(block) > AREA_LEN
    console, count, types = write_smbios(hvmt, tmp_path, block, area=f"{AREA_AT:#x}:{AREA_LEN:#x}")
    assert any(l.startswith("SMBIOS: the structures of hvmloader/smbios/address refused: "
                            "the table would take ") and
               l.endswith(f"the firmware's room is {AREA_LEN}") for l in console), console
    assert count is not None, console
    assert types and not any(t >= 128 for t in types) and 127 in types
    assert count == len(types)


def test_a_passed_fadt_or_dsdt_is_dropped(hvmt, tmp_path):
    """acpi_firmware= holding a FADT and a DSDT beside an SSDT: the guest has its own
    FADT and DSDT, so those two are named and dropped, the SSDT passes."""
    blob = acpi_table(b"FACP", bytes(80)) + SSDT + acpi_table(b"DSDT", b"\x10\x05\x5c\x00\x00")
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOCK_AT, blob)],
                              xs=blob_keys(BLOCK_AT, blob))
    assert rc == 0, console
    assert passed(values) == ["SSDT"]
    for sig in ("FACP", "DSDT"):
        assert f"ACPI: pass-through table {sig} dropped: the guest has its own" in console


def test_a_zero_length_table_ends_the_stock_walk(hvmt, tmp_path):
    """A table whose length field is 0: stock libacpi copied the same header over
    and over until the slots ran out; now the offset is named and the walk stops."""
    bad = bytearray(NHLT)
    bad[4:8] = bytes(4)
    blob = SSDT + bytes(bad)
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOCK_AT, blob)],
                              xs=blob_keys(BLOCK_AT, blob))
    assert rc == 0, console
    assert passed(values) == ["SSDT"]
    assert f"ACPI: pass-through table at offset {len(SSDT):#x} has length 0, " \
           f"{len(NHLT)} bytes remain: the rest is ignored" in console


# --- make hvmloader-series ------------------------------------------------------------

def upstream_patches():
    lines = [l.strip() for l in open(os.path.join(ROOT, "hvmloader", "series"))]
    return [l for l in lines if l and not l.startswith("#") and not l.startswith("compat/")]


def format_series(tmp_path, **env):
    out = tmp_path / "series"
    r = subprocess.run(["sh", os.path.join(ROOT, "hvmloader", "format-series"), str(out)],
                       capture_output=True, text=True, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return out


def check_series(out):
    names = sorted(os.listdir(out))
    assert names == ["0000-cover-letter.patch"] + upstream_patches()
    cover = (out / names[0]).read_text()
    assert cover.startswith("From ") and "Subject: [PATCH 00/10] " in cover
    for heading in ("The RFC's open points", "Precedence", "What the guest sees differently",
                    "Reboot, save/restore, migration", "Cost", "Tested"):
        assert "\n" + heading + "\n" in cover, heading
    for name in names:
        text = (out / name).read_text()
        assert not any(l.startswith("Signed-off-by:") for l in text.splitlines()), name
        if name != names[0]:
            # the xenstore keys of xcmod load and the carrier stay project-only
            assert "hvmloader/modules/" not in text and "OEMM" not in text, name
            assert "xcmod-compat" not in text, name
            # names without the project's (issue 30): fwt_*, firmware-tables.rst
            body = "\n".join(l for l in text.splitlines() if not l.startswith("From: "))
            assert re.findall(r"\b(?:xcmod|XCMOD)_\w*|\bxcmod[.-]\w*", body) == [], name
    return cover


def test_the_series_for_xen_devel_is_the_upstream_part(tmp_path):
    """make hvmloader-series: the cover letter first, then the upstream patches in
    the series' order, none of the compat ones, no Signed-off-by."""
    cover = check_series(format_series(tmp_path))
    subjects = [open(os.path.join(ROOT, "hvmloader", "patches", p)).read()
                .split("Subject: ", 1)[1].split("] ", 1)[1].split("\n")[0] for p in upstream_patches()]
    for s in subjects:
        assert s.split()[0] in cover


def test_the_series_takes_with_git_am_onto_master(tmp_path):
    """XEN_GIT=DIR (a xen.git repository): the series is taken with git am onto
    master's tree and written again, with the same cover letter text."""
    git = os.environ.get("XEN_GIT")
    if not git:
        pytest.skip("XEN_GIT=DIR not set")
    tree = tmp_path / "xen"
    tree.mkdir()
    subprocess.run(f"git -C '{git}' archive master | tar -x -C '{tree}'", shell=True, check=True)
    cover = check_series(format_series(tmp_path, XEN_SRC=str(tree)))
    stored = open(os.path.join(ROOT, "hvmloader", "patches", "0000-cover-letter.patch")).read()
    assert cover.split("\n\n", 1)[1] == stored.split("\n\n", 1)[1]
