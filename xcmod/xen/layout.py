# SPDX-License-Identifier: MIT
"""Where an image goes in guest RAM, and what it must not overlap.

The fixed areas come from Xen's hvmloader (tools/firmware/hvmloader/config.h,
tests.c, whose self-test window is derived as tests.c picks it:
:func:`selftest_window`) and the public hvm_info_table.h.  What libxc's HVM domain builder
placed after hvmloader, the "firmware" module (SeaBIOS's 256 KiB, OVMF's
2 MiB) and the hvm_start_info that lists it, comes from the guest itself
(:func:`start_info_regions`).  The planner places one or more blocks
page-aligned after all of it (from 0x200000 at the lowest: hvmloader is loaded
at 0x100000 and the design reserves its first MiB), or from an explicit base,
and refuses any overlap, any block beyond the guest's low RAM, and any base
that is not page-aligned.
"""
from ..errors import FormatError, LayoutError, UsageError
from ..fileio import HVMLOADER_ELF_MAX, read_input

PAGE_SIZE = 0x1000
MIB = 1 << 20
DEFAULT_BASE = 0x200000
HVMLOADER_PHYSICAL_ADDRESS = 0x00100000          # config.h
HVMLOADER_DEFAULT_RESERVED = 1 * MIB             # the design's assumption without --hvmloader
PCI_MEM_START = 0xF0000000                       # config.h: default MMIO hole start
RESERVED_MEMBASE = 0xFC000000                    # config.h


# Plain classes, not dataclasses or namedtuples: `load` imports this module, and
# under a slow CPU (the TCG rig) importing dataclasses costs more than the whole
# load, and each namedtuple() compiles code at import.
class Region:
    """[start, end) of guest memory; kind is "fixed" (hvmloader's), "libxc" (what the
    domain builder placed: a module or the hvm_start_info), "image" or "limit"."""
    __slots__ = ("name", "start", "end", "kind")

    def __init__(self, name, start, end, kind):
        self.name, self.start, self.end, self.kind = name, start, end, kind

    def __repr__(self):
        return f"Region({self.name!r}, {self.start:#x}, {self.end:#x}, {self.kind!r})"

    def overlaps(self, other):
        return self.start < other.end and other.start < self.end

    def as_dict(self):
        return {"name": self.name, "start": self.start, "end": self.end, "kind": self.kind,
                "length": self.end - self.start}


# tools/firmware/hvmloader/tests.c (Xen 4.10 and later; every release xcmod
# builds for): a debug build's self-tests clear TEST_MEM_SIZE bytes at
# test_mem_base, page tables included, which is the first multiple of
# TEST_MEM_SIZE (from 0) at or above hvmloader's _end whose block overlaps
# neither the start info's command line, nor its module list, nor any module
# or module name; if that block does not end within low RAM the tests are
# skipped.  (Before 4.10 it was fixed: 4-8 MiB, page tables to 8 MiB + 20 KiB.)
# tests/test_layout.py holds these to the tests.c of the tree `make hvmloader`
# builds.  A release hvmloader (debug=n, Debian's) has no self-tests.
TEST_MEM_SIZE = 4 * MIB


def selftest_window(hvmloader_end, libxc=(), lowmem_end=None):
    """The block a debug hvmloader's self-tests clear, as tests.c picks it, or None
    when they would be skipped for want of low RAM.  ``libxc`` are the start info's
    regions (:func:`start_info_regions`); its pieces are merged there, so the
    structure itself counts as tests.c's command line and module list do (libxc
    lays them out in one segment)."""
    base = 0
    while lowmem_end is None or base + TEST_MEM_SIZE <= lowmem_end:
        block = Region("debug hvmloader self-test window", base, base + TEST_MEM_SIZE,
                       "fixed")
        if hvmloader_end <= base and not any(block.overlaps(r) for r in libxc):
            return block
        base += TEST_MEM_SIZE
        if base >= RESERVED_MEMBASE:
            break
    return None


def fixed_regions(hvmloader_end, libxc=(), lowmem_end=None):
    """hvmloader's areas in the low 16 MiB and the reserved area under 4 GiB."""
    window = selftest_window(hvmloader_end, libxc, lowmem_end)
    return [
        # config.h: SCRATCH_PHYSICAL_ADDRESS .. HYPERCALL_PHYSICAL_ADDRESS
        Region("hvmloader scratch", 0x00010000, 0x00080000, "fixed"),
        # config.h: HYPERCALL_PHYSICAL_ADDRESS, one page per hypercall page set
        Region("hypercall page", 0x00080000, 0x00081000, "fixed"),
        # hvm_info_table.h: HVM_INFO_PFN 0x09F
        Region("HVM info page", 0x0009F000, 0x000A0000, "fixed"),
        Region("VGA hole and BIOS ROMs (not RAM)", 0x000A0000, 0x00100000, "fixed"),
        Region("hvmloader image", HVMLOADER_PHYSICAL_ADDRESS, hvmloader_end, "fixed"),
        # config.h: RESERVED_MEMBASE; special BIOS mappings allocated upwards
        Region("hvmloader reserved area", RESERVED_MEMBASE, 1 << 32, "fixed"),
    ] + ([window] if window else [])


def hvmloader_end_from_elf(path):
    """End (exclusive) of hvmloader's loaded image: max p_paddr + p_memsz of PT_LOAD.

    The file is read through the bounded reader (a regular file of at most
    HVMLOADER_ELF_MAX) and every offset in it is checked before it is used: a
    short, truncated or inconsistent ELF is a FormatError naming the offset."""
    import struct       # only an --hvmloader ELF needs it; nothing else on load's path does
    data = read_input(path, "an hvmloader ELF", HVMLOADER_ELF_MAX)

    def need(n, what):
        if len(data) < n:
            raise FormatError(f"{len(data)} bytes: too short for {what} ({n} bytes)",
                              source=path, offset=len(data))
    need(16, "an ELF identification")
    if data[:4] != b"\x7fELF":
        raise FormatError("not an ELF file", source=path, offset=0)
    cls = data[4]
    if data[5] != 1:
        raise FormatError(f"ELF data encoding {data[5]} is not little-endian: not an x86 "
                          f"hvmloader", source=path, offset=5)
    if cls == 1:
        need(52, "an ELF32 header")
        phoff, = struct.unpack_from("<I", data, 0x1C)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
        fmt, fields = "<IIIIIIII", ("type", "offset", "vaddr", "paddr", "filesz", "memsz")
    elif cls == 2:
        need(64, "an ELF64 header")
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        fmt, fields = "<IIQQQQQQ", ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz")
    else:
        raise FormatError(f"unknown ELF class {cls}", source=path, offset=4)
    if phnum and phentsize < struct.calcsize(fmt):
        raise FormatError(f"program header entry size {phentsize} is below the "
                          f"{struct.calcsize(fmt)} bytes of one", source=path,
                          offset=0x2A if cls == 1 else 0x36)
    end = 0
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + struct.calcsize(fmt) > len(data):
            raise FormatError("program header past end of file", source=path,
                              offset=min(off, len(data)))
        ph = dict(zip(fields, struct.unpack_from(fmt, data, off)))
        if ph["type"] == 1:            # PT_LOAD
            end = max(end, ph["paddr"] + ph["memsz"])
    if end <= HVMLOADER_PHYSICAL_ADDRESS:
        raise FormatError(f"no loadable segment above {HVMLOADER_PHYSICAL_ADDRESS:#x}: "
                          f"not an hvmloader", source=path)
    if end > RESERVED_MEMBASE:
        raise FormatError(f"loadable segments end at {end:#x}, beyond low memory "
                          f"({RESERVED_MEMBASE:#x}): not an hvmloader", source=path)
    return end


def check_hvmloader_end(hvmloader_end):
    """``hvmloader_end`` (None: the default) if it is an address hvmloader's image can
    end at: above its load address 0x100000, below the reserved area; UsageError
    otherwise.  Checked before anything is placed, copied or measured."""
    if hvmloader_end is None:
        return None
    if isinstance(hvmloader_end, bool) or not isinstance(hvmloader_end, int) or \
            not HVMLOADER_PHYSICAL_ADDRESS < hvmloader_end <= RESERVED_MEMBASE:
        raise UsageError(f"hvmloader_end {hvmloader_end!r} is not where hvmloader's image "
                         f"can end ({HVMLOADER_PHYSICAL_ADDRESS:#x} < end <= "
                         f"{RESERVED_MEMBASE:#x}); --hvmloader ELF gives it")
    return hvmloader_end


# xen/include/public/arch-x86/hvm/start_info.h (offsets checked against the real
# header by tests/test_layout.py).  libxc's HVM builder (tools/libs/guest/
# xg_dom_x86.c: alloc_magic_pages_hvm(), bootlate_hvm(), vcpu_hvm()) puts the
# structure in a segment of its own after hvmloader's modules and passes its
# address in vCPU0's %ebx: the structure, the module list (room for
# HVMLOADER_MODULE_MAX_COUNT = 2 entries), each module's command line
# (MAX_GUEST_CMDLINE bytes of room each; "firmware" for the BIOS/UEFI
# image) and the memory map.  libxc allocates that segment after every module
# of hvmloader's (the firmware, and xl.cfg's acpi_firmware= and
# smbios_firmware=, which the list leaves out), so past its end nothing of
# libxc's lies.
XEN_HVM_START_MAGIC_VALUE = 0x336EC578
START_INFO_SIZE = (40, 56)         # sizeof(struct hvm_start_info): version 0, version 1+
MODLIST_ENTRY_SIZE = 32            # sizeof(struct hvm_modlist_entry)
MEMMAP_ENTRY_SIZE = 24             # sizeof(struct hvm_memmap_table_entry)
MAX_GUEST_CMDLINE = 1024           # xen.h; libxc's HVMLOADER_MODULE_CMDLINE_SIZE
# Bounds on what a guest's start info may claim (libxc writes at most 2 modules
# and a memory map of a few entries; libxl's E820MAX is 128).
START_INFO_MAX_MODULES = 16
START_INFO_MAX_MEMMAP = 128


def _le(data, offset, size):
    """The little-endian unsigned integer of ``size`` bytes at ``offset``."""
    return int.from_bytes(data[offset:offset + size], "little")


def start_info_regions(read_at, gpa, ram_end, source):
    """What libxc placed after hvmloader, from the hvm_start_info at ``gpa``.

    ``read_at(address, length)`` reads guest memory; ``ram_end`` bounds every
    address the structure gives.  Returns ``(regions, None)``: a Region (kind
    "libxc") per listed module, named by its command line, and one per piece of
    the start info itself; or ``(None, reason)`` when there is no start info at
    ``gpa`` (0, outside RAM, no magic).  A start info with its magic whose
    numbers do not add up raises FormatError naming the field.
    """
    if not gpa:
        return None, "vCPU0's %rbx is 0"
    if gpa + START_INFO_SIZE[1] > ram_end:
        return None, f"vCPU0's %rbx {gpa:#x} is not in guest low RAM (ends {ram_end:#x})"
    head = read_at(gpa, START_INFO_SIZE[1])
    if len(head) != START_INFO_SIZE[1]:
        raise FormatError(f"hvm_start_info at {gpa:#x}: read {len(head)} of "
                          f"{START_INFO_SIZE[1]} bytes", source=source, offset=gpa)
    # xen/include/public/arch-x86/hvm/start_info.h: struct hvm_start_info
    magic, version, nr_modules = _le(head, 0, 4), _le(head, 4, 4), _le(head, 12, 4)
    modlist, cmdline = _le(head, 16, 8), _le(head, 24, 8)
    if magic != XEN_HVM_START_MAGIC_VALUE:
        return None, f"no hvm_start_info magic at vCPU0's %rbx {gpa:#x} (found {magic:#010x})"
    info = _StartInfo(read_at, gpa, ram_end, source)
    size = START_INFO_SIZE[1] if version >= 1 else START_INFO_SIZE[0]
    pieces = [(gpa, gpa + size)]
    if cmdline:
        pieces.append((cmdline, info.c_string(cmdline, "command line", 24)[1]))
    if version >= 1:
        memmap, entries = _le(head, 40, 8), _le(head, 48, 4)
        if entries > START_INFO_MAX_MEMMAP:
            raise info.bad(f"memmap_entries {entries} exceeds {START_INFO_MAX_MEMMAP}", 48)
        if entries:
            pieces.append(info.inside(memmap, entries * MEMMAP_ENTRY_SIZE, "memory map", 40))
    if nr_modules > START_INFO_MAX_MODULES:
        raise info.bad(f"nr_modules {nr_modules} exceeds {START_INFO_MAX_MODULES}", 12)
    modules = info.modules(modlist, nr_modules, pieces) if nr_modules else []
    regions = [Region("hvm_start_info" + ("" if s <= gpa < e else " data"), s, e, "libxc")
               for s, e in _merge_within_a_page(pieces)]
    return sorted(modules + regions, key=lambda r: r.start), None


class _StartInfo:
    """Reading what one hvm_start_info points at, every address checked against the
    guest's low RAM; errors name the start info's field (its offset from ``gpa``)."""

    def __init__(self, read_at, gpa, ram_end, source):
        self.read_at, self.gpa, self.ram_end, self.source = read_at, gpa, ram_end, source

    def bad(self, what, offset):
        return FormatError(f"hvm_start_info at {self.gpa:#x}: {what}", source=self.source,
                           offset=self.gpa + offset)

    def inside(self, start, length, what, offset):
        """``(start, end)`` of a piece wholly in guest low RAM; FormatError otherwise."""
        if not (0 < start and length >= 0 and start + length <= self.ram_end):
            raise self.bad(f"{what} {start:#x}+{length:#x} is not in guest low RAM "
                           f"(ends {self.ram_end:#x})", offset)
        return start, start + length

    def c_string(self, addr, what, offset):
        """(text, end) of the NUL-terminated string at ``addr``, at most MAX_GUEST_CMDLINE."""
        self.inside(addr, 1, what, offset)
        raw = self.read_at(addr, min(MAX_GUEST_CMDLINE, self.ram_end - addr))
        nul = raw.find(b"\0")
        if nul < 0:
            raise self.bad(f"{what} at {addr:#x} has no NUL in {len(raw)} bytes", offset)
        text = raw[:nul].decode("ascii", "backslashreplace")
        return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text), addr + nul + 1

    def modules(self, modlist, nr_modules, pieces):
        """A Region per module of the list at ``modlist`` (struct hvm_modlist_entry),
        named by its command line; the list and the command lines go to ``pieces``."""
        size = nr_modules * MODLIST_ENTRY_SIZE
        pieces.append(self.inside(modlist, size, "module list", 16))
        table = self.read_at(modlist, size)
        if len(table) != size:
            raise self.bad(f"module list: read {len(table)} of {size} bytes", 16)
        modules = []
        for i in range(nr_modules):
            at = i * MODLIST_ENTRY_SIZE
            paddr, length, name_at = _le(table, at, 8), _le(table, at + 8, 8), \
                _le(table, at + 16, 8)
            where = modlist - self.gpa + at
            name = f"module {i}"
            if name_at:
                text, end = self.c_string(name_at, f"module {i}'s command line", where + 16)
                pieces.append((name_at, end))
                name = f'module "{text}"'
            if length:
                start, end = self.inside(paddr, length, f"module {i}", where)
                modules.append(Region(name, start, end, "libxc"))
        return modules


def _merge_within_a_page(pieces):
    """The ``(start, end)`` pieces, those within a page of each other as one."""
    pieces = sorted(pieces)
    merged = [list(pieces[0])]
    for start, end in pieces[1:]:
        if start <= page_align(merged[-1][1]):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


class Layout:
    def __init__(self, memory_mib, lowmem_end, regions, blocks):
        self.memory_mib = memory_mib      # None when not given
        self.lowmem_end = lowmem_end
        self.regions = regions            # fixed + placed, sorted by start
        self.blocks = blocks              # the placed image blocks, in placement order

    @property
    def end(self):
        return max(b.end for b in self.blocks)

    @property
    def min_memory_mib(self):
        """Guest memory (MiB) needed for every block to lie in low RAM."""
        return -(-self.end // MIB)

    def as_dict(self):
        return {"memory_mib": self.memory_mib, "lowmem_end": self.lowmem_end,
                "blocks": [b.as_dict() for b in self.blocks],
                "regions": [r.as_dict() for r in self.regions],
                "min_memory_mib": self.min_memory_mib}


def page_align(v):
    return (v + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def plan(blocks, memory_mib=None, base=None, hvmloader_end=None, lowmem_end=None,
         libxc=(), lowmem_what=None):
    """Place ``blocks`` (``[(name, length), ...]``) page-aligned.

    ``libxc`` are the regions the domain builder placed (:func:`start_info_regions`).
    Without ``base``, the blocks go one after another from the first page after
    hvmloader and everything in ``libxc``, at 0x200000 at the lowest, each moved
    past any fixed area it would overlap.  An explicit ``base`` is taken as
    given, and any overlap is refused naming what it overlaps: a UsageError
    for a base inside hvmloader, a LayoutError otherwise.

    ``memory_mib`` is the guest's memory; without it only the fixed areas are
    checked.  A known ``lowmem_end`` (the HVM info table's low_mem_pgend, which
    is what hvmloader sees, or a domain's max_memkb) takes precedence over the one
    ``memory_mib`` implies, ``lowmem_what`` saying where it comes from.
    Without ``hvmloader_end``, hvmloader is taken to end where the first module
    libxc placed begins, or to fill its first MiB.
    """
    if base is not None and (isinstance(base, bool) or not isinstance(base, int)
                             or not 0 <= base < 1 << 32):
        raise UsageError(f"base {base!r} is not a 32-bit guest physical address")
    if base is not None and base % PAGE_SIZE:
        raise UsageError(f"base {base:#x} is not page-aligned ({PAGE_SIZE:#x})")
    if check_hvmloader_end(hvmloader_end) is None:
        # libxc places its first module right after hvmloader's segments.
        hvmloader_end = min([HVMLOADER_PHYSICAL_ADDRESS + HVMLOADER_DEFAULT_RESERVED] +
                            [r.start for r in libxc if r.start > HVMLOADER_PHYSICAL_ADDRESS])
    if base is not None and base < page_align(hvmloader_end):
        # hvmloader takes an image only between its own end and the end of low
        # RAM (and what lies below it is firmware's: scratch, BIOS, its image).
        raise UsageError(f"base {base:#x} is below the end of hvmloader "
                         f"({page_align(hvmloader_end):#x}): modules go after it")
    what = lowmem_what or "from the guest's HVM info table"
    if lowmem_end is None and memory_mib is not None:
        if memory_mib <= 0:
            raise UsageError(f"guest memory must be positive, not {memory_mib} MiB")
        lowmem_end = min(memory_mib * MIB, PCI_MEM_START)
        what = f"{memory_mib} MiB guest"
    fixed = fixed_regions(page_align(hvmloader_end), libxc, lowmem_end)
    taken = fixed + list(libxc)
    auto = base is None
    addr = base if not auto else page_align(max([DEFAULT_BASE, hvmloader_end] +
                                                [r.end for r in libxc]))
    placed = []
    for name, length in blocks:
        if length <= 0:
            raise UsageError(f"{name}: nothing to place (length {length})")
        r = Region(name, addr, addr + length, "image")
        hit = [f for f in taken if r.overlaps(f)]
        while auto and hit:                 # past what it hits; ends below 4 GiB
            addr = page_align(max(f.end for f in hit))
            r = Region(name, addr, addr + length, "image")
            hit = [f for f in taken if r.overlaps(f)]
        for f in hit:
            by = " placed by libxc" if f.kind == "libxc" else ""
            raise LayoutError(f"{name} at {r.start:#x}-{r.end - 1:#x} overlaps "
                              f"{f.name}{by} ({f.start:#x}-{f.end - 1:#x})")
        placed.append(r)
        addr = page_align(r.end)
    if lowmem_end is not None:
        for r in placed:
            if r.end > lowmem_end:
                raise LayoutError(f"{r.name} at {r.start:#x}-{r.end - 1:#x} runs past the end "
                                 f"of guest low RAM ({lowmem_end:#x}, {what}); "
                                 f"needs at least {-(-r.end // MIB)} MiB")
    regions = sorted(taken + placed, key=lambda r: r.start)
    return Layout(memory_mib, lowmem_end, regions, placed)


def render(layout, out):
    """An aligned ASCII memory map of ``layout``."""
    mem = f"{layout.memory_mib} MiB guest" if layout.memory_mib else "guest memory not given"
    out.write(f"Guest physical memory map ({mem})\n")
    rows = list(layout.regions)
    if layout.lowmem_end is not None:
        rows.append(Region("end of guest low RAM", layout.lowmem_end, layout.lowmem_end, "limit"))
        rows.sort(key=lambda r: (r.start, r.kind != "limit"))
    for r in rows:
        if r.kind == "limit":
            out.write(f"  {r.start:#010x}             {r.name}\n")
            continue
        mark = {"image": "  <== xcmod", "libxc": " (placed by libxc)"}.get(r.kind, "")
        size = r.end - r.start
        out.write(f"  {r.start:#010x}-{r.end - 1:#010x}  {size:>10} bytes  {r.name}{mark}\n")
    out.write(f"Minimum guest memory for the image to fit: {layout.min_memory_mib} MiB\n")
