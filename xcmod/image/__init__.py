# SPDX-License-Identifier: MIT
"""What a build hands to a load: the xcmod image, and the blocks stock hvmloader reads.

- :mod:`.spec`: the module format in construct, mirroring csrc/xcmod_module.h
  name for name: it builds modules and describes what the walk finds;
- :mod:`.read`: what a file holds, and the modules of an image;
- :mod:`.stock`: the two raw blocks of ``build --format xen`` (smbios.bin,
  acpi.bin), written and walked as hvmloader walks them;
- :mod:`.blocks`: :class:`~.blocks.Block`, the typed value (kind, name,
  bytes) that carries an image or a stock block from build to load;
- :mod:`.creader`: the C reference reader itself (``xcmod.image._reader``),
  the one validator and walker of an image;
- :mod:`.rules`: what xcmod's hvmloader refuses beyond the reader;
- :mod:`.manifest`: SHA-256 launch measurements of blocks.

The walks hand up raw items (the bytes of each table and structure); the
specifications that read them are :mod:`xcmod.firmware`'s, a layer above:
nothing here imports it (see :mod:`xcmod`'s layer line).
"""
