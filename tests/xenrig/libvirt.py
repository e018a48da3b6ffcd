# SPDX-License-Identifier: MIT
"""libvirt's libxl driver in dom0 (tests/test_xen_rig_libvirt.py): an initramfs put
over the rig's with Debian's monolithic daemon, its client and the one connection
driver it needs, as `make setup` installed them (libvirt-daemon-driver-xen)."""
import gzip
import io
import os

from .cpio import Cpio
from .host import libs, package_file

LIBVIRT_PACKAGES = {"libvirtd": ("libvirt-daemon", r"/sbin/libvirtd"),
                    "virsh": ("libvirt-clients", r"/bin/virsh"),
                    "driver": ("libvirt-daemon-driver-xen", r"/libvirt_driver_libxl\.so")}
# libvirt reads its CPU models only from here (cpu_map.c), never from a path it is given.
LIBVIRT_CPU_MAP = "/usr/share/libvirt/cpu_map"
# libvirt's libxl driver decodes the host CPU from Xen's physinfo hw_caps and
# fails its whole state initialisation, libvirtd exiting, when no model of its
# cpu_map has every feature it lists ("Cannot find suitable CPU model for given
# data", x86Decode).  Every x86 model needs vme or sep; QEMU's TCG never emulates
# VME and Xen clears SEP on the AMD vendor -cpu max has.  A rig model that needs
# only the FPU, for host decoding only (guest='off': guest CPU definitions decode
# as before), lets the driver start; nothing changes for Xen or the guests.
LIBVIRT_RIG_MODEL = b"""<cpus>
  <model name='xenrig-tcg'>
    <decode host='on' guest='off'/>
    <feature name='fpu'/>
  </model>
</cpus>
"""
LIBVIRTD_CONF = b"""# the rig's libvirtd: root on the local socket, no polkit; a log to read back
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""


def libvirt_cpio(base_libs):
    """An initramfs to put over the rig's: libvirtd, virsh, the libxl connection
    driver and the libraries of theirs the rig lacks (``base_libs``), libvirt's
    cpu_map with :data:`LIBVIRT_RIG_MODEL` added, and /etc/libvirt/libvirtd.conf:
    its gzip'd bytes."""
    files = [package_file(*spec) for spec in LIBVIRT_PACKAGES.values()]
    buf = io.BytesIO()
    c = Cpio(buf)
    for path in files:
        c.copy(path)
    # one copy of each (libicudata alone is 31 MB), a link in the other /lib:
    # the rig's dom0 unpacks its initramfs into half of its 512 MiB
    for lib in sorted(set(libs(files)) - set(base_libs)):
        c.copy(lib)
        if lib.startswith("/lib/"):
            c.symlink("/usr" + lib, lib)
    index = open(os.path.join(LIBVIRT_CPU_MAP, "index.xml"), "rb").read()
    anchor = b"<include filename='x86_features.xml'/>"
    if anchor not in index:
        raise SystemExit(f"xenrig: {LIBVIRT_CPU_MAP}/index.xml has no {anchor.decode()}")
    for n in sorted(os.listdir(LIBVIRT_CPU_MAP)):
        if n != "index.xml":
            c.copy(os.path.join(LIBVIRT_CPU_MAP, n))
    c.file(f"{LIBVIRT_CPU_MAP}/x86_xenrig.xml", LIBVIRT_RIG_MODEL, 0o644)
    c.file(f"{LIBVIRT_CPU_MAP}/index.xml.stock", index, 0o644)    # to show the refusal
    c.file(f"{LIBVIRT_CPU_MAP}/index.xml", index.replace(
        anchor, anchor + b"\n    <include filename='x86_xenrig.xml'/>", 1), 0o644)
    c.file("etc/libvirt/libvirtd.conf", LIBVIRTD_CONF, 0o644)
    c.close()
    return gzip.compress(buf.getvalue(), 1)
