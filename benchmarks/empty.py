# SPDX-License-Identifier: MIT
"""An empty module: `python3 -m benchmarks.empty` is the interpreter's own start-up,
the baseline the CLI start-up figures of ``make bench`` are divided by."""
