# SPDX-License-Identifier: MIT
"""The host's identifiers in a real SMBIOS table: what the default policy must remove
(tests/test_policy.py) and what no guest may show (the rig's tests)."""
from xcmod.firmware.fields import FIELDS, PLACEHOLDERS, field_offset, get_string, uuid_forms


def host_identifiers(table):
    """Every serial, asset tag and UUID form the default policy must remove."""
    found = set()
    for s in table.structures:
        for f in FIELDS.values():
            if f.type != s.type or not f.sensitive:
                continue
            if f.kind == "string":
                v = get_string(s, f)
                if v and len(v.strip()) >= 4 and v.strip().lower().decode("latin-1") not in PLACEHOLDERS:
                    found.add(v)
            elif f.kind == "uuid":
                off = field_offset(f, s.formatted)
                raw = bytes(s.formatted[off:off + 16]) if off is not None else b""
                if raw and raw not in (bytes(16), b"\xff" * 16):
                    found |= {raw} | uuid_forms(raw)
    return found
