"""What xcmod's patched hvmloader refuses in an image the C reader accepts.

The C reference reader (csrc/xcmod_reader.c, compiled into hvmloader
unchanged) checks the format.  hvmloader then applies rules of its own before
it uses anything (hvmloader/patches/0002, ``xcmod_take()`` and
``xcmod_check_acpi()``), and any of them makes it ignore the whole image:

1. at most one module of each type it uses: SMBIOS, ACPI, ACPI-IDs
   ("a second module of type N");
2. an SMBIOS module's payload (its structures) of at most
   :data:`SMBIOS_PAYLOAD_MAX` bytes, 48 KiB (``XCMOD_SMBIOS_PAYLOAD_MAX``);
3. no table in the ACPI module that hvmloader builds itself
   (:data:`HVMLOADER_OWNED_TABLES`, ``xcmod_acpi_owned[]``).

Modules of other types (an option ROM) are skipped, not refused.  These are
the rules docs/hvmloader.md lists; ``verify``, ``load`` and ``layout`` apply
them through :func:`xcmod.image.blocks.check` with the C reader's checks, and
``build`` never writes an image that breaks them.  tests/test_hostile.py holds
this module, the patch and the document to the same constants.

The walk below runs on an image the C reader has already accepted, so every
header and length in it is known to be sound.  It imports nothing heavy:
``load``'s start-up path goes through it.
"""
from ..errors import FormatError

SMBIOS_PAYLOAD_MAX = 0xC000
# In the patch's order (xcmod_acpi_owned[]); the same tables xcmod's policy refuses.
HVMLOADER_OWNED_TABLES = ("RSDT", "XSDT", "FACP", "FACS", "DSDT", "APIC", "HPET",
                          "WAET", "TCPA", "TPM2", "SRAT", "SLIT", "MCFG")
# Module types (csrc/xcmod_module.h) and the ones hvmloader takes one of.
_END, _ACPI, _SMBIOS, _ACPI_IDS = 0, 1, 2, 4
_ONE_OF = {_SMBIOS: "SMBIOS", _ACPI: "ACPI", _ACPI_IDS: "ACPI-IDs"}
_HEADER_SIZE = 24
_ALIGN = 16
_IGNORED = "xcmod's hvmloader ignores the whole image"


def _le(data, off, n):
    return int.from_bytes(data[off:off + n], "little")


def modules(data):
    """(offset, type, header_length, length) of every module before END of a valid image."""
    pos, out = 0, []
    while True:
        mtype = _le(data, pos + 6, 2)
        if mtype == _END:
            return out
        hlen, length = _le(data, pos + 8, 2), _le(data, pos + 12, 4)
        out.append((pos, mtype, hlen, length))
        pos = (pos + length + _ALIGN - 1) & ~(_ALIGN - 1)


def check_hvmloader_rules(data, source=None):
    """FormatError (source, offset, hvmloader's reason) if xcmod's hvmloader would ignore
    the image ``data``, which the C reader has accepted."""
    seen, acpi = {}, None
    for off, mtype, hlen, length in modules(data):
        if mtype not in _ONE_OF:
            continue
        if mtype in seen:
            raise FormatError(f"a second module of type {mtype} ({_ONE_OF[mtype]}; the first "
                              f"is at offset {seen[mtype]:#x}): {_IGNORED}", source=source,
                              offset=off)
        seen[mtype] = off
        payload = length - hlen
        if mtype == _SMBIOS and payload > SMBIOS_PAYLOAD_MAX:
            raise FormatError(f"SMBIOS module of {payload} bytes exceeds {SMBIOS_PAYLOAD_MAX} "
                              f"(48 KiB): {_IGNORED}", source=source, offset=off)
        if mtype == _ACPI:
            acpi = (off + hlen, off + length)
    if acpi is None:
        return
    owned, pos = [], acpi[0]
    while pos < acpi[1]:
        sig = bytes(data[pos:pos + 4]).decode("latin-1")
        if sig in HVMLOADER_OWNED_TABLES:
            owned.append((sig, pos))
        pos += _le(data, pos + 4, 4)
    if owned:
        names = ", ".join(f"{s} (offset {o:#x})" for s, o in owned)
        raise FormatError(f"ACPI table{'s' if len(owned) > 1 else ''} {names} refused: "
                          f"hvmloader builds its own; {_IGNORED}", source=source,
                          offset=owned[0][1])
