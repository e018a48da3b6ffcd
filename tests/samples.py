# SPDX-License-Identifier: MIT
"""Inputs several test files build alike (the rig's own are in tests/xenrig/inputs.py)."""
from xcmod.firmware import smbios

from .paths import real


def smbios_past_ovmf_room():
    """The Dell R640's SMBIOS table with 80 OEM structures (type 200, 257 bytes each)
    added before its end: 23 KiB of structures that pass the default policy, past
    the 20449 bytes hvmloader has for SMBIOS in an OVMF or ROMBIOS guest."""
    dell = smbios.read_file(real("smbios/infrasim/dell_r640_smbios.bin"))
    raw = b"".join(bytes([200, 0xFF]) + (0x3000 + i).to_bytes(2, "little") + bytes(251)
                   + b"\0\0" for i in range(80))
    oem, _ = smbios.parse_structures(raw)
    return smbios.SmbiosTable([s for s in dell.structures if s.type != 127] + oem +
                              [dell.structures[-1]], dell.major, dell.minor, dell.docrev,
                              dell.entry_point, "dell+oem")
