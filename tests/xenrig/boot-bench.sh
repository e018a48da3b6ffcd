# SPDX-License-Identifier: MIT
# The job of the boot benchmark (tests/test_xen_rig.py), run under -icount:
# the Python scenario beside it in /data, its boot-bench part only.
exec python3 /data/scenario.py boot-bench
