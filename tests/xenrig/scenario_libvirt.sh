# SPDX-License-Identifier: MIT
# dom0 job for tests/test_xen_rig_libvirt.py: the rig booted with libvirt's
# libxl driver (xenrig.run(libvirt=True)); run the libvirt scenario.
set -e
python3 /data/scenario_libvirt.py
