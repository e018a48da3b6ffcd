# SPDX-License-Identifier: MIT
"""xcmod: pass host SMBIOS/ACPI firmware into Xen HVM guests as hvmloader modules.

Two jobs, one package each (docs/architecture.md):

* **build** (:mod:`xcmod.builder`): host firmware (:mod:`xcmod.firmware`)
  -> policy -> an image or stock blocks (:mod:`xcmod.image`):
  :func:`build` and :func:`write_build`;
* **load** (:mod:`xcmod.xen`): an image or blocks -> a paused guest's RAM and
  xenstore: :func:`load`, with :func:`read_blocks` to read a path.

The CLI (:mod:`xcmod.cli`) parses, calls these, and renders.  The public API
is imported on first use (PEP 562): ``import xcmod`` imports neither job.

The packages are layers, from the top; a module imports only from its own
layer and the layers below it, never across a ``|``, and no module imports
itself back through others (tests/test_architecture.py reads the line below
and walks every import, inside functions too)::

    cli -> builder | xen -> firmware -> image -> fileio -> checks -> hostxen | errors

This module's lazy API, ``python -m xcmod`` (``__main__``) and setup.py's
cffi builds (``_ffi_build``) stand outside the layers: nothing imports them.
"""
from .errors import FormatError, PolicyError, UsageError, XcmodError, XenError

__all__ = ["XcmodError", "FormatError", "UsageError", "XenError", "PolicyError", "build",
           "write_build", "load", "read_blocks", "Block", "keys", "build_image",
           "verify_image"]
__version__ = "0.1.0"


def __getattr__(name):
    if name in ("build_image", "verify_image", "iter_modules"):
        from .image import spec
        return getattr(spec, name)
    if name in ("build", "write_build", "BuildResult"):
        from . import builder
        return getattr(builder, name)
    if name == "load":
        from .xen.loader import load
        return load
    if name == "keys":                 # xcmod.keys.set_keys(5, {...}), list_keys, ...
        from .xen import keys
        return keys
    if name in ("Block", "read_blocks"):
        from .image import blocks
        return blocks.Block if name == "Block" else blocks.read_path
    raise AttributeError(f"module 'xcmod' has no attribute {name!r}")
