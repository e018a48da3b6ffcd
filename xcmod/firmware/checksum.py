# SPDX-License-Identifier: MIT
"""The 8-bit checksum of the firmware specifications.

ACPI 6.5, 5.2.6 (every description table), SMBIOS 3.7, 5.2.1 and 5.2.2 (the
entry points) and PCI Firmware 3.0, 5.1.1 (a legacy option ROM image) all
use it alike: the bytes, checksum field included, add to zero (mod 256).
"""


def checksum8(data):
    """The 8-bit sum of ``data``: 0 when valid."""
    return sum(data) & 0xFF
