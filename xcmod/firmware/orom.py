# SPDX-License-Identifier: MIT
"""PCI option ROMs: validation and the OROM module.

PCI Firmware Specification 3.0, 5.1 "PCI Expansion ROMs": a ROM holds one or
more images.  Each image starts with the ROM header::

    00h  55h AAh                 signature
    02h  initialization size     (x86 PC-AT images: in 512-byte units)
    18h  u16 pointer to the PCI Data Structure

and its PCI Data Structure ("PCIR")::

    00h "PCIR"  04h vendor ID  06h device ID  0Ah structure length
    0Ch revision  0Dh class code (3 bytes)  10h image length (512-byte units)
    14h code type (00h x86 PC-AT, 03h EFI)  15h indicator (bit 7: last image)

A legacy (code type 0) image must also sum to zero over its initialization
size, which the BIOS checks before running it.
"""
from dataclasses import dataclass

from construct import Bytes, Int16ul, Int8ul, Struct

from ..errors import FormatError
from ..fileio import OROM_MAX, read_input
from ..image.spec import XCMOD_TYPE_OROM, encode_module, struct_parse, xcmod_orom_header
from .checksum import checksum8


pci_rom_header = Struct(
    "signature" / Bytes(2),
    "initialization_size" / Int8ul,
    "reserved" / Bytes(0x15),
    "pci_data_structure_pointer" / Int16ul,
)

pci_data_structure = Struct(
    "signature" / Bytes(4),
    "vendor_id" / Int16ul,
    "device_id" / Int16ul,
    "device_list_pointer" / Int16ul,
    "pci_data_structure_length" / Int16ul,
    "pci_data_structure_revision" / Int8ul,
    "class_code" / Bytes(3),
    "image_length" / Int16ul,
    "revision_level" / Int16ul,
    "code_type" / Int8ul,
    "indicator" / Int8ul,
)

CODE_TYPES = {0x00: "x86 PC-AT", 0x01: "Open Firmware", 0x02: "PA-RISC", 0x03: "EFI"}
LAST_IMAGE = 0x80
ROM_UNIT = 512


@dataclass(slots=True, frozen=True)
class RomImage:
    """One image of an option ROM: its offset in the ROM and its PCI data structure."""
    offset: int
    vendor_id: int
    device_id: int
    class_code: bytes     # PCIR order: prog-if, sub-class, base class
    code_type: int
    length: int

    @property
    def code_type_name(self):
        return CODE_TYPES.get(self.code_type, f"type {self.code_type:#04x}")

    @property
    def class_text(self):
        return "%02x%02x%02x" % (self.class_code[2], self.class_code[1], self.class_code[0])


@dataclass(slots=True, frozen=True)
class OptionRom:
    """A PCI option ROM as read from a file: its images, in order."""
    raw: bytes              # the images, padding after the last one left out
    images: tuple
    source: str = None
    padding: int = 0      # bytes of 0x00 or 0xFF padding after them

    @property
    def first(self):
        return self.images[0]

    def encode(self):
        """The OROM module holding this ROM."""
        f = self.first
        th = xcmod_orom_header.build(dict(
            vendor_id=f.vendor_id, device_id=f.device_id, class_code=f.class_code,
            image_count=len(self.images), rom_length=len(self.raw), reserved=0))
        return encode_module(XCMOD_TYPE_OROM, th, self.raw)

    def as_dict(self):
        return {"vendor_id": f"{self.first.vendor_id:04x}",
                "device_id": f"{self.first.device_id:04x}",
                "class_code": self.first.class_text, "length": len(self.raw),
                "images": [{"offset": i.offset, "code_type": i.code_type_name,
                            "length": i.length, "vendor_id": f"{i.vendor_id:04x}",
                            "device_id": f"{i.device_id:04x}", "class_code": i.class_text}
                           for i in self.images]}


def parse(data, source=None):
    """Validate a whole option ROM; FormatError names the first problem and offset.

    A ROM file may run on past its last image (the one whose PCIR indicator has
    bit 7 set): QEMU's ROM BAR is a power of two, and Debian 13's iPXE pads its
    efi-*.rom files with 0xFF (erased flash) to 256 KiB; Debian 12's are not
    padded.  No firmware reads past the last image, so a run of one byte,
    0x00 or 0xFF, is padding and is not part of the ROM (``padding`` says how
    much); any other byte there is an error.
    """
    data = bytes(data)
    images, off = [], 0
    while True:
        if len(data) - off < 0x1A:
            raise FormatError("ROM image header truncated", source=source, offset=off)
        h = struct_parse(pci_rom_header, data, off, source)
        if h.signature != b"\x55\xaa":
            raise FormatError(f"ROM signature is {h.signature.hex()}, not 55aa",
                              source=source, offset=off)
        ptr = off + h.pci_data_structure_pointer
        if h.pci_data_structure_pointer < 0x1A or ptr + 0x18 > len(data):
            raise FormatError(f"PCI data structure pointer {h.pci_data_structure_pointer:#x} "
                              f"is outside the ROM", source=source, offset=off + 0x18)
        p = struct_parse(pci_data_structure, data, ptr, source)
        if p.signature != b"PCIR":
            raise FormatError(f"no PCIR data structure at {ptr:#x} (found {p.signature!r})",
                              source=source, offset=ptr)
        if p.pci_data_structure_length < 0x18:
            raise FormatError(f"PCIR length {p.pci_data_structure_length} is below 0x18",
                              source=source, offset=ptr + 0x0A)
        length = p.image_length * ROM_UNIT
        if length == 0 or off + length > len(data):
            raise FormatError(f"image length {length} runs past the end of the ROM "
                              f"({len(data)} bytes)", source=source, offset=ptr + 0x10)
        if p.code_type == 0x00:
            init = h.initialization_size * ROM_UNIT
            if init == 0 or init > length:
                raise FormatError(f"initialization size {init} does not fit the "
                                  f"{length}-byte image", source=source, offset=off + 2)
            if checksum8(data[off:off + init]):
                raise FormatError(f"legacy image checksum invalid (bytes sum to "
                                  f"{checksum8(data[off:off + init]):#04x}, not 0)",
                                  source=source, offset=off)
        images.append(RomImage(off, p.vendor_id, p.device_id, bytes(p.class_code),
                               p.code_type, length))
        off += length
        if p.indicator & LAST_IMAGE:
            break
        if off >= len(data):
            raise FormatError("image chain ends without an image marked last",
                              source=source, offset=ptr + 0x15)
    tail = data[off:]
    if tail and (tail[:1] not in (b"\0", b"\xff") or tail.count(tail[:1]) != len(tail)):
        raise FormatError(f"{len(tail)} bytes after the last image are neither zero nor "
                          f"0xFF padding", source=source, offset=off)
    return OptionRom(data[:off], tuple(images), source, len(tail))


def read_file(path):
    """A PCI option ROM file (a regular file of at most OROM_MAX, 16 MiB)."""
    return parse(read_input(path, "a PCI option ROM", OROM_MAX), source=path)


def from_module(mod):
    """The OptionRom an OROM module holds (re-validated)."""
    return parse(mod.payload, source=mod.source)
