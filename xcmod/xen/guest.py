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
points to.  Every read is bounded to guest RAM and to MAX_READ bytes.
"""
import struct
from dataclasses import dataclass, field

from ..errors import FormatError, XenError
from ..firmware.acpi import (
    ACPI_HEADER_SIZE,
    RSDP_SIGNATURE,
    RSDP_V1_LENGTH,
    RSDP_V2_LENGTH,
    AcpiTable,
)
from ..firmware.host import legacy_scan
from ..image.spec import checksum8
from .layout import PCI_MEM_START

RSDP_SCAN = (0xE0000, 0x100000)
# hvmloader's places for OVMF (tools/firmware/hvmloader/ovmf.c with
# rombios/config.h): SMBIOS_PHYSICAL_ADDRESS .. SMBIOS_PHYSICAL_END, and the
# RSDP at ACPI_PHYSICAL_ADDRESS.  OvmfXen copies both from there.
HVMLOADER_OVMF_SMBIOS = (0xEB000, 0xF0000)
HVMLOADER_OVMF_RSDP = 0xEA020
MAX_READ = 16 << 20               # no firmware table or area is larger
FOUR_GIB = 1 << 32


@dataclass
class GuestTables:
    domid: int
    smbios: object = None             # SmbiosTable or None
    smbios_error: str | None = None
    rsdp_address: int | None = None
    rsdp: bytes | None = None
    tables: list = field(default_factory=list)     # [(address, AcpiTable)]
    acpi_error: str | None = None
    efi: object = None                # efi.SystemTable or None
    efi_error: str | None = None
    smbios_found: str | None = None   # where the entry point was found, in words
    acpi_found: str | None = None     # where the RSDP was found, in words

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
    """(rsdp bytes, [(address, AcpiTable)]) reachable from the RSDP."""
    head = read_at(rsdp_addr, RSDP_V2_LENGTH)
    revision = head[15]
    length = RSDP_V2_LENGTH if revision >= 2 else RSDP_V1_LENGTH
    rsdp = bytes(head[:length])
    if revision >= 2 and checksum8(rsdp):
        raise FormatError("RSDP extended checksum invalid", source=source, offset=rsdp_addr)
    rsdt, = struct.unpack_from("<I", rsdp, 16)
    xsdt = struct.unpack_from("<Q", rsdp, 24)[0] if revision >= 2 else 0
    root, width = (xsdt, 8) if xsdt else (rsdt, 4)

    def table(addr):
        hdr = read_at(addr, 8)
        n, = struct.unpack_from("<I", hdr, 4)
        if n < 8 or n > 16 << 20:
            raise FormatError(f"table at {addr:#x} claims length {n}", source=source,
                              offset=addr + 4)
        return AcpiTable(bytes(read_at(addr, n)), source)

    out, seen = [], set()

    def add(addr):
        if addr and addr not in seen:
            seen.add(addr)
            t = table(addr)
            out.append((addr, t))
            return t
        return None

    r = add(root)
    body = r.raw[ACPI_HEADER_SIZE:]
    for i in range(0, len(body) - width + 1, width):
        addr = int.from_bytes(body[i:i + width], "little")
        t = add(addr)
        if t is not None and t.raw[:4] == b"FACP":
            facs, dsdt = struct.unpack_from("<II", t.raw, ACPI_HEADER_SIZE)
            if len(t.raw) >= 148:
                dsdt = struct.unpack_from("<Q", t.raw, 140)[0] or dsdt
            if len(t.raw) >= 140:
                facs = struct.unpack_from("<Q", t.raw, 132)[0] or facs
            add(dsdt)
            add(facs)
    return rsdp, out


def _guest_ram(xc, domid, info):
    """``in_ram(address, length)`` and the top of low RAM, from the HVM info table
    (low RAM, and RAM above 4 GiB), or max_memkb where the table is unusable."""
    from ..errors import XcmodError
    from .hvminfo import HVM_INFO_PADDR, SIZE, parse
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
        return 0 <= addr and length >= 0 and (end <= low or FOUR_GIB <= addr and end <= high)
    return in_ram, low


def _at(read_at, addr, length, what, source):
    """``length`` bytes at ``addr`` as an entry point or RSDP: a FormatError, not
    a failed read, when the firmware's pointer leads outside RAM."""
    try:
        return read_at(addr, length)
    except FormatError as e:
        raise FormatError(f"{what} points to {addr:#x}: {e.message}", source=source,
                          offset=addr) from None


def read(domid, xc=None):
    """The SMBIOS and ACPI tables of paused guest ``domid``, from where its firmware
    published them (see the module's docstring)."""
    from .efi import find_system_table
    from .xenctrl import XenControl
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)
    info = xc.domain_info(domid)
    source = f"domain {domid}"
    in_ram, top = _guest_ram(xc, domid, info)

    def read_at(addr, length):
        if not 0 < length <= MAX_READ or not in_ram(addr, length):
            raise FormatError(f"{length} bytes at {addr:#x} are not in guest RAM (or over "
                              f"{MAX_READ >> 20} MiB)", source=source, offset=addr)
        try:
            return xc.read_from_guest(domid, addr, length)
        except XenError as e:
            # RAM the firmware gave back (hvmloader moves RAM from the top of low
            # memory to where OVMF goes) is not mapped: a pointer there is wrong.
            import errno
            raise FormatError(f"{length} bytes at {addr:#x} are not mapped guest RAM "
                              f"({errno.errorcode.get(e.errno, e.errno)})", source=source,
                              offset=addr) from None
    g = GuestTables(domid)
    try:
        g.efi = find_system_table(read_at, in_ram, top, source)
    except FormatError as e:
        g.efi_error = str(e)
    efi = g.efi
    smbios3, smbios2 = (efi.first("SMBIOS3"), efi.first("SMBIOS")) if efi else (None, None)
    try:
        if smbios3 is not None or smbios2 is not None:
            name, addr = ("SMBIOS3", smbios3) if smbios3 is not None else ("SMBIOS", smbios2)
            what = f"the EFI configuration table's {name} entry"
            _at(read_at, addr, 32, what, source)
            g.smbios = legacy_scan(read_at, source, addr, addr + 32)
            g.smbios_found = f"{what} (EFI system table at {efi.address:#x})"
        else:
            try:
                g.smbios = legacy_scan(read_at, source)
                g.smbios_found = "the scan of 0xF0000-0xFFFFF (SeaBIOS's)"
            except FormatError as e:
                if not e.message.startswith("no SMBIOS entry point"):
                    raise
                try:
                    g.smbios = legacy_scan(read_at, source, *HVMLOADER_OVMF_SMBIOS)
                except FormatError as e2:
                    if not e2.message.startswith("no SMBIOS entry point"):
                        raise
                    raise FormatError(f"{e.message}, nor in hvmloader's area for OVMF "
                                      f"0xEB000-0xEFFFF", source=source,
                                      offset=e.offset) from None
                g.smbios_found = "hvmloader's SMBIOS area for OVMF (0xEB000-0xEFFFF)"
    except FormatError as e:
        g.smbios_error = str(e)
    rsdp = (efi.first("ACPI 2.0") or efi.first("ACPI 1.0")) if efi else None
    try:
        if rsdp is not None:
            name = "ACPI 2.0" if efi.first("ACPI 2.0") else "ACPI 1.0"
            what = f"the EFI configuration table's {name} entry"
            if find_rsdp(_at(read_at, rsdp, RSDP_V2_LENGTH, what, source), rsdp) is None:
                raise FormatError(f"{what} points to {rsdp:#x}, where there is no RSDP with "
                                  f"a valid checksum", source=source, offset=rsdp)
            g.acpi_found = f"{what} (EFI system table at {efi.address:#x})"
        else:
            seg = read_at(RSDP_SCAN[0], RSDP_SCAN[1] - RSDP_SCAN[0])
            rsdp = find_rsdp(seg, RSDP_SCAN[0])
            if rsdp is None:
                raise FormatError(f"no RSDP in {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}",
                                  source=source)
            g.acpi_found = ("hvmloader's RSDP for OVMF (0xEA020)" if rsdp == HVMLOADER_OVMF_RSDP
                            else f"the scan of {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}")
        g.rsdp, g.tables = walk_acpi(read_at, rsdp, source)
        g.rsdp_address = rsdp
    except FormatError as e:
        g.acpi_error = str(e)
    return g
