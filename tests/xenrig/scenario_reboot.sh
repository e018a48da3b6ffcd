# SPDX-License-Identifier: MIT
# The reboot part of the scenario alone (tests/xenrig/scenario.py reboots), for
# iterating on it: make xen-run SCRIPT=$PWD/tests/xenrig/scenario_reboot.sh DATA=...
exec python3 /data/scenario.py reboots
