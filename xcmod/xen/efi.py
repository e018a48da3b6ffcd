# SPDX-License-Identifier: MIT
"""What a UEFI guest's firmware publishes to the OS: its EFI system table's
configuration table, found in guest RAM.

UEFI 2.10, 4.3 (EFI_SYSTEM_TABLE), 4.6 (EFI_CONFIGURATION_TABLE) and 18.4.2
(EFI_SYSTEM_TABLE_POINTER): a debugger finds the system table through a
pointer structure "located on a 4 MiB boundary as close to the top of
physical memory as feasible".  edk2's DXE core allocates it so
(MdeModulePkg/Core/Dxe/Misc/DebugImageInfo.c), as boot-services data: it is
there while the firmware or an OS loader runs, and until the OS reuses the
page.  The configuration table's ACPI 2.0 / 1.0 entries give the RSDP the OS
uses and its SMBIOS3 / SMBIOS entries the entry points; OvmfXen's are copies of
what hvmloader wrote (it scans 0xEB000-0xEFFFF and 0xEA020-0xFFFFF for them).

Every number read from the guest is bounded: addresses must lie in the
guest's RAM, the system table's header size and the number of entries are
capped, and both CRCs must match.
"""
import struct
import uuid
import zlib

from ..errors import FormatError

SIGNATURE = b"IBI SYST"                   # EFI_SYSTEM_TABLE_SIGNATURE
POINTER_ALIGN = 4 << 20
POINTER_SIZE = 24                         # EFI_SYSTEM_TABLE_POINTER: u64, u64, u32 (+4)
SYSTEM_TABLE_SIZE = 120                   # EFI_SYSTEM_TABLE, x64
CONFIG_ENTRY_SIZE = 24                    # EFI_CONFIGURATION_TABLE, x64: GUID, pointer
MAX_HEADER_SIZE = 4096                    # far above any revision's EFI_SYSTEM_TABLE
MAX_CONFIG_ENTRIES = 1024                 # OVMF has about 10
MAX_POINTER_PROBES = 1 << 12              # 16 GiB of 4 MiB boundaries

# MdePkg/MdePkg.dec
GUIDS = {
    uuid.UUID("8868e871-e4f1-11d3-bc22-0080c73c8881").bytes_le: "ACPI 2.0",
    uuid.UUID("eb9d2d30-2d88-11d3-9a16-0090273fc14d").bytes_le: "ACPI 1.0",
    uuid.UUID("eb9d2d31-2d88-11d3-9a16-0090273fc14d").bytes_le: "SMBIOS",
    uuid.UUID("f2fd1544-9794-4a2c-992e-e5bbcf20e394").bytes_le: "SMBIOS3",
}


class SystemTable:
    """The system table found: where, its revision, and its configuration table as
    [(name or GUID string, address)] in the firmware's order."""
    __slots__ = ("pointer", "address", "revision", "entries")

    def __init__(self, pointer, address, revision, entries):
        self.pointer, self.address, self.revision = pointer, address, revision
        self.entries = entries

    def first(self, *names):
        """Address of the first entry named by the first of ``names`` present, or None."""
        for n in names:
            for name, addr in self.entries:
                if name == n:
                    return addr
        return None

    def as_dict(self):
        return {"pointer": self.pointer, "address": self.address,
                "revision": f"{self.revision >> 16}.{(self.revision & 0xFFFF) // 10}",
                "configuration_table": [{"name": n, "address": a} for n, a in self.entries]}


def _crc_ok(raw, crc_at):
    """The UEFI CRC32 of ``raw`` computed with its own CRC field (at ``crc_at``) zeroed."""
    want, = struct.unpack_from("<I", raw, crc_at)
    return zlib.crc32(raw[:crc_at] + bytes(4) + raw[crc_at + 4:]) == want


def find_system_table(read_at, in_ram, ram_top, source):
    """The guest's EFI system table, or None when there is no pointer to one.

    ``read_at(address, length)`` reads guest memory (FormatError where it is not
    mapped); ``in_ram(address, length)`` says whether a range is guest RAM; the
    pointer is looked for on the 4 MiB boundaries below ``ram_top``, highest
    first, skipping those not mapped.  A pointer with a valid CRC
    whose system table is wrong raises FormatError.
    """
    top = (ram_top - POINTER_SIZE) & ~(POINTER_ALIGN - 1)
    for probe in range(top, -1, -POINTER_ALIGN)[:MAX_POINTER_PROBES]:
        if not in_ram(probe, POINTER_SIZE):
            continue
        try:
            raw = read_at(probe, POINTER_SIZE)
        except FormatError:           # not mapped: the HVM info table, which bounds
            continue                  # RAM, may be gone once the firmware ran
        if raw[:8] != SIGNATURE or not _crc_ok(raw, 16):
            continue
        return _system_table(read_at, in_ram, probe, struct.unpack_from("<Q", raw, 8)[0],
                             source)
    return None


def _system_table(read_at, in_ram, pointer, addr, source):
    def bad(what, at):
        return FormatError(f"EFI system table at {addr:#x} (from the pointer at "
                           f"{pointer:#x}): {what}", source=source, offset=at)
    if not in_ram(addr, SYSTEM_TABLE_SIZE):
        raise bad("not in guest RAM", pointer + 8)
    head = read_at(addr, 24)
    sig, revision, header_size, _crc = struct.unpack_from("<8sIII", head)
    if sig != SIGNATURE:
        raise bad(f"signature {sig!r}, not {SIGNATURE!r}", addr)
    if not SYSTEM_TABLE_SIZE <= header_size <= MAX_HEADER_SIZE or \
            not in_ram(addr, header_size):
        raise bad(f"header size {header_size} is not {SYSTEM_TABLE_SIZE}-{MAX_HEADER_SIZE} "
                  f"bytes of guest RAM", addr + 12)
    raw = read_at(addr, header_size)
    if not _crc_ok(raw, 16):
        raise bad("header CRC32 mismatch", addr + 16)
    count, table = struct.unpack_from("<QQ", raw, 104)
    if count > MAX_CONFIG_ENTRIES:
        raise bad(f"NumberOfTableEntries {count} exceeds {MAX_CONFIG_ENTRIES}", addr + 104)
    if count and not in_ram(table, count * CONFIG_ENTRY_SIZE):
        raise bad(f"configuration table {table:#x} ({count} entries) is not in guest RAM",
                  addr + 112)
    body = read_at(table, count * CONFIG_ENTRY_SIZE) if count else b""
    entries = []
    for i in range(count):
        guid, vendor = struct.unpack_from("<16sQ", body, i * CONFIG_ENTRY_SIZE)
        entries.append((GUIDS.get(guid) or str(uuid.UUID(bytes_le=guid)), vendor))
    return SystemTable(pointer, addr, revision, entries)
