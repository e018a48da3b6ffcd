# SPDX-License-Identifier: MIT
"""Where the tests find the project's build products and its fixtures.

The real tables live in tests/fixtures/real (SOURCES.md there gives each
file's origin and licence); fresh ones come from tests/fwgen.py.  Nothing
outside the repository is needed."""
import os

from xcmod import hostxen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
REAL = os.path.join(ROOT, "tests", "fixtures", "real")
XCMOD_READ = os.path.join(BUILD, "xcmod-read")
FUZZER = os.path.join(BUILD, "fuzz", "xcmod_reader_fuzz")


# The Xen toolstack installed on this machine (Debian's xen-utils-X.Y): its
# hvmloader and xenstored, whichever release it is.
XEN = hostxen.installed()
if XEN is None:
    raise RuntimeError("no Xen toolstack installed (make setup installs Debian's xen-utils)")
HVMLOADER = XEN.hvmloader
XENSTORED = XEN.tool("xenstored")


def _ipxe_roms():
    """{file name: path} of the installed ipxe-qemu's ROMs: /usr/lib/ipxe/qemu on
    Debian 12, /usr/share/qemu on Debian 13 (dpkg -L says where)."""
    import subprocess
    out = subprocess.run(["dpkg", "-L", "ipxe-qemu"], capture_output=True, text=True).stdout
    return {os.path.basename(p): p for p in out.split()
            if p.endswith(".rom") and os.path.isfile(p) and not os.path.islink(p)}


IPXE_ROMS = _ipxe_roms()


def real(*parts):
    return os.path.join(REAL, *parts)


# SMBIOS sources with an entry point dmidecode --from-dump can read directly.
DUMP_BIN_SOURCES = [
    "smbios/infrasim/dell_c6320_smbios.bin",
    "smbios/infrasim/dell_r640_smbios.bin",
    "smbios/infrasim/quanta_d51_smbios.bin",
    "smbios/infrasim/s2600wtt_smbios.bin",
    "smbios/go-smbios/Beelink-EQ12.dmi",
]
# Every SMBIOS source xcmod must accept, in all its encodings.
SMBIOS_SOURCES = DUMP_BIN_SOURCES + [
    "smbios/fwupd/tables", "smbios/fwupd/tables64",
    "smbios/go-smbios/ASRock-Single-Ryzen.dmi",
    "smbios/go-smbios/Dell-PowerEdge-R630-Dual-Xeon.dmi",
    "smbios/go-smbios/HyperV.dmi",
    "smbios/go-smbios/SuperMicro-Dual-Xeon.dmi",
    "smbios/infrasim/s2600kp_smbios.bin",
    "smbios/smbios-lib/jeffgerlap_3_2_0.dat",
]


def acpi_tables():
    """Every genuine ACPI description table among the fixtures (no RSDP)."""
    out = []
    for d in ("acpi/fwupd", "acpi/lenovo-x1c6", "acpi/lenovo-x1c7", "acpi/qemu"):
        for name in sorted(os.listdir(real(d))):
            if not name.startswith("RSDP"):
                out.append(f"{d}/{name}")
    return out


def as_ssdt(raw):
    """A real table's bytes under the signature SSDT, checksum fixed: large real AML
    that hvmloader does not build itself (a DSDT or a FACP in an image is refused, as
    xcmod's hvmloader refuses it)."""
    t = bytearray(raw)
    t[0:4], t[9] = b"SSDT", 0
    t[9] = -sum(t) & 0xFF
    return bytes(t)
