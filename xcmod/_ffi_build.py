"""cffi out-of-line API build of xcmod._xen (setup.py: cffi_modules).

Compiled against Debian libxen-dev's real <xenctrl.h> and <xenstore.h> and
linked with libxenctrl and libxenstore; it carries the C shim
csrc/xcmod_load.c and the reference reader csrc/xcmod_reader.c (so `load`
validates images with the very code hvmloader would run).  The cdefs live in csrc/cdefs/*.h, mirroring the real
headers, with `...` where the compiler supplies layouts and values.
"""
import os

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
CDEFS = ("xenctrl.h", "xenstore.h", "xcmod_load.h", "xcmod_reader.h")

ffi = FFI()
for name in CDEFS:
    with open(os.path.join(CSRC, "cdefs", name)) as f:
        ffi.cdef(f.read())

ffi.set_source(
    "xcmod._xen",
    """
    #define XC_WANT_COMPAT_MAP_FOREIGN_API
    #include <stdbool.h>
    #include <stdlib.h>
    #include <xenctrl.h>
    #include <xenstore.h>
    #include "xcmod_load.h"
    #include "xcmod_reader.h"
    """,
    sources=[os.path.relpath(os.path.join(CSRC, n), ROOT)
             for n in ("xcmod_load.c", "xcmod_reader.c")],
    include_dirs=[CSRC],
    libraries=["xenctrl", "xenstore"],
    extra_compile_args=["-std=gnu11", "-Wall"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
