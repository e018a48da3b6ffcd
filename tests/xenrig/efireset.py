# SPDX-License-Identifier: MIT
"""A disk that makes a UEFI guest reboot itself: a FAT12 file system (no partition
table: UEFI's FAT driver takes a whole disk) holding ``\\EFI\\BOOT\\BOOTX64.EFI``, the
removable-media boot path every UEFI firmware tries, a PE32+ application that waits
10 s (``BootServices->Stall``), then ``RuntimeServices->ResetSystem(EfiResetCold)``.
For the rig's UEFI reboot scenario (scenario.py reboots); made in Python, no
toolchain: the application is 41 bytes of code, written out in :data:`CODE`.
"""
import struct

# efi_main(ImageHandle in rcx, SystemTable in rdx), Microsoft x64 calling convention;
# EFI_SYSTEM_TABLE: RuntimeServices at 0x58, BootServices at 0x60 (UEFI 2.10, 4.3);
# EFI_BOOT_SERVICES.Stall at 0xF8 (4.4); EFI_RUNTIME_SERVICES.ResetSystem at 0x68 (4.5)
#   sub rsp,0x28; mov rbx,rdx
#   mov rax,[rbx+0x60]; mov ecx,10000000; call [rax+0xF8]      ; Stall(10 s)
#   mov rax,[rbx+0x58]; xor ecx,ecx; xor edx,edx; xor r8d,r8d; xor r9d,r9d
#   call [rax+0x68]                                            ; ResetSystem(cold)
#   halt: jmp halt
CODE = bytes.fromhex("4883ec284889d3488b4360b980969800ff90f8000000488b435831c931d2"
                     "4531c04531c9ff5068ebfe")

SECTOR = 512


def pe_application(code=CODE):
    """A PE32+ EFI application (subsystem 10) of one .text section holding ``code``,
    its entry point the section's start; no relocations (the code uses none)."""
    text_rva, text_off = 0x1000, 0x200
    raw = code.ljust(0x200, b"\0")
    dos = b"MZ".ljust(0x3C, b"\0") + struct.pack("<I", 0x40)
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x0022)
    opt = struct.pack("<HBBIIIII", 0x20B, 0, 0, len(raw), 0, 0, text_rva, text_rva)
    opt += struct.pack("<QIIHHHHHHIIIIHHQQQQII", 0, 0x1000, 0x200, 0, 0, 0, 0, 0, 0, 0,
                       0x2000, 0x200, 0, 10, 0, 0x10000, 0x10000, 0x10000, 0x10000, 0, 16)
    opt += bytes(16 * 8)
    assert len(opt) == 240
    section = struct.pack("<8sIIIIIIHHI", b".text", len(code), text_rva, len(raw), text_off,
                          0, 0, 0, 0, 0x60000020)
    head = (dos + b"PE\0\0" + coff + opt + section).ljust(text_off, b"\0")
    return head + raw


def _fat12(entries):
    out = bytearray()
    entries = list(entries) + [0] * (len(entries) % 2)
    for a, b in zip(entries[::2], entries[1::2]):
        out += bytes((a & 0xFF, (a >> 8) & 0xF | (b & 0xF) << 4, b >> 4 & 0xFF))
    return bytes(out)


def _entry(name, attr, cluster, size=0):
    return struct.pack("<11sBBBHHHHHHHI", name, attr, 0, 0, 0, 0x21, 0x21, 0, 0, 0x21,
                       cluster, size)


def disk(app=None):
    """A 1.44 MB FAT12 volume: \\EFI\\BOOT\\BOOTX64.EFI = ``app`` (pe_application())."""
    app = pe_application() if app is None else app
    total, fat_sectors, root_entries = 2880, 9, 224
    root_at = 1 + 2 * fat_sectors
    data_at = root_at + root_entries * 32 // SECTOR
    boot = bytearray(SECTOR)
    boot[0:3] = b"\xeb\x3c\x90"
    boot[3:62] = struct.pack("<8sHBHBHHBHHHII", b"XCMODRIG", SECTOR, 1, 1, 2, root_entries,
                             total, 0xF0, fat_sectors, 18, 2, 0, 0) + \
        struct.pack("<BBBI11s8s", 0x80, 0, 0x29, 0x28281a7e, b"EFIRESET   ", b"FAT12   ")
    boot[510:512] = b"\x55\xaa"
    app_clusters = -(-len(app) // SECTOR)
    chain = [0xFF0, 0xFFF, 0xFFF, 0xFFF]              # media, reserved, EFI, BOOT
    chain += [5 + i if i < app_clusters - 1 else 0xFFF for i in range(app_clusters)]
    fat = _fat12(chain).ljust(fat_sectors * SECTOR, b"\0")
    root = _entry(b"EFI        ", 0x10, 2).ljust(root_entries * 32, b"\0")
    efi = (_entry(b".          ", 0x10, 2) + _entry(b"..         ", 0x10, 0) +
           _entry(b"BOOT       ", 0x10, 3)).ljust(SECTOR, b"\0")
    bootdir = (_entry(b".          ", 0x10, 3) + _entry(b"..         ", 0x10, 2) +
               _entry(b"BOOTX64 EFI", 0x20, 4, len(app))).ljust(SECTOR, b"\0")
    image = bytes(boot) + fat + fat + root + efi + bootdir + app.ljust(app_clusters * SECTOR,
                                                                        b"\0")
    assert len(bytes(boot) + fat + fat + root) == data_at * SECTOR
    return image.ljust(total * SECTOR, b"\0")
