# SPDX-License-Identifier: MIT
"""What xcmod's patched hvmloader refuses in an image the C reader accepts.

The C reference reader (csrc/xcmod_reader.c, compiled into hvmloader as
fwt_reader.c, only its names changed by hvmloader/fwt-files) checks the
format.  hvmloader then applies rules of its own before it uses anything (hvmloader/patches/0007, ``fwt_take()`` and
``fwt_check_acpi()``), and any of them makes it ignore the whole image:

1. at most one module of each type it uses: SMBIOS, ACPI, ACPI-IDs
   ("a second module of type N");
2. an SMBIOS module's payload (its structures) of at most
   :data:`SMBIOS_PAYLOAD_MAX` bytes, 48 KiB (``FWT_SMBIOS_PAYLOAD_MAX``);
3. no table in the ACPI module that hvmloader builds itself
   (:data:`HVMLOADER_OWNED_TABLES`, ``fwt_acpi_owned[]``).

4. at most :data:`ACPI_PASSTHROUGH_MAX` tables in the ACPI module: the patch
   hands them to libacpi's construct_passthrough_tables() (config->pt), which
   stops there (see :func:`check_hvmloader_limits`).

Modules of other types (an option ROM) are skipped, not refused.  These are
the rules docs/hvmloader.md lists; ``verify``, ``load`` and ``layout`` apply
them through :func:`xcmod.image.blocks.check` with the C reader's checks, and
``build`` never writes an image that breaks them.  tests/test_hostile.py holds
this module, the patch and the document to the same constants.

The image is walked by the C reader's own iterators (:mod:`.creader`).
"""
from ..errors import FormatError
from .creader import TYPE_ACPI, TYPE_ACPI_IDS, TYPE_SMBIOS, walk_modules

# ------------------------------------------------------------------------------
# The limits of the hvmloader that reads a build, stock or patched: one rule set,
# applied by build (every policy, passthrough-all too), verify, layout, load
# (:func:`xcmod.image.blocks.check`) and export (:func:`check_hvmloader_limits`,
# called from xcmod.builder.select.stock_rules).  Read from xen.git at
# RELEASE-4.17.5 (7d20a66ad6), RELEASE-4.20.4 (05d1f1c025) and master
# (c447b7308b); the same code in all three:
#
# * SMBIOS.  tools/firmware/hvmloader/smbios.c hvm_write_smbios_tables() builds
#   the whole table (hvmloader's own structures and the passed ones it takes)
#   and hands its length to smbios_entry_point_init(), whose parameters
#   max_structure_size, structure_table_length and number_of_structures are
#   uint16_t (4.17.5 smbios.c:61-65, 329, 340-362; 4.20.4 :63, 349, 360-382;
#   master :69, 373, 384-406): a table of 64 KiB or more gets a length taken
#   modulo 65536 in the 2.1 entry point, and the guest reads a truncated table.
#   Every OEM structure is copied in one run that do_struct() counts as one
#   structure (smbios_type_vendor_oem_init()), so the run's size is also the
#   "largest structure", again 16-bit.  Whatever the guest, hvmloader adds at
#   least its types 4, 16, 17, 19, 20, 32 and 127 for one vCPU and under 16 GiB
#   (smbios_types.h sizes, strings "CPU 1", "AMD", "DIMM 0" at their shortest):
#   46 + 17 + 35 + 17 + 21 + 13 + 6 = SMBIOS_OWN_MIN bytes.  So what a guest can
#   be given is at most SMBIOS_PASSED_MAX bytes of structures (more vCPUs, more
#   RAM and hvmloader's own 0/1/2/3/11/22/39 when not passed take more).
# * ACPI.  tools/libacpi/build.c: ACPI_MAX_SECONDARY_TABLES is 16 (4.17.5
#   build.c:29; 4.20.4 and master :21) and construct_passthrough_tables()
#   appends at most ACPI_MAX_SECONDARY_TABLES - nr_tables - 1 passed tables
#   (4.17.5 :314, 4.20.4 and master :306), nr_tables being hvmloader's own
#   (MADT, HPET, WAET, SSDTs, TPM, SRAT/SLIT: construct_secondary_tables()); the
#   rest are dropped silently.  With none of its own that is 15: more is dropped
#   by every hvmloader.  build holds a build to the policy's budget instead
#   (acpi.hvmloader_tables, default 5: 10 tables), under every policy.
SMBIOS_TABLE_MAX = 0xFFFF
SMBIOS_OWN_MIN = 46 + 17 + 35 + 17 + 21 + 13 + 6
SMBIOS_PASSED_MAX = SMBIOS_TABLE_MAX - SMBIOS_OWN_MIN
ACPI_MAX_SECONDARY_TABLES = 16
ACPI_PASSTHROUGH_MAX = ACPI_MAX_SECONDARY_TABLES - 1
# The SMBIOS types below 128 some modelled hvmloader takes (the first of each):
# xcmod.builder.xenrules.TYPES_4_21, the widest set (a wider set only counts more).
_TAKEN_TYPES = frozenset({0, 1, 2, 3, 7, 8, 9, 11, 22, 26, 27, 28, 39})


def smbios_taken_size(structures):
    """Bytes of the passed structures ``structures`` [(type, length)] that hvmloader
    copies into the guest's table: the first of each type it takes, every OEM one."""
    seen, total = set(), 0
    for stype, length in structures:
        if stype >= 128:
            total += length
        elif stype in _TAKEN_TYPES and stype not in seen:
            seen.add(stype)
            total += length
    return total


def check_hvmloader_limits(smbios=(), acpi_count=0, *, source=None, acpi_budget=None):
    """FormatError (naming ``source``) if what is passed breaks a limit of the hvmloader
    that reads it (the rule set above): ``smbios`` [(type, length)] of the structures
    passed (length: formatted area, strings and the double NUL), ``acpi_count`` the
    ACPI tables passed, ``acpi_budget`` how many it may append (default
    :data:`ACPI_PASSTHROUGH_MAX`, what no hvmloader exceeds)."""
    budget = ACPI_PASSTHROUGH_MAX if acpi_budget is None else acpi_budget
    size = smbios_taken_size(smbios)
    if size > SMBIOS_PASSED_MAX:
        raise FormatError(f"SMBIOS: the structures hvmloader would copy take {size} bytes; "
                          f"with its own (at least {SMBIOS_OWN_MIN} bytes) the table passes "
                          f"{SMBIOS_TABLE_MAX}, and hvmloader's smbios_entry_point_init() "
                          f"takes a 16-bit table length, so the guest would get a truncated "
                          f"table: pass at most {SMBIOS_PASSED_MAX} bytes of structures "
                          f"(docs/safety.md)", source=source)
    if acpi_count > budget:
        why = ("beside its own tables" if acpi_budget is not None else
               "even with no table of its own")
        raise FormatError(f"{acpi_count} ACPI tables, but hvmloader appends at most {budget} "
                          f"{why} (ACPI_MAX_SECONDARY_TABLES is {ACPI_MAX_SECONDARY_TABLES}, "
                          f"one slot ends the list) and drops the rest silently: pass "
                          f"fewer (docs/safety.md)", source=source)


SMBIOS_PAYLOAD_MAX = 0xC000
# Tables hvmloader (tools/libacpi/build.c) builds itself: passing one would
# put a second FADT/MADT/... beside hvmloader's (construct_passthrough_tables()
# filters no signature).  TPM2 is built since 4.18.0, TCPA before; MCFG by no
# release, but a host's MCFG describes the host's PCI Express configuration
# space, which a guest does not have.  In the patch's order (fwt_acpi_owned[]);
# xcmod's policy refuses the same tables (builder/policy.py HVMLOADER_ACPI_OWN).
HVMLOADER_OWNED_TABLES = ("RSDT", "XSDT", "FACP", "FACS", "DSDT", "APIC", "HPET",
                          "WAET", "TCPA", "TPM2", "SRAT", "SLIT", "MCFG")
# The module types hvmloader takes one of.
_ONE_OF = {TYPE_SMBIOS: "SMBIOS", TYPE_ACPI: "ACPI", TYPE_ACPI_IDS: "ACPI-IDs"}
_IGNORED = "xcmod's hvmloader ignores the whole image"


def check_hvmloader_rules(data, source=None):
    """FormatError (source, offset, hvmloader's reason) if xcmod's hvmloader would ignore
    the image ``data`` (FormatError too, the C reader's, if it is no valid image)."""
    seen, tables = {}, None
    for mod, items, _ in walk_modules(data, source):
        if mod.type not in _ONE_OF:
            continue
        if mod.type in seen:
            raise FormatError(f"a second module of type {mod.type} ({_ONE_OF[mod.type]}; the "
                              f"first is at offset {seen[mod.type]:#x}): {_IGNORED}",
                              source=source, offset=mod.offset)
        seen[mod.type] = mod.offset
        if mod.type == TYPE_SMBIOS and mod.payload_length > SMBIOS_PAYLOAD_MAX:
            raise FormatError(f"SMBIOS module of {mod.payload_length} bytes exceeds "
                              f"{SMBIOS_PAYLOAD_MAX} (48 KiB): {_IGNORED}", source=source,
                              offset=mod.offset)
        if mod.type == TYPE_ACPI:
            tables = (mod.payload_offset, [offset for offset, _, _ in items])
    if tables is None:
        return
    first, offsets = tables
    owned = [(sig, o) for o in offsets
             if (sig := bytes(data[o:o + 4]).decode("latin-1")) in HVMLOADER_OWNED_TABLES]
    try:
        check_hvmloader_limits(acpi_count=len(offsets), source=source)
    except FormatError as e:            # (at the ACPI module's first table)
        raise FormatError(e.message, source=source, offset=first) from None
    if owned:
        names = ", ".join(f"{s} (offset {o:#x})" for s, o in owned)
        raise FormatError(f"ACPI table{'s' if len(owned) > 1 else ''} {names} refused: "
                          f"hvmloader builds its own; {_IGNORED}", source=source,
                          offset=owned[0][1])
