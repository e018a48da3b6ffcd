# SPDX-License-Identifier: MIT
"""A lint for AML: OperationRegions that reach the host's hardware.

An SSDT written for the host may declare OperationRegions over physical
memory, I/O ports or PCI configuration space of devices the guest does not
have; the guest's OSPM would then poke whatever sits there in the guest.
This module finds them in the AML byte stream of a DSDT/SSDT.

ACPI 6.5, 20.2.5.2 "Named Objects Encoding"::

    DefOpRegion  := OpRegionOp NameString RegionSpace RegionOffset RegionLen
    OpRegionOp   := ExtOpPrefix 0x80          (ExtOpPrefix := 0x5B)
    RegionSpace  := ByteData                  (0x00 SystemMemory, 0x01 SystemIO,
                                               0x02 PCI_Config, ...)

and 20.2.2 "Name Objects Encoding" for NameString.  A match must parse as a
whole NameString and a known RegionSpace, which keeps data bytes that happen
to contain 5B 80 from counting.
"""
from dataclasses import dataclass

from .acpi import ACPI_HEADER_SIZE


EXT_OP_PREFIX = 0x5B
OP_REGION_OP = 0x80

REGION_SPACES = {0x00: "SystemMemory", 0x01: "SystemIO", 0x02: "PCI_Config",
                 0x03: "EmbeddedControl", 0x04: "SMBus", 0x05: "SystemCMOS",
                 0x06: "PciBarTarget", 0x07: "IPMI", 0x08: "GeneralPurposeIO",
                 0x09: "GenericSerialBus", 0x0A: "PCC", 0x0B: "PRM", 0x0C: "FFixedHW"}
# Spaces that address the host's own hardware directly.
HOST_SPACES = frozenset({0x00, 0x01, 0x02})

_LEAD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _LEAD | frozenset(b"0123456789")


@dataclass(slots=True, frozen=True)
class OpRegion:
    """One OperationRegion an AML table declares: its name, space, offset and length."""
    name: str
    space: int
    offset: int        # None when not a constant in the AML
    length: int        # likewise
    position: int      # byte offset of the OpRegionOp in the table

    @property
    def space_name(self):
        return REGION_SPACES.get(self.space, f"OEM{self.space:#04x}")

    @property
    def touches_host(self):
        return self.space in HOST_SPACES

    def describe(self):
        where = ""
        if self.offset is not None:
            where = f" at {self.offset:#x}"
            if self.length is not None:
                where += f" length {self.length:#x}"
        return f"OperationRegion {self.name} ({self.space_name}{where})"


def _name_seg(data, i):
    seg = data[i:i + 4]
    if len(seg) == 4 and seg[0] in _LEAD and all(c in _NAME for c in seg[1:]):
        return seg.decode("ascii").rstrip("_") or "_", i + 4
    return None, i


def parse_name_string(data, i):
    """(text, next offset) of the NameString at ``i``, or (None, i) if there is none."""
    start, prefix = i, ""
    if i < len(data) and data[i] == 0x5C:      # RootChar '\'
        prefix, i = "\\", i + 1
    else:
        while i < len(data) and data[i] == 0x5E:   # ParentPrefixChar '^'
            prefix, i = prefix + "^", i + 1
    if i >= len(data):
        return None, start
    if data[i] == 0x00:                        # NullName
        return prefix, i + 1
    if data[i] == 0x2E:                        # DualNamePrefix
        count, i = 2, i + 1
    elif data[i] == 0x2F:                      # MultiNamePrefix SegCount
        if i + 1 >= len(data) or data[i + 1] == 0:
            return None, start
        count, i = data[i + 1], i + 2
    else:
        count = 1
    segs = []
    for _ in range(count):
        seg, i = _name_seg(data, i)
        if seg is None:
            return None, start
        segs.append(seg)
    return prefix + ".".join(segs), i


def _integer(data, i):
    """A constant TermArg (ZeroOp/OneOp/OnesOp/Byte-/Word-/DWord-/QWordConst)."""
    if i >= len(data):
        return None, i
    op = data[i]
    if op in (0x00, 0x01):
        return op, i + 1
    if op == 0xFF:
        return 0xFFFFFFFFFFFFFFFF, i + 1
    size = {0x0A: 1, 0x0B: 2, 0x0C: 4, 0x0E: 8}.get(op)
    if size is None or i + 1 + size > len(data):
        return None, i
    return int.from_bytes(data[i + 1:i + 1 + size], "little"), i + 1 + size


def iter_op_regions(table):
    """Every OperationRegion declared in a DSDT/SSDT's AML, in order."""
    data = bytes(table)
    i = ACPI_HEADER_SIZE
    while True:
        i = data.find(bytes((EXT_OP_PREFIX, OP_REGION_OP)), i)
        if i < 0:
            return
        name, j = parse_name_string(data, i + 2)
        if name is None or j >= len(data) or not (data[j] in REGION_SPACES or data[j] >= 0x80):
            i += 1
            continue
        space = data[j]
        offset, k = _integer(data, j + 1)
        length = None
        if offset is not None:
            length, _ = _integer(data, k)
        yield OpRegion(name, space, offset, length, i)
        i = j + 1


def host_regions(table):
    """OperationRegions of ``table`` in SystemMemory, SystemIO or PCI_Config."""
    if bytes(table[:4]) not in (b"SSDT", b"DSDT"):
        return []
    return [r for r in iter_op_regions(table) if r.touches_host]
