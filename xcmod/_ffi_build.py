# SPDX-License-Identifier: MIT
"""cffi out-of-line API builds of xcmod's two compiled modules (setup.py: cffi_modules).

``reader_ffi`` -> ``xcmod.image._reader``
    the reference reader csrc/xcmod_reader.c, the very code hvmloader runs,
    so that ``verify`` and ``load`` check images exactly as hvmloader will.
    Plain C, no library: it builds wherever a C compiler does.

``xen_ffi`` -> ``xcmod.xen._xen``
    the C shim csrc/xcmod_load.c over Debian libxen-dev's real <xenctrl.h>
    and <xenstore.h>, linked with libxenctrl and libxenstore.  setup.py
    builds it only where those headers are installed (see
    :func:`xen_headers_found`); without it, build/inspect/verify/export work
    and load and friends say in one line what is missing.

The cdefs live in csrc/cdefs/*.h, mirroring the real headers, with ``...``
where the compiler supplies layouts and values.
"""
import os

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")


def _ffi(cdefs):
    ffi = FFI()
    for name in cdefs:
        with open(os.path.join(CSRC, "cdefs", name)) as f:
            ffi.cdef(f.read())
    return ffi


def _sources(*names):
    return [os.path.relpath(os.path.join(CSRC, n), ROOT) for n in names]


reader_ffi = _ffi(("xcmod_reader.h",))
reader_ffi.set_source(
    "xcmod.image._reader",
    '#include "xcmod_reader.h"\n',
    sources=_sources("xcmod_reader.c"),
    include_dirs=[CSRC],
    extra_compile_args=["-std=gnu11", "-Wall"],
)

xen_ffi = _ffi(("xenctrl.h", "xenstore.h", "xcmod_load.h"))
xen_ffi.set_source(
    "xcmod.xen._xen",
    """
    #define XC_WANT_COMPAT_MAP_FOREIGN_API
    #include <stdbool.h>
    #include <stdlib.h>
    #include <xenctrl.h>
    #include <xenstore.h>
    #include "xcmod_load.h"
    """,
    sources=_sources("xcmod_load.c"),
    include_dirs=[CSRC],
    libraries=["xenctrl", "xenstore"],
    extra_compile_args=["-std=gnu11", "-Wall"],
)


def xen_headers_found():
    """True where <xenctrl.h> and <xenstore.h> can be included (libxen-dev installed).

    XCMOD_WITH_XEN=1 insists (a missing header is then a build error),
    XCMOD_WITH_XEN=0 leaves the binding out; otherwise the compiler's usual
    include directories, CPATH and C_INCLUDE_PATH are looked in.
    """
    forced = os.environ.get("XCMOD_WITH_XEN")
    if forced in ("0", "1"):
        return forced == "1"
    dirs = ["/usr/include", "/usr/local/include"]
    for var in ("CPATH", "C_INCLUDE_PATH"):
        dirs += [d for d in os.environ.get(var, "").split(os.pathsep) if d]
    return any(all(os.path.exists(os.path.join(d, h)) for h in ("xenctrl.h", "xenstore.h"))
               for d in dirs)


if __name__ == "__main__":
    reader_ffi.compile(verbose=True)
    if xen_headers_found():
        xen_ffi.compile(verbose=True)
