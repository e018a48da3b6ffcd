# SPDX-License-Identifier: MIT
"""setuptools entry point; metadata lives in pyproject.toml.

Two cffi out-of-line modules are built here from xcmod/_ffi_build.py:
xcmod.image._reader (the C reference reader; always) and xcmod.xen._xen
(the load shim over the real Xen headers and libraries, Debian libxen-dev;
only where those headers are installed, or XCMOD_WITH_XEN=1 insists).
"""
import glob
import os
import sys

from setuptools import setup
from setuptools.command.build import build

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "xcmod"))
from _ffi_build import xen_headers_found  # noqa: E402  (the file cffi_modules builds from)

modules = ["xcmod/_ffi_build.py:reader_ffi"]
with_xen = xen_headers_found()
if with_xen:
    modules.append("xcmod/_ffi_build.py:xen_ffi")
else:
    print("xcmod: <xenctrl.h>/<xenstore.h> not found (Debian: apt-get install libxen-dev); "
          "building without the Xen binding: load, keys, hvm-info and guest-tables will "
          "say so", file=sys.stderr)


class Build(build):
    """A build without the Xen binding drops one that an earlier build left in
    build/lib*: the wheel takes everything there, and would ship a binding
    built for another configuration (XCMOD_WITH_XEN=0 asked for none)."""

    def run(self):
        if not with_xen:
            for stale in glob.glob(os.path.join(self.build_lib, "xcmod", "xen", "_xen.*")):
                os.remove(stale)
        super().run()


setup(cffi_modules=modules, cmdclass={"build": Build})
