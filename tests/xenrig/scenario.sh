# SPDX-License-Identifier: MIT
# The job `make test-xen` runs in dom0: the Python scenario beside it in /data.
exec python3 /data/scenario.py
