# SPDX-License-Identifier: MIT
"""SMBIOS sources are read exactly as their real encodings define them."""
import shutil
import subprocess

import pytest

from xcmod.errors import FormatError
from xcmod.firmware import smbios
from xcmod.image.spec import XCMOD_SMBIOS_EP_21, XCMOD_SMBIOS_EP_30, XCMOD_SMBIOS_EP_UNKNOWN

from .paths import DUMP_BIN_SOURCES, SMBIOS_SOURCES, real


def dmidecode_structures(path):
    """dmidecode's decoding of a dump, from the first Handle line on."""
    out = subprocess.run(["dmidecode", "--from-dump", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return out[out.index("Handle "):]


def dmidecode_handles(path):
    out = subprocess.run(["dmidecode", "--from-dump", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("Handle ")]


@pytest.mark.parametrize("src", SMBIOS_SOURCES)
def test_every_real_source_loads(src):
    """Every genuine SMBIOS fixture, whatever its encoding, yields well-formed structures."""
    t = smbios.read_file(real(src))
    assert t.structures
    for s in t.structures:
        assert s.length >= 4 and s.data.endswith(b"\0\0")


@pytest.mark.parametrize("src", DUMP_BIN_SOURCES)
def test_structures_match_dmidecode(src):
    """Our structure list (handle, type, length) is dmidecode's for the same dump."""
    t = smbios.read_file(real(src))
    ours = [f"Handle {s.handle:#06X}, DMI type {s.type}, {s.length} bytes".replace("0X", "0x")
            for s in t.structures]
    assert ours == dmidecode_handles(real(src))


@pytest.mark.parametrize("src", DUMP_BIN_SOURCES)
def test_dump_bin_rewrite_decodes_identically(tmp_path, src):
    """A dump we write from the parsed table decodes in dmidecode exactly like the original."""
    out = tmp_path / "dump.bin"
    out.write_bytes(smbios.dump_bin(smbios.read_file(real(src))))
    assert dmidecode_structures(out) == dmidecode_structures(real(src))


def test_dump_bin_rewrite_is_byte_identical_for_a_dmidecode_dump():
    """For a genuine dmidecode --dump-bin file, our writer reproduces it byte for byte."""
    raw = open(real("smbios/infrasim/dell_c6320_smbios.bin"), "rb").read()
    assert smbios.dump_bin(smbios.parse_source_bytes(raw)) == raw


def test_entry_point_kinds_and_versions():
    """_SM_ and _SM3_ entry points give their own versions; raw tables none."""
    t21 = smbios.read_file(real("smbios/fwupd/tables"))
    assert (t21.entry_point, t21.version) == (XCMOD_SMBIOS_EP_21, (2, 7, 0))
    t30 = smbios.read_file(real("smbios/fwupd/tables64"))
    assert (t30.entry_point, t30.version) == (XCMOD_SMBIOS_EP_30, (3, 0, 0))
    beelink = smbios.read_file(real("smbios/go-smbios/Beelink-EQ12.dmi"))
    assert beelink.version[:2] == (3, 5)
    raw = smbios.read_file(real("smbios/go-smbios/ASRock-Single-Ryzen.dmi"))
    assert raw.entry_point == XCMOD_SMBIOS_EP_UNKNOWN and raw.version == (0, 0, 0)
    assert "version unknown" in raw.notes[0]


def test_sysfs_directory_first_structure_is_oem_order_kept():
    """Structures keep their table order: fwupd's table starts with type 4, not 0."""
    t = smbios.read_file(real("smbios/fwupd/tables"))
    assert len(t.structures) == 62 and t.structures[0].type == 4


def test_windows_rsmb_blob():
    """A GetSystemFirmwareTable('RSMB') blob gives its version and its OEM type 128."""
    t = smbios.read_file(real("smbios/smbios-lib/jeffgerlap_3_2_0.dat"))
    assert t.version == (3, 2, 0)
    assert 128 in {s.type for s in t.structures}


def test_hyperv_zero_length_structure_ends_table_like_dmidecode():
    """Hyper-V's table stops at the zero-length structure, as dmidecode stops, with a note."""
    t = smbios.read_file(real("smbios/go-smbios/HyperV.dmi"))
    assert [s.type for s in t.structures] == [0, 1, 2, 3, 11]
    assert any("dmidecode" in n for n in t.notes)


def test_strings_are_the_string_set():
    """A structure's strings are its string set in order; string-less structures have none."""
    t = smbios.read_file(real("smbios/infrasim/dell_c6320_smbios.bin"))
    bios = next(s for s in t.structures if s.type == 0)
    assert bios.strings == [b"Dell Inc.", b"1.0.3", b"06/17/2015"]
    eot = next(s for s in t.structures if s.type == 127)
    assert eot.strings == []


def _ep_bytes(path):
    return bytearray(open(real(path), "rb").read())


def test_wrong_anchor_is_rejected():
    """A dump whose first bytes are no entry point anchor is refused with the offset."""
    data = _ep_bytes("smbios/infrasim/dell_c6320_smbios.bin")
    data[0:4] = b"_XX_"
    with pytest.raises(FormatError) as e:
        smbios.parse_dump(bytes(data), "x.bin")
    assert e.value.offset == 0


@pytest.mark.parametrize("pos,what", [(4, "entry point checksum"), (0x16, "intermediate checksum")])
def test_bad_21_checksums_are_rejected(pos, what):
    """Corrupting the _SM_ entry point is caught by the right one of its two checksums."""
    data = _ep_bytes("smbios/infrasim/dell_c6320_smbios.bin")
    data[pos] ^= 0x01
    with pytest.raises(FormatError, match="checksum") as e:
        smbios.parse_dump(bytes(data), "x.bin")
    assert str(e.value).startswith("x.bin: offset")


def test_bad_30_checksum_is_rejected():
    """Corrupting a _SM3_ entry point is caught by its checksum."""
    data = _ep_bytes("smbios/go-smbios/Beelink-EQ12.dmi")
    data[8] ^= 0x10
    with pytest.raises(FormatError, match="_SM3_ entry point checksum"):
        smbios.parse_dump(bytes(data))


def test_truncated_dump_is_rejected():
    """A _SM_ dump cut short of the table length its entry point announces is refused."""
    data = _ep_bytes("smbios/infrasim/dell_c6320_smbios.bin")[:1000]
    with pytest.raises(FormatError, match="announces a 2821-byte table"):
        smbios.parse_dump(bytes(data))


def test_unterminated_string_set_is_rejected():
    """fwupd's truncated type 42 (no double NUL) is refused, naming where its strings start."""
    with pytest.raises(FormatError, match="string set not terminated") as e:
        smbios.read_file(real("smbios/fwupd/redfish-smbios.bin"))
    # Its formatted length (0x76) is the whole file: the string set would start at 0x76.
    assert e.value.offset == 0x76


def test_sysfs_dir_with_missing_dmi_file(tmp_path):
    """A sysfs-layout directory without its DMI file fails as a missing file."""
    shutil.copy(real("smbios/fwupd/tables/smbios_entry_point"), tmp_path)
    with pytest.raises(FileNotFoundError):
        smbios.read_file(tmp_path)


def test_built_entry_point_switches_to_sm3_for_large_tables():
    """A table too long for _SM_'s 16-bit length gets a _SM3_ entry point."""
    t = smbios.read_file(real("smbios/fwupd/tables"))
    big = smbios.SmbiosTable(t.structures * 40, 2, 7, 0, XCMOD_SMBIOS_EP_21)
    assert len(big.table_bytes) > 0xFFFF
    assert smbios.build_entry_point(big)[:5] == b"_SM3_"
    small = smbios.build_entry_point(t)
    assert small[:4] == b"_SM_" and smbios.parse_entry_point(small).table_length == len(t.table_bytes)
