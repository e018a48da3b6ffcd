# SPDX-License-Identifier: MIT
"""Stock hvmloader blocks, option ROM modules, AML lint, manifests and exports."""
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from xcmod.errors import FormatError
from xcmod.firmware import aml, contents, orom, smbios
from xcmod.image import stock

from . import fwgen
from .referees import dmidecode_mem, hvmloader_walk
from .referees import c_read
from .paths import IPXE_ROMS, ROOT, real

DELL = real("smbios/infrasim/dell_r640_smbios.bin")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
PXE = IPXE_ROMS["pxe-e1000.rom"]          # the installed ipxe-qemu's (dpkg -L)
EFI = IPXE_ROMS["efi-virtio.rom"]
EFI_OF = {rel: os.path.join(ROOT, "tests", "fixtures", "orom", f"{rel}-efi-virtio.rom")
          for rel in ("bookworm", "trixie")}
VGA = "/usr/share/seabios/vgabios-stdvga.bin"


@pytest.fixture
def xen_dir(tmp_path, cli):
    d = tmp_path / "blocks"
    r = cli("build", "--format", "xen", "-o", d, "--smbios", DELL, "--acpi", SSDT, "--json")
    assert r.code == 0, r.err
    return d, json.loads(r.out)


def test_stock_smbios_block_walks_like_hvmloader(xen_dir):
    """hvmloader's own walk over smbios.bin yields exactly the structures the report passed."""
    d, summary = xen_dir
    block = (d / "smbios.bin").read_bytes()
    got = hvmloader_walk(block)
    passed = [e for e in summary["report"]["entries"]
              if e["area"] == "smbios" and e["action"] == "passed"]
    assert len(got) == len(passed) == len(summary["blocks"][0]["structures"])
    types = [g[0] for g in got]
    replaced = [t for t in types if t < 128]
    assert len(replaced) == len(set(replaced)), "hvmloader uses the first of each type only"
    assert set(replaced) <= {0, 1, 2, 3, 11, 22, 39}
    assert all(g.endswith(b"\0\0") for g in got)


def test_stock_acpi_block_is_the_tables(xen_dir):
    """acpi.bin is the raw tables back to back, as construct_passthrough_tables() copies."""
    d, _ = xen_dir
    assert (d / "acpi.bin").read_bytes() == open(SSDT, "rb").read()


def test_stock_blocks_decode_with_dmidecode(xen_dir, tmp_path):
    """The structures in smbios.bin, given an entry point, decode in dmidecode."""
    d, _ = xen_dir
    t = contents.parse_smbios_block((d / "smbios.bin").read_bytes())
    t.major, t.minor, t.entry_point = 2, 4, 2
    dump = tmp_path / "d.dmi"
    dump.write_bytes(smbios.dump_bin(t))
    text = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    assert "Product Name: PowerEdge R640" in text and "Serial Number: Not Specified" in text


def test_inspect_recognises_both_formats(xen_dir, tmp_path, cli):
    """inspect reads a --format xen directory, each block file alone, and images."""
    d, _ = xen_dir
    r = cli("inspect", d)
    assert r.code == 0 and "SMBIOS block" in r.out and "ACPI block" in r.out
    j = json.loads(cli("inspect", d / "smbios.bin", "--json").out)
    assert j["format"] == "xen" and j["blocks"][0]["type"] == "smbios"
    j = json.loads(cli("inspect", d / "acpi.bin", "--json").out)
    assert j["blocks"][0]["tables"][0]["signature"] == "SSDT"


def test_stock_block_with_a_wrong_length_is_refused(tmp_path):
    """A u32 length that does not match its structure is caught, not walked off."""
    block = bytearray(stock.encode_smbios_block(smbios.read_file(DELL).structures[:3]))
    block[0] += 1
    with pytest.raises(FormatError, match="offset 0x0: u32 length"):
        contents.parse_smbios_block(bytes(block), "b")


def test_stale_block_is_not_left_behind(xen_dir, cli):
    """Rebuilding a directory without ACPI refuses to leave the old acpi.bin."""
    d, _ = xen_dir
    r = cli("build", "--format", "xen", "-o", d, "--smbios", DELL)
    assert r.code == 2 and "acpi.bin is left from an earlier build" in r.err


# ----------------------------------------------------------------- option ROMs

@pytest.mark.parametrize("rom", [PXE, EFI, VGA])
def test_option_rom_module_round_trip(tmp_path, cli, xcmod_read, rom):
    """A real ROM packs as an OROM module; inspect and the C reader agree on its IDs."""
    info = orom.read_file(rom)
    img = tmp_path / "r.bin"
    r = cli("build", "-o", img, "--orom", rom, "--json")
    assert r.code == 0, r.err
    d = json.loads(cli("inspect", img, "--json").out)["modules"][0]
    assert d["type"] == "orom" and d["rom"]["vendor_id"] == f"{info.first.vendor_id:04x}"
    c = c_read(xcmod_read, img)
    assert c.returncode == 0, c.stderr
    assert (f"vendor=0x{info.first.vendor_id:04x} device=0x{info.first.device_id:04x} "
            f"class=0x{info.first.class_text}") in c.stdout
    data = img.read_bytes()
    raw = open(rom, "rb").read()
    assert info.raw == raw[:len(info.raw)] and info.raw in data   # padding left out, if any


@pytest.mark.parametrize("rom", [EFI, EFI_OF["bookworm"], EFI_OF["trixie"]],
                         ids=["installed", "bookworm", "trixie"])
def test_efi_rom_has_two_images(rom):
    """iPXE's efi-*.rom chains a legacy x86 image and an EFI image, the last flagged."""
    r = orom.read_file(rom)
    assert [i.code_type_name for i in r.images] == ["x86 PC-AT", "EFI"]
    assert r.first.vendor_id == 0x1AF4
    assert len(r.raw) == sum(i.length for i in r.images)


def test_padding_after_the_last_image_is_not_part_of_the_rom(tmp_path, cli, xcmod_read):
    """Debian 13's efi-virtio.rom is 0xFF-padded to 256 KiB: the module holds the images
    alone and the report says what was left out; Debian 12's has no padding."""
    data = open(EFI_OF["trixie"], "rb").read()
    r = orom.read_file(EFI_OF["trixie"])
    assert (len(r.raw), r.padding) == (160256, 101888) and data[len(r.raw):] == b"\xff" * 101888
    assert orom.read_file(EFI_OF["bookworm"]).padding == 0
    img = tmp_path / "m.bin"
    b = cli("build", "-o", img, "--orom", EFI_OF["trixie"], "--json")
    assert b.code == 0, b.err
    notes = [e["reason"] for e in json.loads(b.out)["report"]["entries"] if e["action"] == "note"]
    assert notes == ["101888 bytes of padding after the last image left out "
                     "(no firmware reads past it)"]
    c = c_read(xcmod_read, img)
    assert c.returncode == 0, c.stderr
    assert data[:160256] in img.read_bytes() and b"\xff" * 4096 not in img.read_bytes()
    # A zero-padded copy is the same ROM; a tail that is not one byte repeated is refused.
    zeroed = tmp_path / "zero.rom"
    zeroed.write_bytes(data[:160256] + bytes(101888))
    assert orom.read_file(str(zeroed)).raw == r.raw
    mixed = tmp_path / "mixed.rom"
    mixed.write_bytes(data[:200000] + b"\x00" + data[200001:])
    m = cli("build", "-o", tmp_path / "n.bin", "--orom", mixed)
    assert m.code == 1 and m.err.count("\n") == 1, m.err
    assert "offset 0x27200: 101888 bytes after the last image are neither zero nor 0xFF" in m.err
    assert not (tmp_path / "n.bin").exists()


@pytest.mark.parametrize("offset,value,needle", [
    (0, 0x00, "not 55aa"),
    (0x100, None, "legacy image checksum invalid"),
    (0x18, 0x00, "PCI data structure pointer 0x0 is outside the ROM"),
])
def test_bad_option_rom_is_refused(tmp_path, cli, offset, value, needle):
    """A corrupt ROM is one clear error and no image."""
    data = bytearray(open(PXE, "rb").read())
    data[offset] = (data[offset] ^ 0x01) if value is None else value
    if offset == 0x18:
        data[0x19] = 0x00
    bad = tmp_path / "bad.rom"
    bad.write_bytes(data)
    r = cli("build", "-o", tmp_path / "m", "--orom", bad)
    assert r.code == 1 and needle in r.err and r.err.count("\n") == 1, r.err
    assert not (tmp_path / "m").exists()


def test_option_rom_payload_signature_checked_by_both_readers(tmp_path, cli, xcmod_read):
    """An OROM module whose payload lost 55 AA fails in Python and C at the same offset."""
    from xcmod.image.spec import module_crc, verify_image
    img = tmp_path / "r.bin"
    assert cli("build", "-o", img, "--orom", VGA).code == 0
    data = bytearray(img.read_bytes())
    data[24 + 16] = 0
    data[16:20] = module_crc(bytes(data[:struct.unpack_from("<I", data, 12)[0]])).to_bytes(4, "little")
    img.write_bytes(data)
    with pytest.raises(FormatError) as e:
        verify_image(bytes(data))
    c = c_read(xcmod_read, img)
    assert c.returncode == 1 and "offset 0x28" in c.stderr and e.value.offset == 0x28
    assert "option ROM signature invalid" in c.stderr


def test_option_rom_needs_the_module_format(tmp_path, cli):
    """--format xen has no place for option ROMs: a usage error."""
    r = cli("build", "--format", "xen", "-o", tmp_path / "d", "--orom", PXE)
    assert r.code == 2 and "need the module format" in r.err


# ------------------------------------------------------------------- AML lint

@pytest.mark.parametrize("table", ["acpi/qemu/pc_SSDT.dimmpxm", "acpi/qemu/q35_DSDT",
                                   "acpi/lenovo-x1c6/DSDT.aml",
                                   "acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"])
def test_op_regions_match_iasl(tmp_path, table):
    """Every OperationRegion acpica's disassembler shows, and only those, is found."""
    data = open(real(table), "rb").read()
    (tmp_path / "t.aml").write_bytes(data)
    subprocess.run(["iasl", "-d", "t.aml"], cwd=tmp_path, capture_output=True, check=True)
    dsl = (tmp_path / "t.dsl").read_text(errors="replace")
    import re
    theirs = re.findall(r"OperationRegion \((\w+), (\w+),", dsl)
    ours = [(r.name.split(".")[-1].lstrip("\\^"), r.space_name) for r in aml.iter_op_regions(data)]
    assert sorted(ours) == sorted(theirs)


# ------------------------------------------------------------------- manifest

def test_manifest_digests_and_chain(tmp_path, cli):
    """--manifest lists each module's SHA-256 and a PCR chain a verifier can recompute."""
    img, man = tmp_path / "m.bin", tmp_path / "m.json"
    assert cli("build", "-o", img, "--smbios", DELL, "--acpi", SSDT, "--manifest", man,
               "-q").code == 0
    m = json.loads(man.read_text())
    data = img.read_bytes()
    assert m["image"]["sha256"] == hashlib.sha256(data).hexdigest()
    pcr = bytes(32)
    pos = 0
    for item in m["items"]:
        length = item["length"]
        blob = data[pos:pos + length]
        assert hashlib.sha256(blob).hexdigest() == item["sha256"]
        pcr = hashlib.sha256(pcr + hashlib.sha256(blob).digest()).digest()
        assert item["pcr"] == pcr.hex()
        pos = (pos + length + 15) & ~15
    assert m["pcr"] == pcr.hex() and [i["name"] for i in m["items"]] == [
        "module 0 smbios", "module 1 acpi", "module 2 end"]


# --------------------------------------------------------------------- export

def test_export_xl_points_at_the_blocks(xen_dir, cli):
    """export xl prints the xl.cfg keys naming the stock block files."""
    d, _ = xen_dir
    r = cli("export", "xl", d)
    assert r.code == 0
    assert r.out.splitlines() == [f'smbios_firmware = "{d}/smbios.bin"',
                                  f'acpi_firmware = "{d}/acpi.bin"']


def test_export_xl_of_an_image_applies_the_same_rules_as_build_format_xen(tmp_path, cli):
    """export xl of an image writes the very smbios.bin build --format xen writes from the
    same source (a second type 39 left out), with the same warnings.  The image is
    passthrough-all's, which keeps both type 39s (a default build drops the second,
    as the module path's hvmloader would ignore it too)."""
    img, blocks = tmp_path / "m.bin", tmp_path / "blocks"
    assert cli("build", "-q", "-o", img, "--smbios", DELL, "--policy", "passthrough-all",
               "--xen", "4.20").code == 0
    built = cli("build", "--format", "xen", "-o", blocks, "--smbios", DELL, "--json",
                "--policy", "passthrough-all", "--xen", "4.20")
    assert built.code == 0, built.err
    r = cli("export", "xl", img, "--out-dir", tmp_path / "o")
    assert r.code == 0, r.err
    assert (tmp_path / "o/smbios.bin").read_bytes() == (blocks / "smbios.bin").read_bytes()
    warned = {line.split("warning: ", 1)[1] for line in r.err.splitlines()}
    first_only = ("type 39 (power_supply) handle 0x2701: hvmloader uses only the first type "
                  "39 structure it is given")
    assert first_only in warned
    dropped = {f"{e['item']}: {e['reason']}" for e in json.loads(built.out)["report"]["entries"]
               if e["action"] == "dropped"}
    assert first_only in dropped
    modules = cli("build", "-o", tmp_path / "d.bin", "--smbios", DELL, "--json")
    assert first_only in {f"{e['item']}: {e['reason']}"
                          for e in json.loads(modules.out)["report"]["entries"]}
    report = json.loads(built.out)["report"]["entries"]
    assert {f"{e['item']}: {e['reason']}" for e in report if e["action"] == "warning"} <= warned
    assert any("9 OEM structures" in w for w in warned)


def test_export_qemu_writes_one_structure_per_file(tmp_path, cli):
    """export qemu writes one file per structure/table, each a whole structure/table."""
    img = tmp_path / "m.bin"
    assert cli("build", "-o", img, "--smbios", DELL, "--acpi", SSDT, "-q").code == 0
    r = cli("export", "qemu", img, "--out-dir", tmp_path / "q", "--json")
    assert r.code == 0, r.err
    j = json.loads(r.out)
    smb = [f for f in j["files"] if "smbios-" in f]
    for f in smb:
        s = smbios.parse_structures(open(f, "rb").read())[0]
        assert len(s) == 1
    assert sum(1 for line in j["lines"] if line.startswith("-smbios file=")) == len(smb)
    assert j["lines"][-1] == f"-acpitable file={tmp_path}/q/acpi-000-SSDT.dat"
    lv = cli("export", "libvirt", img, "--out-dir", tmp_path / "l")
    assert "<qemu:commandline>" in lv.out and "<qemu:arg value=\"-acpitable\"/>" in lv.out


@pytest.mark.qemu
def test_export_qemu_end_to_end_in_seabios(tmp_path, cli):
    """QEMU+SeaBIOS given `export qemu` shows the passed structures and the added SSDT."""
    src = tmp_path / "src"
    fwgen.generate(str(src), rand=True)
    params = json.loads((src / "params.json").read_text())
    t1 = dict(kv.split("=", 1) for kv in params["smbios"][1].split(",")[1:])
    img = tmp_path / "m.bin"
    r = cli("build", "-o", img, "--smbios", src / "smbios.bin", "--acpi",
            real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "-q")
    assert r.code == 0, r.err
    j = json.loads(cli("export", "qemu", img, "--out-dir", tmp_path / "q", "--json").out)
    args = []
    for line in j["lines"]:
        opt, val = line.split(" ", 1)
        args += ["--smbios" if opt == "-smbios" else "--acpitable", val]
    guest = tmp_path / "guest"
    assert fwgen.main([str(guest), *args]) == 0
    text = (guest / "dmidecode.txt").read_text()
    assert f"Manufacturer: {t1['manufacturer']}" in text
    assert f"Product Name: {t1['product']}" in text
    assert t1["serial"] not in text and t1["uuid"] not in text.lower()
    for spec in params["smbios"][2:4]:               # baseboard and chassis
        kv = dict(x.split("=", 1) for x in spec.split(",")[1:])
        assert kv["serial"] not in text and kv["asset"] not in text
        assert kv["manufacturer"] in text
    oem = [kv.split("=", 1)[1] for s in params["smbios"] if s.startswith("type=11")
           for kv in s.split(",")[1:]]
    assert all(o in text for o in oem)
    # the SSDT is reachable from the RSDP (tests.fwgen walks RSDP -> XSDT/RSDT)
    ssdt = open(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "rb").read()
    found = [(guest / "acpi" / n).read_bytes() for n in os.listdir(guest / "acpi")]
    assert ssdt in found


# ----------------------------------------------------------- libvirt and XAPI

def _validate(path):
    """libvirt's own schema check of a domain document."""
    r = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def dell_image(tmp_path, cli):
    """Dell R640 SMBIOS (default policy) with a Lenovo SSDT and SLIC."""
    img = tmp_path / "dell.bin"
    r = cli("build", "-q", "-o", img, "--smbios", real("smbios/infrasim/dell_r640_smbios.bin"),
            "--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"),
            "--acpi", real("acpi/lenovo-x1c6/SLIC.aml"))
    assert r.code == 0, r.err
    return img


def test_export_libvirt_qemu_is_native_where_libvirt_can_be(tmp_path, cli, dell_image):
    """--driver qemu: a domain document libvirt's schema accepts, with the type 0-3/11
    strings as <sysinfo>, the SLIC as <acpi><table type='slic'>, and <qemu:commandline>
    only for the other structures and tables."""
    import xml.etree.ElementTree as ET
    out = tmp_path / "lq"
    r = cli("export", "libvirt", dell_image, "--out-dir", out, "--name", "vm7")
    assert r.code == 0, r.err
    _validate(out / "domain.xml")
    assert (out / "domain.xml").read_text() == r.out
    dom = ET.parse(out / "domain.xml").getroot()
    entries = {(b.tag, e.get("name")): e.text for b in dom.find("sysinfo") for e in b
               if e.get("name")}
    assert entries[("system", "product")] == "PowerEdge R640"
    assert entries[("bios", "vendor")] == "Dell Inc."
    assert ("system", "serial") not in entries          # scrubbed by the policy
    assert [e.text for e in dom.find("sysinfo/oemStrings")][0] == "Dell System"
    assert dom.find("os/smbios").get("mode") == "sysinfo"
    slic = dom.find("os/acpi/table")
    assert slic.get("type") == "slic"
    assert open(slic.text, "rb").read() == open(real("acpi/lenovo-x1c6/SLIC.aml"), "rb").read()
    ns = "{http://libvirt.org/schemas/domain/qemu/1.0}"
    args = [a.get("value") for a in dom.find(f"{ns}commandline")]
    files = [a.split("=", 1)[1] for a in args if a.startswith("file=")]
    types = {open(f, "rb").read()[0] for f in files if "/smbios-" in f}
    assert types and not types & {0, 1, 2, 3, 11}                    # native ones are not here
    assert [open(f, "rb").read()[:4] for f in files if "/acpi-" in f] == [b"SSDT"]


# What libvirt's QEMU driver needs to run as root in its embedded mode
# (qemu:///embed, virt-qemu-run): no virtlogd, no per-VM user or namespaces.
EMBED_QEMU_CONF = """\
user = "root"
group = "root"
stdio_handler = "file"
namespaces = []
remember_owner = 0
security_driver = "none"
"""


@pytest.mark.qemu
def test_export_libvirt_qemu_domain_starts_with_the_passed_firmware(tmp_path, request, cli,
                                                                  dell_image):
    """The exported document, started by libvirt's own QEMU driver (virt-qemu-run, TCG,
    SeaBIOS): dmidecode on the guest's RAM shows the passed strings and OEM strings,
    and the guest's ACPI tables hold the SSDT and the SLIC byte for byte."""
    from .fwgen import Qmp, acpi_tables, running, save_when_ready
    out = tmp_path / "o"
    assert cli("export", "libvirt", dell_image, "--out-dir", out, "--name", "xcmodt").code == 0
    # The harness's own edits: TCG instead of KVM, a small guest, and a QMP socket
    # through which the test reads guest RAM (not part of what xcmod emits).
    sock, ram_mib = tmp_path / "qmp.sock", 128
    doc = (out / "domain.xml").read_text()
    doc = doc.replace("type='kvm'", "type='qemu'").replace(
        "<memory unit='MiB'>1024</memory>", f"<memory unit='MiB'>{ram_mib}</memory>").replace(
        "</qemu:commandline>", f"  <qemu:arg value='-qmp'/>\n    <qemu:arg value='unix:"
        f"{sock},server=on,wait=off'/>\n  </qemu:commandline>")
    (tmp_path / "run.xml").write_text(doc)
    # libvirt puts its monitor socket under the root: sun_path holds 108 bytes, so the
    # root is a short directory of its own, not pytest's (pytest-NNN/test_export_libvirt...).
    root = Path(tempfile.mkdtemp(prefix="xcv-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    (root / "etc").mkdir(parents=True)
    (root / "etc/qemu.conf").write_text(EMBED_QEMU_CONF)
    log = open(tmp_path / "virt-qemu-run.log", "w+")
    with running(["virt-qemu-run", "--root", str(root), str(tmp_path / "run.xml")], log) as p:
        deadline = time.monotonic() + 120
        ram = save_when_ready(Qmp(str(sock), deadline, p, log), p, log, str(tmp_path), deadline,
                              ram_mib, quit=False)
        p.send_signal(signal.SIGINT)          # virt-qemu-run's Ctrl-C: destroy and exit
        p.wait(timeout=60)
    # libvirt itself turned the native elements into QEMU options
    argv = (root / "log/qemu/xcmodt.log").read_text()
    assert "-smbios 'type=1,manufacturer=Dell Inc.,product=PowerEdge R640," in argv
    assert f"-acpitable sig=SLIC,file={out}/SLIC.dat" in argv and "-no-acpi" not in argv
    dump = tmp_path / "guest.dmi"
    dmidecode_mem(ram, "-q", dump_bin=dump)
    text = subprocess.run(["dmidecode", "--from-dump", str(dump)], capture_output=True,
                          text=True, check=True).stdout
    for want in ("Product Name: PowerEdge R640", "Vendor: Dell Inc.", "Version: 1.3.7",
                 "String 1: Dell System", "Product Name: 0W23H8"):
        assert want in text, want
    mem = open(ram, "rb").read()
    tables = acpi_tables(mem)
    assert tables["SLIC"] == open(real("acpi/lenovo-x1c6/SLIC.aml"), "rb").read()
    ssdt = open(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "rb").read()
    assert ssdt in [t for name, t in tables.items() if name.startswith("SSDT")]


def test_export_libvirt_xen_carries_the_acpi_block_and_a_recipe(tmp_path, cli, dell_image):
    """--driver xen: <acpi><table type='slic'> names the whole stock ACPI block (what
    libxl's acpi_firmware takes) with the <acpi/> feature libxl needs to read it; the
    SMBIOS block and a start-paused/load/resume script are written beside it."""
    out = tmp_path / "lx"
    r = cli("export", "libvirt", "--driver", "xen", dell_image, "--out-dir", out,
            "--name", "win7")
    assert r.code == 0, r.err
    _validate(out / "domain.xml")
    assert f"<table type='slic'>{out}/acpi.bin</table>" in r.out
    assert "  <features>\n    <acpi/>\n  </features>" in r.out   # else libxl sets acpi=0
    tables = contents.parse_acpi_block((out / "acpi.bin").read_bytes(), "acpi.bin")
    assert [t.signature for t in tables] == ["SSDT", "SLIC"]
    assert contents.parse_smbios_block((out / "smbios" / "smbios.bin").read_bytes(),
                                       "smbios.bin").structures
    script = (out / "start.sh").read_text()
    assert "virsh start --paused win7" in script
    assert f"xcmod load --domain win7 {out}/smbios" in script and "virsh resume win7" in script
    r = subprocess.run(["sh", "-n", str(out / "start.sh")], capture_output=True)
    assert r.returncode == 0


def test_export_libvirt_xen_applies_hvmloaders_rules(tmp_path, cli):
    """Tables hvmloader builds itself cannot go to acpi_firmware: refused by name (an
    image holding one, which build never writes, made here by hand)."""
    from xcmod.firmware.acpi import encode_acpi_module, read_table
    from xcmod.image.spec import build_image
    img = tmp_path / "all.bin"
    img.write_bytes(build_image([encode_acpi_module([read_table(
        real("acpi/lenovo-x1c6/HPET.aml"))])]))
    r = cli("export", "libvirt", "--driver", "xen", img, "--out-dir", tmp_path / "o")
    assert r.code == 1 and "HPET: hvmloader builds its own" in r.err
    assert not (tmp_path / "o").exists()


def test_export_xapi_follows_xapis_rules(tmp_path, cli, dell_image):
    """xapi: one xe line setting only XAPI's 13 settable keys, each printable ASCII of
    at most 512 characters; what cannot pass is named."""
    import shlex

    from xcmod.builder.export import XAPI_KEYS
    img = tmp_path / "odd.bin"
    assert cli("build", "-q", "-o", img, "--smbios", real("smbios/infrasim/dell_r640_smbios.bin"),
               "--set", "system.version=" + "v" * 600, "--set",
               "baseboard.version=caf\u00e9").code == 0
    r = cli("export", "xapi", img, "--vm", "5b2d2a52-7d0a-4e7f-9a43-2f6c0de1b001")
    assert r.code == 0, r.err
    xe = [ln for ln in r.out.splitlines() if ln.startswith("xe ")]
    assert len(xe) == 1
    words = shlex.split(xe[0])
    assert words[:3] == ["xe", "vm-param-set", "uuid=5b2d2a52-7d0a-4e7f-9a43-2f6c0de1b001"]
    sets = dict(w[len("bios-strings:"):].split("=", 1) for w in words[3:])
    assert set(sets) <= {k for k, _ in XAPI_KEYS}
    assert sets["system-product-name"] == "PowerEdge R640"
    assert all(len(v) <= 512 and v.isascii() and v.isprintable() for v in sets.values())
    assert "system-version" not in sets and "baseboard-version" not in sets
    notes = r.out
    assert "system-version (system.version): XAPI takes printable ASCII" in notes
    assert "baseboard-version (baseboard.version)" in notes
    assert "type 11 OEM string" in notes and "XAPI passes no structures" in notes


def test_export_libvirt_leaves_out_what_xml_cannot_hold(tmp_path, cli):
    """A string with a control character is named in a comment, not written: the
    document still passes libvirt's schema check."""
    img = tmp_path / "ctl.bin"
    assert cli("build", "-q", "-o", img, "--smbios", real("smbios/infrasim/dell_r640_smbios.bin"),
               "--set", "system.version=a\x01b").code == 0
    r = cli("export", "libvirt", img, "--out-dir", tmp_path / "l")
    assert r.code == 0, r.err
    assert "system.version left out: control characters" in r.out and "a\x01b" not in r.out
    _validate(tmp_path / "l" / "domain.xml")
