# SPDX-License-Identifier: MIT
"""The host harness of hvmloader's xcmod code (tests/hvmloader_c), and what the
tests pass into it: tests/test_hvmloader_c.py and tests/test_hvmloader_series.py
use it, conftest.py builds it once a session (``hvmt``)."""
import os
import struct
import subprocess

from xcmod.firmware.acpi import encode_acpi_ids_module, encode_acpi_module
from xcmod.firmware.smbios import SmbiosStructure, SmbiosTable
from xcmod.image.spec import build_image

from .paths import ROOT

HARNESS = os.path.join(ROOT, "tests", "hvmloader_c")
LOW_RAM, LOW_RAM_END = 0x10000000, 0x12000000          # hvmt.h
IMAGE_AT = 0x10200000
BLOB_AT = 0x10400000
START_INFO_AT = 0x10100000


def build_harness(out):
    """The harness binary, built in directory ``out`` from `make hvmloader`'s
    patched sources (conftest's ``hvmt`` fixture, once a session)."""
    r = subprocess.run(["sh", os.path.join(ROOT, "hvmloader", "build"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    src = out / "src"
    src.mkdir()
    subprocess.run(["tar", "-xzf", str(out / "xcmod-src.tar.gz"), "-C", str(src)], check=True)
    hvm = src / "tools" / "firmware" / "hvmloader"
    (src / "tools" / "config.h").touch()      # what hvmloader/build gives the tree
    reader = hvm / "fwt_reader.c"
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
        "-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",
        '-DLIBACPI_STDUTILS="util.h"', '-D__SMBIOS_DATE__="01/02/2026"',
        # hvmloader is 32-bit: its pointer/integer casts only warn on the host.
        "-Wno-pointer-to-int-cast", "-Wno-int-to-pointer-cast", "-Wno-builtin-declaration-mismatch"]
    # hvmloader.c's own get_module_entry(), by which the image is found (the
    # rest of hvmloader.c is main() and the firmware loaders).
    # (Older series, run to show their tests fail there, used neither it nor
    # acpi_config's OEM IDs.)
    text = (hvm / "hvmloader.c").read_text()
    lookup = []
    if "get_module_entry(" in (hvm / "fwt.c").read_text():
        start = text.index("const struct hvm_modlist_entry *get_module_entry(")
        lookup = [out / "get_module_entry.c"]
        lookup[0].write_text('#include "util.h"\n#include <xen/arch-x86/hvm/start_info.h>\n' +
                             text[start:text.index("\n}\n", start) + 3])
    if "set_oem_ids(" in (src / "tools" / "libacpi" / "build.c").read_text():
        side.append("-DHVMT_OEM_IDS_IN_CONFIG")
    objs = []
    for path in [hvm / "fwt.c", hvm / "smbios.c", reader, *lookup,
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
