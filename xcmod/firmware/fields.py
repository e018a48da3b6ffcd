# SPDX-License-Identifier: MIT
"""Named SMBIOS fields, and editing structures through them.

Field names follow the SMBIOS 3.7 specification's field names in snake case,
grouped by the names dmidecode gives the structure types
(``system.serial_number`` is type 1 offset 07h).  Only fields xcmod scrubs or
lets users override are listed: strings, the system UUID and the battery's
SBDS serial number.

A structure is edited through :func:`edit`, which rebuilds its string set
from the referenced strings when xcmod knows *every* string field the
structure can hold at its length (then a blanked string disappears for good),
and otherwise rewrites string contents in place so that no index the
specification might add later is disturbed.
"""
import difflib
from dataclasses import dataclass

from .smbios import OEM_STRINGS, SmbiosStructure


@dataclass(slots=True, frozen=True)
class Field:
    """One SMBIOS field a policy names (``group.name``): its structure type, offset
    and kind, and whether the default policy scrubs it."""
    group: str
    name: str
    type: int
    offset: int          # None: a variable position
    kind: str = "string"  # "string" | "uuid" | "word"
    sensitive: bool = False    # scrubbed by the default policy

    @property
    def key(self):
        return f"{self.group}.{self.name}"


GROUPS = {0: "bios", 1: "system", 2: "baseboard", 3: "chassis", 4: "processor",
          7: "cache", 8: "port", 9: "slot", 11: "oem_strings", 17: "memory_device",
          22: "battery", 26: "voltage_probe", 27: "cooling_device",
          28: "temperature_probe", 39: "power_supply"}
TYPES = {v: k for k, v in GROUPS.items()}

_S, _U, _W = "string", "uuid", "word"
_TABLE = [
    # SMBIOS 3.7, 7.1 BIOS Information (Type 0)
    (0, "vendor", 0x04, _S, False), (0, "version", 0x05, _S, False),
    (0, "release_date", 0x08, _S, False),
    # 7.2 System Information (Type 1)
    (1, "manufacturer", 0x04, _S, False), (1, "product_name", 0x05, _S, False),
    (1, "version", 0x06, _S, False), (1, "serial_number", 0x07, _S, True),
    (1, "uuid", 0x08, _U, True), (1, "sku_number", 0x19, _S, False),
    (1, "family", 0x1A, _S, False),
    # 7.3 Baseboard Information (Type 2)
    (2, "manufacturer", 0x04, _S, False), (2, "product_name", 0x05, _S, False),
    (2, "version", 0x06, _S, False), (2, "serial_number", 0x07, _S, True),
    (2, "asset_tag", 0x08, _S, True), (2, "location_in_chassis", 0x0A, _S, False),
    # 7.4 System Enclosure or Chassis (Type 3); the SKU string moves with the
    # contained elements (offset 15h + n*m), see _chassis_sku_offset().
    (3, "manufacturer", 0x04, _S, False), (3, "version", 0x06, _S, False),
    (3, "serial_number", 0x07, _S, True), (3, "asset_tag", 0x08, _S, True),
    (3, "sku_number", None, _S, False),
    # 7.5 Processor Information (Type 4)
    (4, "socket_designation", 0x04, _S, False), (4, "manufacturer", 0x07, _S, False),
    (4, "version", 0x10, _S, False), (4, "serial_number", 0x20, _S, True),
    (4, "asset_tag", 0x21, _S, True), (4, "part_number", 0x22, _S, False),
    # 7.8 Cache Information (Type 7)
    (7, "socket_designation", 0x04, _S, False),
    # 7.9 Port Connector Information (Type 8)
    (8, "internal_reference_designator", 0x04, _S, False),
    (8, "external_reference_designator", 0x06, _S, False),
    # 7.10 System Slots (Type 9)
    (9, "slot_designation", 0x04, _S, False),
    # 7.18 Memory Device (Type 17)
    (17, "device_locator", 0x10, _S, False), (17, "bank_locator", 0x11, _S, False),
    (17, "manufacturer", 0x17, _S, False), (17, "serial_number", 0x18, _S, True),
    (17, "asset_tag", 0x19, _S, True), (17, "part_number", 0x1A, _S, False),
    (17, "firmware_version", 0x2B, _S, False),
    # 7.23 Portable Battery (Type 22)
    (22, "location", 0x04, _S, False), (22, "manufacturer", 0x05, _S, False),
    (22, "manufacture_date", 0x06, _S, False), (22, "serial_number", 0x07, _S, True),
    (22, "device_name", 0x08, _S, False), (22, "sbds_version_number", 0x0E, _S, False),
    (22, "sbds_serial_number", 0x10, _W, True), (22, "sbds_device_chemistry", 0x14, _S, False),
    # 7.27 Voltage Probe (Type 26), 7.28 Cooling Device (27), 7.29 Temperature Probe (28)
    (26, "description", 0x04, _S, False), (27, "description", 0x0E, _S, False),
    (28, "description", 0x04, _S, False),
    # 7.40 System Power Supply (Type 39)
    (39, "location", 0x05, _S, False), (39, "device_name", 0x06, _S, False),
    (39, "manufacturer", 0x07, _S, False), (39, "serial_number", 0x08, _S, True),
    (39, "asset_tag", 0x09, _S, True), (39, "model_part_number", 0x0A, _S, False),
    (39, "revision_level", 0x0B, _S, False),
]
FIELDS = {f"{GROUPS[t]}.{n}": Field(GROUPS[t], n, t, off, kind, sens)
          for t, n, off, kind, sens in _TABLE}
FIELDS_BY_TYPE = {}
for _f in FIELDS.values():
    FIELDS_BY_TYPE.setdefault(_f.type, []).append(_f)

# The two other names some fields have: dmidecode's string keywords (dmidecode -s,
# dmidecode(8)) and the xenstore keys hvmloader reads (hvm_xs_strings.h; the key list
# itself is xcmod.xen.keys.KEYS, which tests/test_inspect.py holds these to).
DMIDECODE_KEYWORDS = {
    "bios-vendor": "bios.vendor", "bios-version": "bios.version",
    "bios-release-date": "bios.release_date",
    "system-manufacturer": "system.manufacturer", "system-product-name": "system.product_name",
    "system-version": "system.version", "system-serial-number": "system.serial_number",
    "system-uuid": "system.uuid", "system-sku-number": "system.sku_number",
    "system-family": "system.family",
    "baseboard-manufacturer": "baseboard.manufacturer",
    "baseboard-product-name": "baseboard.product_name",
    "baseboard-version": "baseboard.version", "baseboard-serial-number": "baseboard.serial_number",
    "baseboard-asset-tag": "baseboard.asset_tag",
    "chassis-manufacturer": "chassis.manufacturer", "chassis-version": "chassis.version",
    "chassis-serial-number": "chassis.serial_number", "chassis-asset-tag": "chassis.asset_tag",
    "processor-manufacturer": "processor.manufacturer", "processor-version": "processor.version",
}
XENSTORE_KEYS = {
    "bios-strings/bios-vendor": "bios.vendor", "bios-strings/bios-version": "bios.version",
    "bios-strings/system-manufacturer": "system.manufacturer",
    "bios-strings/system-product-name": "system.product_name",
    "bios-strings/system-version": "system.version",
    "bios-strings/system-serial-number": "system.serial_number",
    "bios-strings/baseboard-manufacturer": "baseboard.manufacturer",
    "bios-strings/baseboard-product-name": "baseboard.product_name",
    "bios-strings/baseboard-version": "baseboard.version",
    "bios-strings/baseboard-serial-number": "baseboard.serial_number",
    "bios-strings/baseboard-asset-tag": "baseboard.asset_tag",
    "bios-strings/baseboard-location-in-chassis": "baseboard.location_in_chassis",
    "bios-strings/enclosure-manufacturer": "chassis.manufacturer",
    "bios-strings/enclosure-serial-number": "chassis.serial_number",
    "bios-strings/enclosure-asset-tag": "chassis.asset_tag",
    "bios-strings/battery-manufacturer": "battery.manufacturer",
    "bios-strings/battery-device-name": "battery.device_name",
}


def other_names(key):
    """{"dmidecode": keyword or None, "xenstore": key or None} of field ``key``."""
    return {"dmidecode": next((k for k, v in DMIDECODE_KEYWORDS.items() if v == key), None),
            "xenstore": next((k for k, v in XENSTORE_KEYS.items() if v == key), None)}


def suggest(name):
    """What an unknown field name most likely means, as a phrase, or None: the field a
    dmidecode keyword or xenstore key names, else the nearest name of any scheme."""
    name = name.strip()
    for scheme, table in (("dmidecode's keyword", DMIDECODE_KEYWORDS),
                          ("the xenstore key", XENSTORE_KEYS)):
        if name in table:
            return f"{table[name]} ({name} is {scheme} for it)"
    tail = name.rsplit("/", 1)[-1]
    if tail in DMIDECODE_KEYWORDS:
        return DMIDECODE_KEYWORDS[tail]
    spelled = {**{k: k for k in FIELDS}, **DMIDECODE_KEYWORDS, **XENSTORE_KEYS,
               **{k.replace("_", "-"): k for k in FIELDS}}
    near = difflib.get_close_matches(name, list(spelled), n=1, cutoff=0.6)
    return spelled[near[0]] if near else None


# Formatted lengths up to which _TABLE names every string field of a type
# (SMBIOS 3.7); a longer structure comes from a newer specification and is
# edited in place only.
_COMPLETE_UP_TO = {0: 0x1A, 1: 0x1B, 4: 0x32, 7: 0x1B, 8: 0x09, 9: 0x11, 17: 0x5C,
                   22: 0x1A, 26: 0x16, 27: 0x0F, 28: 0x16, 39: 0x16}

# Strings vendors put in unset fields; identical on every machine of a model,
# so they identify nothing and are not hunted for in other fields.
PLACEHOLDERS = frozenset(s.lower() for s in (
    "To be filled by O.E.M.", "To Be Filled By O.E.M.", "Default string", "Not Specified",
    "Not Applicable", "None", "N/A", "NA", "Unknown", "System Serial Number",
    "Chassis Serial Number", "Base Board Serial Number", "Serial Number", "Asset Tag",
    "Asset-1234567890", "No Asset Tag", "No Asset Information", "0123456789",
    "123456789", "Not Available", "OEM", "O.E.M.", "Empty", "INVALID", "XXXXXXXXXX",
    "SerNum0", "SerNum1", "SerNum2", "SerNum3", "AssetTagNum0", "AssetTagNum1",
    "Chassis Asset Tag", "Base Board Asset Tag", "System Version", "Type2 - Board Serial Number",
    "Type1 - Serial Number", "Type3 - Chassis Serial Number"))

BLANK_TEXT = b"Not Specified"   # where a string cannot simply vanish


def _chassis_sku_offset(formatted):
    # 7.4: contained element count n at 13h, record length m at 14h, SKU at 15h + n*m.
    if len(formatted) < 0x15:
        return None
    return 0x15 + formatted[0x13] * formatted[0x14]


def field_offset(field, formatted):
    """Where ``field`` sits in this structure, or None if it is too short to hold it."""
    off = _chassis_sku_offset(formatted) if field.offset is None else field.offset
    size = {"string": 1, "uuid": 16, "word": 2}[field.kind]
    if off is None or off + size > len(formatted):
        return None
    return off


def _layout_complete(stype, formatted):
    if stype == 2:     # 7.3: n contained object handles at 0Fh, count at 0Eh
        return len(formatted) <= 0x0F + 2 * (formatted[0x0E] if len(formatted) > 0x0E else 0)
    if stype == 3:
        sku = _chassis_sku_offset(formatted)
        return sku is None or len(formatted) <= sku + 1
    limit = _COMPLETE_UP_TO.get(stype)
    return limit is not None and len(formatted) <= limit


def encode_strings(strings):
    """A string set: each string NUL-terminated, then one more NUL (two if empty)."""
    if not strings:
        return b"\0\0"
    return b"".join(s + b"\0" for s in strings) + b"\0"


def rebuild(formatted, strings, offset=0):
    """A SmbiosStructure from a formatted area and a string list."""
    data = bytes(formatted) + encode_strings(strings)
    return SmbiosStructure(data, offset, len(formatted))


def get_string(struct, field):
    """The bytes of a string field, or None when absent or unset."""
    off = field_offset(field, struct.formatted)
    if off is None:
        return None
    idx = struct.formatted[off]
    strings = struct.strings
    return strings[idx - 1] if 1 <= idx <= len(strings) else None


def string_names(struct, index):
    """What string number ``index`` (1-based) of ``struct`` is, by field name: the
    string fields that reference it (``system.version``), ``oem_strings.N`` for
    type 11, or ``type T string N`` where xcmod knows no field that points at it."""
    if struct.type == OEM_STRINGS:
        return [f"oem_strings.{index}"]
    names = [k for k, f in FIELDS.items() if f.type == struct.type and f.kind == "string"
             and (off := field_offset(f, struct.formatted)) is not None
             and struct.formatted[off] == index]
    return names or [f"type {struct.type} string {index}"]


def uuid_forms(raw):
    """The ways a 16-byte SMBIOS UUID is written as text: in SMBIOS 3.7, 7.2.1's byte
    order (its first three fields little-endian, RFC 4122's ``bytes_le``) and in raw
    order; each as 8-4-4-4-12 and as 32 digits, lower and upper case."""
    raw = bytes(raw)
    smbios_order = raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]
    forms = set()
    for b in (smbios_order, raw):
        h = b.hex()
        for s in (f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", h):
            forms.add(s.encode())
            forms.add(s.upper().encode())
    return forms


def edit(struct, changes):
    """Apply ``changes`` ({Field: bytes | None}) to ``struct``; return (new, in_place).

    A bytes value replaces the field (a string, 16 UUID bytes or 2 word
    bytes); None blanks it (string index 0, UUID and word zeroed).  When
    ``in_place`` is True the structure's layout was not fully known and
    strings were rewritten where they stood (a blanked string becomes
    BLANK_TEXT rather than vanish, since an unknown field may share it).
    """
    formatted = bytearray(struct.formatted)
    strings = list(struct.strings)
    string_changes = {}
    for field, value in changes.items():
        off = field_offset(field, formatted)
        if off is None:
            raise ValueError(f"{field.key}: this type {field.type} structure is only "
                             f"{len(formatted)} bytes long")
        if field.kind == "uuid":
            formatted[off:off + 16] = value if value is not None else bytes(16)
        elif field.kind == "word":
            formatted[off:off + 2] = value if value is not None else bytes(2)
        else:
            string_changes[off] = value
    if not string_changes:
        return rebuild(formatted, strings, struct.offset), False

    if _layout_complete(struct.type, formatted):
        known = {field_offset(f, formatted) for f in FIELDS_BY_TYPE.get(struct.type, ())
                 if f.kind == "string"} - {None}
        values = {}
        for off in known:
            idx = formatted[off]
            values[off] = strings[idx - 1] if 1 <= idx <= len(strings) else None
        values.update(string_changes)
        new_strings, index = [], {}
        for off in sorted(known):
            v = values[off]
            if not v:
                formatted[off] = 0
                continue
            if v not in index:
                new_strings.append(v)
                index[v] = len(new_strings)
            formatted[off] = index[v]
        return rebuild(formatted, new_strings, struct.offset), False

    for off, value in string_changes.items():
        idx = formatted[off]
        if value is None:
            if 1 <= idx <= len(strings):
                strings[idx - 1] = BLANK_TEXT
            formatted[off] = 0
        elif 1 <= idx <= len(strings):
            strings[idx - 1] = value
        else:
            strings.append(value)
            formatted[off] = len(strings)
    return rebuild(formatted, strings, struct.offset), True


# ------------------------------------------------- reading structures, as dmidecode

# dmidecode's names of the structure types (dmi_type_name in dmidecode.c).
TYPE_NAMES = {
    0: "BIOS Information", 1: "System Information", 2: "Base Board Information",
    3: "Chassis Information", 4: "Processor Information",
    5: "Memory Controller Information", 6: "Memory Module Information",
    7: "Cache Information", 8: "Port Connector Information", 9: "System Slot Information",
    10: "On Board Device Information", 11: "OEM Strings", 12: "System Configuration Options",
    13: "BIOS Language Information", 14: "Group Associations", 15: "System Event Log",
    16: "Physical Memory Array", 17: "Memory Device", 18: "32-bit Memory Error Information",
    19: "Memory Array Mapped Address", 20: "Memory Device Mapped Address",
    21: "Built-in Pointing Device", 22: "Portable Battery", 23: "System Reset",
    24: "Hardware Security", 25: "System Power Controls", 26: "Voltage Probe",
    27: "Cooling Device", 28: "Temperature Probe", 29: "Electrical Current Probe",
    30: "Out-of-band Remote Access", 31: "Boot Integrity Services Entry Point",
    32: "System Boot Information", 33: "64-bit Memory Error Information",
    34: "Management Device", 35: "Management Device Component",
    36: "Management Device Threshold Data", 37: "Memory Channel",
    38: "IPMI Device Information", 39: "System Power Supply", 40: "Additional Information",
    41: "Onboard Device", 42: "Management Controller Host Interface", 43: "TPM Device",
    44: "Processor Additional Information", 45: "Firmware Inventory Information",
    46: "String Property", 126: "Inactive", 127: "End Of Table",
}

# dmidecode -t KEYWORD: the types each keyword stands for (dmidecode(8)).
TYPE_KEYWORDS = {
    "bios": (0, 13), "system": (1, 12, 15, 23, 32), "baseboard": (2, 10, 41),
    "chassis": (3,), "processor": (4,), "memory": (5, 6, 16, 17), "cache": (7,),
    "connector": (8,), "slot": (9,),
}


def type_name(stype):
    """dmidecode's name for SMBIOS structure type ``stype``."""
    if stype >= 128:
        return "OEM-specific Type"
    return TYPE_NAMES.get(stype, f"Unknown Type {stype}")


def parse_types(text):
    """The set of types ``-t TYPE[,TYPE...]`` names: numbers 0-255 or dmidecode's
    keywords; ValueError naming the first that is neither."""
    types = set()
    for word in text.split(","):
        word = word.strip().lower()
        if word in TYPE_KEYWORDS:
            types.update(TYPE_KEYWORDS[word])
        elif word.isdigit() and word.isascii() and int(word) <= 255:
            types.add(int(word))
        else:
            raise ValueError(f"{word!r} is not a type number 0-255 nor one of "
                             f"{', '.join(TYPE_KEYWORDS)}")
    return types


# dmidecode's labels where they are not the field's name spelled out (dmidecode.c)
_LABELS = {"slot.slot_designation": "Designation", "memory_device.device_locator": "Locator",
           "battery.device_name": "Name", "battery.sbds_version_number": "SBDS Version",
           "battery.sbds_device_chemistry": "SBDS Chemistry",
           "power_supply.device_name": "Name", "power_supply.revision_level": "Revision"}


def field_label(key):
    """The label dmidecode prints field ``key`` under: ``system.sku_number`` -> ``SKU
    Number``."""
    if key in _LABELS:
        return _LABELS[key]
    words = {"uuid": "UUID", "sku": "SKU", "sbds": "SBDS", "bios": "BIOS", "oem": "OEM"}
    return " ".join(words.get(w, w.capitalize()) for w in key.split(".", 1)[-1].split("_"))


def _uuid_text(raw, version=None):
    """A UUID as dmidecode prints it: in 7.2.1's byte order from SMBIOS 2.6 on (and
    where the version is unknown), in raw order before."""
    b = bytes(raw)
    if b == bytes(16):
        return "Not Settable"
    if b == b"\xff" * 16:
        return "Not Present"
    if not version or tuple(version[:2]) >= (2, 6) or tuple(version[:2]) == (0, 0):
        b = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def decoded_fields(s, version=None):
    """[(label, field key, text)] of the fields xcmod models that structure ``s`` is
    long enough to hold; an unset string reads "Not Specified", as dmidecode says.
    ``version``: the table's SMBIOS version (it decides a UUID's byte order)."""
    out = []
    for f in FIELDS_BY_TYPE.get(s.type, ()):
        off = field_offset(f, s.formatted)
        if off is None:
            continue
        if f.kind == "string":
            idx = s.formatted[off]
            strings = s.strings
            text = (strings[idx - 1].decode("latin-1") if 1 <= idx <= len(strings)
                    else "Not Specified" if idx == 0 else "<BAD INDEX>")
        elif f.kind == "uuid":
            text = _uuid_text(s.formatted[off:off + 16], version)
        else:
            text = str(int.from_bytes(s.formatted[off:off + 2], "little"))
        out.append((field_label(f.key), f.key, text))
    return out


def structure_dict(s, version=None):
    """A structure's JSON shape, with its dmidecode type name and decoded fields."""
    d = s.as_dict()
    d["name"] = type_name(s.type)
    d["fields"] = {key: text for _, key, text in decoded_fields(s, version)}
    return d
