# SPDX-License-Identifier: MIT
"""`python3 -m benchmarks.construct_only`: the interpreter and ``import construct``
alone, beside the floor in ``make bench``'s start-up figures: the part of
``build``'s start-up the struct library takes whatever xcmod does."""
import construct  # noqa: F401
