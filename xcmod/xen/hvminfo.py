"""The HVM info table the domain builder leaves for hvmloader.

xen/include/public/hvm/hvm_info_table.h: at guest physical HVM_INFO_PADDR
(0x9F800), written by libxc (build_hvm_info()) and completed by libxl
(vcpus, APIC mode, online map), checksummed so its ``length`` bytes sum to 0.
``tests/test_guest_tools.py::test_hvm_info_struct_matches_the_header`` checks
these offsets against the real header with the C compiler.
"""
from functools import lru_cache

from ..errors import FormatError

HVM_INFO_PFN = 0x09F
HVM_INFO_OFFSET = 0x800
HVM_INFO_PADDR = (HVM_INFO_PFN << 12) + HVM_INFO_OFFSET
HVM_MAX_VCPUS = 128
SIGNATURE = b"HVM INFO"
PAGE_SHIFT = 12

SIZE = 48                          # sizeof(struct hvm_info_table)
LOW_MEM_PGEND_OFFSET = 20          # offsetof(struct hvm_info_table, low_mem_pgend)


@lru_cache(maxsize=None)
def table_struct():
    """struct hvm_info_table as construct (built on first use: `load` only needs
    :func:`low_mem_end`, and keeps construct out of its imports)."""
    from construct import Bytes, Int8ul, Int32ul, Padding, Struct
    return Struct(
        "signature" / Bytes(8),
        "length" / Int32ul,
        "checksum" / Int8ul,
        "apic_mode" / Int8ul,
        Padding(2),
        "nr_vcpus" / Int32ul,
        "low_mem_pgend" / Int32ul,
        "reserved_mem_pgstart" / Int32ul,
        "high_mem_pgend" / Int32ul,
        "vcpu_online" / Bytes((HVM_MAX_VCPUS + 7) // 8),
    )


def _problem(data):
    """(message, offset) of the first reason ``data`` is not a valid table, or None.

    Plain byte checks, no construct: `load` calls this through low_mem_end().
    """
    if len(data) < SIZE:
        return f"need {SIZE} bytes for the HVM info table, {len(data)} read", HVM_INFO_PADDR
    if data[:8] != SIGNATURE:
        return (f"no HVM info table: signature {bytes(data[:8])!r}, not 'HVM INFO'",
                HVM_INFO_PADDR)
    length = int.from_bytes(data[8:12], "little")
    if not SIZE <= length <= len(data):
        return f"HVM info table length {length} invalid", HVM_INFO_PADDR + 8
    if sum(data[:length]) & 0xFF:
        return "HVM info table checksum invalid", HVM_INFO_PADDR + 12
    return None


def low_mem_end(data):
    """End of guest low RAM per a raw table; FormatError if it is not a valid table."""
    data = bytes(data)
    problem = _problem(data)
    if problem:
        raise FormatError(problem[0], offset=problem[1])
    return int.from_bytes(data[LOW_MEM_PGEND_OFFSET:LOW_MEM_PGEND_OFFSET + 4],
                          "little") << PAGE_SHIFT


class HvmInfo:
    """A decoded table (a plain class: `load` reads this module, see layout.Region)."""
    __slots__ = ("length", "checksum", "apic_mode", "nr_vcpus", "low_mem_pgend",
                 "reserved_mem_pgstart", "high_mem_pgend", "vcpu_online")

    def __init__(self, table):
        """From the parsed construct container of struct hvm_info_table."""
        for name in self.__slots__:
            setattr(self, name, table[name])
        self.vcpu_online = bytes(table.vcpu_online)

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
    from ..image.spec import struct_parse
    data = bytes(data)
    problem = _problem(data)
    if problem:
        raise FormatError(problem[0], source=source, offset=problem[1])
    return HvmInfo(struct_parse(table_struct(), data, 0, source))


def read(domid, xc=None):
    """Read and decode domain ``domid``'s table through the C shim's mapping path."""
    from .xenctrl import XenControl
    if xc is None:
        with XenControl() as xc:
            return read(domid, xc)
    import errno

    from ..errors import XenError
    info = xc.domain_info(domid)
    if not info.hvm:
        raise XenError(errno.EINVAL, f"domain {domid}: not an HVM guest, it has no HVM "
                       f"info table")
    raw = xc.read_from_guest(domid, HVM_INFO_PADDR, SIZE)
    return parse(raw, source=f"domain {domid}")


def mirror_to_xenstore(domid, info):
    """Write ``info``'s values under hvmloader/hvm-info/ in one transaction, guest
    read-only; returns {path: value} as written."""
    from ..errors import UsageError
    from .xenctrl import check_domid
    from .xenstore import XenStore, domain_path
    if check_domid(domid) == 0:
        raise UsageError("domain 0 has no HVM info table to mirror")
    if not isinstance(info, HvmInfo):
        raise UsageError(f"info must be the HvmInfo read() returns, not {type(info).__name__}")
    base = domain_path(domid, "hvmloader/hvm-info")
    values = {f"{base}/{k}": v for k, v in info.xenstore_values().items()}
    with XenStore() as xs:
        xs.write_all_for_guest(values, domid)
    return values
