# SPDX-License-Identifier: MIT
"""ACPI tables are accepted whole and checked as the ACPI specification says."""
import pytest

from xcmod.errors import FormatError
from xcmod.firmware import acpi

from .paths import acpi_tables, real


@pytest.mark.parametrize("path", acpi_tables())
def test_every_real_table_is_accepted(path):
    """Every genuine table among the fixtures has a valid length and checksum."""
    t = acpi.read_table(real(path))
    assert t.checksum_ok and t.length == len(open(real(path), "rb").read())


def test_header_fields():
    """Signature, OEM ID and OEM table ID come from the standard header, padding removed."""
    t = acpi.read_table(real("acpi/lenovo-x1c6/SSDT-x5_4-Cpu0Hwp.aml"))
    assert (t.signature, t.oem_id, t.oem_table_id) == ("SSDT", "PmRef", "Cpu0Hwp")
    assert acpi.read_table(real("acpi/lenovo-x1c6/ASF!.aml")).signature == "ASF!"


def test_facs_has_no_checksum_or_oem_fields():
    """The FACS is accepted on its length alone and has no OEM fields."""
    t = acpi.read_table(real("acpi/lenovo-x1c6/FACS.aml"))
    assert t.is_facs and t.checksum_ok and t.oem_id == ""


def test_rsdp_is_not_a_table():
    """An RSDP file is refused: it is a pointer, not a description table."""
    with pytest.raises(FormatError, match="RSDP") as e:
        acpi.read_table(real("acpi/lenovo-x1c6/RSDP.aml"))
    assert e.value.offset == 0


def test_bad_checksum_names_the_checksum_byte():
    """A table whose bytes do not sum to zero is refused at offset 9 (the checksum)."""
    data = bytearray(open(real("acpi/lenovo-x1c6/SLIC.aml"), "rb").read())
    data[100] ^= 0x5A
    with pytest.raises(FormatError, match="checksum invalid") as e:
        acpi.parse_table(bytes(data), "SLIC.aml")
    assert e.value.offset == 9 and str(e.value).startswith("SLIC.aml: offset 0x9:")


def test_length_past_end_of_file():
    """A table whose Length runs past the end of the file is refused at offset 4."""
    data = open(real("acpi/qemu/q35_HPET"), "rb").read()[:40]
    with pytest.raises(FormatError, match="past the end of the file") as e:
        acpi.parse_table(data, "HPET")
    assert e.value.offset == 4


def test_length_short_of_file():
    """Trailing bytes after a table's Length are refused: one table per file."""
    data = open(real("acpi/qemu/q35_HPET"), "rb").read() + b"\0"
    with pytest.raises(FormatError, match="short of the file size"):
        acpi.parse_table(data)


@pytest.mark.parametrize("data", [b"", b"SSD", b"\x01\x02\x03\x04" + bytes(40)])
def test_garbage_is_refused(data):
    """Empty, tiny or unprintable-signature files are refused as FormatError."""
    with pytest.raises(FormatError):
        acpi.parse_table(data)
