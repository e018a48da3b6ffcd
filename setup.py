"""setuptools entry point; metadata lives in pyproject.toml.

Two cffi out-of-line modules are built here from xcmod/_ffi_build.py:
xcmod.image._reader (the C reference reader; always) and xcmod.xen._xen
(the load shim over the real Xen headers and libraries, Debian libxen-dev;
only where those headers are installed, or XCMOD_WITH_XEN=1 insists).
"""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "xcmod"))
from _ffi_build import xen_headers_found  # noqa: E402  (the file cffi_modules builds from)

modules = ["xcmod/_ffi_build.py:reader_ffi"]
if xen_headers_found():
    modules.append("xcmod/_ffi_build.py:xen_ffi")
else:
    print("xcmod: <xenctrl.h>/<xenstore.h> not found (Debian: apt-get install libxen-dev); "
          "building without the Xen binding: load, keys, hvm-info and guest-tables will "
          "say so", file=sys.stderr)

setup(cffi_modules=modules)
