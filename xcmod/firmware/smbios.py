# SPDX-License-Identifier: MIT
"""SMBIOS entry points (2.1 ``_SM_`` and 3.0 ``_SM3_``), structures, dumps.

Sources understood by :func:`read_file`:

* a ``dmidecode --dump-bin`` file: entry point at offset 0, table at the
  address the entry point gives (dmidecode writes 0x20);
* a directory in sysfs layout: ``smbios_entry_point`` and ``DMI``, as in
  /sys/firmware/dmi/tables;
* a Windows ``GetSystemFirmwareTable('RSMB')`` blob (RawSMBIOSData: an
  8-byte header with the version and the table length, then the table);
* a raw structure table (sysfs ``DMI`` alone): version unknown.
"""
import os
from dataclasses import dataclass, field

from construct import Bytes, Int16ul, Int32ul, Int64ul, Int8ul, Struct

from ..checks import path_arg
from ..errors import FormatError
from ..fileio import SMBIOS_ENTRY_POINT_MAX, SMBIOS_SOURCE_MAX, read_input
from ..image.spec import (
    XCMOD_SMBIOS_EP_21,
    XCMOD_SMBIOS_EP_30,
    XCMOD_SMBIOS_EP_UNKNOWN,
    XCMOD_TYPE_SMBIOS,
    encode_module,
    iter_smbios_items,
    struct_parse,
    xcmod_smbios_header,
)
from .checksum import checksum8


# SMBIOS 3.7, 5.2.1, Table 1 "SMBIOS 2.1 (32-bit) Entry Point structure".
smbios_entry_point_21 = Struct(
    "anchor_string" / Bytes(4),              # "_SM_"
    "entry_point_structure_checksum" / Int8ul,
    "entry_point_length" / Int8ul,           # 0x1F
    "smbios_major_version" / Int8ul,
    "smbios_minor_version" / Int8ul,
    "maximum_structure_size" / Int16ul,
    "entry_point_revision" / Int8ul,
    "formatted_area" / Bytes(5),
    "intermediate_anchor_string" / Bytes(5),  # "_DMI_"
    "intermediate_checksum" / Int8ul,
    "structure_table_length" / Int16ul,
    "structure_table_address" / Int32ul,
    "number_of_smbios_structures" / Int16ul,
    "smbios_bcd_revision" / Int8ul,
)

# SMBIOS 3.7, 5.2.2, Table 2 "SMBIOS 3.0 (64-bit) Entry Point structure".
smbios_entry_point_30 = Struct(
    "anchor_string" / Bytes(5),              # "_SM3_"
    "entry_point_structure_checksum" / Int8ul,
    "entry_point_length" / Int8ul,           # 0x18
    "smbios_major_version" / Int8ul,
    "smbios_minor_version" / Int8ul,
    "smbios_docrev" / Int8ul,
    "entry_point_revision" / Int8ul,
    "reserved" / Int8ul,
    "structure_table_maximum_size" / Int32ul,
    "structure_table_address" / Int64ul,
)

# SMBIOS 3.7, 6.1.2 "Structure header format".
smbios_structure_header = Struct(
    "type" / Int8ul,
    "length" / Int8ul,
    "handle" / Int16ul,
)

EP21_SIZE = smbios_entry_point_21.sizeof()   # 31
EP30_SIZE = smbios_entry_point_30.sizeof()   # 24
DUMP_TABLE_OFFSET = 0x20                     # where dmidecode --dump-bin puts the table
# SMBIOS 3.7, 7.44 and 7.45: types every table may carry; 7.12 OEM Strings.
OEM_STRINGS, INACTIVE, END_OF_TABLE = 11, 126, 127


@dataclass(slots=True, frozen=True)
class EntryPoint:
    """What an entry point says, whichever kind it is."""
    kind: int                   # XCMOD_SMBIOS_EP_21 or _30
    major: int
    minor: int
    docrev: int
    table_address: int
    table_length: int          # 2.1: exact; 3.0: maximum size
    structure_count: int        # 2.1 only, else None


def parse_entry_point(data, source=None, offset=0):
    """Parse and check a ``_SM_`` or ``_SM3_`` entry point at ``offset``."""
    head = bytes(data[offset:offset + 5])
    if head == b"_SM3_":
        ep = struct_parse(smbios_entry_point_30, data, offset, source)
        raw = bytes(data[offset:offset + ep.entry_point_length])
        if ep.entry_point_length < EP30_SIZE or len(raw) < ep.entry_point_length:
            raise FormatError(f"_SM3_ entry point length {ep.entry_point_length} invalid",
                              source=source, offset=offset + 6)
        if checksum8(raw):
            raise FormatError("_SM3_ entry point checksum invalid", source=source, offset=offset + 5)
        return EntryPoint(XCMOD_SMBIOS_EP_30, ep.smbios_major_version, ep.smbios_minor_version,
                          ep.smbios_docrev, ep.structure_table_address,
                          ep.structure_table_maximum_size, None)
    if head[:4] == b"_SM_":
        ep = struct_parse(smbios_entry_point_21, data, offset, source)
        # Table 1 note: some 2.1 implementations report length 0x1E; accept both.
        if ep.entry_point_length not in (0x1E, 0x1F):
            raise FormatError(f"_SM_ entry point length {ep.entry_point_length:#x} invalid",
                              source=source, offset=offset + 5)
        if checksum8(data[offset:offset + ep.entry_point_length]):
            raise FormatError("_SM_ entry point checksum invalid", source=source, offset=offset + 4)
        if ep.intermediate_anchor_string != b"_DMI_":
            raise FormatError("_SM_ entry point lacks the _DMI_ intermediate anchor",
                              source=source, offset=offset + 0x10)
        if checksum8(data[offset + 0x10:offset + 0x1F]):
            raise FormatError("_SM_ intermediate checksum invalid", source=source,
                              offset=offset + 0x15)
        return EntryPoint(XCMOD_SMBIOS_EP_21, ep.smbios_major_version, ep.smbios_minor_version,
                          0, ep.structure_table_address, ep.structure_table_length,
                          ep.number_of_smbios_structures)
    raise FormatError(f"no SMBIOS entry point anchor (_SM_ or _SM3_), found {head!r}",
                      source=source, offset=offset)


@dataclass(slots=True, frozen=True)
class SmbiosStructure:
    """One structure: formatted area then its string set (double-NUL ended)."""
    data: bytes
    offset: int = 0              # in the source or image it was read from
    formatted_length: int = 0

    @property
    def type(self):
        return self.data[0]

    @property
    def length(self):
        """The formatted length, as the header's Length field gives it."""
        return self.data[1]

    @property
    def handle(self):
        return int.from_bytes(self.data[2:4], "little")

    @property
    def size(self):
        """Formatted area plus string set, terminating double NUL included."""
        return len(self.data)

    @property
    def formatted(self):
        return self.data[:self.length]

    @property
    def strings(self):
        """The string set, 1-based in SMBIOS, as a 0-based list of bytes."""
        area = self.data[self.length:-2]
        if not area or area == b"\0":
            return []
        return area.split(b"\0")

    def as_dict(self):
        """The one JSON shape of a structure (inspect, guest-tables); strings as Latin-1."""
        return {"type": self.type, "handle": self.handle, "length": self.length,
                "offset": self.offset, "size": self.size,
                "strings": [x.decode("latin-1") for x in self.strings]}


ENTRY_POINT_NAMES = {XCMOD_SMBIOS_EP_21: "_SM_", XCMOD_SMBIOS_EP_30: "_SM3_"}


@dataclass(slots=True)
class SmbiosTable:
    """A structure table and the version its entry point announced."""
    structures: list
    major: int = 0
    minor: int = 0
    docrev: int = 0
    entry_point: int = XCMOD_SMBIOS_EP_UNKNOWN
    source: str = None
    notes: list = field(default_factory=list)

    @property
    def version(self):
        return (self.major, self.minor, self.docrev)

    @property
    def table_bytes(self):
        return b"".join(s.data for s in self.structures)

    def as_dict(self):
        """The one JSON shape of a table: version, entry point kind, notes, structures."""
        return {"version": "%d.%d.%d" % self.version,
                "entry_point": ENTRY_POINT_NAMES.get(self.entry_point),
                "notes": list(self.notes),
                "structures": [s.as_dict() for s in self.structures]}

    @property
    def max_structure_size(self):
        return max((s.size for s in self.structures), default=0)

    def encode(self):
        """The SMBIOS module holding these structures in order."""
        th = xcmod_smbios_header.build(dict(
            structure_count=len(self.structures), major_version=self.major,
            minor_version=self.minor, docrev=self.docrev, entry_point=self.entry_point,
            max_structure_size=self.max_structure_size, reserved=0))
        return encode_module(XCMOD_TYPE_SMBIOS, th, self.table_bytes)


def parse_structures(table, *, source=None, base_offset=0, count=None, notes=None):
    """Split a structure table into structures.

    Stops after ``count`` structures (2.1 entry points give it), after the
    End-of-Table structure (type 127), or at a formatted length below 4, where
    dmidecode also declares the table broken and stops (Hyper-V pads its table
    that way); each stop that leaves bytes behind is recorded in ``notes``.  Anything
    else malformed raises FormatError at its offset in ``source``.
    """
    notes = notes if notes is not None else []
    structures = []
    table = bytes(table)
    pos, size = 0, len(table)
    items = iter_smbios_items(table, base_offset, source)   # lazy: reads on next()
    while pos < size:
        if count is not None and len(structures) == count:
            break
        if size - pos >= 2 and table[pos + 1] < 4:
            # dmidecode: "Invalid entry length (%u). DMI table is broken! Stop."
            what = "zero bytes" if not any(table[pos:]) else "bytes"
            notes.append(f"structure {len(structures)} at offset {base_offset + pos:#x} has "
                         f"length {table[pos + 1]}: table ends there as dmidecode reads it, "
                         f"{size - pos} {what} ignored")
            pos = size
            break
        item = next(items)
        s = SmbiosStructure(item.data, item.offset, item.formatted_length)
        structures.append(s)
        pos += s.size
        if s.type == END_OF_TABLE:
            break
    if pos < size and any(table[pos:]):
        notes.append(f"{size - pos} bytes after the last structure ignored")
    if count is not None and len(structures) != count:
        notes.append(f"entry point announces {count} structures, table holds {len(structures)}")
    return structures, notes


def _from_entry_point(ep_bytes, table, source, table_offset, ep_source=None):
    ep = parse_entry_point(ep_bytes, ep_source or source)
    if ep.kind == XCMOD_SMBIOS_EP_21 and len(table) < ep.table_length:
        raise FormatError(f"entry point announces a {ep.table_length}-byte table, "
                          f"only {len(table)} bytes follow", source=source,
                          offset=table_offset + len(table))
    structures, notes = parse_structures(table[:ep.table_length], source=source,
                                         base_offset=table_offset, count=ep.structure_count)
    return SmbiosTable(structures, ep.major, ep.minor, ep.docrev, ep.kind, source, notes)


def parse_dump(data, source=None):
    """Parse a ``dmidecode --dump-bin`` file (entry point first, then the table)."""
    data = bytes(data)
    ep = parse_entry_point(data, source)
    if ep.table_address > len(data):
        raise FormatError(f"entry point puts the table at {ep.table_address:#x}, "
                          f"past the end of the file ({len(data)} bytes)",
                          source=source, offset=0x18 if ep.kind == XCMOD_SMBIOS_EP_21 else 0x10)
    return _from_entry_point(data, data[ep.table_address:], source, ep.table_address)


def parse_rsmb(data, source=None):
    """Parse a Windows RawSMBIOSData blob (8-byte header, then the table)."""
    major, minor, docrev = data[1], data[2], data[3]
    length = int.from_bytes(data[4:8], "little")
    structures, notes = parse_structures(data[8:8 + length], source=source, base_offset=8)
    return SmbiosTable(structures, major, minor, docrev, XCMOD_SMBIOS_EP_UNKNOWN, source, notes)


def _is_rsmb(data):
    return (len(data) >= 8 and data[0] in (0, 1) and data[1] in (2, 3)
            and int.from_bytes(data[4:8], "little") == len(data) - 8)


def parse_source_bytes(data, source=None):
    """Parse SMBIOS bytes whatever their encoding (dump-bin, RSMB, raw table)."""
    data = bytes(data)
    if not data:
        raise FormatError("empty file: no SMBIOS data", source=source, offset=0)
    if len(data) < 6:
        raise FormatError(f"{len(data)} byte{'s' if len(data) > 1 else ''}: too short for "
                          f"SMBIOS data (a structure is at least 6 bytes, an entry point 24)",
                          source=source, offset=0)
    if data[:4] == b"_SM_" or data[:5] == b"_SM3_":
        return parse_dump(data, source)
    if data[:5] == b"_DMI_":
        raise FormatError("legacy _DMI_ entry point (SMBIOS < 2.1) is not supported",
                          source=source, offset=0)
    if _is_rsmb(data):
        return parse_rsmb(data, source)
    structures, notes = parse_structures(data, source=source)
    notes.insert(0, "raw structure table without entry point: SMBIOS version unknown")
    return SmbiosTable(structures, source=source, notes=notes)


def read_file(path):
    """Load SMBIOS from a dump file or a sysfs-layout directory (each file a regular file
    of at most SMBIOS_SOURCE_MAX, the entry point at most SMBIOS_ENTRY_POINT_MAX)."""
    path = path_arg(path, "SMBIOS source")
    if os.path.isdir(path):
        ep_path = os.path.join(path, "smbios_entry_point")
        dmi_path = os.path.join(path, "DMI")
        ep_bytes = read_input(ep_path, "an SMBIOS entry point", SMBIOS_ENTRY_POINT_MAX)
        table = read_input(dmi_path, "an SMBIOS structure table", SMBIOS_SOURCE_MAX)
        return _from_entry_point(ep_bytes, table, dmi_path, 0, ep_source=ep_path)
    return parse_source_bytes(read_input(path, "an SMBIOS source", SMBIOS_SOURCE_MAX), path)


def build_entry_point(table, table_address=DUMP_TABLE_OFFSET):
    """An entry point for ``table`` (an SmbiosTable) at ``table_address``.

    A ``_SM_`` (2.1) entry point when the source had one and the table fits
    its 16-bit length and count; otherwise a ``_SM3_`` (3.0) entry point,
    version 3.0 when the source version is unknown or older.
    """
    body = table.table_bytes
    major, minor = table.major, table.minor
    if (table.entry_point == XCMOD_SMBIOS_EP_21 and len(body) <= 0xFFFF
            and len(table.structures) <= 0xFFFF and table.max_structure_size <= 0xFFFF):
        ep = bytearray(smbios_entry_point_21.build(dict(
            anchor_string=b"_SM_", entry_point_structure_checksum=0, entry_point_length=EP21_SIZE,
            smbios_major_version=major, smbios_minor_version=minor,
            maximum_structure_size=table.max_structure_size, entry_point_revision=0,
            formatted_area=bytes(5), intermediate_anchor_string=b"_DMI_",
            intermediate_checksum=0, structure_table_length=len(body),
            structure_table_address=table_address,
            number_of_smbios_structures=len(table.structures),
            smbios_bcd_revision=((min(major, 9) << 4) | min(minor, 9)))))
        ep[0x15] = (-checksum8(ep[0x10:0x1F])) & 0xFF
        ep[0x04] = (-checksum8(ep)) & 0xFF
        return bytes(ep)
    if major < 3:
        major, minor = 3, 0
    ep = bytearray(smbios_entry_point_30.build(dict(
        anchor_string=b"_SM3_", entry_point_structure_checksum=0, entry_point_length=EP30_SIZE,
        smbios_major_version=major, smbios_minor_version=minor, smbios_docrev=table.docrev,
        entry_point_revision=1, reserved=0, structure_table_maximum_size=len(body),
        structure_table_address=table_address)))
    ep[0x05] = (-checksum8(ep)) & 0xFF
    return bytes(ep)


def dump_bin(table):
    """``table`` as a ``dmidecode --dump-bin`` file: entry point, pad to 0x20, table."""
    ep = build_entry_point(table)
    return ep + bytes(DUMP_TABLE_OFFSET - len(ep)) + table.table_bytes
