# SPDX-License-Identifier: MIT
"""The typed value a build hands to a load: one image or one stock block.

A :class:`Block` says what it is (``kind``), so nothing downstream (the
layout, the xenstore keys, ``--measure``) guesses a kind from a count or a
display name.  Reading a path gives the blocks a load takes: an xcmod image
file is one ``image`` block; a ``build --format xen`` directory gives its
``smbios`` and/or ``acpi`` block.  This module imports neither construct nor
the firmware parsers at module level: a load of an image never needs them.
"""
import os

from ..checks import bytes_arg, path_arg
from ..errors import FormatError, UsageError
from ..fileio import IMAGE_MAX, read_input
from .carrier import open_carrier
from .creader import TYPE_ACPI, check_image, walk_items
from .rules import check_hvmloader_limits, check_hvmloader_rules


IMAGE, SMBIOS, ACPI = "image", "smbios", "acpi"
KINDS = (IMAGE, SMBIOS, ACPI)

# What each kind is called in messages, and the file a stock block lives in
# (the names xl.cfg's smbios_firmware=/acpi_firmware= examples use).
NAMES = {IMAGE: "xcmod modules", SMBIOS: "SMBIOS block", ACPI: "ACPI block"}
STOCK_FILES = {SMBIOS: "smbios.bin", ACPI: "acpi.bin"}


class Block:
    """``kind`` (IMAGE, SMBIOS or ACPI), ``data`` (bytes) and ``source`` (a path, for messages)."""

    __slots__ = ("kind", "data", "source")

    def __init__(self, kind, data, source=None):
        if not isinstance(kind, str) or kind not in KINDS:
            raise UsageError(f"block kind {kind!r} is not one of {', '.join(KINDS)}")
        if source is not None and not isinstance(source, (str, os.PathLike)):
            raise UsageError(f"block source must be a path or None, not "
                             f"{type(source).__name__}")
        self.kind, self.data, self.source = kind, bytes_arg(data, "block data"), source

    @property
    def name(self):
        return NAMES[self.kind]

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return f"Block({self.kind!r}, <{len(self.data)} bytes>, source={self.source!r})"

    def as_dict(self):
        return {"kind": self.kind, "name": self.name, "length": len(self.data),
                "source": self.source}


def read_stock_dir(directory):
    """The blocks of a ``build --format xen`` directory, in hvmloader's order (SMBIOS, ACPI).

    Empty files are left out; a directory with neither file is an error naming it.
    """
    blocks, found = [], False
    for kind, name in STOCK_FILES.items():
        path = os.path.join(directory, name)
        try:
            data = read_input(path, f"a stock {kind.upper()} block", IMAGE_MAX)
        except FileNotFoundError:
            continue
        found = True
        if data:
            blocks.append(Block(kind, data, path))
    if not found:
        raise FormatError(f"neither {STOCK_FILES[SMBIOS]} nor {STOCK_FILES[ACPI]} here: not "
                          f"an xcmod image nor a `xcmod build --format xen` directory",
                          source=directory)
    return blocks


def read_path(path):
    """[Block] of an image file (one IMAGE block) or of a stock-block directory; unchecked.

    Files are read through :func:`xcmod.fileio.read_input`: a regular file of at
    most ``IMAGE_MAX`` bytes, nothing else."""
    path = path_arg(path, "image path")
    if os.path.isdir(path):
        return read_stock_dir(path)
    return [Block(IMAGE, *open_carrier(     # a carrier is the image it carries
        read_input(path, "an xcmod image", IMAGE_MAX), path))]


def check(blocks):
    """Validate ``blocks`` as hvmloader will read them; the image's module count (None for
    stock blocks).  An image is checked by the C reference reader, then by the rules
    xcmod's patched hvmloader adds (:mod:`.rules`): what hvmloader would throw away
    is refused here, by verify, load and layout alike.  Raises FormatError naming the
    block's source and offset, UsageError for a list that is neither one image nor
    stock blocks."""
    if not isinstance(blocks, (list, tuple)) or not all(isinstance(b, Block) for b in blocks):
        raise UsageError("blocks must be a list of xcmod.Block (xcmod.read_blocks(path) "
                         "reads them)")
    kinds = [b.kind for b in blocks]
    if not blocks:
        raise UsageError("nothing to load: no image and no non-empty stock block")
    if IMAGE in kinds:
        if kinds != [IMAGE]:
            raise UsageError("an xcmod image is loaded on its own, not with stock blocks")
        count = check_image(blocks[0].data, source=blocks[0].source)[1]
        check_hvmloader_rules(blocks[0].data, source=blocks[0].source)
        return count
    if len(set(kinds)) != len(kinds):
        raise UsageError(f"two {kinds[0]} blocks: hvmloader takes one of each")
    from .stock import iter_smbios_block
    for b in blocks:
        if b.kind == SMBIOS:
            source = b.source or "<SMBIOS block>"
            items = list(iter_smbios_block(b.data, source))
            check_hvmloader_limits([(i.data[0], i.length) for i in items], source=source)
        else:
            source = b.source or "<ACPI block>"
            check_hvmloader_limits(acpi_count=len(list(walk_items(TYPE_ACPI, b.data, 0, source))),
                                   source=source)
    return None
