# SPDX-License-Identifier: MIT
"""The carrier: an xcmod image wrapped in one ACPI table, for libxl's ``acpi_firmware=``.

libxl reads the file named by xl.cfg's ``acpi_firmware=`` on every domain
create, reboots' re-creates included, and hands it to hvmloader as the ACPI
pass-through blob (``hvmloader/acpi/address``, ``.../length``).  Stock
hvmloader copies each table of that blob into the guest's tables, trusting
each header's length; an image put there bare would be walked as garbage
tables.  So xcmod wraps the image in one well-formed table of a signature ACPI
reserves for OEMs (ACPI 6.5, 5.2.6, table 5.5: "OEMx"):

======================  ============  ======================================
field                   bytes         value
======================  ============  ======================================
signature               0-3           ``OEMM``
length                  4-7           36 + the image's length
revision                8             1
checksum                9             the whole table sums to 0 (mod 256)
oem_id                  10-15         ``XCMOD`` and one space
oem_table_id            16-23         ``MODIMAGE``
oem_revision            24-27         1
creator_id              28-31         ``XCMD``
creator_revision        32-35         1
======================  ============  ======================================

then the image, verbatim.  xcmod's patched hvmloader takes the image from the
carrier when no ``hvmloader/modules/*`` keys exist (keys an explicit ``xcmod
load`` wrote win), never hands the carrier table itself to the guest, and
passes any other table of the blob on as stock hvmloader does.  Stock
hvmloader passes the carrier on as one unknown OEM table: harmless, up to the
size :data:`CARRIER_MAX` (docs/hvmloader.md, docs/toolstacks.md).

The header is :data:`~.spec.acpi_table_header`, the one xcmod's ACPI parsers
use.  :func:`is_carrier` is a bytes comparison and :func:`open_carrier` passes
anything else through untouched, without importing construct: ``load`` reads
every file through them (tests/test_architecture.py holds load's path free of
construct).  :func:`unwrap` checks every field and names the first wrong one
by its offset in the file.
"""
from ..errors import FormatError

CARRIER_SIGNATURE = b"OEMM"
CARRIER_OEM_ID = b"XCMOD "
CARRIER_OEM_TABLE_ID = b"MODIMAGE"
CARRIER_REVISION = 1
CARRIER_OEM_REVISION = 1
CARRIER_CREATOR_ID = b"XCMD"
CARRIER_CREATOR_REVISION = 1

# The fixed fields, in the header's order: what unwrap() checks, and what
# wrap() writes (length and checksum are computed).
CARRIER_FIELDS = (
    ("signature", CARRIER_SIGNATURE),
    ("revision", CARRIER_REVISION),
    ("oem_id", CARRIER_OEM_ID),
    ("oem_table_id", CARRIER_OEM_TABLE_ID),
    ("oem_revision", CARRIER_OEM_REVISION),
    ("creator_id", CARRIER_CREATOR_ID),
    ("creator_revision", CARRIER_CREATOR_REVISION),
)
# acpi_table_header's size and the offsets of its signature and oem_id, for the
# cheap test (tests/test_carrier.py holds them to the struct).
CARRIER_HEADER_SIZE = 36
_SIGNATURE_AT, _OEM_ID_AT = 0, 10

# The largest carrier xcmod writes.  A stock hvmloader copies the carrier, as
# one pass-through table, into its ACPI area (0xFC001000-0xFC100000, 1,044,480
# bytes, shared with every table it builds: libacpi's acpi_mem_alloc BUG()s past
# it and the guest crashes).  docs/hvmloader.md ("What a stock hvmloader does
# with a carrier") measures the room left at about 1,000 KiB for a qemu-xen guest
# with few vCPUs and recommends 512 KiB, which leaves room at any vCPU count.
CARRIER_MAX = 512 * 1024


def is_carrier(data):
    """``data`` begins like a carrier (signature and OEM ID): :func:`unwrap` then
    judges every field.  Anything else (an image, a stock block) is not one."""
    return bytes(data[_SIGNATURE_AT:_SIGNATURE_AT + 4]) == CARRIER_SIGNATURE and \
        bytes(data[_OEM_ID_AT:_OEM_ID_AT + 6]) == CARRIER_OEM_ID


def open_carrier(data, source):
    """(image, source): a carrier's image (:func:`unwrap`), its ``source`` marked
    ``PATH[0x24:]`` so that an offset a check finds in the image reads as one;
    anything else as it came.  The hook every image read goes through
    (:func:`xcmod.image.read.read`, :func:`xcmod.image.blocks.read_path`)."""
    if not is_carrier(data):
        return data, source
    return unwrap(data, source), f"{source}[{CARRIER_HEADER_SIZE:#x}:]"


def wrap(image, source=None):
    """The carrier table holding ``image`` (bytes), checksummed.

    The image is not judged here (:func:`xcmod.image.blocks.check` does that);
    a carrier larger than :data:`CARRIER_MAX` is a FormatError naming ``source``.
    """
    from .spec import acpi_table_header, field_offsets
    image = bytes(image)
    length = CARRIER_HEADER_SIZE + len(image)
    if length > CARRIER_MAX:
        raise FormatError(f"a carrier of {length} bytes (36 + a {len(image)}-byte image) is "
                          f"larger than the {CARRIER_MAX} bytes stock hvmloader is known to "
                          f"take harmlessly as one ACPI table", source=source)
    fields = dict(CARRIER_FIELDS, length=length, checksum=0)
    table = bytearray(acpi_table_header.build(fields) + image)
    table[field_offsets(acpi_table_header)["checksum"]] = -sum(table) & 0xFF
    return bytes(table)


def unwrap(data, source=None):
    """The image a carrier holds; FormatError naming ``source`` and the offset of
    the first wrong field (signature, length, the fixed fields, checksum)."""
    from .spec import acpi_table_header, field_offsets, struct_parse
    off = field_offsets(acpi_table_header)
    h = struct_parse(acpi_table_header, data, 0, source)
    if h.signature != CARRIER_SIGNATURE:
        raise FormatError(f"not an xcmod carrier (signature {h.signature!r}, expected "
                          f"{CARRIER_SIGNATURE!r})", source=source, offset=0)
    if h.length != len(data):
        raise FormatError(f"carrier length {h.length} disagrees with the file's "
                          f"{len(data)} bytes", source=source, offset=off["length"])
    if h.length == CARRIER_HEADER_SIZE:
        raise FormatError("carrier holds no image", source=source, offset=off["length"])
    for name, want in CARRIER_FIELDS:
        got = h[name]
        if got != want:
            raise FormatError(f"carrier {name} is {got!r}, expected {want!r}",
                              source=source, offset=off[name])
    if sum(data) & 0xFF:
        raise FormatError("carrier checksum invalid (the table does not sum to 0)",
                          source=source, offset=off["checksum"])
    return bytes(data[CARRIER_HEADER_SIZE:])
