"""Where an image goes in guest RAM, and what it must not overlap.

The fixed areas come from Xen's hvmloader (tools/firmware/hvmloader/config.h,
tests.c) and the public hvm_info_table.h.  The planner places one or more
blocks page-aligned from a base (0x200000 by default: hvmloader is loaded at
0x100000 and the design reserves its first MiB) and refuses any overlap, any
block beyond the guest's low RAM, and any base that is not page-aligned.
"""
from ..errors import FormatError, LayoutError, UsageError

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
    """[start, end) of guest memory; kind is "fixed", "image" or "limit"."""
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


def fixed_regions(hvmloader_end):
    """hvmloader's areas in the low 16 MiB and the reserved area under 4 GiB."""
    return [
        # config.h: SCRATCH_PHYSICAL_ADDRESS .. HYPERCALL_PHYSICAL_ADDRESS
        Region("hvmloader scratch", 0x00010000, 0x00080000, "fixed"),
        # config.h: HYPERCALL_PHYSICAL_ADDRESS, one page per hypercall page set
        Region("hypercall page", 0x00080000, 0x00081000, "fixed"),
        # hvm_info_table.h: HVM_INFO_PFN 0x09F
        Region("HVM info page", 0x0009F000, 0x000A0000, "fixed"),
        Region("VGA hole and BIOS ROMs (not RAM)", 0x000A0000, 0x00100000, "fixed"),
        Region("hvmloader image", HVMLOADER_PHYSICAL_ADDRESS, hvmloader_end, "fixed"),
        # tests.c: "4MB to 8MB is cleared. Page directory resides at 8MB.
        # 4 page table pages reside at 8MB+4kB to 8MB+20kB."
        Region("debug hvmloader self-test window", 0x00400000, 0x00805000, "fixed"),
        # config.h: RESERVED_MEMBASE; special BIOS mappings allocated upwards
        Region("hvmloader reserved area", RESERVED_MEMBASE, 1 << 32, "fixed"),
    ]


def hvmloader_end_from_elf(path):
    """End (exclusive) of hvmloader's loaded image: max p_paddr + p_memsz of PT_LOAD.

    The file is read through the bounded reader (a regular file of at most
    HVMLOADER_ELF_MAX) and every offset in it is checked before it is used: a
    short, truncated or inconsistent ELF is a FormatError naming the offset."""
    import struct

    from ..fileio import HVMLOADER_ELF_MAX, read_input
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


def plan(blocks, memory_mib=None, base=DEFAULT_BASE, hvmloader_end=None, lowmem_end=None,
         lowmem_what=None):
    """Place ``blocks`` (``[(name, length), ...]``) page-aligned from ``base``.

    Raises UsageError (bad arguments) or LayoutError naming the first conflict.
    ``memory_mib`` is the guest's memory as the user gives it (``--memory``);
    without it only the fixed areas are checked.  A known ``lowmem_end`` (the
    HVM info table's low_mem_pgend, which is what hvmloader sees, or a domain's
    max_memkb) takes precedence, ``lowmem_what`` saying where it comes from.
    """
    if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base < 1 << 32:
        raise UsageError(f"base {base!r} is not a 32-bit guest physical address")
    if base % PAGE_SIZE:
        raise UsageError(f"base {base:#x} is not page-aligned ({PAGE_SIZE:#x})")
    if check_hvmloader_end(hvmloader_end) is None:
        hvmloader_end = HVMLOADER_PHYSICAL_ADDRESS + HVMLOADER_DEFAULT_RESERVED
    if base < page_align(hvmloader_end):
        # hvmloader takes an image only between its own end and the end of low
        # RAM (and what lies below it is firmware's: scratch, BIOS, its image).
        raise UsageError(f"base {base:#x} is below the end of hvmloader "
                         f"({page_align(hvmloader_end):#x}): modules go after it")
    fixed = fixed_regions(page_align(hvmloader_end))
    placed, addr = [], base
    for name, length in blocks:
        if length <= 0:
            raise UsageError(f"{name}: nothing to place (length {length})")
        r = Region(name, addr, addr + length, "image")
        for f in fixed:
            if r.overlaps(f):
                raise LayoutError(f"{name} at {r.start:#x}-{r.end - 1:#x} overlaps "
                                 f"{f.name} ({f.start:#x}-{f.end - 1:#x})")
        placed.append(r)
        addr = page_align(r.end)
    what = lowmem_what or "from the guest's HVM info table"
    if lowmem_end is None and memory_mib is not None:
        if memory_mib <= 0:
            raise UsageError(f"guest memory must be positive, not {memory_mib} MiB")
        lowmem_end = min(memory_mib * MIB, PCI_MEM_START)
        what = f"{memory_mib} MiB guest"
    if lowmem_end is not None:
        for r in placed:
            if r.end > lowmem_end:
                raise LayoutError(f"{r.name} at {r.start:#x}-{r.end - 1:#x} runs past the end "
                                 f"of guest low RAM ({lowmem_end:#x}, {what}); "
                                 f"needs at least {-(-r.end // MIB)} MiB")
    regions = sorted(fixed + placed, key=lambda r: r.start)
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
        mark = "  <== xcmod" if r.kind == "image" else ""
        size = r.end - r.start
        out.write(f"  {r.start:#010x}-{r.end - 1:#010x}  {size:>10} bytes  {r.name}{mark}\n")
    out.write(f"Minimum guest memory for the image to fit: {layout.min_memory_mib} MiB\n")
