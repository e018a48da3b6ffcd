"""The typed value a build hands to a load: one image or one stock block.

A :class:`Block` says what it is (``kind``), so nothing downstream (the
layout, the xenstore keys, ``--measure``) guesses a kind from a count or a
display name.  Reading a path gives the blocks a load takes: an xcmod image
file is one ``image`` block; a ``build --format xen`` directory gives its
``smbios`` and/or ``acpi`` block.  This module imports neither construct nor
the firmware parsers: ``load``'s start-up path goes through it.
"""
import os

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
        if kind not in KINDS:
            raise ValueError(f"block kind {kind!r} is not one of {', '.join(KINDS)}")
        self.kind, self.data, self.source = kind, bytes(data), source

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
    from ..errors import FormatError
    blocks, found = [], False
    for kind, name in STOCK_FILES.items():
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
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
    """[Block] of an image file (one IMAGE block) or of a stock-block directory; unchecked."""
    if os.path.isdir(path):
        return read_stock_dir(path)
    with open(path, "rb") as f:
        return [Block(IMAGE, f.read(), path)]


def check(blocks):
    """Validate ``blocks`` as hvmloader will read them; the image's module count (None for
    stock blocks).  Raises FormatError naming the block's source and offset, UsageError
    for a list that is neither one image nor stock blocks."""
    from ..errors import UsageError
    kinds = [b.kind for b in blocks]
    if not blocks:
        raise UsageError("nothing to load: no image and no non-empty stock block")
    if IMAGE in kinds:
        if kinds != [IMAGE]:
            raise UsageError("an xcmod image is loaded on its own, not with stock blocks")
        from .creader import check_image  # the C reader: no construct on load's path
        return check_image(blocks[0].data, source=blocks[0].source)[1]
    if len(set(kinds)) != len(kinds):
        raise UsageError(f"two {kinds[0]} blocks: hvmloader takes one of each")
    from . import stock
    for b in blocks:
        if b.kind == SMBIOS:
            list(stock.iter_smbios_block(b.data, b.source or "<SMBIOS block>"))
        else:
            stock.parse_acpi_block(b.data, b.source or "<ACPI block>")
    return None
