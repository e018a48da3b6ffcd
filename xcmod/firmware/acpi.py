# SPDX-License-Identifier: MIT
"""ACPI system description tables: headers, lengths, checksums."""
from dataclasses import dataclass, field

from ..errors import FormatError, PolicyError, UsageError
from ..fileio import ACPI_TABLE_MAX, read_input
from ..image.spec import (
    XCMOD_ACPI_FACS_MIN_LENGTH,
    XCMOD_TYPE_ACPI,
    XCMOD_TYPE_ACPI_IDS,
    acpi_table_header,  # ACPI 6.5, 5.2.6; defined below both its users
    encode_module,
    struct_parse,
    xcmod_acpi_header,
    xcmod_acpi_ids_header,
)
from .checksum import checksum8

ACPI_HEADER_SIZE = acpi_table_header.sizeof()       # 36

RSDP_SIGNATURE = b"RSD PTR "        # ACPI 6.5, 5.2.5.3
RSDP_V1_LENGTH = 20                 # the ACPI 1.0 part its checksum covers
RSDP_V2_LENGTH = 36                 # revision >= 2: with the XSDT and extended checksum


def decode_name(raw):
    """An OEM ID / table ID / signature as text: NUL and space padding removed."""
    return raw.rstrip(b"\0 ").decode("latin-1")


@dataclass(slots=True, frozen=True)
class AcpiTable:
    """One whole ACPI table, exactly as its bytes came."""
    raw: bytes
    source: str = None
    _header: object = field(default=None, init=False, repr=False, compare=False)   # parsed once

    @property
    def header(self):
        """The parsed acpi_table_header (parsed once)."""
        if self._header is None:
            object.__setattr__(self, "_header",
                               struct_parse(acpi_table_header, self.raw, 0, self.source))
        return self._header

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
        """ACPI 6.5, 5.2.6: the whole table sums to zero; the FACS has no checksum
        (5.2.10: no header, no checksum field), so it is never wrong."""
        return self.is_facs or checksum8(self.raw) == 0

    def as_dict(self):
        """The one JSON shape of a table (inspect, guest-tables, build --json).

        ``checksum_ok`` is None for the FACS, which has no checksum to be right.
        """
        return {"signature": self.signature, "length": self.length, "oem_id": self.oem_id,
                "oem_table_id": self.oem_table_id,
                "revision": None if self.is_facs else self.raw[8],
                "checksum_ok": None if self.is_facs else self.checksum_ok}


def parse_table(data, source=None):
    """Validate ``data`` as exactly one whole ACPI table; return an AcpiTable."""
    data = bytes(data)
    if data[:8] == RSDP_SIGNATURE:
        raise FormatError("is an RSDP (root pointer), not a description table",
                          source=source, offset=0)
    facs = data[:4] == b"FACS"
    minimum = XCMOD_ACPI_FACS_MIN_LENGTH if facs else ACPI_HEADER_SIZE
    if len(data) < minimum:
        raise FormatError(f"{len(data)} bytes: too short for an ACPI table (a header alone "
                          f"is {minimum} bytes)", source=source, offset=0)
    sig = data[:4]
    # ACPI 6.5, 5.2.6: the signature is four ASCII characters; tables use
    # upper case, digits, '_' and '!' (ASF!), never a space or a control.
    if not all(0x20 < b < 0x7F for b in sig):
        shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in sig)
        raise FormatError(f"not an ACPI table: it starts with \"{shown}\" ({sig.hex(' ')}), "
                          f"not a four-character table signature", source=source, offset=0)
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


def read_table(path):
    """Read one ACPI table file (acpidump -b / sysfs / iasl output), at most ACPI_TABLE_MAX."""
    return parse_table(read_input(path, "an ACPI table", ACPI_TABLE_MAX), source=path)


# Where --oem-ids slic looks for the IDs Windows activation compares with the
# RSDT's and XSDT's: the SLIC (OEM Activation 2.x), else the MSDM (3.0).
OEM_ID_SOURCES = ("SLIC", "MSDM")


def oem_ids(spec, tables, source="--oem-ids"):
    """The (oem_id, oem_table_id) bytes ``spec`` asks for.

    ``spec`` is ``slic`` (the IDs of the SLIC, or failing that the MSDM, among
    ``tables``) or ``OEMID,TABLEID``: at most 6 and 8 printable ASCII
    characters, padded with spaces as firmware pads them.
    """
    if spec == "slic":
        by_sig = {t.signature: t for t in tables}
        for sig in OEM_ID_SOURCES:
            if sig in by_sig:
                h = by_sig[sig].header
                return bytes(h.oem_id), bytes(h.oem_table_id)
        raise PolicyError(f"{source} slic: no SLIC or MSDM table passes into the image "
                         f"(pass one with --acpi FILE, or give --oem-ids OEMID,TABLEID)")
    parts = spec.split(",")
    if len(parts) != 2:
        raise UsageError(f"{source} {spec!r}: expected 'slic' or OEMID,TABLEID")
    out = []
    for value, size, what in ((parts[0], 6, "OEM ID"), (parts[1], 8, "OEM Table ID")):
        if not value or len(value) > size or not all(0x20 <= ord(c) < 0x7f for c in value):
            raise UsageError(f"{source} {spec!r}: the {what} must be 1 to {size} printable "
                             f"ASCII characters")
        out.append(value.encode("ascii").ljust(size, b" "))
    return tuple(out)


def encode_acpi_ids_module(oem_id, oem_table_id):
    """The ACPI-IDs module: the OEM IDs for hvmloader's own RSDP/RSDT/XSDT/FADT."""
    th = xcmod_acpi_ids_header.build(dict(oem_id=oem_id, oem_table_id=oem_table_id,
                                          reserved=0))
    return encode_module(XCMOD_TYPE_ACPI_IDS, th)


def encode_acpi_module(tables):
    """The ACPI module holding ``tables`` back to back, in order."""
    payload = b"".join(t.raw for t in tables)
    th = xcmod_acpi_header.build(dict(table_count=len(tables), reserved=0))
    return encode_module(XCMOD_TYPE_ACPI, th, payload)
