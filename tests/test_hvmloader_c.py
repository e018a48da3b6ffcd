# SPDX-License-Identifier: MIT
"""hvmloader's xcmod code, built on the host and run on images made here.

`make hvmloader`'s patched sources (hvmloader/build keeps them as
xcmod-src.tar.gz, generated headers included) are compiled for the host
with the small harness in tests/hvmloader_c: xcmod.c, smbios.c, libacpi's
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

from xcmod.firmware.acpi import encode_acpi_ids_module, encode_acpi_module
from xcmod.firmware.smbios import SmbiosStructure, SmbiosTable
from xcmod.image.spec import build_image

from .paths import ROOT

HARNESS = os.path.join(ROOT, "tests", "hvmloader_c")
LOW_RAM, LOW_RAM_END = 0x10000000, 0x12000000          # hvmt.h
IMAGE_AT = 0x10200000
BLOB_AT = 0x10400000
START_INFO_AT = 0x10100000


@pytest.fixture(scope="session")
def hvmt(tmp_path_factory):
    """The harness binary, built from `make hvmloader`'s patched sources."""
    out = tmp_path_factory.mktemp("hvmloader")
    r = subprocess.run(["sh", os.path.join(ROOT, "hvmloader", "build"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    src = out / "src"
    src.mkdir()
    subprocess.run(["tar", "-xzf", str(out / "xcmod-src.tar.gz"), "-C", str(src)], check=True)
    hvm = src / "tools" / "firmware" / "hvmloader"
    (src / "tools" / "config.h").touch()      # what hvmloader/build gives the tree
    reader = hvm / "xcmod_reader.c"
    if not reader.exists():                  # the series before the reader was in-tree
        reader = os.path.join(ROOT, "csrc", "xcmod_reader.c")
    cc = os.environ.get("CC", "gcc")
    common = ["-O1", "-g", "-fno-pie", "-fno-stack-protector", "-fno-strict-aliasing",
              "-fcf-protection=none"]
    side = common + [
        "-ffreestanding", "-nostdinc", "-fno-builtin", "-include", os.path.join(HARNESS, "shim.h"),
        # The compiler's own freestanding <stdint.h> & co. (hvmloader's are 32-bit only).
        "-isystem", subprocess.run([cc, "-print-file-name=include"], capture_output=True,
                                   text=True, check=True).stdout.strip(),
        "-I", HARNESS, "-I", str(hvm),
        "-I", str(src / "tools" / "include"), "-I", str(src / "tools" / "libacpi"),
        "-I", os.path.join(ROOT, "csrc"),
        "-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",
        '-DLIBACPI_STDUTILS="util.h"', '-D__SMBIOS_DATE__="01/02/2026"',
        # hvmloader is 32-bit: its pointer/integer casts only warn on the host.
        "-Wno-pointer-to-int-cast", "-Wno-int-to-pointer-cast", "-Wno-builtin-declaration-mismatch"]
    objs = []
    for path in [hvm / "xcmod.c", hvm / "smbios.c", reader,
                 src / "tools" / "libacpi" / "static_tables.c",
                 os.path.join(HARNESS, "stubs.c"), os.path.join(HARNESS, "t_acpi.c")]:
        obj = out / (os.path.basename(str(path)) + ".o")
        r = subprocess.run([cc, *side, "-c", "-o", str(obj), str(path)],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{path}:\n{r.stderr}"
        objs.append(str(obj))
    exe = out / "hvmt"
    r = subprocess.run([cc, *common, "-no-pie", "-o", str(exe),
                        os.path.join(HARNESS, "main.c"), *objs], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def run(hvmt, tmp_path, *args, files=(), xs=None, **opts):
    """Run the harness: ``files`` are (address, bytes) put into guest memory,
    ``xs`` the xenstore keys, ``opts`` its other options.  Returns
    (exit status, hvmloader's console lines, the harness's own "hvmt:" values)."""
    argv = [str(hvmt)]
    for n, (addr, data) in enumerate(files):
        p = tmp_path / f"put{n}.bin"
        p.write_bytes(data)
        argv += ["--put", f"{addr:#x}={p}"]
    for k, v in (xs or {}).items():
        argv += ["--xs", f"{k}={v}"]
    for k, v in opts.items():
        for one in (v if isinstance(v, list) else [v]):
            argv += ["--" + k.replace("_", "-"), str(one)]
    r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    values = {}
    for line in lines:
        if line.startswith("hvmt: "):
            for field in line[6:].split():
                if "=" in field:
                    k, _, v = field.partition("=")
                    values.setdefault(k, v)
    return r.returncode, [l for l in lines if not l.startswith("hvmt: ")], \
        [l[6:] for l in lines if l.startswith("hvmt: ")]


# --- what the tests pass in ---------------------------------------------------

class Raw:
    def __init__(self, raw):
        self.raw = raw


def acpi_table(sig, body=b"", oem_id=b"OEMID ", oem_table_id=b"TABLEID "):
    """A well-formed ACPI table (checksum right)."""
    length = 36 + len(body)
    t = bytearray(sig + struct.pack("<IBB", length, 1, 0) + oem_id + oem_table_id +
                  struct.pack("<I", 1) + b"TEST" + struct.pack("<I", 1) + body)
    t[9] = -sum(t) & 0xFF
    return bytes(t)


def carrier(image):
    """The "every boot" carrier (docs/hvmloader.md): one OEMM table, the image at 36."""
    length = 36 + len(image)
    t = bytearray(b"OEMM" + struct.pack("<IBB", length, 1, 0) + b"XCMOD " + b"MODIMAGE" +
                  struct.pack("<I", 1) + b"XCMD" + struct.pack("<I", 1) + image)
    t[9] = -sum(t) & 0xFF
    return bytes(t)


def smbios_struct(stype, formatted, strings=(), handle=0x100):
    """One SMBIOS structure: header (type, length, handle), ``formatted`` after it,
    then its string set."""
    head = bytes([stype, 4 + len(formatted)]) + struct.pack("<H", handle) + formatted
    tail = b"".join(s.encode() + b"\0" for s in strings) + b"\0" if strings else b"\0\0"
    return head + tail


def type1(uuid, manufacturer="Umbrella", product="Hive"):
    """Type 1 of SMBIOS 2.4+ (27 bytes formatted), ``uuid`` its 16 bytes as stored."""
    formatted = bytes([1, 2, 0, 0]) + uuid + bytes([6, 0, 0])
    return smbios_struct(1, formatted, [manufacturer, product])


def type0(vendor="Initech"):
    return smbios_struct(0, bytes([1, 2, 0, 0xF0, 3, 0xFF]) + bytes(8) + bytes([0xFF, 0xFF]),
                         [vendor, "1.0"])


def smbios_module(structures, major=3, minor=0):
    return SmbiosTable([SmbiosStructure(s) for s in structures], major, minor).encode()


SLIC = acpi_table(b"SLIC", bytes(64), b"CRASH ", b"ME      ")
SSDT = acpi_table(b"SSDT", b"\x10\x05\x5c\x00\x00", b"INITEC", b"SSDT1   ")
NHLT = acpi_table(b"NHLT", bytes(20), b"LENOVO", b"TP-N2Q  ")
IMAGE = build_image([smbios_module([type0(), type1(bytes(range(16)))]),
                     encode_acpi_module([Raw(SLIC), Raw(SSDT)]),
                     encode_acpi_ids_module(b"CRASH ", b"ME      ")])


def keys(address, image):
    return {"hvmloader/modules/address": hex(address),
            "hvmloader/modules/length": str(len(image)),
            "hvmloader/modules/count": "3"}


def blob_keys(address, blob):
    return {"hvmloader/acpi/address": hex(address), "hvmloader/acpi/length": hex(len(blob))}


def passed(values):
    """The pass-through tables' signatures, in order, from `acpi`'s output."""
    return [v.split()[1] for v in values if v.startswith("table ")]


# --- the carrier (patch 0006) --------------------------------------------------

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
