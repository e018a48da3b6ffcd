# SPDX-License-Identifier: MIT
"""Images built from the real fixtures: fuzzing seeds and test inputs.

``python -m tests.seeds DIR`` writes them to DIR (used by ``make fuzz``).
"""
import os
import sys

from xcmod.firmware import acpi, orom, smbios
from xcmod.firmware.acpi import encode_acpi_ids_module, encode_acpi_module
from xcmod.image.spec import build_image

from .paths import SMBIOS_SOURCES, acpi_tables, real


def real_images():
    """{name: image bytes} for a spread of real sources, small to large."""
    tables = [acpi.read_table(real(p)) for p in acpi_tables()]
    small = [t for t in tables if t.length < 2048]
    images = {}
    for i, src in enumerate(SMBIOS_SOURCES):
        t = smbios.read_file(real(src))
        acpi_part = [encode_acpi_module(small[i % len(small):i % len(small) + 3])]
        images[os.path.basename(src)] = build_image([t.encode()] + acpi_part)
    images["acpi-only"] = build_image([encode_acpi_module(small)])
    # A real option ROM (SeaBIOS's 40 KiB VGA BIOS) beside a small SMBIOS module.
    vga = orom.read_file("/usr/share/seabios/vgabios-stdvga.bin")
    images["orom"] = build_image([smbios.read_file(real(SMBIOS_SOURCES[0])).encode(), vga.encode()])
    # The opt-in OEM IDs: SLIC + SSDT and an ACPI-IDs module with the SLIC's IDs.
    slic = acpi.read_table(real("acpi/lenovo-x1c6/SLIC.aml"))
    images["acpi-ids"] = build_image([
        encode_acpi_module([slic, acpi.read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))]),
        encode_acpi_ids_module(bytes(slic.header.oem_id), bytes(slic.header.oem_table_id))])
    images["empty"] = build_image([])
    return images


def main(argv):
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for name, blob in real_images().items():
        with open(os.path.join(out, name + ".img"), "wb") as f:
            f.write(blob)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
