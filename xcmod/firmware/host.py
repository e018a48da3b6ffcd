# SPDX-License-Identifier: MIT
"""Where firmware comes from: the running host, sysfs-layout directories,
``acpidump`` text, a memory image.

Every reader here returns what it found *with its origin*, so the policy can
tell a table the user named explicitly (``--acpi FILE``: refusing it is an
error) from one that merely sat in a directory (``--acpi DIR`` / ``host``:
refusing it is a line in the report).

Source spellings accepted by ``--smbios`` and ``--acpi``:

``host``
    the running machine: /sys/firmware/dmi/tables and
    /sys/firmware/acpi/tables (``dynamic/`` included); for SMBIOS, when
    sysfs has no tables, a legacy scan of /dev/mem.
``mem:PATH``
    SMBIOS only: a memory image laid out as guest/host physical memory (or
    /dev/mem itself): the entry point is searched for on 16-byte boundaries
    in 0xF0000-0xFFFFF, as dmidecode does, and the table read where it says.
a directory
    SMBIOS: ``smbios_entry_point`` + ``DMI`` (sysfs layout).  ACPI: every
    table file in it and in its ``dynamic/`` subdirectory (sysfs layout; the
    ``*.aml`` of a Clover or ``acpidump -b`` dump works too).
an ``acpidump`` text file
    ACPI: every table in the hex dump ``acpidump -o FILE`` writes.
a file
    one ACPI table, or an SMBIOS dump (see :mod:`xcmod.smbios`).
"""
import errno
import os
import re
import stat
from dataclasses import dataclass

from ..errors import FormatError, HostAccessError, XcmodError
from ..fileio import ACPI_SOURCE_MAX, ACPI_TABLE_MAX, SMBIOS_SOURCE_MAX, check_regular, read_input
from . import smbios
from .acpi import RSDP_SIGNATURE, parse_table


HOST = "host"
MEM_PREFIX = "mem:"
SYSFS_DMI = "/sys/firmware/dmi/tables"
SYSFS_ACPI = "/sys/firmware/acpi/tables"
DEV_MEM = "/dev/mem"

# SMBIOS 3.7, 5.2.1/5.2.2: on non-UEFI systems the entry point is found by
# searching 0xF0000-0xFFFFF for the anchor on a 16-byte boundary.
LEGACY_SCAN_START = 0xF0000
LEGACY_SCAN_END = 0x100000


def _read(path, what, limit, host=False):
    """A regular file's bytes, at most ``limit`` (:func:`xcmod.fileio.read_input`)."""
    return read_input(path, what, limit, host=host)


# ---------------------------------------------------------------------- ACPI

@dataclass(slots=True, frozen=True)
class AcpiCandidate:
    """One table found in a source, not yet judged by the policy.

    ``explicit`` is True when the user named this very file; ``raw`` is the
    bytes as found (validated only once the policy lets the table pass).
    """
    raw: bytes
    origin: str        # file, or "file: table N" (text)
    explicit: bool

    @property
    def signature(self):
        if self.is_rsdp:
            return "RSDP"
        return self.raw[:4].decode("latin-1") if len(self.raw) >= 4 else ""

    @property
    def is_rsdp(self):
        return self.raw[:8] == RSDP_SIGNATURE

    def parse(self):
        """The validated AcpiTable (FormatError naming the origin if invalid)."""
        return parse_table(self.raw, source=self.origin)


_DIGITS = frozenset("0123456789")


def _natural_key(name):
    """``SSDT10`` after ``SSDT2``: text and runs of ASCII digits in turn, from text
    (``"1a"`` -> ``["", 1, "a"]``), so that two keys always compare."""
    key, run, digits = [], "", False
    for c in name:
        if (c in _DIGITS) != digits:
            key.append(int(run) if digits else run)
            run, digits = "", not digits
        run += c
    key.append(int(run) if digits else run)
    return key


def _table_files(directory):
    """Files of ``directory`` then of its ``dynamic/``, naturally sorted; subdirectories
    (sysfs has ``data/``) and hidden files are left out, anything else that is not a
    regular file (a FIFO, a device) is kept for the reader to refuse by name."""
    out = []
    for d in (directory, os.path.join(directory, "dynamic")):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d), key=_natural_key):
            path = os.path.join(d, name)
            if not os.path.isdir(path) and not name.startswith("."):
                out.append(path)
    return out


def _dir_tables(directory, host):
    """AcpiCandidates of every table file of ``directory``: each at most ACPI_TABLE_MAX,
    all of them together at most ACPI_SOURCE_MAX."""
    out, total = [], 0
    for p in _table_files(directory):
        raw = _read(p, "an ACPI table", ACPI_TABLE_MAX, host=host)
        total += len(raw)
        if total > ACPI_SOURCE_MAX:
            raise FormatError(f"its table files hold more than {ACPI_SOURCE_MAX >> 20} MiB "
                              f"together, more than any firmware's tables", source=directory)
        out.append(AcpiCandidate(raw, p, False))
    return out


# acpidump -o / acpidump text: "SIG @ 0xADDRESS" then "    OFFS: HH HH ...  ascii".
_ACPIDUMP_LINE = rb"^\s*([0-9A-Fa-f]{4,8}):((?: [0-9A-Fa-f]{2}){1,16})"
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _acpidump_head(line):
    """The signature of an acpidump table's first line (``SSDT @ 0x00000000BFEE1000``,
    trailing white space allowed), or None."""
    sig, at, address = line[:4], line[4:9], line[9:].rstrip()
    if len(sig) == 4 and all(0x20 <= c <= 0x7E for c in sig) and at == b" @ 0x" and \
            address and all(c in _HEX for c in address):
        return sig
    return None


def is_acpidump_text(data):
    first = data.lstrip(b"\r\n").split(b"\n", 1)[0]
    return _acpidump_head(first.rstrip(b"\r")) is not None


def parse_acpidump_text(data, source):
    """The tables of an ``acpidump`` text dump, as (signature, bytes, line) tuples.

    Offsets must run on without gaps, as acpidump writes them; anything else
    is a FormatError naming the line.
    """
    dump_line = re.compile(_ACPIDUMP_LINE)
    tables, current = [], None
    for lineno, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        head = _acpidump_head(line)
        if head:
            current = [head.decode("latin-1"), bytearray(), lineno]
            tables.append(current)
            continue
        m = dump_line.match(line)
        if not m or current is None:
            raise FormatError(f"line {lineno}: not acpidump output: {line[:40]!r}",
                              source=source)
        offset = int(m.group(1), 16)
        if offset != len(current[1]):
            raise FormatError(f"line {lineno}: offset {offset:#x} in {current[0]}, expected "
                              f"{len(current[1]):#x}", source=source)
        current[1] += bytes.fromhex(m.group(2).decode())
    return [(sig, bytes(blob), line) for sig, blob, line in tables]


def acpi_candidates(spec):
    """Every table a ``--acpi`` source holds, as AcpiCandidates, in order."""
    if spec == HOST:
        if not os.path.isdir(SYSFS_ACPI):
            raise XcmodError(f"this host exposes no ACPI tables ({SYSFS_ACPI} is missing)")
        return _dir_tables(SYSFS_ACPI, True)
    if os.path.isdir(spec):
        return _dir_tables(spec, False)
    data = _read(spec, "an ACPI table or acpidump text", ACPI_SOURCE_MAX)
    if is_acpidump_text(data):
        return [AcpiCandidate(blob, f"{spec}: {sig} at line {line}", False)
                for sig, blob, line in parse_acpidump_text(data, spec)]
    if len(data) > ACPI_TABLE_MAX:
        raise FormatError(f"{len(data)} bytes: more than an ACPI table can be (at most "
                          f"{ACPI_TABLE_MAX >> 20} MiB)", source=spec)
    return [AcpiCandidate(data, spec, True)]


# -------------------------------------------------------------------- SMBIOS

class NoEntryPoint(FormatError):
    """No SMBIOS entry point with valid checksums in the range scanned."""


def legacy_scan(read_at, source, start=LEGACY_SCAN_START, end=LEGACY_SCAN_END):
    """Find an entry point in 0xF0000-0xFFFFF (or [start, end)) and read its table.

    ``read_at(address, length)`` returns bytes of physical memory.  As
    dmidecode does, a ``_SM3_`` entry point is preferred to a ``_SM_`` one
    when both are present; each candidate must pass its checksums.
    """
    segment = read_at(start, end - start)
    found = {}
    for off in range(0, len(segment) - 16, 16):
        head = segment[off:off + 5]
        kind = "_SM3_" if head == b"_SM3_" else "_SM_" if head[:4] == b"_SM_" else None
        if kind is None or kind in found:
            continue
        try:
            ep = smbios.parse_entry_point(segment, source, off)
        except FormatError:
            continue
        found[kind] = (off, ep)
    if not found:
        raise NoEntryPoint(f"no SMBIOS entry point (_SM3_ or _SM_ with a valid checksum) in "
                          f"0x{start:X}-0x{end - 1:X}", source=source, offset=start)
    off, ep = found.get("_SM3_") or found["_SM_"]
    ep_len = segment[off + 6] if ep.kind == 3 else segment[off + 5]
    if ep.kind == 3:
        table = _sm3_table(read_at, ep.table_address, ep.table_length)
    else:                          # 2.1: an exact, 16-bit length
        table = read_at(ep.table_address, ep.table_length)
    # A _SM3_ length is only a maximum, but its table must start in the image.
    if not table or (len(table) < ep.table_length and ep.kind != 3):
        raise FormatError(f"entry point at {start + off:#x} puts a "
                          f"{ep.table_length}-byte table at {ep.table_address:#x}, past the "
                          f"end of the image", source=source, offset=start + off)
    t = smbios._from_entry_point(bytes(segment[off:off + ep_len]), table, source,
                                 ep.table_address)
    t.notes.insert(0, f"entry point found at {start + off:#x}, table at "
                      f"{ep.table_address:#x}")
    return t


def _table_ends(data):
    """True when ``data`` holds a whole structure table: an End-of-Table structure
    (type 127), or a length below 4, where dmidecode stops reading too."""
    pos = 0
    while pos + 4 <= len(data):
        if data[pos + 1] < 4:
            return True
        end = data.find(b"\0\0", pos + data[pos + 1])
        if end < 0:
            return False
        if data[pos] == smbios.END_OF_TABLE:
            return True
        pos = end + 2
    return False


def _sm3_table(read_at, address, maximum):
    """The table a ``_SM3_`` entry point points to.  Its length is only a maximum
    (SMBIOS 3.7, 5.2.2) and 32-bit, so the table is read a page at a time up to its
    End-of-Table structure, at most ``min(maximum, SMBIOS_SOURCE_MAX)`` bytes: a
    maximum of 4 GiB never allocates 4 GiB."""
    cap = min(maximum, SMBIOS_SOURCE_MAX)
    data = b""
    while len(data) < cap:
        addr = address + len(data)
        n = min(0x1000 - addr % 0x1000, cap - len(data))
        try:
            chunk = read_at(addr, n)
        except FormatError:
            if data:               # the table ended before the memory did
                break
            raise
        if not chunk:
            break
        data += bytes(chunk)
        if len(chunk) < n or _table_ends(data):
            break
    return data


def _mem_reader(path, host):
    """read_at() over a memory image: a regular file, or /dev/mem itself (anything else,
    a FIFO or another device, is refused by name before it is opened)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) and not (stat.S_ISCHR(st.st_mode) and
                                             os.path.realpath(path) == DEV_MEM):
        check_regular(path, "a memory image")

    def read_at(address, length):
        try:
            with open(path, "rb") as f:
                f.seek(address)
                return f.read(length)
        except PermissionError:
            raise HostAccessError(path) from None
        except OSError as e:
            raise FormatError(f"cannot read {length} bytes at {address:#x}: {e.strerror}",
                              source=path, offset=address) from None
        except (ValueError, OverflowError):      # an address no file offset can be
            raise FormatError(f"cannot read {length} bytes at {address:#x}: beyond any "
                              f"file offset", source=path, offset=LEGACY_SCAN_START) from None
    return read_at


def read_smbios(spec):
    """The SmbiosTable a ``--smbios`` source holds."""
    if spec == HOST:
        if os.path.isdir(SYSFS_DMI):
            try:
                return smbios.read_file(SYSFS_DMI)
            except PermissionError:
                raise HostAccessError(os.path.join(SYSFS_DMI, "DMI")) from None
        if os.path.exists(DEV_MEM):
            return legacy_scan(_mem_reader(DEV_MEM, True), DEV_MEM)
        raise XcmodError(f"this host exposes no SMBIOS tables ({SYSFS_DMI} is missing and "
                         f"there is no {DEV_MEM} to scan)")
    if spec.startswith(MEM_PREFIX):
        path = spec[len(MEM_PREFIX):]
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return legacy_scan(_mem_reader(path, path == DEV_MEM), path)
    return smbios.read_file(spec)
