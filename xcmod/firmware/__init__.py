"""The specifications: what host firmware is, independent of any guest.

- :mod:`.smbios`: SMBIOS entry points (2.1 and 3.0), structures, dumps;
- :mod:`.fields`: named SMBIOS fields (``system.serial_number``...) and edits;
- :mod:`.acpi`: ACPI system description table headers, lengths, checksums;
- :mod:`.aml`: a lint for AML OperationRegions that reach host hardware;
- :mod:`.orom`: PCI option ROMs (55AA, PCIR);
- :mod:`.host`: where firmware comes from (the running host, sysfs-layout
  directories, acpidump text, memory images), each item with its origin.

Nothing here knows about policies (:mod:`xcmod.builder`) or guests
(:mod:`xcmod.xen`).
"""
