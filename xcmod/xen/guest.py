# SPDX-License-Identifier: MIT
"""What a guest's firmware actually built: its SMBIOS and ACPI tables.

Read through the same mapping path ``load`` uses (the C shim's
xcmod_read_from_guest), from a paused guest, where the firmware published
them, and said which:

* a UEFI guest's firmware (OVMF) publishes them in its EFI system table's
  configuration table (:mod:`xcmod.xen.efi`): its SMBIOS3 or SMBIOS entry
  and its ACPI 2.0 or 1.0 RSDP, which is what the OS reads;
* otherwise SMBIOS: the entry point found by the legacy scan of
  0xF0000-0xFFFFF (SMBIOS 3.7, 5.2; SeaBIOS's), then hvmloader's own for
  OVMF, 0xEB000-0xEFFFF; the table where it says (hvmloader puts it at
  0xFC100000 or so);
* otherwise ACPI: the RSDP found on a 16-byte boundary in 0xE0000-0xFFFFF
  (ACPI 6.5, 5.2.5.1; for OVMF, hvmloader's at 0xEA020);

then every table the XSDT (or RSDT) lists, plus the DSDT and FACS the FADT
points to.

Every byte here comes from the guest, which controls them all: every length
and count read from guest RAM is capped by its specification and by the
guest's memory before anything is allocated or read (one sizing rule,
:class:`GuestReader`): a table is 36 bytes (a FACS 64, a FADT 116) up to
ACPI_TABLE_MAX; a root table lists at most :data:`MAX_TABLES`; a ``_SM3_``
table is read a page at a time up to its End-of-Table structure, at most
SMBIOS_SOURCE_MAX; every read lies in the guest's RAM (the HVM info table's
low and high RAM); and all reads together stay below the guest's memory and
:data:`GUEST_READ_MAX`.  A violation is a FormatError naming the address.
"""
import errno
import struct
from dataclasses import dataclass, field

from ..errors import FormatError, XcmodError, XenError
from ..fileio import ACPI_TABLE_MAX
from ..firmware.acpi import (
    ACPI_HEADER_SIZE,
    RSDP_SIGNATURE,
    RSDP_V1_LENGTH,
    RSDP_V2_LENGTH,
    AcpiTable,
)
from ..firmware.checksum import checksum8
from ..firmware.host import NoEntryPoint, legacy_scan
from .efi import find_system_table
from .hvminfo import HVM_INFO_PADDR, SIZE, parse
from .layout import PCI_MEM_START
from .xenctrl import XenControl, check_domid


RSDP_SCAN = (0xE0000, 0x100000)
# hvmloader's places for OVMF (tools/firmware/hvmloader/ovmf.c with
# rombios/config.h): SMBIOS_PHYSICAL_ADDRESS .. SMBIOS_PHYSICAL_END, and the
# RSDP at ACPI_PHYSICAL_ADDRESS.  OvmfXen copies both from there.
HVMLOADER_OVMF_SMBIOS = (0xEB000, 0xF0000)
HVMLOADER_OVMF_RSDP = 0xEA020
FOUR_GIB = 1 << 32
# hvmloader's own area below 4 GiB (tools/firmware/hvmloader/config.h, the same in
# 4.17.5, 4.20.4 and master: RESERVED_MEMBASE .. RESERVED_MEMORY_DYNAMIC_END),
# RAM it populates page by page for the ACPI info page, the ACPI tables
# (ACPI_MEMORY_DYNAMIC_START) and the SMBIOS table and others
# (RESERVED_MEMORY_DYNAMIC_START): a SeaBIOS guest's tables live there.
HVMLOADER_RESERVED = (0xFC000000, 0xFE000000)
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
    GUEST_READ_MAX), and a read Xen cannot map (RAM the firmware gave back:
    hvmloader moves RAM from the top of low memory to where OVMF goes) a
    FormatError naming the address: a pointer there is wrong."""

    def __init__(self, read, source, memory_bytes):
        self.read, self.source = read, source
        self.left = min(memory_bytes, GUEST_READ_MAX)

    def __call__(self, address, length):
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
        except XenError as e:
            raise FormatError(f"{length} bytes at {address:#x} are not mapped guest RAM "
                              f"({errno.errorcode.get(e.errno, e.errno)})",
                              source=self.source, offset=address) from None
        self.left -= length
        return data


@dataclass(slots=True)
class GuestTables:
    """What a guest's firmware published, as read from its RAM: the SMBIOS table,
    the ACPI tables, the EFI system table, each with where it was found or why not."""
    domid: int
    smbios: object = None                  # SmbiosTable or None
    smbios_error: str = None
    rsdp_address: int = None
    rsdp: bytes = None                      # its bytes
    tables: list = field(default_factory=list)   # [(address, AcpiTable)]
    acpi_error: str = None
    efi: object = None                      # efi.SystemTable or None
    efi_error: str = None
    smbios_found: str = None      # where the entry point was found, in words
    acpi_found: str = None        # where the RSDP was found, in words

    def as_dict(self):
        d = {"domid": self.domid, "smbios": None, "acpi": None, "efi": None}
        if self.smbios is not None:
            d["smbios"] = {**self.smbios.as_dict(), "found": self.smbios_found}
        elif self.smbios_error:
            d["smbios"] = {"error": self.smbios_error}
        if self.rsdp_address is not None:
            d["acpi"] = {"rsdp": self.rsdp_address, "found": self.acpi_found,
                         "tables": [{"address": a, **t.as_dict()} for a, t in self.tables]}
        elif self.acpi_error:
            d["acpi"] = {"error": self.acpi_error}
        if self.efi is not None:
            d["efi"] = self.efi.as_dict()
        elif self.efi_error:
            d["efi"] = {"error": self.efi_error}
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


def _guest_ram(xc, domid, info):
    """``in_ram(address, length)`` and the top of low RAM, from the HVM info table
    (low RAM, and RAM above 4 GiB), or max_memkb where the table is unusable, plus
    hvmloader's own area (HVMLOADER_RESERVED; a page there it did not populate
    fails the read, which then names the address)."""
    limit = info.max_memkb * 1024
    low, high = min(limit, PCI_MEM_START), 0
    if info.hvm and limit >= HVM_INFO_PADDR + SIZE:
        try:
            t = parse(xc.read_from_guest(domid, HVM_INFO_PADDR, SIZE))
            low, high = t.low_mem_pgend << 12, t.high_mem_pgend << 12
        except XcmodError:
            pass

    def in_ram(addr, length):
        end = addr + length
        return 0 <= addr and length >= 0 and (
            end <= low or FOUR_GIB <= addr and end <= high
            or HVMLOADER_RESERVED[0] <= addr and end <= HVMLOADER_RESERVED[1])
    return in_ram, low


def _at(read_at, addr, length, what, source):
    """``length`` bytes at ``addr`` as an entry point or RSDP: a FormatError, not
    a failed read, when the firmware's pointer leads outside RAM."""
    try:
        return read_at(addr, length)
    except FormatError as e:
        raise FormatError(f"{what} points to {addr:#x}: {e.message}", source=source,
                          offset=addr) from None


def _find_smbios(read_at, efi, source):
    """(SmbiosTable, where it was found in words): at the EFI configuration table's
    SMBIOS3 (else SMBIOS) entry, else the F-segment scan, else hvmloader's area for
    OVMF.  FormatError saying why not."""
    smbios3, smbios2 = (efi.first("SMBIOS3"), efi.first("SMBIOS")) if efi else (None, None)
    if smbios3 is not None or smbios2 is not None:
        name, addr = ("SMBIOS3", smbios3) if smbios3 is not None else ("SMBIOS", smbios2)
        what = f"the EFI configuration table's {name} entry"
        _at(read_at, addr, 32, what, source)
        return (legacy_scan(read_at, source, addr, addr + 32),
                f"{what} (EFI system table at {efi.address:#x})")
    try:
        return legacy_scan(read_at, source), "the scan of 0xF0000-0xFFFFF (SeaBIOS's)"
    except NoEntryPoint as e:
        try:
            return (legacy_scan(read_at, source, *HVMLOADER_OVMF_SMBIOS),
                    "hvmloader's SMBIOS area for OVMF (0xEB000-0xEFFFF)")
        except NoEntryPoint:
            raise FormatError(f"{e.message}, nor in hvmloader's area for OVMF "
                              f"0xEB000-0xEFFFF", source=source, offset=e.offset) from None


def _find_rsdp(read_at, efi, source):
    """(RSDP address, where it was found in words): the EFI configuration table's ACPI
    2.0 (else 1.0) entry, else the scan hvmloader's and SeaBIOS's RSDPs are in.
    FormatError saying why not."""
    rsdp = (efi.first("ACPI 2.0") or efi.first("ACPI 1.0")) if efi else None
    if rsdp is not None:
        name = "ACPI 2.0" if efi.first("ACPI 2.0") else "ACPI 1.0"
        what = f"the EFI configuration table's {name} entry"
        if find_rsdp(_at(read_at, rsdp, RSDP_V2_LENGTH, what, source), rsdp) is None:
            raise FormatError(f"{what} points to {rsdp:#x}, where there is no RSDP with "
                              f"a valid checksum", source=source, offset=rsdp)
        return rsdp, f"{what} (EFI system table at {efi.address:#x})"
    seg = read_at(RSDP_SCAN[0], RSDP_SCAN[1] - RSDP_SCAN[0])
    rsdp = find_rsdp(seg, RSDP_SCAN[0])
    if rsdp is None:
        raise FormatError(f"no RSDP in {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}",
                          source=source)
    return rsdp, ("hvmloader's RSDP for OVMF (0xEA020)" if rsdp == HVMLOADER_OVMF_RSDP
                  else f"the scan of {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}")


def read(domid, xc=None):
    """The SMBIOS and ACPI tables of paused guest ``domid``, from where its firmware
    published them (see the module's docstring).  No SMBIOS entry point or table
    that can be read, or no RSDP, is recorded (``smbios_error``, ``acpi_error``);
    ACPI tables that break the sizing rules raise FormatError: never half a
    result."""
    check_domid(domid)
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)
    info = xc.domain_info(domid)
    source = f"domain {domid}"
    in_ram, top = _guest_ram(xc, domid, info)

    def from_ram(addr, length):
        if not in_ram(addr, length):
            raise FormatError(f"{length} bytes at {addr:#x} are not in guest RAM",
                              source=source, offset=addr)
        return xc.read_from_guest(domid, addr, length)
    g = GuestTables(domid)
    read_at = GuestReader(from_ram, source, info.max_memkb * 1024)
    try:
        g.efi = find_system_table(read_at, in_ram, top, source)
    except FormatError as e:
        g.efi_error = str(e)
    try:
        g.smbios, g.smbios_found = _find_smbios(read_at, g.efi, source)
    except FormatError as e:
        g.smbios_error = str(e)
    try:
        rsdp, g.acpi_found = _find_rsdp(read_at, g.efi, source)
    except FormatError as e:
        g.acpi_error = str(e)
        return g
    # A guest with an RSDP whose tables break the rules: FormatError, whole.
    g.rsdp, g.tables = walk_acpi(read_at, rsdp, source)
    g.rsdp_address = rsdp
    return g
