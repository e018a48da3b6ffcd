# SPDX-License-Identifier: MIT
"""Arbitrary bytes only ever raise xcmod's own FormatError, never anything else."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcmod.errors import FormatError
from xcmod.firmware import acpi, smbios
from xcmod.firmware.contents import describe
from xcmod.image.spec import XCMOD_SIGNATURE, iter_modules

from .seeds import real_images

SEEDS = list(real_images().values())


def _only_format_errors(fn, data):
    try:
        fn(data)
    except FormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_image_reader_on_arbitrary_bytes(data):
    """The image walk raises only FormatError on random bytes."""
    _only_format_errors(lambda d: list(iter_modules(d)), data)
    _only_format_errors(describe, data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                                        max_size=8))
def test_image_reader_on_mutated_real_images(seed, edits):
    """Images from real tables with random byte edits raise only FormatError (strict or not)."""
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    _only_format_errors(lambda d: list(iter_modules(d, strict=False)), bytes(data))
    _only_format_errors(describe, bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=256),
                 st.binary(max_size=256).map(lambda b: b"_SM_" + b),
                 st.binary(max_size=256).map(lambda b: b"_SM3_" + b)))
def test_smbios_parser_on_arbitrary_bytes(data):
    """SMBIOS parsing of any bytes, anchored or not, raises only FormatError."""
    _only_format_errors(smbios.parse_source_bytes, data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=128))
def test_acpi_parser_on_arbitrary_bytes(data):
    """ACPI table parsing of any bytes raises only FormatError."""
    _only_format_errors(acpi.parse_table, data)


def test_signature_alone_is_not_an_image():
    """A bare signature is a truncated image, reported as such."""
    with pytest.raises(FormatError, match="truncated"):
        list(iter_modules(XCMOD_SIGNATURE))
