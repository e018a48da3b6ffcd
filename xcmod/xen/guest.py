"""What a guest's firmware actually built: its SMBIOS and ACPI tables.

Read through the same mapping path ``load`` uses (the C shim's
xcmod_read_from_guest), from a paused guest:

* SMBIOS: the entry point found by the legacy scan of 0xF0000-0xFFFFF
  (SMBIOS 3.7, 5.2), then the table where it says (hvmloader puts it at
  0xFC100000 or so);
* ACPI: the RSDP found on a 16-byte boundary in 0xE0000-0xFFFFF
  (ACPI 6.5, 5.2.5.1), then every table the XSDT (or RSDT) lists, plus the
  DSDT and FACS the FADT points to.

Every byte here comes from the guest, which controls them all: every length
and count read from guest RAM is capped by its specification and by the
guest's memory before anything is allocated or read (one sizing rule,
:class:`GuestReader`): a table is 36 bytes (a FACS 64, a FADT 116) up to
ACPI_TABLE_MAX; a root table lists at most :data:`MAX_TABLES`; a ``_SM3_``
table is read a page at a time up to its End-of-Table structure, at most
SMBIOS_SOURCE_MAX; and all reads together stay below the guest's memory and
:data:`GUEST_READ_MAX`.  A violation is a FormatError naming the address.
"""
import struct
from dataclasses import dataclass, field

from ..errors import FormatError
from ..firmware.acpi import (
    ACPI_HEADER_SIZE,
    RSDP_SIGNATURE,
    RSDP_V1_LENGTH,
    RSDP_V2_LENGTH,
    AcpiTable,
)
from ..firmware.host import legacy_scan
from ..image.spec import checksum8

RSDP_SCAN = (0xE0000, 0x100000)
# All the bytes read from one guest, at most (and at most the guest's memory).
GUEST_READ_MAX = 64 << 20
# Tables one root table (RSDT/XSDT) may list: real firmware lists a few dozen,
# hvmloader at most 16 secondary tables.
MAX_TABLES = 256
# ACPI 6.5, 5.2.9: the shortest FADT, ACPI 1.0's, is 116 bytes; 5.2.10: a FACS 64.
FADT_MIN_LENGTH = 116
FACS_MIN_LENGTH = 64


class GuestReader:
    """``read_at(address, length)`` over a guest's RAM with one sizing rule: no read
    longer than what is left of the budget (the guest's memory, at most
    GUEST_READ_MAX), and a failing read (an address past the guest's memory) a
    FormatError naming the address."""

    def __init__(self, read, source, memory_bytes):
        self.read, self.source = read, source
        self.left = min(memory_bytes, GUEST_READ_MAX)

    def __call__(self, address, length):
        from ..errors import XcmodError
        if length > self.left:
            raise FormatError(f"reading {length} bytes at {address:#x} would take what is "
                              f"read from the guest past its memory or "
                              f"{GUEST_READ_MAX >> 20} MiB: the guest's tables claim more "
                              f"than a guest can hold", source=self.source, offset=address)
        if address < 0 or address + length > 1 << 64:
            raise FormatError(f"{length} bytes at {address:#x}: not a guest address",
                              source=self.source, offset=0)
        try:
            data = self.read(address, length)
        except XcmodError as e:
            raise FormatError(f"cannot read {length} bytes at {address:#x}: "
                              f"{getattr(e, 'strerror', None) or e}", source=self.source,
                              offset=address) from None
        self.left -= length
        return data


@dataclass
class GuestTables:
    domid: int
    smbios: object = None             # SmbiosTable or None
    smbios_error: str | None = None
    rsdp_address: int | None = None
    rsdp: bytes | None = None
    tables: list = field(default_factory=list)     # [(address, AcpiTable)]
    acpi_error: str | None = None

    def as_dict(self):
        d = {"domid": self.domid, "smbios": None, "acpi": None}
        if self.smbios is not None:
            d["smbios"] = self.smbios.as_dict()
        elif self.smbios_error:
            d["smbios"] = {"error": self.smbios_error}
        if self.rsdp_address is not None:
            d["acpi"] = {"rsdp": self.rsdp_address,
                         "tables": [{"address": a, **t.as_dict()} for a, t in self.tables]}
        elif self.acpi_error:
            d["acpi"] = {"error": self.acpi_error}
        return d


def find_rsdp(segment, base):
    """Address of the first RSDP with a valid checksum in ``segment`` (at ``base``)."""
    for off in range(0, len(segment) - RSDP_V1_LENGTH, 16):
        if segment[off:off + 8] == RSDP_SIGNATURE and \
                not checksum8(segment[off:off + RSDP_V1_LENGTH]):
            return base + off
    return None


def walk_acpi(read_at, rsdp_addr, source):
    """(rsdp bytes, [(address, AcpiTable)]) reachable from the RSDP, every length
    checked against the specification before it is used to read."""
    from ..fileio import ACPI_TABLE_MAX
    head = read_at(rsdp_addr, RSDP_V2_LENGTH)
    revision = head[15]
    length = RSDP_V2_LENGTH if revision >= 2 else RSDP_V1_LENGTH
    rsdp = bytes(head[:length])
    if revision >= 2 and checksum8(rsdp):
        raise FormatError("RSDP extended checksum invalid", source=source, offset=rsdp_addr)
    rsdt, = struct.unpack_from("<I", rsdp, 16)
    xsdt = struct.unpack_from("<Q", rsdp, 24)[0] if revision >= 2 else 0
    root, width = (xsdt, 8) if xsdt else (rsdt, 4)

    def table(addr, why):
        hdr = read_at(addr, 8)
        sig, (n,) = bytes(hdr[:4]), struct.unpack_from("<I", hdr, 4)
        minimum = FACS_MIN_LENGTH if sig == b"FACS" else \
            FADT_MIN_LENGTH if sig == b"FACP" else ACPI_HEADER_SIZE
        if not minimum <= n <= ACPI_TABLE_MAX:
            shown = sig.decode("latin-1") if all(0x20 < b < 0x7F for b in sig) else sig.hex()
            raise FormatError(f"table {shown} at {addr:#x} ({why}) claims length {n}: an "
                              f"ACPI {shown if minimum != ACPI_HEADER_SIZE else 'table'} "
                              f"is {minimum} to {ACPI_TABLE_MAX} bytes", source=source,
                              offset=addr + 4)
        return AcpiTable(bytes(read_at(addr, n)), source)

    out, seen = [], set()

    def add(addr, why):
        if addr and addr not in seen:
            seen.add(addr)
            t = table(addr, why)
            out.append((addr, t))
            return t
        return None

    r = add(root, "the RSDP's " + ("XSDT" if xsdt else "RSDT"))
    if r is None:
        raise FormatError("RSDP points to no RSDT or XSDT (address 0)", source=source,
                          offset=rsdp_addr + 16)
    body = r.raw[ACPI_HEADER_SIZE:]
    entries = len(body) // width
    if entries > MAX_TABLES:
        raise FormatError(f"{r.signature} at {root:#x} lists {entries} tables; more than "
                          f"{MAX_TABLES} is no real firmware's", source=source, offset=root)
    for i in range(0, entries * width, width):
        addr = int.from_bytes(body[i:i + width], "little")
        t = add(addr, f"{r.signature} entry {i // width}")
        if t is not None and t.raw[:4] == b"FACP":
            facs, dsdt = struct.unpack_from("<II", t.raw, ACPI_HEADER_SIZE)
            if len(t.raw) >= 148:
                dsdt = struct.unpack_from("<Q", t.raw, 140)[0] or dsdt
            if len(t.raw) >= 140:
                facs = struct.unpack_from("<Q", t.raw, 132)[0] or facs
            add(dsdt, "the FADT's DSDT")
            add(facs, "the FADT's FACS")
    return rsdp, out


def read(domid, xc=None):
    """The SMBIOS and ACPI tables of paused guest ``domid``.  No SMBIOS entry point or
    table that can be read, or no RSDP, is recorded (``smbios_error``,
    ``acpi_error``); ACPI tables that break the sizing rules raise FormatError: never
    half a result."""
    from .xenctrl import XenControl, check_domid
    check_domid(domid)
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)
    info = xc.domain_info(domid)
    source = f"domain {domid}"
    memory = info.max_memkb * 1024
    g = GuestTables(domid)
    read_at = GuestReader(lambda a, n: xc.read_from_guest(domid, a, n), source, memory)
    try:
        g.smbios = legacy_scan(read_at, source)
    except FormatError as e:
        g.smbios_error = str(e)
    seg = read_at(RSDP_SCAN[0], RSDP_SCAN[1] - RSDP_SCAN[0])
    addr = find_rsdp(seg, RSDP_SCAN[0])
    if addr is None:
        g.acpi_error = f"{source}: no RSDP in {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}"
    else:       # a guest with an RSDP whose tables break the rules: FormatError, whole
        g.rsdp, g.tables = walk_acpi(read_at, addr, source)
        g.rsdp_address = addr
    return g
