# SPDX-License-Identifier: MIT
"""The specifications: what host firmware is, independent of any guest.

- :mod:`.smbios`: SMBIOS entry points (2.1 and 3.0), structures, dumps;
- :mod:`.fields`: named SMBIOS fields (``system.serial_number``...) and edits;
- :mod:`.acpi`: ACPI system description table headers, lengths, checksums;
- :mod:`.aml`: a lint for AML OperationRegions that reach host hardware;
- :mod:`.orom`: PCI option ROMs (55AA, PCIR);
- :mod:`.checksum`: the 8-bit sum ACPI, SMBIOS and option ROMs share;
- :mod:`.host`: where firmware comes from (the running host, sysfs-layout
  directories, acpidump text, memory images), each item with its origin;
- :mod:`.contents`: what an xcmod image or stock blocks hold, read back.

Each spec's structures are declared beside its parsers, named as the spec
names them (``acpi_table_header``, ``smbios_entry_point_30``...); the module
format they travel in is :mod:`xcmod.image`'s.

Nothing here knows about policies (:mod:`xcmod.builder`) or guests
(:mod:`xcmod.xen`).
"""
