# SPDX-License-Identifier: MIT
"""Image validation by the C reference reader, compiled as xcmod.image._reader.

``load`` checks images with xcmod_image_check() (csrc/xcmod_reader.c), the
code hvmloader would run, instead of the Python walk in :mod:`xcmod.image.spec`:
both report the same first problem at the same offset with the same message
(tests/test_reader_c.py), and this path needs no construct import, which
keeps ``python -m xcmod load`` quick.
"""
from ..errors import FormatError
from ._reader import ffi, lib


def check_image(data, source=None):
    """(image_length, module_count) of a valid image; FormatError otherwise."""
    if len(data) > 0xFFFFFFFF:
        raise FormatError(f"{len(data)} bytes: larger than the format's 32-bit lengths allow",
                          source=source, offset=0)
    img = ffi.new("struct xcmod_image *")
    buf = ffi.from_buffer(data)
    rc = lib.xcmod_image_check(img, buf, len(data))
    if rc < 0:
        msg = ffi.string(lib.xcmod_strerror(rc)).decode()
        raise FormatError(msg, source=source, offset=img.error_offset, code=rc)
    return img.image_length, img.module_count
