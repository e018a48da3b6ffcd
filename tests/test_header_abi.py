# SPDX-License-Identifier: MIT
"""The Python format definitions match the public C header, byte for byte."""
import os
import re
import shutil
import subprocess

import pytest

from xcmod.firmware import acpi, smbios
from xcmod.image import spec as fmt
from xcmod.image.spec import field_offsets

from .paths import ROOT

HEADER = os.path.join(ROOT, "csrc", "xcmod_module.h")

# The format's structs (xcmod.image.spec), and the parts of the ACPI and SMBIOS
# specs the reader relies on, which live beside their parsers (xcmod.firmware).
STRUCTS = {
    "xcmod_header": fmt.xcmod_header,
    "xcmod_acpi_header": fmt.xcmod_acpi_header,
    "xcmod_smbios_header": fmt.xcmod_smbios_header,
    "xcmod_orom_header": fmt.xcmod_orom_header,
    "xcmod_end_header": fmt.xcmod_end_header,
    "xcmod_acpi_ids_header": fmt.xcmod_acpi_ids_header,
    "xcmod_acpi_table_header": acpi.acpi_table_header,
    "xcmod_smbios_structure_header": smbios.smbios_structure_header,
}


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    """sizeof/offsetof of every struct and field, as the C compiler lays them out."""
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "xcmod_module.h"',
             "int main(void) {"]
    for name, struct in STRUCTS.items():
        lines.append(f'printf("{name} %zu\\n", sizeof(struct {name}));')
        for field in field_offsets(struct):
            lines.append(f'printf("{name}.{field} %zu\\n", offsetof(struct {name}, {field}));')
    lines.append("return 0; }")
    d = tmp_path_factory.mktemp("abi")
    src, exe = d / "abi.c", d / "abi"
    src.write_text("\n".join(lines))
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-I", os.path.dirname(HEADER),
                    "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


@pytest.mark.parametrize("name", STRUCTS)
def test_struct_size_matches_header(c_layout, name):
    """Each construct Struct has the size the C compiler gives the header's struct."""
    assert int(c_layout[name]) == STRUCTS[name].sizeof()


def test_the_walk_takes_the_acpi_header_length_of_the_header(c_layout):
    """The image walk's ACPI_TABLE_HDR (csrc/xcmod_reader.c's) is the size of the
    header's xcmod_acpi_table_header, which firmware's acpi_table_header also is."""
    assert fmt.ACPI_TABLE_HDR == int(c_layout["xcmod_acpi_table_header"]) \
        == acpi.ACPI_HEADER_SIZE


@pytest.mark.parametrize("name", STRUCTS)
def test_field_offsets_match_header(c_layout, name):
    """Each field sits at the offset the C compiler gives it, under the same name."""
    for field, offset in field_offsets(STRUCTS[name]).items():
        assert int(c_layout[f"{name}.{field}"]) == offset, field


def test_constants_match_header():
    """Every #define of the header that Python mirrors has the same value."""
    text = open(HEADER).read()
    defines = dict(re.findall(r"#define\s+(XCMOD_\w+)\s+(0x[0-9a-fA-F]+|\d+)", text))
    mirrored = {k: v for k, v in vars(fmt).items() if k.startswith("XCMOD_") and isinstance(v, int)}
    assert mirrored, "spec.py mirrors no constants"
    for name, value in mirrored.items():
        assert name in defines, f"{name} is not in the C header"
        assert int(defines[name], 0) == value, name
    sig = "".join(re.findall(r"#define\s+XCMOD_SIGNATURE_\d\s+'(.)'", text)).encode()
    assert sig == fmt.XCMOD_SIGNATURE


def test_header_is_freestanding():
    """The public header includes nothing but <stdint.h>."""
    includes = re.findall(r"#include\s*[<\"]([^>\"]+)", open(HEADER).read())
    assert includes == ["stdint.h"]


def test_the_binding_reads_the_header_as_the_spec_does():
    """The reader's binding (its cdefs, csrc/cdefs/xcmod_reader.h) lays the structs it
    takes field offsets from as the construct definitions do, and reports each
    status with xcmod_strerror()'s message in csrc/xcmod_reader.c, word for word."""
    from xcmod.image._reader import ffi, lib
    for name in ("xcmod_header", "xcmod_acpi_table_header"):
        for field, offset in field_offsets(STRUCTS[name]).items():
            assert ffi.offsetof(f"struct {name}", field) == offset, (name, field)
    c = open(os.path.join(ROOT, "csrc", "xcmod_reader.c")).read()
    codes = dict(re.findall(r"(XCMOD_E_\w+)\s*=\s*(-\d+)",
                            open(os.path.join(ROOT, "csrc", "xcmod_reader.h")).read()))
    messages = {name: m.replace('\\"', '"') for name, m in
                re.findall(r'case (XCMOD_E_\w+):\s+return "((?:[^"\\]|\\.)*)";', c)}
    assert len(messages) == len(codes) == 21
    for name, code in codes.items():
        assert ffi.string(lib.xcmod_strerror(int(code))).decode() == messages[name], name


# --- C++98 (Xen's headers++.chk) and the sizes the reader pins ------------------

SIZES = {"xcmod_header": 24, "xcmod_acpi_header": 8, "xcmod_smbios_header": 16,
         "xcmod_orom_header": 16, "xcmod_acpi_ids_header": 16, "xcmod_end_header": 8,
         "xcmod_acpi_table_header": 36, "xcmod_smbios_structure_header": 4}


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("name", ["fwt_module.h", "fwt_reader.h", "csrc/xcmod_module.h",
                                  "csrc/xcmod_reader.h"])
def test_the_headers_compile_as_cxx98(tmp_path, name):
    """Xen's headers++.chk compiles public headers as C++98: the series' headers
    (hvmloader/fwt-files' output, patch 0005) and csrc/'s hold no _Static_assert or
    other C11; g++ -std=c++98 -x c++ -fsyntax-only takes them, pedantic warnings as
    errors."""
    if name.startswith("csrc/"):
        path = os.path.join(ROOT, name)
    else:
        r = subprocess.run(["python3", os.path.join(ROOT, "hvmloader", "fwt-files"),
                            str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        path = str(tmp_path / name)
    r = subprocess.run(["g++", "-std=c++98", "-x", "c++", "-fsyntax-only", "-Wall", "-Wextra",
                        "-Werror", "-pedantic-errors", path], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, "")


def test_the_reader_pins_the_sizes_of_the_header():
    """The reader's BUILD_BUG_ON()s name every struct of the header with the size
    the Python definitions give it."""
    c = open(os.path.join(ROOT, "csrc", "xcmod_reader.c")).read()
    pinned = dict(re.findall(r"BUILD_BUG_ON\(sizeof\(struct (\w+)\) != (\d+)\);", c))
    assert {k: int(v) for k, v in pinned.items()} == SIZES
    assert {k: STRUCTS[k].sizeof() for k in SIZES} == SIZES


@pytest.mark.parametrize("struct", [None, *SIZES])
def test_a_size_change_fails_the_readers_build(tmp_path, struct):
    """A field more in any struct of the header and the reader no longer compiles,
    the error on that struct's BUILD_BUG_ON line (None: the header as it is builds)."""
    for name in ("xcmod_module.h", "xcmod_reader.h", "xcmod_reader.c"):
        text = open(os.path.join(ROOT, "csrc", name)).read()
        if name == "xcmod_module.h" and struct:
            assert f"\nstruct {struct} {{\n" in text
            text = text.replace(f"\nstruct {struct} {{\n",
                                f"\nstruct {struct} {{\n    uint32_t grown;\n")
        (tmp_path / name).write_text(text)
    r = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-o",
                        str(tmp_path / "r.o"), str(tmp_path / "xcmod_reader.c")],
                       capture_output=True, text=True)
    if struct is None:
        assert (r.returncode, r.stderr) == (0, "")
        return
    assert r.returncode != 0
    lines = (tmp_path / "xcmod_reader.c").read_text().splitlines()
    at = next(i for i, l in enumerate(lines, 1) if f"sizeof(struct {struct}) !=" in l)
    assert f"xcmod_reader.c:{at}:" in r.stderr, r.stderr
