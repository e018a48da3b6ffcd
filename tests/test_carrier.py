# SPDX-License-Identifier: MIT
"""The carrier: an image wrapped in one OEMM ACPI table, for libxl's acpi_firmware=."""
import pytest

from xcmod.errors import FormatError
from xcmod.image import carrier
from xcmod.image.spec import acpi_table_header, field_offsets, verify_image

from .paths import real



@pytest.fixture
def image(tmp_path, cli):
    out = tmp_path / "mods.bin"
    r = cli("build", "-o", out, "--policy", "passthrough-all",
            "--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"),
            "--acpi", real("acpi/lenovo-x1c6/SLIC.aml"), "--oem-ids", "slic")
    assert r.code == 0, r.err
    return out.read_bytes()


def test_the_header_is_the_acpi_header_with_the_fixed_fields(image):
    """wrap() writes the 36-byte ACPI header of the contract, then the image verbatim."""
    table = carrier.wrap(image)
    h = acpi_table_header.parse(table[:36])
    assert (h.signature, h.length, h.revision, h.oem_id, h.oem_table_id, h.oem_revision,
            h.creator_id, h.creator_revision) == \
        (b"OEMM", 36 + len(image), 1, b"XCMOD ", b"MODIMAGE", 1, b"XCMD", 1)
    assert sum(table) & 0xFF == 0
    assert table[36:] == image
    assert carrier.CARRIER_HEADER_SIZE == acpi_table_header.sizeof()
    off = field_offsets(acpi_table_header)
    assert (off["signature"], off["oem_id"]) == (carrier._SIGNATURE_AT, carrier._OEM_ID_AT)


def test_round_trip_and_recognition(image):
    table = carrier.wrap(image)
    assert carrier.is_carrier(table) and not carrier.is_carrier(image)
    assert carrier.unwrap(table, "c.aml") == image
    assert carrier.open_carrier(table, "c.aml") == (image, "c.aml[0x24:]")
    assert carrier.open_carrier(image, "m.bin") == (image, "m.bin")
    verify_image(carrier.unwrap(table))


def _patch(table, offset, value, fix_sum=True):
    t = bytearray(table)
    t[offset:offset + len(value)] = value
    if fix_sum:
        t[9] = 0
        t[9] = -sum(t) & 0xFF
    return bytes(t)


MALFORMED = {
    "short header": (lambda t: t[:20], 0, "need 36 bytes"),
    "length too big": (lambda t: _patch(t, 4, (len(t) + 1).to_bytes(4, "little")), 4,
                       "disagrees with the file"),
    "length too small": (lambda t: _patch(t, 4, (len(t) - 16).to_bytes(4, "little")), 4,
                         "disagrees with the file"),
    "no image": (lambda t: _patch(t[:36], 4, (36).to_bytes(4, "little")), 4, "holds no image"),
    "revision": (lambda t: _patch(t, 8, b"\x02"), 8, "revision"),
    "oem_table_id": (lambda t: _patch(t, 16, b"MODIMAGF"), 16, "oem_table_id"),
    "oem_revision": (lambda t: _patch(t, 24, b"\x02"), 24, "oem_revision"),
    "creator_id": (lambda t: _patch(t, 28, b"XCME"), 28, "creator_id"),
    "creator_revision": (lambda t: _patch(t, 32, b"\x00"), 32, "creator_revision"),
    "checksum": (lambda t: _patch(t, 40, b"\xff", fix_sum=False), 9, "checksum"),
    "signature": (lambda t: _patch(t, 0, b"OEMN"), 0, "not an xcmod carrier"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_every_malformed_carrier_is_refused_with_its_offset(image, case):
    mutate, offset, needle = MALFORMED[case]
    with pytest.raises(FormatError) as e:
        carrier.unwrap(mutate(carrier.wrap(image)), "vm.carrier")
    assert e.value.source == "vm.carrier" and e.value.offset == offset, str(e.value)
    assert needle in str(e.value)


def test_a_carrier_larger_than_the_limit_is_refused(image):
    big = image + bytes(carrier.CARRIER_MAX)
    with pytest.raises(FormatError, match="larger than"):
        carrier.wrap(big, source="big.bin")


def test_verify_and_inspect_read_a_carrier_as_its_image(image, tmp_path, cli):
    """verify CARRIER judges the image inside; inspect shows its modules; a bad
    image inside is named with the carrier's path and the image's offset."""
    c = tmp_path / "vm.carrier"
    c.write_bytes(carrier.wrap(image))
    m = tmp_path / "m.bin"
    m.write_bytes(image)
    r = cli("verify", c)
    assert r.code == 0 and "valid" in r.out, r.err
    assert cli("inspect", "--json", c).out == cli("inspect", "--json", m).out
    bad = bytearray(image)
    bad[0] ^= 0xFF                          # the first module's signature
    c.write_bytes(carrier.wrap(bytes(bad)))
    r = cli("verify", c)
    assert r.code == 1 and r.out == ""
    assert r.err.strip() == f"xcmod: error: {c}[0x24:]: offset 0x0: bad module signature " \
                            f'(expected "XCMD")'
    c.write_bytes(_patch(carrier.wrap(image), 16, b"NOTMINE!"))
    r = cli("verify", c)
    assert r.code == 1 and f"{c}: offset 0x10: carrier oem_table_id" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
