# SPDX-License-Identifier: MIT
"""The HVM info table the domain builder leaves for hvmloader.

xen/include/public/hvm/hvm_info_table.h: at guest physical HVM_INFO_PADDR
(0x9F800), written by libxc (build_hvm_info()) and completed by libxl
(vcpus, APIC mode, online map), checksummed so its ``length`` bytes sum to 0.
Its layout is stated once, in :data:`FIELDS`, and read with int.from_bytes;
``tests/test_guest_tools.py::test_hvm_info_struct_matches_the_header`` checks
those offsets against the real header with the C compiler.
"""
import errno

from ..errors import FormatError, UsageError, XenError
from .xenctrl import XenControl, check_domid
from .xenstore import XenStore, domain_path


HVM_INFO_PFN = 0x09F
HVM_INFO_OFFSET = 0x800
HVM_INFO_PADDR = (HVM_INFO_PFN << 12) + HVM_INFO_OFFSET
HVM_MAX_VCPUS = 128
SIGNATURE = b"HVM INFO"
PAGE_SHIFT = 12

# struct hvm_info_table: field -> (offset, size); the one statement of its layout.
FIELDS = {
    "signature": (0, 8),
    "length": (8, 4),
    "checksum": (12, 1),
    "apic_mode": (13, 1),
    "nr_vcpus": (16, 4),
    "low_mem_pgend": (20, 4),
    "reserved_mem_pgstart": (24, 4),
    "high_mem_pgend": (28, 4),
    "vcpu_online": (32, (HVM_MAX_VCPUS + 7) // 8),
}
SIZE = 48                          # sizeof(struct hvm_info_table)


def _problem(data):
    """(message, offset) of the first reason ``data`` is not a valid table, or None."""
    if len(data) < SIZE:
        return f"need {SIZE} bytes for the HVM info table, {len(data)} read", HVM_INFO_PADDR
    if data[:8] != SIGNATURE:
        return (f"no HVM info table: signature {bytes(data[:8])!r}, not 'HVM INFO'",
                HVM_INFO_PADDR)
    length = _field(data, "length")
    if not SIZE <= length <= len(data):
        return f"HVM info table length {length} invalid", HVM_INFO_PADDR + FIELDS["length"][0]
    if sum(data[:length]) & 0xFF:
        return "HVM info table checksum invalid", HVM_INFO_PADDR + FIELDS["checksum"][0]
    return None


def _field(data, name):
    offset, size = FIELDS[name]
    return int.from_bytes(data[offset:offset + size], "little")


def low_mem_end(data):
    """End of guest low RAM per a raw table; FormatError if it is not a valid table."""
    return parse(data).low_mem_pgend << PAGE_SHIFT


class HvmInfo:
    """A decoded table."""
    __slots__ = ("length", "checksum", "apic_mode", "nr_vcpus", "low_mem_pgend",
                 "reserved_mem_pgstart", "high_mem_pgend", "vcpu_online")

    def __init__(self, data):
        """From the bytes of a valid struct hvm_info_table."""
        for name in self.__slots__:
            setattr(self, name, _field(data, name))
        offset, size = FIELDS["vcpu_online"]
        self.vcpu_online = bytes(data[offset:offset + size])

    @property
    def online_vcpus(self):
        return [i for i in range(HVM_MAX_VCPUS) if self.vcpu_online[i // 8] >> (i % 8) & 1]

    def as_dict(self):
        # "If a field is zero, the corresponding range does not exist."
        return {"address": HVM_INFO_PADDR, "length": self.length, "checksum_ok": True,
                "apic_mode": self.apic_mode, "nr_vcpus": self.nr_vcpus,
                "vcpus_online": self.online_vcpus,
                "low_mem_end": self.low_mem_pgend << PAGE_SHIFT,
                "reserved_mem_start": (self.reserved_mem_pgstart << PAGE_SHIFT
                                       if self.reserved_mem_pgstart else None),
                "high_mem_end": (self.high_mem_pgend << PAGE_SHIFT
                                 if self.high_mem_pgend else None)}

    def xenstore_values(self):
        """What ``hvm-info --to-xenstore`` writes under hvmloader/hvm-info/."""
        d = self.as_dict()
        return {"vcpus": str(self.nr_vcpus), "apic-mode": str(self.apic_mode),
                "vcpu-online": ",".join(map(str, self.online_vcpus)),
                "low-mem-end": f"{d['low_mem_end']:#x}",
                "reserved-mem-start": f"{d['reserved_mem_start'] or 0:#x}",
                "high-mem-end": f"{d['high_mem_end'] or 0:#x}"}


def parse(data, source=None):
    """Validate and decode a table read from HVM_INFO_PADDR."""
    data = bytes(data)
    problem = _problem(data)
    if problem:
        raise FormatError(problem[0], source=source, offset=problem[1])
    return HvmInfo(data)


def read(domid, xc=None):
    """Read and decode domain ``domid``'s table through the C shim's mapping path."""
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)

    info = xc.domain_info(domid)
    if not info.hvm:
        raise XenError(errno.EINVAL, f"domain {domid}: not an HVM guest, it has no HVM "
                       f"info table")
    raw = xc.read_from_guest(domid, HVM_INFO_PADDR, SIZE)
    return parse(raw, source=f"domain {domid}")


def mirror_to_xenstore(domid, info):
    """Write ``info``'s values under hvmloader/hvm-info/ in one transaction, guest
    read-only; returns {path: value} as written."""
    if check_domid(domid) == 0:
        raise UsageError("domain 0 has no HVM info table to mirror")
    if not isinstance(info, HvmInfo):
        raise UsageError(f"info must be the HvmInfo read() returns, not {type(info).__name__}")
    base = domain_path(domid, "hvmloader/hvm-info")
    values = {f"{base}/{k}": v for k, v in info.xenstore_values().items()}
    with XenStore() as xs:
        xs.write_all_for_guest(values, domid)
    return values
