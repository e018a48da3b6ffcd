# SPDX-License-Identifier: MIT
"""Stock-block loads, launch measurement, `keys` and `hvm-info`, through the real
cffi module and C shim, the libxenctrl double and the real xenstored."""
import errno
import hashlib
import json
import os
import re
import struct
import subprocess

import pytest

from xcmod.errors import XenError

from . import fakexen
from .fakexen import keys
from .paths import HVMLOADER, as_ssdt, real
from .referees import dmidecode_mem, hvmloader_walk

DELL = real("smbios/infrasim/dell_r640_smbios.bin")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")


def xs_read(d, path):
    r = fakexen.xs(d, "xenstore-read", path)
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


@pytest.fixture
def blocks(tmp_path, cli):
    d = tmp_path / "blocks"
    assert cli("build", "--format", "xen", "-o", d, "--smbios", DELL, "--acpi", SSDT,
               "-q").code == 0
    return d


def test_load_stock_blocks_writes_the_four_keys(xen, blocks, cli):
    """A --format xen directory loads page-aligned and gets hvmloader's four keys, read-only."""
    r = cli("load", "--domid", "5", blocks, "--json")
    assert r.code == 0, r.err
    smb, acp = (blocks / "smbios.bin").read_bytes(), (blocks / "acpi.bin").read_bytes()
    root = "/local/domain/5/hvmloader"
    s_addr, a_addr = xs_read(xen, f"{root}/smbios/address"), xs_read(xen, f"{root}/acpi/address")
    assert re.fullmatch(r"0x[0-9a-f]+", s_addr) and re.fullmatch(r"0x[0-9a-f]+", a_addr)
    assert xs_read(xen, f"{root}/smbios/length") == f"{len(smb):#x}"
    assert xs_read(xen, f"{root}/acpi/length") == f"{len(acp):#x}"
    s, a = int(s_addr, 16), int(a_addr, 16)
    assert s == 0x200000 and a % 4096 == 0 and a >= s + len(smb)
    assert fakexen.read_ram(xen, 5, s, len(smb)) == smb
    assert fakexen.read_ram(xen, 5, a, len(acp)) == acp
    perms = fakexen.xs(xen, "xenstore-ls", "-p", root).stdout
    assert perms.count("(n0,r5)") == 4
    assert xs_read(xen, f"{root}/modules/address") is None


def test_stock_block_from_guest_ram_walks_like_hvmloader(xen, blocks, cli):
    """hvmloader's u32-length walk over the block in guest RAM finds every structure."""
    assert cli("load", "--domid", "5", blocks).code == 0
    addr = int(xs_read(xen, "/local/domain/5/hvmloader/smbios/address"), 16)
    length = int(xs_read(xen, "/local/domain/5/hvmloader/smbios/length"), 16)
    got = hvmloader_walk(fakexen.read_ram(xen, 5, addr, length))
    assert [g[0] for g in got][:2] == [218, 0] and all(g.endswith(b"\0\0") for g in got)


def test_measure_reads_back_hvmloader_and_modules(xen, image, cli, tmp_path):
    """--measure digests hvmloader's range and each module as read back from guest RAM."""
    end = fakexen.put_hvmloader(xen, 5)
    path, man = tmp_path / "m.bin", tmp_path / "launch.json"
    path.write_bytes(image)
    r = cli("load", "--domid", "5", path, "--hvmloader", HVMLOADER, "--measure", man)
    assert r.code == 0, r.err
    m = json.loads(man.read_text())
    hv = fakexen.read_ram(xen, 5, 0x100000, end - 0x100000)
    assert m["items"][0]["name"] == "hvmloader"
    assert m["items"][0]["sha256"] == hashlib.sha256(hv).hexdigest()
    assert any(hv)
    # the modules match what build --manifest says of the same image
    man2 = tmp_path / "build.json"
    from xcmod.image.manifest import measure
    from xcmod.image.spec import iter_modules
    items = [(f"module {i} {mod.type_name}", image[mod.offset:mod.offset + mod.length])
             for i, mod in enumerate(iter_modules(image))]
    man2.write_text(json.dumps(measure(items)))
    assert [i["sha256"] for i in m["items"][1:]] == \
        [i["sha256"] for i in json.loads(man2.read_text())["items"]]
    pcr = bytes(32)
    for item in m["items"]:
        pcr = hashlib.sha256(pcr + bytes.fromhex(item["sha256"])).digest()
    assert m["pcr"] == pcr.hex()


def test_measure_needs_hvmloader(xen, image, cli, tmp_path):
    """--measure without --hvmloader is refused before anything is written."""
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    r = cli("load", "--domid", "5", path, "--measure", tmp_path / "x.json")
    assert r.code == 2 and "--hvmloader" in r.err
    assert keys(xen) == "" and not any(fakexen.read_ram(xen, 5, 0x200000, len(image)))


def test_empty_block_dir_changes_nothing(xen, cli, tmp_path):
    """A directory with no blocks loads nothing and writes no key."""
    (tmp_path / "empty").mkdir()
    r = cli("load", "--domid", "5", tmp_path / "empty")
    assert r.code == 1 and "neither smbios.bin nor acpi.bin" in r.err
    assert keys(xen) == ""


@pytest.mark.parametrize("fn", ["xs_transaction_start", "xs_transaction_end"])
def test_transaction_start_and_commit_failures_leave_no_keys(xen, image, mocker, fn):
    """A failing transaction start or commit is one XenError with errno, and no key."""
    import xcmod
    from xcmod.xen import xenstore
    ffi, lib = xenstore._xen()

    class Failing:
        def __getattr__(self, name):
            return getattr(lib, name)

    def fail(h, *a):
        if fn == "xs_transaction_end":
            lib.xs_transaction_end(h, a[0], True)
        ffi.errno = errno.EIO
        return 0 if fn == "xs_transaction_start" else False
    setattr(Failing, fn, staticmethod(fail))
    mocker.patch.object(xenstore, "_xen", lambda: (ffi, Failing()))
    with pytest.raises(XenError) as e:
        xcmod.load(5, image)
    assert e.value.errno == errno.EIO and fn.split("_", 1)[1] in str(e.value)
    assert keys(xen) == ""


# ----------------------------------------------------------------------- keys

def test_keys_match_the_installed_header():
    """Every key in the installed hvm_xs_strings.h is known to `keys`, and nothing else of
    hvmloader's but the keys of later releases."""
    from xcmod.xen import keys as K
    text = open("/usr/include/xen/hvm/hvm_xs_strings.h").read()
    header = set(re.findall(r'#define HVM_XS_\w+\s+"([^"]+)"', text))
    leaves = {k for k in header if not any(o.startswith(k + "/") for o in header)}
    leaves.discard("bios-strings/oem-%d")
    ours = {k for k in K.KEYS if not k.startswith(("hvmloader/modules/", "hvmloader/hvm-info/"))}
    assert leaves <= ours and ours - leaves <= K.SINCE_4_21
    assert K.kind_of("bios-strings/oem-99") and not K.kind_of("bios-strings/oem-100")


def test_keys_set_get_list_rm(xen, cli):
    """keys set writes validated values read-only for the guest; get, list and rm see them."""
    r = cli("keys", "set", "--domid", "5", "bios-strings/system-manufacturer=ACME",
            "hvmloader/acpi/address=4096", "bios-strings/oem-1=rack 7")
    assert r.code == 0, r.err
    base = "/local/domain/5"
    assert xs_read(xen, f"{base}/hvmloader/acpi/address") == "0x1000"
    assert fakexen.xs(xen, "xenstore-ls", "-p", f"{base}/bios-strings").stdout.count("(n0,r5)") == 2
    assert cli("keys", "get", "--domid", "5", "bios-strings/oem-1").out == "rack 7\n"
    lst = json.loads(cli("keys", "list", "--domid", "5", "--json").out)["keys"]
    assert lst == {"hvmloader/acpi/address": "0x1000",
                   "bios-strings/system-manufacturer": "ACME", "bios-strings/oem-1": "rack 7"}
    assert cli("keys", "rm", "--domid", "5", "bios-strings/oem-1").code == 0
    g = cli("keys", "get", "--domid", "5", "bios-strings/oem-1")
    assert g.code == 1 and "not set" in g.err


@pytest.mark.parametrize("arg,needle", [
    ("bios-strings/system-manufactuer=X", "did you mean bios-strings/system-manufacturer"),
    ("hvmloader/acpi/address=banana", "not an address"),
    ("hvmloader/smbios/default_battery=2", "must be 0 or 1"),
    ("hvmloader/bios=grub", "rombios, seabios, ovmf"),
    ("bios-strings/oem-100=x", "not a key hvmloader reads"),
    ("bios-strings/bios-vendor=", "empty"),
])
def test_keys_set_validates_all_before_writing(xen, cli, arg, needle):
    """One bad name or value among several: one line, exit 2, nothing written."""
    r = cli("keys", "set", "--domid", "5", "bios-strings/system-version=1", arg)
    assert r.code == 2 and needle in r.err and r.err.count("\n") == 1, r.err
    assert xs_read(xen, "/local/domain/5/bios-strings/system-version") is None


def test_keys_refuse_dom0_and_unknown_domains(xen, cli):
    """set/rm never touch domain 0; a domain not in xenstore is named."""
    assert "domain 0" in cli("keys", "set", "--domid", "0", "bios-strings/oem-1=x").err
    r = cli("keys", "list", "--domid", "9")
    assert r.code == 1 and "/local/domain/9 is not in xenstore" in r.err


# ------------------------------------------------------------------- hvm-info

def test_hvm_info_struct_matches_the_header(tmp_path):
    """The layout of hvm_info_table xcmod reads (hvminfo.FIELDS) has the real header's
    offsets and sizes, and its size and address."""
    from xcmod.xen.hvminfo import FIELDS, HVM_INFO_PADDR, SIZE
    src = tmp_path / "h.c"
    src.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n"
                   "#include <xen/hvm/hvm_info_table.h>\nint main(void){\n"
                   "struct hvm_info_table t;\n"
                   + "".join(f'printf("{f} %zu %zu\\n", offsetof(struct hvm_info_table, {f}), '
                             f'sizeof(t.{f}));\n' for f in FIELDS)
                   + 'printf("size %zu 0\\npaddr %d 0\\n", sizeof(struct hvm_info_table), '
                     'HVM_INFO_PADDR);\nreturn 0;}\n')
    subprocess.run(["cc", "-o", str(tmp_path / "h"), str(src)], check=True)
    out = {name: (int(a), int(b)) for name, a, b in (
        line.split() for line in subprocess.run([str(tmp_path / "h")], capture_output=True,
                                                text=True, check=True).stdout.splitlines())}
    assert {f: out[f] for f in FIELDS} == FIELDS
    assert out["size"][0] == SIZE and out["paddr"][0] == HVM_INFO_PADDR


def test_hvm_info_decodes_and_mirrors(xen, cli):
    """hvm-info decodes vcpus and memory ends; --to-xenstore mirrors them read-only."""
    fakexen.create(xen, 8, 64, vcpus=3)
    r = cli("hvm-info", "--domid", "8", "--json", "--to-xenstore")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["nr_vcpus"] == 3 and d["vcpus_online"] == [0, 1, 2]
    assert d["low_mem_end"] == 64 << 20 and d["high_mem_end"] is None
    assert d["reserved_mem_start"] == fakexen.FAKE_RESERVED_MEM_PGSTART << 12
    base = "/local/domain/8/hvmloader/hvm-info"
    assert xs_read(xen, f"{base}/vcpus") == "3"
    assert xs_read(xen, f"{base}/low-mem-end") == "0x4000000"
    assert fakexen.xs(xen, "xenstore-ls", "-p", base).stdout.count("(n0,r8)") == 6
    text = cli("hvm-info", "--domid", "8").out
    assert "vcpus:              3 (online: 0,1,2)" in text


def test_load_limit_follows_the_hvm_info_table(xen, image, tmp_path, cli):
    """load refuses an image past the guest's low RAM as the HVM info table gives it,
    even where max_memkb (which counts video RAM too) would have room."""
    fakexen.create(xen, 8, 32)
    with open(os.path.join(xen, "dom8", "ram"), "r+b") as f:   # 24 MiB of RAM, as with
        f.seek(0x9F800)                                         # videoram=8 in the rig
        f.write(fakexen.hvm_info_table(24, 1))
    big = tmp_path / "big.bin"
    from xcmod.firmware import acpi
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    raw = open(real("acpi/lenovo-x1c6/DSDT.aml"), "rb").read()
    raw = raw[:4] + (36 + (len(raw) - 36) * 10).to_bytes(4, "little") + raw[8:36] + \
        raw[36:] * 10                     # (hvmloader appends at most 15 tables)
    aml = acpi.parse_table(as_ssdt(raw))
    big.write_bytes(build_image([encode_acpi_module([aml] * 10)]))     # ~15 MiB
    r = cli("load", "--domid", "8", big, "--base", "0x900000")          # ends past 24 MiB
    assert r.code == 1 and "guest low RAM (0x1800000, from the guest's HVM info table)" in r.err
    assert keys(xen, 8) == ""
    assert not any(fakexen.read_ram(xen, 8, 0x900000, 4096))


def test_hvm_info_bad_checksum_and_pv(xen, cli):
    """A corrupted table or a PV domain: one clear line, exit 1."""
    ram = os.path.join(xen, "dom5", "ram")
    with open(ram, "r+b") as f:
        f.seek(0x9F800 + 16)
        f.write(b"\x07")
    r = cli("hvm-info", "--domid", "5")
    assert r.code == 1 and "checksum invalid" in r.err and "0x9f80c" in r.err
    fakexen.create(xen, 6, 32, pv=True)
    assert "not an HVM guest" in cli("hvm-info", "--domid", "6").err


# --------------------------------------------------------------- guest-tables

@pytest.mark.qemu
def test_guest_tables_read_what_seabios_built(xen, cli, tmp_path):
    """On RAM a real SeaBIOS filled, guest-tables finds what dmidecode and an RSDP walk find."""
    from .fwgen import acpi_tables, snapshot_ram
    work = tmp_path / "work"
    work.mkdir()
    ram = snapshot_ram("q35", 64, ["type=1,manufacturer=GuestCo,serial=G-1"], [], str(work))
    fakexen.create(xen, 9, 128)
    os.replace(ram, os.path.join(xen, "dom9", "ram"))
    dump, adir = tmp_path / "g.dmi", tmp_path / "acpi"
    r = cli("guest-tables", "--domid", "9", "--smbios-dump", dump, "--acpi-dir", adir, "--json")
    assert r.code == 0, r.err
    ours = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    theirs = dmidecode_mem(os.path.join(xen, "dom9", "ram"), "--no-sysfs").stdout
    assert ours[ours.index("Handle "):] == theirs[theirs.index("Handle "):]
    assert "Manufacturer: GuestCo" in ours
    want = acpi_tables(open(os.path.join(xen, "dom9", "ram"), "rb").read())
    got = {n[:-4]: (adir / n).read_bytes() for n in os.listdir(adir)}
    assert sorted(got.values()) == sorted(want.values())
    d = json.loads(r.out)
    assert all(t["checksum_ok"] is (None if t["signature"] == "FACS" else True)
               for t in d["acpi"]["tables"])


def test_guest_tables_without_firmware(xen, cli):
    """A guest whose firmware has not run yet: both parts say what is missing."""
    r = cli("guest-tables", "--domid", "5")
    assert r.code == 0
    assert "no SMBIOS entry point" in r.out and "no RSDP" in r.out
    r = cli("guest-tables", "--domid", "5", "--smbios-dump", "/tmp/never.dmi")
    assert r.code == 1 and "no SMBIOS entry point" in r.err
    assert not os.path.exists("/tmp/never.dmi")


def test_fakexen_create_right_after_stop_is_ready(tmp_path):
    """The test tool: `create` straight after `stop` waits for the new xenstored (25 times)."""
    d = str(tmp_path / "fx")
    os.makedirs(d)
    try:
        for i in range(25):
            fakexen.create(d, 5, 32)
            r = fakexen.xs(d, "xenstore-read", "/local/domain/5/domid")
            assert r.returncode == 0 and r.stdout.strip() == "5", (i, r.stderr)
            fakexen.stop(d)
    finally:
        fakexen.stop(d)


def test_measure_of_a_one_block_stock_dir(xen, cli, tmp_path):
    """--measure of a blocks dir holding only smbios.bin digests that block as read
    back (it used to be taken for an image, by its count, and failed after the copy)."""
    from xcmod.firmware import smbios
    from xcmod.image.stock import encode_smbios_block
    end = fakexen.put_hvmloader(xen, 5)
    d = tmp_path / "blocks"
    d.mkdir()
    blob = encode_smbios_block(smbios.read_file(real("smbios/infrasim/dell_r640_smbios.bin"))
                               .structures[:4])
    (d / "smbios.bin").write_bytes(blob)
    man = tmp_path / "launch.json"
    r = cli("load", "--domid", "5", d, "--hvmloader", HVMLOADER, "--measure", man)
    assert r.code == 0, r.err
    m = json.loads(man.read_text())
    assert len(m["items"]) == 2 and m["items"][1]["name"].startswith("SMBIOS")
    assert m["items"][1]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert m["items"][0]["sha256"] == hashlib.sha256(
        fakexen.read_ram(xen, 5, 0x100000, end - 0x100000)).hexdigest()


# ------------------------------------------------------- guest-tables, UEFI guests

def _acpi_root(at, oem, tables):
    """An RSDP (revision 2) at ``at`` and an XSDT right after it listing ``tables``
    [(address, raw)]: bytes to write at ``at``."""
    from xcmod.firmware.checksum import checksum8
    xsdt_at = at + 0x40
    body = b"".join(struct.pack("<Q", a) for a, _ in tables)
    xsdt = bytearray(struct.pack("<4sIBB6s8sI4sI", b"XSDT", 36 + len(body), 1, 0, oem,
                                 b"OVMFXSDT", 1, b"XCMD", 1) + body)
    xsdt[9] = -checksum8(xsdt) & 0xFF
    rsdp = bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, oem, 2, 0) +
                     struct.pack("<IQB3x", 36, xsdt_at, 0))
    rsdp[8] = -checksum8(rsdp[:20]) & 0xFF
    rsdp[32] = -checksum8(rsdp) & 0xFF
    return bytes(rsdp).ljust(0x40, b"\0") + bytes(xsdt)


def _efi(st_at, entries):
    """An EFI system table at ``st_at`` (x64, UEFI 2.70) whose configuration table,
    right after it, holds ``entries`` [(GUID string, address)]; and the pointer to it."""
    import uuid
    import zlib
    cfg_at = st_at + 0x100
    st = bytearray(struct.pack("<8sIII4x", b"IBI SYST", (2 << 16) | 70, 120, 0) + bytes(96))
    struct.pack_into("<QQ", st, 104, len(entries), cfg_at)
    struct.pack_into("<I", st, 16, zlib.crc32(st))
    cfg = b"".join(uuid.UUID(g).bytes_le + struct.pack("<Q", a) for g, a in entries)
    ptr = bytearray(struct.pack("<8sQI4x", b"IBI SYST", st_at, 0))
    struct.pack_into("<I", ptr, 16, zlib.crc32(ptr))
    return bytes(st).ljust(0x100, b"\0") + cfg, bytes(ptr)


ACPI20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"
SMBIOS_GUID = "eb9d2d31-2d88-11d3-9a16-0090273fc14d"


def _ovmf_guest(d, domid, efi=True, lower=0):
    """A 64 MiB guest as hvmloader leaves it for OVMF (SMBIOS at 0xEB000, RSDP at
    0xEA020 with an SSDT) and, with ``efi``, as OvmfXen then publishes copies of
    them through its EFI system table (pointer at 0x3C00000, the last 4 MiB
    boundary); the copies' OEM ID is "OVMFCP" where hvmloader's is "Xen".  Returns
    {name: address} of what was written and the SMBIOS table written."""
    from xcmod.firmware import smbios
    fakexen.create(d, domid, 64, firmware="ovmf")
    t = smbios.read_file(DELL)
    ssdt = open(SSDT, "rb").read()
    at = {"hvm_ep": 0xEB000, "hvm_rsdp": 0xEA020, "hvm_ssdt": 0xE0000,
          "ovmf_rsdp": 0x3E10000, "ovmf_ep": 0x3E20000, "ovmf_ssdt": 0x3E30000,
          "st": 0x3E00000, "ptr": 0x3C00000}
    at.update({k: v - lower for k, v in at.items() if v >= 0x3C00000})
    writes = [(at["hvm_ep"], smbios.build_entry_point(t, at["hvm_ep"] + 0x20).ljust(0x20, b"\0")
               + t.table_bytes),
              (at["hvm_rsdp"], _acpi_root(at["hvm_rsdp"], b"Xen\0\0\0", [(at["hvm_ssdt"], ssdt)])),
              (at["hvm_ssdt"], ssdt)]
    if efi:
        st, ptr = _efi(at["st"], [("d3b36f2c-d551-11d4-9a46-0090273fc14d", 0x3E40000 - lower),
                                  (ACPI20, at["ovmf_rsdp"]), (SMBIOS_GUID, at["ovmf_ep"])])
        writes += [(at["st"], st), (at["ptr"], ptr),
                   (at["ovmf_ep"], smbios.build_entry_point(t, at["ovmf_ep"] + 0x20)
                    .ljust(0x20, b"\0") + t.table_bytes),
                   (at["ovmf_rsdp"], _acpi_root(at["ovmf_rsdp"], b"OVMFCP",
                                                [(at["ovmf_ssdt"], ssdt)])),
                   (at["ovmf_ssdt"], ssdt)]
    with open(os.path.join(d, f"dom{domid}", "ram"), "r+b") as f:
        for a, blob in writes:
            f.seek(a)
            f.write(blob)
    return at, t


def test_guest_tables_of_an_ovmf_guest_before_efi(xen, cli, tmp_path):
    """No EFI system table yet (or no more): the SMBIOS entry point hvmloader wrote for
    OVMF at 0xEB000 and its RSDP at 0xEA020, each said to be hvmloader's; dmidecode reads
    the dump as it reads the fixture."""
    at, t = _ovmf_guest(xen, 6, efi=False)
    dump = tmp_path / "g.dmi"
    r = cli("guest-tables", "--domid", "6", "--smbios-dump", dump)
    assert r.code == 0, r.err
    assert "found through hvmloader's SMBIOS area for OVMF (0xEB000-0xEFFFF)" in r.out
    assert "entry point found at 0xeb000, table at 0xeb020" in r.out
    assert "ACPI: RSDP at 0xea020, 2 tables, found through hvmloader's RSDP for OVMF" in r.out
    assert "EFI:" not in r.out
    ours = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    theirs = subprocess.run(["dmidecode", "--from-dump", DELL], capture_output=True,
                            text=True, check=True).stdout
    assert ours[ours.index("Handle "):] == theirs[theirs.index("Handle "):]


def test_guest_tables_of_an_ovmf_guest_read_what_efi_publishes(xen, cli, tmp_path):
    """With an EFI system table, guest-tables reads what the firmware publishes to the OS
    (its configuration table's ACPI 2.0 and SMBIOS entries), not hvmloader's areas, and
    says so; the JSON lists the configuration table."""
    at, t = _ovmf_guest(xen, 6)
    adir = tmp_path / "acpi"
    r = cli("guest-tables", "--domid", "6", "--acpi-dir", adir, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["efi"]["address"] == at["st"] and d["efi"]["pointer"] == at["ptr"]
    assert d["efi"]["revision"] == "2.7"
    assert [c["name"] for c in d["efi"]["configuration_table"]] == [
        "d3b36f2c-d551-11d4-9a46-0090273fc14d", "ACPI 2.0", "SMBIOS"]
    assert d["acpi"]["rsdp"] == at["ovmf_rsdp"]
    assert d["acpi"]["found"].startswith("the EFI configuration table's ACPI 2.0 entry")
    assert [t_["address"] for t_ in d["acpi"]["tables"]] == [at["ovmf_rsdp"] + 0x40,
                                                            at["ovmf_ssdt"]]
    assert (adir / "RSDP.dat").read_bytes()[9:15] == b"OVMFCP"
    assert (adir / "SSDT.dat").read_bytes() == open(SSDT, "rb").read()
    assert d["smbios"]["found"].startswith("the EFI configuration table's SMBIOS entry")
    assert len(d["smbios"]["structures"]) == len(t.structures)
    text = cli("guest-tables", "--domid", "6").out
    assert f"EFI: system table at {at['st']:#x} (UEFI 2.7), configuration table: " \
           f"d3b36f2c-d551-11d4-9a46-0090273fc14d 0x3e40000, ACPI 2.0 0x3e10000, " \
           f"SMBIOS 0x3e20000" in text
    assert f"entry point found at {at['ovmf_ep']:#x}" in text


@pytest.mark.parametrize("where,value,needle", [
    ("st", 16, "header CRC32 mismatch"),
    ("st", 104, "NumberOfTableEntries 100000 exceeds 1024"),
    ("st", 112, "configuration table 0x7ffff000 (3 entries) is not in guest RAM"),
    ("st", 12, "header size 4294967295 is not 120-4096 bytes of guest RAM"),
])
def test_a_broken_efi_system_table_is_one_line_and_hvmloaders_areas_are_read(
        xen, cli, where, value, needle):
    """A pointer with a valid CRC to a broken system table: the EFI line names what is
    wrong, and SMBIOS and ACPI come from hvmloader's areas, said so; exit 0."""
    at, t = _ovmf_guest(xen, 6)
    field = {16: ("<I", 0xBAD), 104: ("<Q", 100000), 112: ("<Q", 0x7FFFF000),
             12: ("<I", 0xFFFFFFFF)}[value]
    with open(os.path.join(xen, "dom6", "ram"), "r+b") as f:
        f.seek(at[where] + value)
        f.write(struct.pack(*field))
        if value != 16:                  # the CRC right: only the number is wrong
            import zlib
            f.seek(at["st"])
            st = bytearray(f.read(120))
            st[16:20] = bytes(4)
            st[16:20] = struct.pack("<I", zlib.crc32(st))
            f.seek(at["st"])
            f.write(st)
    r = cli("guest-tables", "--domid", "6")
    assert r.code == 0, r.err
    efi_lines = [ln for ln in r.out.splitlines() if ln.startswith("EFI:")]
    assert len(efi_lines) == 1 and needle in efi_lines[0], r.out
    assert f"EFI system table at {at['st']:#x} (from the pointer at {at['ptr']:#x})" \
        in efi_lines[0]
    assert "found through hvmloader's SMBIOS area for OVMF" in r.out
    assert "found through hvmloader's RSDP for OVMF (0xEA020)" in r.out


def test_unmapped_ram_below_the_top_is_skipped(xen, cli):
    """Once OVMF ran, the HVM info table that bounds low RAM may be gone (the firmware
    reuses the page) and the top of low RAM unmapped (hvmloader moved it to where OVMF
    goes): a probe there is skipped, not fatal, and the EFI system table below is found."""
    at, t = _ovmf_guest(xen, 6, lower=8 << 20)      # pointer at 52 MiB, not 60
    ram = os.path.join(xen, "dom6", "ram")
    with open(ram, "r+b") as f:
        f.seek(0x9F800)
        f.write(bytes(48))                           # no HVM info table: max_memkb
        f.truncate(60 << 20)                         # 60-64 MiB not mapped
    r = cli("guest-tables", "--domid", "6", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["efi"]["pointer"] == at["ptr"] == 0x3400000
    assert d["acpi"]["found"].startswith("the EFI configuration table's ACPI 2.0 entry")
    st, _ = _efi(at["st"], [(ACPI20, 0x3F00000)])    # a pointer into the unmapped top
    with open(ram, "r+b") as f:
        f.seek(at["st"])
        f.write(st)
    r = cli("guest-tables", "--domid", "6")
    assert r.code == 0, r.err
    assert "ACPI 2.0 entry points to 0x3f00000: 36 bytes at 0x3f00000 are not mapped guest " \
           "RAM (EFAULT)" in r.out


@pytest.mark.parametrize("base,found", [(0xFC00A000, True), (0xFB00A000, False)],
                         ids=["hvmloader-area", "mmio-hole"])
def test_tables_in_hvmloaders_own_area_are_read(xen, cli, tmp_path, base, found):
    """hvmloader populates RAM for its tables at 0xFC000000-0xFDFFFFFF (config.h's
    RESERVED_MEMBASE .. RESERVED_MEMORY_DYNAMIC_END), above low RAM's end: a SeaBIOS
    guest's XSDT and tables live there and are read; the same tables just below that
    area (in the MMIO hole, not RAM) are a pointer outside guest RAM, named."""
    fakexen.create(xen, 9, 32)
    ssdt = open(SSDT, "rb").read()
    root = _acpi_root(base, b"XCMODT", [(base + 0x1000, ssdt)])
    with open(os.path.join(xen, "dom9", "ram"), "r+b") as f:
        f.truncate(0xFE000000)                       # sparse: guest RAM up to there
        f.seek(0xE0000)
        f.write(root[:36])                           # the RSDP where SeaBIOS puts it
        f.seek(base)
        f.write(root)
        f.seek(base + 0x1000)
        f.write(ssdt)
    adir = tmp_path / "acpi"
    r = cli("guest-tables", "--domid", "9", "--acpi-dir", adir)
    if found:
        assert r.code == 0, r.err
        assert [p.read_bytes() for p in adir.iterdir() if p.name.startswith("SSDT")] == [ssdt]
    else:
        assert r.code == 1 and not adir.exists()
        assert f"offset {base + 0x40:#x}: 8 bytes at {base + 0x40:#x} are not in guest RAM" \
            in r.err, r.err


@pytest.mark.parametrize("entry,needle", [
    (0xFFFFFFFF0000, "ACPI: domain 6: offset 0xffffffff0000: the EFI configuration table's "
                     "ACPI 2.0 entry points to 0xffffffff0000"),
    (0x3E20000, "ACPI: domain 6: offset 0x3e20000: the EFI configuration table's ACPI 2.0 "
                "entry points to 0x3e20000, where there is no RSDP with a valid checksum"),
])
def test_a_configuration_entry_pointing_nowhere_is_named(xen, cli, tmp_path, entry, needle):
    """A configuration-table entry outside RAM, or at something else: one line, no
    read beyond RAM; --acpi-dir then fails with that line and writes nothing."""
    at, t = _ovmf_guest(xen, 6)
    st, ptr = _efi(at["st"], [(ACPI20, entry), (SMBIOS_GUID, at["ovmf_ep"])])
    with open(os.path.join(xen, "dom6", "ram"), "r+b") as f:
        f.seek(at["st"])
        f.write(st)
    r = cli("guest-tables", "--domid", "6")
    assert r.code == 0 and needle in r.out, r.out
    assert "found through the EFI configuration table's SMBIOS entry" in r.out
    r = cli("guest-tables", "--domid", "6", "--acpi-dir", tmp_path / "a")
    assert r.code == 1 and r.err.count("\n") == 1 and needle[len("ACPI: "):] in r.err
    assert not (tmp_path / "a").exists()


def test_a_huge_smbios3_table_length_is_bounded(xen, cli):
    """An SMBIOS3 entry point claiming a 4 GiB table: its maximum is only a maximum, so the
    table is read a page at a time up to its End-of-Table (no 4 GiB read)."""
    from xcmod.firmware.checksum import checksum8
    at, t = _ovmf_guest(xen, 6, efi=False)
    ep = bytearray(struct.pack("<5sBBBBBBBIQ", b"_SM3_", 0, 24, 3, 0, 0, 1, 0, 0xFFFFFFFF,
                               0xEB020))
    ep[5] = -checksum8(ep) & 0xFF
    with open(os.path.join(xen, "dom6", "ram"), "r+b") as f:
        f.seek(0xEB000)
        f.write(ep)
    r = cli("guest-tables", "--domid", "6")
    assert r.code == 0, r.err
    line = [ln for ln in r.out.splitlines() if ln.startswith("SMBIOS")][0]
    assert line.startswith("SMBIOS 3.0.0: ") and "table at 0xeb020" in line, line


@pytest.mark.qemu
def test_guest_tables_read_what_a_real_ovmf_publishes(xen, cli, tmp_path):
    """On RAM a real edk2 filled (QEMU with Debian's OVMF, at its UEFI shell), guest-tables
    finds the EFI system table and takes SMBIOS and ACPI from its configuration table,
    where nothing lies in the F-segment: the passed type 1 strings read back through
    dmidecode, and the passed SSDT is among the published tables."""
    from .fwgen import snapshot_ovmf_ram
    work = tmp_path / "work"
    work.mkdir()
    ram = snapshot_ovmf_ram(["type=1,manufacturer=UefiCo,product=Tbl-7"], [f"file={SSDT}"],
                            str(work))
    fakexen.create(xen, 9, 128)
    os.replace(ram, os.path.join(xen, "dom9", "ram"))
    mem = fakexen.read_ram(xen, 9, 0xE0000, 0x20000)
    assert b"_SM" not in mem and b"RSD PTR " not in mem     # no legacy copies to find
    dump, adir = tmp_path / "g.dmi", tmp_path / "acpi"
    r = cli("guest-tables", "--domid", "9", "--smbios-dump", dump, "--acpi-dir", adir, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    names = [c["name"] for c in d["efi"]["configuration_table"]]
    assert "ACPI 2.0" in names and ("SMBIOS" in names or "SMBIOS3" in names)
    assert d["efi"]["pointer"] % (4 << 20) == 0
    assert d["acpi"]["found"].startswith("the EFI configuration table's ACPI 2.0 entry")
    assert d["smbios"]["found"].startswith("the EFI configuration table's SMBIOS")
    text = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    assert "Manufacturer: UefiCo" in text and "Product Name: Tbl-7" in text
    ssdt = open(SSDT, "rb").read()
    published = [(adir / n).read_bytes() for n in os.listdir(adir)]
    assert ssdt in published
    assert all(t["checksum_ok"] is not False for t in d["acpi"]["tables"])
