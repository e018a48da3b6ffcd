"""ACPI system description tables: headers, lengths, checksums."""
from dataclasses import dataclass
from functools import cached_property

from .errors import FormatError
from .format import (ACPI_FACS_MIN_LENGTH, XCMOD_TYPE_ACPI, acpi_table_header, checksum8,
                     encode_module, struct_parse, xcmod_acpi_header)

ACPI_HEADER_SIZE = acpi_table_header.sizeof()
RSDP_SIGNATURE = b"RSD PTR "


def decode_name(raw):
    """An OEM ID / table ID / signature as text: NUL and space padding removed."""
    return raw.rstrip(b"\0 ").decode("latin-1")


@dataclass(frozen=True)
class AcpiTable:
    """One whole ACPI table, exactly as its bytes came."""
    raw: bytes
    source: object = None

    @cached_property
    def header(self):
        return struct_parse(acpi_table_header, self.raw, 0, self.source)

    @property
    def signature(self):
        return self.raw[:4].decode("latin-1")

    @property
    def length(self):
        return len(self.raw)

    @property
    def is_facs(self):
        return self.raw[:4] == b"FACS"

    @property
    def oem_id(self):
        return "" if self.is_facs else decode_name(self.header.oem_id)

    @property
    def oem_table_id(self):
        return "" if self.is_facs else decode_name(self.header.oem_table_id)

    @property
    def checksum_ok(self):
        """ACPI 6.5, 5.2.6: the whole table sums to zero; the FACS has no checksum."""
        return self.is_facs or checksum8(self.raw) == 0


def parse_table(data, source=None):
    """Validate ``data`` as exactly one whole ACPI table; return an AcpiTable."""
    data = bytes(data)
    if data[:8] == RSDP_SIGNATURE:
        raise FormatError("is an RSDP (root pointer), not a description table",
                          source=source, offset=0)
    facs = data[:4] == b"FACS"
    minimum = ACPI_FACS_MIN_LENGTH if facs else ACPI_HEADER_SIZE
    if len(data) < 8:
        raise FormatError(f"{len(data)} bytes is too short for an ACPI table",
                          source=source, offset=0)
    sig = data[:4]
    if not all(0x20 < b < 0x7F for b in sig):
        raise FormatError(f"signature {sig!r} is not four printable characters",
                          source=source, offset=0)
    length = int.from_bytes(data[4:8], "little")
    if length < minimum:
        raise FormatError(f"{decode_name(sig)} length {length} is below the minimum {minimum}",
                          source=source, offset=4)
    if length != len(data):
        where = "past the end of the file" if length > len(data) else "short of the file size"
        raise FormatError(f"{decode_name(sig)} length {length} runs {where} ({len(data)} bytes)",
                          source=source, offset=4)
    table = AcpiTable(data, source)
    if not table.checksum_ok:
        raise FormatError(f"{decode_name(sig)} checksum invalid (bytes sum to "
                          f"{checksum8(data):#04x}, not 0)", source=source, offset=9)
    return table


def load_table(path):
    """Read one ACPI table file (acpidump -b / sysfs / iasl output)."""
    with open(path, "rb") as f:
        return parse_table(f.read(), source=path)


def encode_acpi_module(tables):
    """The ACPI module holding ``tables`` back to back, in order."""
    payload = b"".join(t.raw for t in tables)
    th = xcmod_acpi_header.build(dict(table_count=len(tables), reserved=0))
    return encode_module(XCMOD_TYPE_ACPI, th, payload)
