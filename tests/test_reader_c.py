# SPDX-License-Identifier: MIT
"""The C reference reader as `xcmod-read` (its own C main) and as Python walks images
through it (xcmod.image.creader) see every image alike: modules, items, errors."""
import os
import re
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcmod.errors import FormatError
from xcmod.image.spec import (
    XCMOD_TYPE_ACPI,
    XCMOD_TYPE_ACPI_IDS,
    XCMOD_TYPE_OROM,
    XCMOD_TYPE_SMBIOS,
    iter_modules,
    verify_image,
)

from .referees import c_read
from .paths import BUILD, ROOT
from .seeds import real_images

IMAGES = real_images()


def python_view(data):
    """What Python finds through the binding (verify_image), in xcmod-read's line format."""
    mods = verify_image(data)
    end = mods.pop()
    lines = [f"image length={end.type_header.image_length} modules={len(mods)}"]
    for n, m in enumerate(mods):
        line = (f"module index={n} offset={m.offset:#x} type={m.type_name} "
                f"length={m.length} count={m.count}")
        if m.type == XCMOD_TYPE_SMBIOS:
            th = m.type_header
            line += (f" version={th.major_version}.{th.minor_version}.{th.docrev} "
                     f"entry_point={th.entry_point} max_structure_size={th.max_structure_size}")
        if m.type == XCMOD_TYPE_OROM:
            th = m.type_header
            line += (f" vendor={th.vendor_id:#06x} device={th.device_id:#06x} "
                     f"class=0x{th.class_code[::-1].hex()}")
        if m.type == XCMOD_TYPE_ACPI_IDS:
            th = m.type_header
            line += (f' oem_id="{th.oem_id.decode("latin-1")}" '
                     f'oem_table_id="{th.oem_table_id.decode("latin-1")}"')
        lines.append(line)
        for it in m.iter_items():
            if m.type == XCMOD_TYPE_ACPI:
                lines.append(f"table offset={it.offset:#x} signature="
                             f"{it.data[:4].decode('latin-1')} length={it.length}")
            else:
                handle = int.from_bytes(it.data[2:4], "little")
                lines.append(f"structure offset={it.offset:#x} type={it.data[0]} "
                             f"handle={handle:#06x} length={it.formatted_length} size={it.length}")
    lines.append(f"end offset={end.offset:#x} length={end.length}")
    return lines


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_c_reader_sees_what_python_built(tmp_path, xcmod_read, name):
    """xcmod-read lists exactly the modules, tables and structures Python put in."""
    path = tmp_path / "img"
    path.write_bytes(IMAGES[name])
    r = c_read(xcmod_read, path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == python_view(IMAGES[name])


def _c_error(xcmod_read, path):
    r = c_read(xcmod_read, path)
    assert r.returncode == 1, r.stdout
    m = re.fullmatch(r"xcmod-read: .*: offset (0x[0-9a-f]+): (.*)\n", r.stderr)
    assert m, r.stderr
    return int(m.group(1), 16), m.group(2)


def _py_error(data):
    with pytest.raises(FormatError) as e:
        verify_image(data)
    return e.value.offset, e.value.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(IMAGES)), where=st.floats(0, 1, exclude_max=True),
       xor=st.integers(1, 255))
def test_any_single_byte_flip_is_rejected_by_both(tmp_path, xcmod_read, name, where, xor):
    """Flipping any byte anywhere is rejected by verify and xcmod-read, at the same offset."""
    data = bytearray(IMAGES[name])
    pos = int(where * len(data))
    data[pos] ^= xor
    path = tmp_path / "flipped"
    path.write_bytes(data)
    assert _py_error(bytes(data)) == _c_error(xcmod_read, path)


@pytest.mark.parametrize("cut", [1, 7, 16, 33, 100])
def test_truncated_image_is_rejected_by_both(tmp_path, xcmod_read, cut):
    """An image cut short anywhere is rejected by both readers, same offset and reason."""
    data = IMAGES["dell_c6320_smbios.bin"]
    short = data[:len(data) - cut]
    path = tmp_path / "short"
    path.write_bytes(short)
    assert _py_error(short) == _c_error(xcmod_read, path)


def test_trailing_bytes_are_rejected(tmp_path, xcmod_read):
    """Bytes after the END module make the image invalid for both readers."""
    data = IMAGES["tables"] + b"\0" * 16
    path = tmp_path / "long"
    path.write_bytes(data)
    assert _py_error(data) == _c_error(xcmod_read, path) == (len(IMAGES["tables"]), "data after the END module")


def test_unknown_module_type_is_skipped_but_checksummed(tmp_path, xcmod_read):
    """A module of a type the reader does not know is walked past, not interpreted."""
    from xcmod.image.spec import build_image, encode_module
    img = build_image([encode_module(0x7F00, b"\1\2\3\4", b"opaque payload")])
    path = tmp_path / "unknown"
    path.write_bytes(img)
    r = c_read(xcmod_read, path)
    assert r.returncode == 0, r.stderr
    assert "type=unknown" in r.stdout
    assert [m.type for m in iter_modules(img)] == [0x7F00, 0]


def test_freestanding_reader_needs_no_libc(tmp_path):
    """The reader compiles as 32-bit freestanding code with no undefined symbol."""
    obj = tmp_path / "reader.o"
    inc = subprocess.run(["cc", "-print-file-name=include"], capture_output=True,
                         text=True, check=True).stdout.strip()
    subprocess.run(["cc", "-m32", "-ffreestanding", "-fno-builtin", "-fno-pic", "-fno-pie",
                    "-nostdinc", "-isystem", inc, "-std=c11", "-Wall", "-Wextra", "-Werror",
                    "-O2", "-c", "-o", str(obj), os.path.join(ROOT, "csrc", "xcmod_reader.c")],
                   check=True)
    undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                               check=True).stdout.split()
    assert undefined == []


def test_fuzzer_finds_nothing_in_a_short_run(tmp_path):
    """libFuzzer with ASan/UBSan over the C reader, seeded with real images, finds no crash."""
    fuzzer = os.path.join(BUILD, "fuzz", "xcmod_reader_fuzz")
    if not os.path.exists(fuzzer):
        subprocess.run(["make", "-s", "build/fuzz/xcmod_reader_fuzz"], cwd=ROOT, check=True)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, blob in IMAGES.items():
        (seeds / name).write_bytes(blob)
    r = subprocess.run([fuzzer, "-max_total_time=10", "-max_len=16384",
                        f"-artifact_prefix={tmp_path}/", str(seeds)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done" in r.stderr and "ERROR" not in r.stderr


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(IMAGES)), where=st.floats(0, 1, exclude_max=True),
       xor=st.integers(1, 255))
def test_compiled_reader_in_the_extension_agrees(name, where, xor):
    """xcmod.image.creader (the C reader inside xcmod.xen._xen, used by load) rejects every flip
    exactly as the Python walk does, and accepts the intact image."""
    from xcmod.image.creader import check_image
    data = bytearray(IMAGES[name])
    length, count = check_image(bytes(data))
    assert (length, count) == (len(data), len(verify_image(bytes(data))) - 1)
    data[int(where * len(data))] ^= xor
    with pytest.raises(FormatError) as c:
        check_image(bytes(data))
    assert (c.value.offset, c.value.message) == _py_error(bytes(data))


@pytest.mark.parametrize("what,offset,message", [
    ("payload", 12, "module length inconsistent with its headers"),
    ("reserved", 24 + 14, "reserved field is not zero")])
def test_acpi_ids_module_is_the_ids_and_nothing_else(tmp_path, xcmod_read, what, offset,
                                                     message):
    """An ACPI-IDs module with a payload or a reserved field set: both readers refuse it
    at the same offset with the same reason."""
    from xcmod.image.spec import XCMOD_TYPE_ACPI_IDS, build_image, encode_module
    th = b"LENOVOTP-N23  " + (b"\1\0" if what == "reserved" else b"\0\0")
    img = build_image([encode_module(XCMOD_TYPE_ACPI_IDS, th,
                                     b"extra bytes" if what == "payload" else b"")])
    path = tmp_path / "ids"
    path.write_bytes(img)
    assert _py_error(img) == _c_error(xcmod_read, path) == (offset, message)


def test_items_of_a_table_above_4_gib_keep_their_offsets():
    """A structure table read at a 64-bit address (an SMBIOS 3 entry point's) is walked
    by the reader from its start; the items and the error name the whole address."""
    from xcmod.image.spec import iter_smbios_items
    base = 0x1_0000_0000
    items = iter_smbios_items(bytes([1, 4, 0, 0, 0, 0]) + bytes([2, 5, 1, 0, 9]), base, "t")
    assert next(items).offset == base
    with pytest.raises(FormatError) as e:
        next(items)
    assert (e.value.offset, e.value.message) == (base + 6 + 5, "SMBIOS string set not terminated")
