# SPDX-License-Identifier: MIT
"""The load job: an image into a paused guest's RAM, and its keys into xenstore.

- :mod:`.loader`: :func:`~.loader.load` (one lock, checks, copy, verify, one
  transaction), used by ``xcmod load`` and ``xcmod.load()``;
- :mod:`.layout`: where blocks go in guest RAM, and what they must not overlap;
- :mod:`.xenctrl` and :mod:`.xenstore`: the one wrapper layer over the compiled
  binding ``xcmod.xen._xen`` (libxenctrl, libxenstore, csrc/xcmod_load.c);
- :mod:`.keys`: hvmloader's xenstore keys, validated, and list/get/set/rm;
- :mod:`.hvminfo` and :mod:`.guest`: what a guest's RAM holds (the HVM info
  table, the SMBIOS and ACPI tables its firmware built).

Nothing here imports :mod:`xcmod.builder`; :mod:`.loader` and :mod:`.layout`
import no construct (tests/test_architecture.py holds both).
"""
