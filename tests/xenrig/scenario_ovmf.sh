# SPDX-License-Identifier: MIT
# dom0 job for tests/test_xen_rig_ovmf.py: the rig carries the UEFI test guest
# (/etc/xen/test-hvm-xcmod-ovmf.cfg, the OvmfXen of make ovmf-rig at
# /usr/lib/xcmod/OvmfXen.fd); run the UEFI scenario.
set -e
python3 /data/scenario_ovmf.py
