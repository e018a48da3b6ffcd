"""The layout planner keeps images clear of hvmloader's areas and inside guest RAM."""
import json

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
