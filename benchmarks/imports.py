# SPDX-License-Identifier: MIT
"""`python3 -m benchmarks.imports MODULE...`: the interpreter and the modules named
(with everything they import), running nothing.  Beside a command in ``make bench``'s
start-up figures, ``xcmod.cli xcmod.cli.build`` (what `xcmod build` imports) splits the
command's start-up into its imports and its work."""
import importlib
import sys

for name in sys.argv[1:]:
    importlib.import_module(name)
