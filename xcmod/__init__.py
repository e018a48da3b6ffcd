"""xcmod: pass host SMBIOS/ACPI firmware into Xen HVM guests as hvmloader modules.

The public API is imported lazily so that ``python -m xcmod load`` stays fast.
"""
from .errors import FormatError, UsageError, XcmodError, XenError

__all__ = ["XcmodError", "FormatError", "UsageError", "XenError", "build_image",
           "verify_image", "load"]
__version__ = "0.1.0"


def __getattr__(name):
    if name in ("build_image", "verify_image", "iter_modules"):
        from .image import spec as format
        return getattr(format, name)
    if name == "load":
        from .xen.loader import load
        return load
    raise AttributeError(f"module 'xcmod' has no attribute {name!r}")
