# SPDX-License-Identifier: MIT
"""The layout planner keeps images clear of hvmloader's areas and inside guest RAM."""
import json
import re

import pytest

from xcmod.errors import LayoutError, UsageError
from xcmod.xen import layout

from .paths import HVMLOADER    # the installed Xen's (Debian: xen-utils-X.Y)



def test_real_hvmloader_end_from_elf():
    """The end of Debian's real hvmloader comes from its PT_LOAD segment (as readelf shows)."""
    import subprocess
    out = subprocess.run(["readelf", "-lW", HVMLOADER], capture_output=True, text=True,
                         check=True).stdout
    load = [l.split() for l in out.splitlines() if l.strip().startswith("LOAD")]
    want = max(int(f[3], 16) + int(f[5], 16) for f in load)
    assert layout.hvmloader_end_from_elf(HVMLOADER) == want


def test_default_placement_and_minimum_memory():
    """A small image goes at 0x200000 and needs 3 MiB of guest RAM to fit."""
    p = layout.plan([("m", 3840)], memory_mib=32)
    assert (p.blocks[0].start, p.blocks[0].end) == (0x200000, 0x200000 + 3840)
    assert p.min_memory_mib == 3 and p.lowmem_end == 32 << 20


def test_blocks_are_page_aligned_one_after_another():
    """Several blocks (stock acpi + smbios) are placed on consecutive page boundaries."""
    p = layout.plan([("acpi", 5000), ("smbios", 100)])
    assert [(b.start, b.end) for b in p.blocks] == [(0x200000, 0x200000 + 5000),
                                                    (0x202000, 0x202000 + 100)]


@pytest.mark.parametrize("base,length,what", [
    (0x100000, 16, "below the end of hvmloader"),      # hvmloader's image, scratch,
    (0x9F000, 16, "below the end of hvmloader"),       # HVM info and hypercall pages
    (0x80000, 16, "below the end of hvmloader"),       # all lie below its end
    (0x10000, 16, "below the end of hvmloader"),
    (0x1FF000, 0x2000, "below the end of hvmloader"),
    (0x3FF000, 0x2000, "self-test window"),
    (0x200000, 3 << 20, "self-test window"),
    (0xFBFFF000, 0x2000, "reserved area"),
])
def test_overlaps_are_refused_by_name(base, length, what):
    """A block overlapping any fixed hvmloader area is refused, naming the area: a base
    inside hvmloader is a bad argument, an image reaching a fixed area a layout conflict."""
    with pytest.raises(UsageError if "hvmloader" in what else LayoutError, match=what):
        layout.plan([("m", length)], base=base)


def test_real_hvmloader_end_frees_the_rest_of_its_mib():
    """With the real hvmloader's end, a base just above it is accepted."""
    end = layout.hvmloader_end_from_elf(HVMLOADER)
    above = layout.page_align(end)
    assert 0x100000 < above < 0x200000
    with pytest.raises(UsageError):
        layout.plan([("m", 16)], base=above)
    p = layout.plan([("m", 16)], base=above, hvmloader_end=end)
    assert p.blocks[0].start == above


def test_beyond_low_ram_is_refused():
    """A block past the guest's memory is refused with the memory it would need."""
    with pytest.raises(LayoutError, match="needs at least 4 MiB"):
        layout.plan([("m", 4096)], memory_mib=3, base=0x300000)


def test_unaligned_base_is_refused():
    """A base that is not page-aligned is refused."""
    with pytest.raises(UsageError, match="not page-aligned"):
        layout.plan([("m", 16)], base=0x200010)


def test_layout_cli_map_and_json(tmp_path, cli):
    """`xcmod layout` prints an aligned map with the image marked, or JSON."""
    from .paths import as_ssdt, real
    img, aml = tmp_path / "m.bin", tmp_path / "ssdt.dat"
    aml.write_bytes(as_ssdt(open(real("acpi/qemu/q35_DSDT"), "rb").read()))
    assert cli("build", "-o", img, "--policy", "passthrough-all", "--acpi", aml).code == 0
    r = cli("layout", "--memory", "32", img, "--hvmloader", HVMLOADER)
    assert r.code == 0, r.err
    assert "  0x00200000-0x" in r.out and "<== xcmod" in r.out
    end = layout.page_align(layout.hvmloader_end_from_elf(HVMLOADER))
    assert f"0x00100000-0x{end - 1:08x}" in r.out
    d = json.loads(cli("layout", "--memory", "32", img, "--json").out)
    assert d["blocks"][0]["start"] == 0x200000 and d["min_memory_mib"] == 3
    bad = cli("layout", "--memory", "2", img)
    assert bad.code == 1 and "runs past the end of guest low RAM" in bad.err


# ------------------------------------------------- what libxc placed (start info)

def test_start_info_layout_matches_the_installed_header(tmp_path):
    """The hvm_start_info sizes and magic the layout reads by are the real header's."""
    import subprocess
    src = tmp_path / "s.c"
    src.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n"
        "#include <xen/xen.h>\n#include <xen/arch-x86/hvm/start_info.h>\n"
        "int main(void){printf(\"%zu %zu %zu %zu %zu %zu %zu %zu %u %d\\n\",\n"
        "offsetof(struct hvm_start_info, memmap_paddr), sizeof(struct hvm_start_info),\n"
        "offsetof(struct hvm_start_info, nr_modules), offsetof(struct hvm_start_info,\n"
        "modlist_paddr), offsetof(struct hvm_start_info, cmdline_paddr),\n"
        "sizeof(struct hvm_modlist_entry), offsetof(struct hvm_modlist_entry, cmdline_paddr),\n"
        "sizeof(struct hvm_memmap_table_entry), XEN_HVM_START_MAGIC_VALUE,\n"
        "MAX_GUEST_CMDLINE); return 0;}\n")
    subprocess.run(["cc", "-o", str(tmp_path / "s"), str(src)], check=True)
    got = [int(v) for v in subprocess.run([str(tmp_path / "s")], capture_output=True,
                                          text=True, check=True).stdout.split()]
    assert got == [layout.START_INFO_SIZE[0], layout.START_INFO_SIZE[1], 12, 16, 24,
                   layout.MODLIST_ENTRY_SIZE, 16, layout.MEMMAP_ENTRY_SIZE,
                   layout.XEN_HVM_START_MAGIC_VALUE, layout.MAX_GUEST_CMDLINE]


def _guest(memory_mib=32, firmware="ovmf"):
    """Guest RAM as libxc leaves it (tests/fakexen writes it, independently of xcmod)."""
    import io

    from . import fakexen
    f = io.BytesIO(bytes(memory_mib << 20))
    placed = fakexen.libxc_boot_info(f, memory_mib,
                                     fakexen.firmware_image(fakexen.FIRMWARE_SIZES[firmware]))
    ram = bytearray(f.getvalue())      # not getbuffer(): its export outlives f
    return ram, placed, (lambda a, n: bytes(ram[a:a + n]))


def test_start_info_lists_the_firmware_module_and_itself():
    """The start info at %rbx gives the firmware module by its command line, and the
    start info's own page (structure, module list, command lines, memory map)."""
    ram, placed, read_at = _guest()
    regions, why = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    assert why is None
    assert [(r.name, r.start, r.end, r.kind) for r in regions] == [
        ('module "firmware"', 0x134000, 0x334000, "libxc"),
        ("hvm_start_info", 0x334000, 0x334000 + 56 + 64 + 2048 + 48, "libxc")]


@pytest.mark.parametrize("gpa,needle", [
    (0, "%rbx is 0"),
    (0x300000, "no hvm_start_info magic at vCPU0's %rbx 0x300000"),
    (64 << 20, "not in guest low RAM"),
])
def test_no_start_info_is_a_reason_not_an_error(gpa, needle):
    """No start info at %rbx (0, no magic, outside RAM): no regions, and why."""
    ram, placed, read_at = _guest()
    regions, why = layout.start_info_regions(read_at, gpa, 32 << 20, "g")
    assert regions is None and needle in why


@pytest.mark.parametrize("offset,value,needle", [
    (12, (1000).to_bytes(4, "little"), "nr_modules 1000 exceeds 16"),
    (24, (0x334000 + 4096 - 100).to_bytes(8, "little"), None),      # a command line: fine
    (24, (0x1FFFFFF).to_bytes(8, "little"), "command line at 0x1ffffff has no NUL in 1 bytes"),
    (16, (32 << 20).to_bytes(8, "little"), "module list 0x2000000+0x20 is not in guest low RAM"),
    (48, (100000).to_bytes(4, "little"), "memmap_entries 100000 exceeds 128"),
    (40, (0xFFFFFFF0).to_bytes(8, "little"), "memory map 0xfffffff0+0x30 is not in guest low"),
    (56 + 8, (1 << 40).to_bytes(8, "little"), "module 0 0x134000+0x10000000000 is not in guest"),
    (56 + 0, (0x1F00000).to_bytes(8, "little"), "module 0 0x1f00000+0x200000 is not in guest"),
    (56 + 16, (0xFFFFFFFF).to_bytes(8, "little"), "module 0's command line 0xffffffff+0x1"),
    (56 + 64, b"x" * 2048, "module 0's command line at 0x334078 has no NUL in 1024 bytes"),
])
def test_a_start_info_whose_numbers_are_wrong_is_refused(offset, value, needle):
    """Every number the guest's start info gives is bounded: a wrong one is a
    FormatError naming the field and where it is, never a huge read."""
    from xcmod.errors import FormatError
    ram, placed, read_at = _guest()
    si = placed["start_info"]
    ram[si + offset:si + offset + len(value)] = value
    ram[(32 << 20) - 1] = 0x41                # the last byte of RAM is no NUL
    reads = []

    def counted(a, n):
        reads.append(n)
        return read_at(a, n)
    if needle is None:
        layout.start_info_regions(counted, si, 32 << 20, "domain 6")
        return
    with pytest.raises(FormatError, match=re.escape("hvm_start_info at 0x334000: " + needle)) as e:
        layout.start_info_regions(counted, si, 32 << 20, "domain 6")
    assert str(e.value).startswith("domain 6: offset 0x3340")
    assert max(reads) <= 1024


def test_default_placement_follows_the_last_module():
    """With OVMF's module the image goes on the first page after the start info;
    with SeaBIOS's it stays at 0x200000 (everything ends below it)."""
    ram, placed, read_at = _guest(firmware="ovmf")
    ovmf, _ = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    p = layout.plan([("m", 3840)], memory_mib=32, libxc=ovmf)
    assert p.blocks[0].start == 0x335000
    assert all(not b.overlaps(r) for b in p.blocks for r in ovmf)
    ram, placed, read_at = _guest(firmware="seabios")
    seabios, _ = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    assert seabios[-1].end < 0x200000
    assert layout.plan([("m", 3840)], memory_mib=32, libxc=seabios).blocks[0].start == 0x200000


def test_default_placement_moves_past_fixed_areas():
    """A block that would reach the debug self-test window from after OVMF's module
    is moved past it; the next block follows it."""
    ram, placed, read_at = _guest()
    ovmf, _ = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    p = layout.plan([("acpi", 0x100000), ("smbios", 100)], memory_mib=32, libxc=ovmf)
    assert [(b.start, b.end) for b in p.blocks] == [(0x800000, 0x900000), (0x900000, 0x900064)]


def test_explicit_base_over_a_module_is_refused_naming_it():
    """--base inside the firmware module or the start info: refused, naming it."""
    ram, placed, read_at = _guest()
    ovmf, _ = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    with pytest.raises(LayoutError, match=r'm at 0x200000-0x200eff overlaps module "firmware" '
                                          r'placed by libxc \(0x134000-0x333fff\)'):
        layout.plan([("m", 3840)], base=0x200000, libxc=ovmf)
    with pytest.raises(LayoutError, match=r"overlaps hvm_start_info placed by libxc"):
        layout.plan([("m", 3840)], base=0x334000, libxc=ovmf)
    assert layout.plan([("m", 3840)], base=0x335000, libxc=ovmf).blocks[0].start == 0x335000


def test_without_hvmloader_its_end_is_where_libxc_began():
    """Without --hvmloader, hvmloader is taken to end where libxc's first module
    begins: the map shows it so, and a base in the gap after the modules is taken."""
    ram, placed, read_at = _guest(firmware="seabios")
    seabios, _ = layout.start_info_regions(read_at, placed["start_info"], 32 << 20, "g")
    p = layout.plan([("m", 16)], base=0x180000, libxc=seabios)
    assert p.blocks[0].start == 0x180000
    hv = [r for r in p.regions if r.name == "hvmloader image"]
    assert [(r.start, r.end) for r in hv] == [(0x100000, 0x134000)]
    with pytest.raises(UsageError, match="below the end of hvmloader"):
        layout.plan([("m", 16)], base=0x133000, libxc=seabios)


# --- a debug hvmloader's self-test window, as tests.c picks it -------------------

def _window(p):
    return [(r.start, r.end) for r in p.regions if r.name == "debug hvmloader self-test window"]


def test_selftest_window_is_the_first_free_4mib_above_hvmloader():
    """tests.c: the first multiple of 4 MiB at or above hvmloader's _end."""
    assert _window(layout.plan([("m", 16)], hvmloader_end=0x134000)) == [(0x400000, 0x800000)]
    assert _window(layout.plan([("m", 16)], hvmloader_end=0x400001)) == [(0x800000, 0xC00000)]


def test_selftest_window_skips_a_block_a_module_overlaps():
    """A module libxc listed in the 4-8 MiB block moves the window to 8-12 MiB, and an
    image may then use 4-8 MiB past the module."""
    fw = layout.Region('module "firmware"', 0x134000, 0x434000, "libxc")
    p = layout.plan([("m", 0x100000)], hvmloader_end=0x134000, libxc=[fw])
    assert _window(p) == [(0x800000, 0xC00000)]
    assert p.blocks[0].start == 0x434000


def test_no_selftest_window_where_low_ram_is_too_small():
    """A guest whose low RAM ends before the block ends: the tests are skipped, and
    an image may go anywhere above hvmloader."""
    p = layout.plan([("m", 5 << 20)], memory_mib=7, hvmloader_end=0x134000, base=0x200000)
    assert _window(p) == []
    with pytest.raises(LayoutError, match=r"self-test window \(0x400000-0x7fffff\)"):
        layout.plan([("m", 5 << 20)], memory_mib=8, hvmloader_end=0x134000, base=0x200000)


def test_selftest_window_is_what_the_built_trees_tests_c_says(tmp_path):
    """The constants and rules above are tests.c's, in the tree `make hvmloader`
    builds (XEN_SRC=DIR: that tree): the 4 MiB block, the step from 0, the
    _end and low-RAM conditions, the start info's pieces avoided."""
    import os
    import subprocess

    from .paths import ROOT
    r = subprocess.run(["sh", os.path.join(ROOT, "hvmloader", "build"), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    src = subprocess.run(["tar", "-xzOf", str(tmp_path / "xcmod-src.tar.gz"),
                          "tools/firmware/hvmloader/tests.c"], capture_output=True,
                         check=True).stdout.decode()
    code = " ".join(src.split())
    assert "#define TEST_MEM_SIZE (4ul << 20)" in code
    assert layout.TEST_MEM_SIZE == 4 << 20
    assert "static unsigned long test_mem_base;" in code            # starts at 0
    for rule in ("for ( ; ; test_mem_base += TEST_MEM_SIZE )",
                 "if ( hvm_info->low_mem_pgend < ((test_mem_base + TEST_MEM_SIZE) >> PAGE_SHIFT) )",
                 "if ( (unsigned long)_end > test_mem_base ) continue;",
                 "hvm_start_info->cmdline_paddr < test_mem_base + TEST_MEM_SIZE",
                 "modlist[i].paddr < test_mem_base + TEST_MEM_SIZE",
                 "memset((char *)test_mem_base, 0, TEST_MEM_SIZE);"):
        assert rule in code, rule
