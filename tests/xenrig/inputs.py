# SPDX-License-Identifier: MIT
"""What the rig's tests pass in: the real tables the images are built from, the
UUID set into them, and the disks of the guests that reboot themselves."""
import os
import sys

from xcmod.cli import main

from ..paths import real
from . import efireset

SMBIOS_SRC = real("smbios/infrasim/dell_r640_smbios.bin")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
SLIC = real("acpi/lenovo-x1c6/SLIC.aml")
MSDM = real("acpi/lenovo-x1c6/MSDM.REDACTED.aml")
PASSED_UUID = "4c4c4544-0031-3010-8052-b4c04f4e4432"    # set into mods-x.bin's type 1
# The boot sector of the rig's self-rebooting guest (dom0/boots.py), about
# 10 s after SeaBIOS boots it (time for the scenario to read the tables):
#   cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00; sti
#   mov bx,[0x46c]                       ; the BIOS tick count (18.2 Hz)
#   tick: hlt; mov ax,[0x46c]; sub ax,bx; cmp ax,182; jb tick
#   mov dx,0xcf9; mov al,2; out dx,al; mov al,6; out dx,al        ; PIIX3 reset
#   cli; halt: hlt; jmp halt
RESET_SECTOR = bytes.fromhex("fa31c08ed88ed0bc007cfb8b1e6c04f4a16c0429d83db60072f5"
                             "baf90cb002eeb006eefaf4ebfd")


def reset_disk():
    """A 1 MiB disk whose boot sector is :data:`RESET_SECTOR` (dom0's reset.img)."""
    return RESET_SECTOR.ljust(510, b"\0") + b"\x55\xaa" + bytes(1 << 20)


def efireset_disk():
    """The UEFI guest's disk that resets it (tests/xenrig/efireset.py)."""
    return efireset.disk()


def build(*argv):
    """``xcmod ARGV`` on the host (the clone's), quiet; asserts it succeeded."""
    with open(os.devnull, "w") as null:
        assert main([str(a) for a in argv], null, sys.stderr) == 0, argv


def modules_image(path):
    """mods-x.bin: for the patched hvmloader, SMBIOS 3.0 with a UUID that passes,
    SSDT + SLIC, and the SLIC's OEM IDs for the guest's RSDP/RSDT/XSDT/FADT."""
    build("build", "-q", "-o", path, "--smbios", SMBIOS_SRC, "--acpi", SSDT, "--acpi", SLIC,
          "--oem-ids", "slic", "--set", f"system.uuid={PASSED_UUID}")
