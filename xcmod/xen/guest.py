"""What a guest's firmware actually built: its SMBIOS and ACPI tables.

Read through the same mapping path ``load`` uses (the C shim's
xcmod_read_from_guest), from a paused guest:

* SMBIOS: the entry point found by the legacy scan of 0xF0000-0xFFFFF
  (SMBIOS 3.7, 5.2), then the table where it says (hvmloader puts it at
  0xFC100000 or so);
* ACPI: the RSDP found on a 16-byte boundary in 0xE0000-0xFFFFF
  (ACPI 6.5, 5.2.5.1), then every table the XSDT (or RSDT) lists, plus the
  DSDT and FACS the FADT points to.
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


def read(domid, xc=None):
    """The SMBIOS and ACPI tables of paused guest ``domid``."""
    from .xenctrl import XenControl
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)
    xc.domain_info(domid)
    source = f"domain {domid}"

    def read_at(addr, length):
        return xc.read_from_guest(domid, addr, length)
    g = GuestTables(domid)
    try:
        g.smbios = legacy_scan(read_at, source)
    except FormatError as e:
        g.smbios_error = str(e)
    seg = read_at(RSDP_SCAN[0], RSDP_SCAN[1] - RSDP_SCAN[0])
    addr = find_rsdp(seg, RSDP_SCAN[0])
    if addr is None:
        g.acpi_error = f"{source}: no RSDP in {RSDP_SCAN[0]:#x}-{RSDP_SCAN[1] - 1:#x}"
    else:
        g.rsdp_address = addr
        g.rsdp, g.tables = walk_acpi(read_at, addr, source)
    return g
