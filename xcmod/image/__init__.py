# SPDX-License-Identifier: MIT
"""What a build hands to a load: the xcmod image, and the blocks stock hvmloader reads.

- :mod:`.spec`: the module format, mirroring csrc/xcmod_module.h name for
  name, with the image walk (the reference reader's checks in its order);
- :mod:`.read`: what a file holds, and the modules of an image;
- :mod:`.stock`: the two raw blocks of ``build --format xen`` (smbios.bin,
  acpi.bin), written and walked as hvmloader walks them;
- :mod:`.blocks`: :class:`~.blocks.Block`, the typed value (kind, name,
  bytes) that carries an image or a stock block from build to load;
- :mod:`.creader`: the C reference reader itself (``xcmod.image._reader``),
  which ``verify`` and ``load`` use;
- :mod:`.manifest`: SHA-256 launch measurements of blocks.

The walks hand up raw items (the bytes of each table and structure); the
specifications that read them are :mod:`xcmod.firmware`'s, a layer above:
nothing here imports it (see :mod:`xcmod`'s layer line).
"""
