# SPDX-License-Identifier: MIT
"""hvmloader's xcmod code, built on the host and run on images made here.

`make hvmloader`'s patched sources (hvmloader/build keeps them as
xcmod-src.tar.gz, generated headers included) are compiled for the host
with the small harness in tests/hvmloader_c: fwt.c, smbios.c, libacpi's
build.c and static_tables.c, the reader, as the patches left them, against
stubs for what hvmloader gets from Xen (xenstore keys from the command line,
hvm_info, hvm_start_info, mem_alloc, the XENVER_* hypercalls).  Guest memory
is the harness's own memory at the same addresses (the binary is not
position-independent, so hvmloader's 32-bit pointer casts hold).

XEN_SRC=DIR tests the series on another tree, as `make hvmloader` builds it.
"""
import os
import struct
import subprocess

import pytest

from xcmod.firmware.acpi import encode_acpi_module
from xcmod.image.spec import build_image

from .hvmharness import (BLOB_AT, HARNESS, IMAGE, IMAGE_AT, LOW_RAM_END, NHLT, SSDT,
                         START_INFO_AT, Raw, blob_keys, carrier, keys, passed, run,
                         smbios_module, smbios_struct, type0, type1)
from .paths import ROOT

# --- the carrier (compat patch 0002) ------------------------------------------

def test_carrier_alone_is_unwrapped_and_never_passed_through(hvmt, tmp_path):
    """acpi_firmware= holding only the carrier: the image is used (its SLIC and SSDT
    pass, its OEM IDs go into hvmloader's own tables), the OEMM table does not pass."""
    blob = carrier(IMAGE)
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOB_AT, blob)],
                              xs=blob_keys(BLOB_AT, blob))
    assert rc == 0, console
    assert f"xcmod: image in the OEMM table at {BLOB_AT:#x} of hvmloader/acpi/address" \
        in console
    assert any(l.startswith("xcmod: 3 module(s) at 0x%x," % (BLOB_AT + 36)) for l in console)
    assert passed(values) == ["SLIC", "SSDT"]
    assert 'own RSDT oem_id="CRASH " oem_table_id="ME      "' in values


def test_other_tables_of_the_blob_pass_as_stock(hvmt, tmp_path):
    """A blob with another table before and after the carrier: those pass, after
    the image's own tables; the carrier does not."""
    blob = NHLT + carrier(IMAGE) + SSDT
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOB_AT, blob)],
                              xs=blob_keys(BLOB_AT, blob))
    assert rc == 0, console
    assert passed(values) == ["SLIC", "SSDT", "NHLT", "SSDT"]


@pytest.mark.parametrize("damage", ["module crc", "truncated image"])
def test_an_invalid_carrier_is_named_and_still_not_passed(hvmt, tmp_path, damage):
    """A carrier whose image does not validate: one line, stock behaviour, and the
    carrier table is still not passed through (the blob's other tables are)."""
    image = bytearray(IMAGE)
    if damage == "module crc":
        image[40] ^= 0xFF
    else:
        image = image[:-16]
    blob = NHLT + carrier(bytes(image))
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOB_AT, blob)],
                              xs=blob_keys(BLOB_AT, blob))
    assert rc == 0, console
    assert any(l.startswith("xcmod: modules ignored: image at") for l in console), console
    assert passed(values) == ["NHLT"]
    assert 'own RSDT oem_id="Xen" oem_table_id="HVM"' in values


def test_keys_win_over_a_carrier(hvmt, tmp_path):
    """hvmloader/modules/* and a carrier: the keyed image is used, the carrier is
    named as ignored and does not pass, and the blob is not used (the image takes
    its place, as with any stock block)."""
    other = build_image([encode_acpi_module([Raw(NHLT)])])
    blob = carrier(IMAGE) + SSDT
    xs = {**blob_keys(BLOB_AT, blob), **keys(IMAGE_AT, other)}
    xs["hvmloader/modules/count"] = "1"
    rc, console, values = run(hvmt, tmp_path, "acpi", "4",
                              files=[(BLOB_AT, blob), (IMAGE_AT, other)], xs=xs)
    assert rc == 0, console
    assert f"xcmod: the OEMM table at {BLOB_AT:#x} of hvmloader/acpi/address is ignored: " \
           f"hvmloader/modules/... take precedence" in console
    assert passed(values) == ["NHLT"]


def test_a_table_of_bad_length_ends_the_walk(hvmt, tmp_path):
    """A blob whose second table claims more than remains: the first passes, the
    line names the offset, nothing past it is read (no carrier found beyond)."""
    bad = bytearray(NHLT)
    bad[4:8] = struct.pack("<I", 0x20001)
    blob = SSDT + bytes(bad) + carrier(IMAGE)
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(BLOB_AT, blob)],
                              xs=blob_keys(BLOB_AT, blob))
    assert rc == 0, console
    assert f"ACPI: pass-through table at offset {len(SSDT):#x} has length {0x20001}, " \
           f"{len(blob) - len(SSDT)} bytes remain: the rest is ignored" in console
    assert passed(values) == ["SSDT"]
    assert not any("OEMM" in l for l in console)


# --- the image hvmloader uses is its own (issue 28 item 4, issue 30 bug 3) ------

def test_an_image_over_a_start_info_module_is_refused(hvmt, tmp_path):
    """Keys pointing into the firmware module libxc listed in hvm_start_info: the
    image would validate there (it is the image's bytes), but SeaBIOS would then
    be loaded from what the image overwrote; refused, naming the module."""
    fw_at, fw_len = IMAGE_AT - 0x1000, 0x40000
    rc, console, values = run(hvmt, tmp_path, "init", files=[(IMAGE_AT, IMAGE)],
                              xs=keys(IMAGE_AT, IMAGE), start_info=hex(START_INFO_AT),
                              module=f"{fw_at:#x}:{fw_len:#x}:firmware")
    assert rc == 0, console
    assert "active=0" in values[0]
    assert f'xcmod: modules ignored: image {IMAGE_AT:#x}+{len(IMAGE):#x} overlaps the ' \
           f'"firmware" module of hvm_start_info ({fw_at:#x}-{fw_at + fw_len - 1:#x})' \
        in console, console


def test_an_image_over_the_start_info_itself_is_refused(hvmt, tmp_path):
    """An image written over the hvm_start_info structure (xcmod load comes after
    libxc): intact, it validates, but hvmloader still reads the structure to
    find its firmware.  Refused."""
    rc, console, values = run(hvmt, tmp_path, "init", files=[(START_INFO_AT, IMAGE)],
                              xs=keys(START_INFO_AT, IMAGE), start_info=hex(START_INFO_AT),
                              module=f"{IMAGE_AT:#x}:0x1000:firmware")
    assert rc == 0, console
    assert "active=0" in values[0]
    assert f"xcmod: modules ignored: image {START_INFO_AT:#x}+{len(IMAGE):#x} overlaps " \
           f"hvm_start_info ({START_INFO_AT:#x}-{START_INFO_AT + 55:#x})" in console, console


def test_the_image_used_is_a_copy_hvmloader_owns(hvmt, tmp_path):
    """Whatever overwrites the image's RAM after it was found (hvmloader's own
    later work, a debug build's self-tests at the first free 4 MiB) does not
    reach the tables built from it."""
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(IMAGE_AT, IMAGE)],
                              xs=keys(IMAGE_AT, IMAGE), clobber=f"{IMAGE_AT:#x}:{len(IMAGE):#x}")
    assert rc == 0, console
    assert passed(values) == ["SLIC", "SSDT"]
    assert 'own RSDT oem_id="CRASH " oem_table_id="ME      "' in values


def test_an_image_whose_pages_hvmloader_takes_is_refused(hvmt, tmp_path):
    """A domain with no page to spare: hvmloader's allocations take pages off the
    top of low RAM.  An image there is refused before any of it is used, with a
    line; nothing of what those pages now hold reaches the guest."""
    at = (LOW_RAM_END - len(IMAGE)) & ~0xFFF
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(at, IMAGE)],
                              xs=keys(at, IMAGE), steal_pages=4)
    assert rc == 0, console
    assert "active=0" in values[0]
    assert any(l.startswith(f"xcmod: modules ignored: image {at:#x}+{len(IMAGE):#x} is no "
                            "longer in low RAM") for l in console), console
    assert passed(values) == []


def test_an_image_below_the_pages_taken_is_used(hvmt, tmp_path):
    """The same domain, the image lower in RAM: used whole."""
    rc, console, values = run(hvmt, tmp_path, "acpi", "4", files=[(IMAGE_AT, IMAGE)],
                              xs=keys(IMAGE_AT, IMAGE), steal_pages=4)
    assert rc == 0, console
    assert passed(values) == ["SLIC", "SSDT"]


# --- the SMBIOS table hvmloader writes (issue 30, bugs 1, 2, 4, 5) --------------

DOMAIN_UUID = bytes.fromhex("f4022c19a1b24c3d8e9f0a1b2c3d4e5f")


def swapped(uuid):
    """The 16 bytes that SMBIOS 2.6+ readers decode as ``uuid`` (first three
    fields little-endian)."""
    return uuid[3::-1] + uuid[5:3:-1] + uuid[7:5:-1] + uuid[8:]


def smbios_of(hvmt, tmp_path, image, **opts):
    """(console, entry point fields, [(type, handle, structure bytes)], table length)."""
    out = tmp_path / "smbios.bin"
    rc, console, values = run(hvmt, tmp_path, "smbios", str(out), files=[(IMAGE_AT, image)],
                              xs={**keys(IMAGE_AT, image),
                                  "hvmloader/modules/count": str(image_count(image))},
                              uuid=DOMAIN_UUID.hex(), **opts)
    assert rc == 0, console
    data = out.read_bytes()
    ep, table = data[:0x1F], data[0x1F:]
    fields = {"major": ep[6], "minor": ep[7], "bcd": ep[30],
              "table_length": struct.unpack_from("<H", ep, 22)[0],
              "count": struct.unpack_from("<H", ep, 28)[0]}
    structs, pos = [], 0
    while pos < len(table):
        stype, flen, handle = table[pos], table[pos + 1], struct.unpack_from("<H", table, pos + 2)[0]
        end = table.index(b"\0\0", pos + flen) + 2
        structs.append((stype, handle, table[pos:end]))
        pos = end
    return console, fields, structs, len(table)


def image_count(image):
    from xcmod.image.spec import iter_modules
    return len(list(iter_modules(image))) - 1


def uuid_of(structs):
    return next(s for t, _, s in structs if t == 1)[8:24]


def test_no_type_1_in_the_module_keeps_smbios_2_4(hvmt, tmp_path):
    """An SMBIOS 3.0 module without type 1 (bug 1): hvmloader's own type 1 holds
    the domain handle's raw bytes, which readers decode as a stock build's only
    under 2.4; the entry point announces 2.4, the module's type 0 is used."""
    image = build_image([smbios_module([type0()], 3, 0)])
    console, ep, structs, _ = smbios_of(hvmt, tmp_path, image)
    assert (ep["major"], ep["minor"], ep["bcd"]) == (2, 4, 0x24)
    assert uuid_of(structs) == DOMAIN_UUID
    assert b"Initech" in next(s for t, _, s in structs if t == 0)


def test_a_type_1_in_the_module_announces_its_version(hvmt, tmp_path):
    """With the module's type 1 (a real UUID), its version is announced, so the UUID
    decodes as on the source."""
    image = build_image([smbios_module([type0(), type1(bytes(range(16)))], 3, 0)])
    _, ep, structs, _ = smbios_of(hvmt, tmp_path, image)
    assert (ep["major"], ep["minor"]) == (3, 0)
    assert uuid_of(structs) == bytes(range(16))


@pytest.mark.parametrize("version", [(3, 0), (2, 8), (2, 4)])
@pytest.mark.parametrize("scrubbed", [b"\0" * 16, b"\xff" * 16], ids=["00h", "ffh"])
def test_a_scrubbed_module_uuid_leaves_the_domain_its_own(hvmt, tmp_path, version, scrubbed):
    """Bug 5: the module's type 1 with an all-00h or all-FFh UUID (xcmod's default
    policy scrubs it) carries the domain's UUID instead, in the byte order the
    announced version implies: it decodes as the UUID a stock build gives."""
    image = build_image([smbios_module([type1(scrubbed, "Umbrella", "Hive")], *version)])
    console, ep, structs, _ = smbios_of(hvmt, tmp_path, image)
    announced = (ep["major"], ep["minor"])
    assert announced == (version if version >= (2, 6) else (2, 4))
    want = swapped(DOMAIN_UUID) if announced >= (2, 6) else DOMAIN_UUID
    assert uuid_of(structs) == want
    assert b"Umbrella" in next(s for t, _, s in structs if t == 1)


# The SMBIOS table's limit below which every structure must end (0xFFFF less the
# 6-byte type 127), and the 8 OEM structures the next test appends.
SMBIOS_ROOM = 0xFFFF - 6
OEM = [smbios_struct(0xC0 + i, bytes(20), ["oem"], 0xC000 + i) for i in range(8)]


def oem_strings(total):
    """Strings for a type 11 whose string set (each string and its NUL) takes
    exactly ``total`` bytes."""
    out = []
    while total > 0:
        n = min(total, 181)
        if total - n == 1:          # a 1-byte rest would be "", which ends the set
            n -= 2
        out.append(("%03d" % len(out) * 61)[:n - 1])
        total -= n
    return out


@pytest.mark.parametrize("fit", ["some", "none"])
def test_oem_structures_never_take_the_table_past_64k(hvmt, tmp_path, fit):
    """Bug 2: a large module beside many vCPUs and much memory (128 vCPUs, 4,896 GiB).
    When hvmloader's own structures and the module's take the table past 65529
    bytes already, `MAX - END - used` wrapped: every OEM structure was appended
    past 64 KiB.  Each OEM structure that does not fit is named and dropped;
    none ends past 65529 bytes.

    hvmloader's type 4 names the CPU's vendor (the host's, in this harness, by
    the cpuid instruction), so its size moves with the machine: the module's
    type 11 is sized on this machine to leave room for 4 of the 8 OEM
    structures ("some") or to end 200 bytes past the room ("none")."""
    opts = dict(vcpus=128, high_mem_mib=4896 << 10)

    def module(strings_total, oem):
        strings = oem_strings(strings_total)
        big = smbios_struct(11, bytes([len(strings)]), strings, 0x0B00)
        return build_image([smbios_module([type0(), big] + oem, 3, 0)])

    # the same table without the OEM structures: what this machine's hvmloader adds
    base_total = 36000
    _, _, structs, _ = smbios_of(hvmt, tmp_path, module(base_total, []), **opts)
    own = sum(len(d) for _, _, d in structs)
    target = SMBIOS_ROOM - (4 * len(OEM[0]) + len(OEM[0]) // 2) if fit == "some" \
        else SMBIOS_ROOM + 200
    image = module(base_total + target - own, OEM)
    console, ep, structs, length = smbios_of(hvmt, tmp_path, image, **opts)
    dropped = [l for l in console if l.startswith("xcmod: SMBIOS type ") and "dropped" in l]
    kept = [t for t, _, _ in structs if 0xC0 <= t < 0xC8]
    assert len(kept) + len(dropped) == 8
    pos = 0
    for t, _, data in structs:
        if 0xC0 <= t < 0xC8:
            assert pos + len(data) <= SMBIOS_ROOM, f"OEM type {t} at {pos}"
        pos += len(data)
    assert sum(len(d) for t, _, d in structs if not 0xC0 <= t < 0xC8) == target
    if fit == "some":
        assert kept == [0xC0, 0xC1, 0xC2, 0xC3], (kept, dropped)
        assert ep["table_length"] == length
    else:
        assert kept == [], (kept, dropped)
    assert ep["count"] == len(structs)


def test_no_const_is_cast_away(hvmt, tmp_path):
    """Bug 4: the module's structures are hvmloader's own copy, so the SMBIOS
    lookup needs no cast that drops a const (-Wcast-qual on the series' lines)."""
    src = hvmt.parent / "src" / "tools" / "firmware" / "hvmloader"
    bad = []
    for name in ("smbios.c", "fwt.c"):
        r = subprocess.run(["gcc", "-fsyntax-only", "-Wcast-qual", "-ffreestanding", "-nostdinc",
                            "-include", os.path.join(HARNESS, "shim.h"), "-isystem",
                            subprocess.run(["gcc", "-print-file-name=include"], text=True,
                                           capture_output=True).stdout.strip(),
                            "-I", HARNESS, "-I", str(src), "-I", str(src.parent.parent / "include"),
                            "-I", str(src.parent.parent / "libacpi"), "-I",
                            os.path.join(ROOT, "csrc"), '-D__SMBIOS_DATE__="x"',
                            "-Wno-pointer-to-int-cast", "-Wno-int-to-pointer-cast",
                            str(src / name)], capture_output=True, text=True)
        lines = (src / name).read_text().splitlines()
        for w in r.stderr.splitlines():
            parts = w.split(":")
            if len(parts) > 3 and parts[0].endswith(name) and "cast-qual" in w:
                line = lines[int(parts[1]) - 1]
                if "fwt" in line:
                    bad.append(f"{name}:{parts[1]}: {line.strip()}")
    assert bad == []


# --- the series as a maintainer receives it (issue 30) --------------------------

SERIES_DIR = os.path.join(ROOT, "hvmloader")


def _series():
    names = [l.strip() for l in open(os.path.join(SERIES_DIR, "series"))
             if l.strip() and not l.startswith("#")]
    return [(n, open(os.path.join(SERIES_DIR, "patches", n)).read()) for n in names]


def _new_files(patch):
    """{path: content} of the files ``patch`` creates (git diff of a new file)."""
    out = {}
    for part in patch.split("\ndiff --git ")[1:]:
        head, _, body = part.partition("\n@@ ")
        if "\nnew file mode" not in head:
            continue
        path = head.split("\n", 1)[0].split(" b/", 1)[1]
        lines = body.split("\n")[1:]
        text, last = [], None
        for line in lines:
            if line.startswith("+"):
                text.append(line[1:])
                last = "+"
            elif line.startswith("\\ No newline"):
                last = "nonl"
            else:
                break
        out[path] = "\n".join(text) + ("" if last == "nonl" else "\n")
    return out


FWT_FILES = os.path.join(SERIES_DIR, "fwt-files")
READER = {"xcmod_reader.c": "fwt_reader.c", "xcmod_reader.h": "fwt_reader.h",
          "xcmod_module.h": "fwt_module.h"}


def test_the_reader_in_the_series_is_csrc_renamed(tmp_path):
    """The series adds xcmod's reader to Xen's tree under neutral names; csrc/ stays
    the source of truth: the added files are hvmloader/fwt-files' output from csrc/,
    byte for byte (hvmloader/build checks the patched tree the same way), and that
    output is csrc/'s text with only the names changed."""
    import re
    r = subprocess.run(["python3", FWT_FILES, "--check"], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, "")
    r = subprocess.run(["python3", FWT_FILES, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    added = {}
    for _, patch in _series():
        added.update(_new_files(patch))
    for src, name in READER.items():
        path = "tools/firmware/hvmloader/" + name
        assert path in added, f"no patch adds {path}"
        text = (tmp_path / name).read_text()
        assert added[path] == text, path
        assert "xcmod" not in text.lower(), path
        # Token for token csrc/'s once names and blanks are set aside.
        orig = open(os.path.join(ROOT, "csrc", src)).read()
        def tokens(t):
            t = re.sub(r"\b(xcmod|XCMOD)_", "N_", re.sub(r"\b(fwt|FWT)_", "N_", t))
            return re.sub(r"/\*.*?\*/", "", t, flags=re.S).split()
        assert tokens(orig) == tokens(text), path


def test_a_reader_that_drifted_from_csrc_is_named(tmp_path):
    """An edit of the series' copy of the reader (or of csrc/ alone) fails the check
    with one line naming the patch and the file."""
    name, patch = next((n, p) for n, p in _series()
                       if "+++ b/tools/firmware/hvmloader/fwt_reader.c" in p)
    at = patch.index("+++ b/tools/firmware/hvmloader/fwt_reader.c")
    at = patch.index("\n+    return", at)
    bad = tmp_path / name
    bad.write_text(patch[:at + 1] + "+    (void)0;\n" + patch[at + 1:])
    r = subprocess.run(["python3", FWT_FILES, "--check", str(bad)], capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"hvmloader/fwt-files: {bad}: tools/firmware/hvmloader/fwt_reader.c differs from "
        "hvmloader/fwt-files' output from csrc/ (run hvmloader/fwt-files --update)"]


def test_the_series_is_takeable():
    """No invented Signed-off-by (whoever posts adds theirs: git format-patch -s),
    no path outside Xen's tree, an SPDX line on every file it adds."""
    for name, patch in _series():
        assert "Signed-off-by:" not in patch, name
        assert "XCMOD_DIR" not in patch, name
        for path, text in _new_files(patch).items():
            first = text.split("\n", 1)[0]
            tag = "SPDX" + "-License-Identifier: "      # split: reuse lint reads this file
            if path.endswith(".rst"):                   # Xen's documents: CC-BY-4.0
                assert first == f".. {tag}CC-BY-4.0", (name, path)
                continue
            assert first.startswith(f"/* {tag}"), (name, path)
            want = "MIT" if os.path.basename(path).startswith("fwt_") else "GPL-2.0-only"
            assert first == f"/* {tag}{want} */", (name, path)
