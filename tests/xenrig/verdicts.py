# SPDX-License-Identifier: MIT
"""What the rig's tests check a guest's tables against, shared by the rig's test files."""
import base64
import re
import subprocess

from xcmod.firmware.contents import smbios_table
from xcmod.image.read import single_module
from xcmod.image.spec import XCMOD_TYPE_SMBIOS

from .inputs import SLIC, SSDT


def smbios_table_of(path):
    """The SMBIOS module of image ``path``, parsed."""
    return smbios_table(single_module(open(path, "rb").read(), XCMOD_TYPE_SMBIOS, str(path)))


def hvmloader_end(path):
    """End of the ELF's PT_LOAD segments, read with binutils' readelf."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                         check=True).stdout
    ends = [int(m[0], 16) + int(m[1], 16) for m in
            re.findall(r"LOAD\s+\S+\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+(0x[0-9a-f]+)", out)]
    return max(ends)


def image_tables(boot, data, uefi=False):
    """One boot's tables carry the whole image (``data``/mods-x.bin): the passed SMBIOS
    strings and every OEM structure, SSDT and SLIC, and the SLIC's OEM IDs in the
    RSDT/XSDT/FADT.  ``uefi``: OvmfXen publishes the structures again, in its own
    SMBIOS 2.8 table, handles its own: the OEM structures are compared by type."""
    assert boot["reached"] and boot.get("rc") == 0, boot
    text = boot["dmidecode"]
    for want in ("Manufacturer: Dell Inc.", "Product Name: PowerEdge R640",
                 "Vendor: Dell Inc.", "" if uefi else "SMBIOS 3.0 present."):
        assert want in text, (boot["boot"], want)
    key = (lambda t, h: t) if uefi else (lambda t, h: (t, h))
    oem = sorted(key(s.type, s.handle) for s in
                 smbios_table_of(data / "mods-x.bin").structures if s.type >= 128)
    guest = sorted(key(int(t), int(h, 16)) for h, t in
                   re.findall(r"Handle (0x[0-9A-F]+), DMI type (\d+),", text) if int(t) >= 128)
    assert guest == oem, boot["boot"]
    files = {n: base64.b64decode(v) for n, v in boot["acpi_b64"].items()}
    assert open(SSDT, "rb").read() in files.values()
    slic = open(SLIC, "rb").read()
    assert slic in files.values()
    for name in ("RSDT.dat", "XSDT.dat", "FACP.dat"):
        assert files[name][10:24] == slic[10:24], (boot["boot"], name)
    assert not any(n.startswith("OEMM") for n in files)     # the carrier is never passed
