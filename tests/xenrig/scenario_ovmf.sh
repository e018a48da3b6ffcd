# dom0 job for tests/test_xen_rig_ovmf.py: install the UEFI test guest's config
# and the project's OvmfXen from /data, then run the UEFI scenario.
set -e
mkdir -p /usr/lib/xcmod
cp /data/OvmfXen.fd /usr/lib/xcmod/OvmfXen.fd
cp /data/test-hvm-xcmod-ovmf.cfg /etc/xen/test-hvm-xcmod-ovmf.cfg
python3 /data/scenario_ovmf.py
