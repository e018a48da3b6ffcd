# SPDX-License-Identifier: MIT
"""Pass-through policies: what of the host's firmware a guest may see.

A policy is a TOML file (``--policy FILE``) or a built-in name
(``default``, ``strict``, ``passthrough-all``).  The schema, every key
optional::

    [smbios]
    allow = [0, 1, 2, 3, 11, 22, 39]   # structure types; default: what hvmloader
                                       # of the target Xen (--xen) accepts
    oem = true                         # also pass OEM types 128-255
    oem_strings = "keep"               # type 11: keep | scrub | drop

    [scrub]
    enabled = true
    mode = "blank"                     # blank | fixed | pseudonym
    value = "Not Specified"            # the text of mode = "fixed"
    secret_file = "/etc/xcmod/secret"  # pseudonym: HMAC key (or --secret-file)
    guest = "vm-name-or-uuid"          # pseudonym: whose pseudonyms (or --guest)
    fields = [...]                     # replaces the default list of fields
    extra_fields = ["system.sku_number"]
    leak = "error"                     # a host identifier left in an ACPI table:
                                       # error | warn

    [override]
    "system.manufacturer" = "ACME"

    [acpi]
    allow = ["SSDT"]                   # signatures; MSDM/SLIC only when named here
                                       # or given as --acpi FILE
    strict = false                     # OperationRegions on host hardware refuse
    hvmloader_tables = 5               # tables hvmloader builds itself (budget)

Unknown keys and bad values are errors naming the file, line and key.
"""
import difflib
import os
import uuid
from dataclasses import dataclass, field, replace

from ..checks import path_arg
from ..errors import FormatError, UsageError
from ..fileio import POLICY_MAX, read_input
from ..firmware.fields import FIELDS, suggest
from ..image.rules import HVMLOADER_OWNED_TABLES
from . import xenrules


# The tables hvmloader builds itself (image/rules.py's list), never passed through.
HVMLOADER_ACPI_OWN = frozenset(HVMLOADER_OWNED_TABLES)
# Tables that carry a licence: the Windows product key (MSDM) and the OEM
# activation marker (SLIC).
SENSITIVE_ACPI = frozenset({"MSDM", "SLIC"})
# tools/libacpi/build.c: ACPI_MAX_SECONDARY_TABLES (16 in every release); one
# slot holds the list terminator.
ACPI_MAX_SECONDARY_TABLES = 16
# What a stock xl HVM guest gets from hvmloader: MADT, HPET, WAET and the
# S3 and S4 SSDTs (build.c construct_secondary_tables()).
DEFAULT_HVMLOADER_TABLES = 5

SCRUB_MODES = ("blank", "fixed", "pseudonym")
OEM_STRINGS_MODES = ("keep", "scrub", "drop")
LEAK_MODES = ("error", "warn")

BUILTIN = ("default", "strict", "passthrough-all")


@dataclass(slots=True)
class Policy:
    """A pass-through policy (docs/policy.md): a built-in's defaults, a policy
    file's settings and the command line's, merged."""
    name: str = "default"
    xen: object = None                  # xenrules.Target of the hvmloader (read() sets it)
    smbios_allow: frozenset = None     # None: hvmloader's types for `xen`
    smbios_oem: bool = True
    oem_strings: str = "keep"
    scrub: bool = True
    scrub_mode: str = "blank"
    scrub_value: str = "Not Specified"
    secret_file: str = None
    guest: str = None
    scrub_fields: tuple = ()           # field keys
    leak: str = "error"
    overrides: dict = field(default_factory=dict)   # key -> (value, where)
    acpi_allow: frozenset = frozenset({"SSDT"})
    acpi_strict: bool = False
    hvmloader_tables: frozenset = DEFAULT_HVMLOADER_TABLES
    passthrough_all: bool = False

    def smbios_types(self):
        if self.passthrough_all:
            return frozenset(range(256))
        allowed = (self.smbios_allow if self.smbios_allow is not None
                   else self.xen.rules.smbios_types)
        if self.smbios_oem:
            allowed = allowed | frozenset(range(128, 256))
        return allowed

    @property
    def acpi_budget(self):
        return acpi_budget(self.hvmloader_tables)


def acpi_budget(hvmloader_tables=DEFAULT_HVMLOADER_TABLES):
    """How many passed tables hvmloader lists beside ``hvmloader_tables`` of its own."""
    return ACPI_MAX_SECONDARY_TABLES - 1 - hvmloader_tables


def default_scrub_fields():
    return tuple(k for k, f in FIELDS.items() if f.sensitive)


def builtin(name):
    if name == "default":
        return Policy(scrub_fields=default_scrub_fields())
    if name == "strict":
        return Policy(name="strict", scrub_fields=default_scrub_fields(), acpi_strict=True,
                      oem_strings="scrub")
    if name == "passthrough-all":
        return Policy(name="passthrough-all", scrub=False, passthrough_all=True,
                      acpi_allow=frozenset(), leak="warn")
    raise UsageError(f"unknown policy {name!r}: give a TOML file or one of "
                     f"{', '.join(BUILTIN)}")


# ------------------------------------------------------------------ loading

class _Bad(Exception):
    """A policy value a check refuses; its text says what the value must be."""


def _boolean(value):
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, not {_toml(value)}")
    return value


def _choice(choices):
    def check(value):
        if value not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}, not {value!r}")
        return value
    return check


def _string(value):
    if not isinstance(value, str) or not value:
        raise _Bad(f"must be a non-empty string, not {value!r}")
    if "\0" in value:      # it would end an SMBIOS string, or a path, early
        raise _Bad("must not contain NUL (\\u0000)")
    return value


def _fields(value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad("must be a list of field names such as \"system.serial_number\"")
    for v in value:
        if v not in FIELDS:
            raise _Bad(f"unknown field {v!r} (see `xcmod fields`)")
    return tuple(value)


def _smbios_types(v):
    # (true/false are not types: bool is an int in Python)
    if not isinstance(v, list) or not all(isinstance(t, int) and not isinstance(t, bool)
                                          and 0 <= t <= 255 for t in v):
        bad = next((t for t in v if isinstance(t, bool) or not isinstance(t, int)
                    or not 0 <= t <= 255), v) if isinstance(v, list) else v
        raise _Bad(f"must be a list of structure types 0-255 (integers), "
                   f"not {'a list holding ' if isinstance(v, list) else ''}{_toml(bad)}")
    return frozenset(v)


def _acpi_signatures(v):
    if not isinstance(v, list) or not all(isinstance(x, str) and len(x) == 4 for x in v):
        raise _Bad("must be a list of 4-character table signatures")
    own = sorted(set(v) & HVMLOADER_ACPI_OWN)
    if own:
        raise _Bad(f"{', '.join(own)} {'is' if len(own) == 1 else 'are'} "
                   f"built by hvmloader itself and can never be passed through")
    return frozenset(v)


def _table_count(v):
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < ACPI_MAX_SECONDARY_TABLES:
        raise _Bad(f"must be an integer 0-15, not {_toml(v)}")
    return v


# A policy file's schema (docs/policy.md): [table] -> key -> (the Policy field it
# sets, the check that turns the TOML value into that field's value).  [override]
# takes any field name (checked by check_override), and the top level ``xen``.
_SCHEMA = {
    "smbios": {"allow": ("smbios_allow", _smbios_types),
               "oem": ("smbios_oem", _boolean),
               "oem_strings": ("oem_strings", _choice(OEM_STRINGS_MODES))},
    "scrub": {"enabled": ("scrub", _boolean),
              "mode": ("scrub_mode", _choice(SCRUB_MODES)),
              "value": ("scrub_value", _string),
              "secret_file": ("secret_file", _string),     # relative to the policy file
              "guest": ("guest", _string),
              "fields": ("scrub_fields", _fields),
              "extra_fields": ("scrub_fields", _fields),   # added to fields
              "leak": ("leak", _choice(LEAK_MODES))},
    "override": None,
    "acpi": {"allow": ("acpi_allow", _acpi_signatures),
             "strict": ("acpi_strict", _boolean),
             "hvmloader_tables": ("hvmloader_tables", _table_count)},
}
_TOP = {"xen"}


def _key_line(text, table, key):
    """The 1-based line where ``key`` is set inside ``[table]`` (None if not found)."""
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("[") and not s.startswith("[["):
            current = s.strip("[] ").strip('"')
            continue
        if "=" not in s or s.startswith("#"):
            continue
        k = s.split("=", 1)[0].strip().strip('"').strip("'")
        if current == table and k == key:
            return n
        if table is None and current is None and k == key:
            return n
        if current is None and table is not None and k == f"{table}.{key}":
            return n
    return None


class _Loader:
    def __init__(self, path, text):
        self.path, self.text = path, text

    def where(self, table, key):
        line = _key_line(self.text, table, key)
        return f"{self.path}:{line}" if line else self.path

    def fail(self, table, key, msg):
        name = f"{table}.{key}" if table else key
        raise FormatError(f"{name}: {msg}", source=self.where(table, key))


def _target(xen, why):
    """A Target from ``--xen``/``xen=`` (a version string, or a Target as is)."""
    return xen if isinstance(xen, xenrules.Target) else xenrules.resolve(xen, why)


def _toml(v):
    """A TOML value as the policy file would spell it (true, not True)."""
    return "true" if v is True else "false" if v is False else repr(v)


def read(path, xen=None):
    """The Policy in TOML file ``path`` (or a built-in name), for the hvmloader of
    Xen ``xen`` (a version; None: the policy's ``xen``, else this host's).  A name that
    is neither a built-in nor a file is a UsageError listing the built-ins."""
    if path is None or path in BUILTIN:
        p = builtin(path or "default")
        return replace(p, xen=_target(xen, "--xen") if xen else xenrules.default())
    path = path_arg(path, "policy")
    if not os.path.lexists(path):
        near = difflib.get_close_matches(str(path), BUILTIN, n=1)
        raise UsageError(f"--policy {path}: not a built-in policy ({', '.join(BUILTIN)}) and "
                         f"no such file" + (f"; did you mean {near[0]}?" if near else ""))
    raw = read_input(path, "a policy file", POLICY_MAX)
    text = raw.decode("utf-8", "replace")
    import tomllib          # here: only a policy file is TOML
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FormatError(f"not valid TOML: {e}", source=path) from None
    except RecursionError:      # tomllib recurses per nested array or inline table
        raise FormatError("not a policy: arrays or tables nested too deeply to parse",
                          source=path) from None
    L = _Loader(path, text)
    _check_keys(L, doc)
    p = builtin("default")
    p.name = path
    p.xen = _xen_of(L, doc, xen)
    for table, keys in _SCHEMA.items():
        given = doc.get(table, {})
        if keys is None:
            for key, value in given.items():
                p.overrides[key] = _override(L, key, value)
            continue
        for key, (field_name, check) in keys.items():
            if key not in given:
                continue
            try:
                value = check(given[key])
            except _Bad as e:
                L.fail(table, key, str(e))
            if key == "secret_file":
                value = os.path.join(os.path.dirname(os.path.abspath(path)), value)
            elif key == "extra_fields":
                value = tuple(dict.fromkeys(p.scrub_fields + value))
            setattr(p, field_name, value)
    return p


def _check_keys(L, doc):
    """Every table and key of ``doc`` is one the schema names."""
    for key, value in doc.items():
        if key in _TOP:
            continue
        if key not in _SCHEMA:
            L.fail(None, key, f"unknown key (known: {', '.join(sorted(_TOP | set(_SCHEMA)))})")
        if not isinstance(value, dict):
            L.fail(None, key, "must be a table ([" + key + "])")
        known = _SCHEMA[key]
        for sub in value:
            if known is not None and sub not in known:
                L.fail(key, sub, f"unknown key (known in [{key}]: {', '.join(sorted(known))})")


def _xen_of(L, doc, xen):
    """The Target: ``--xen``, else the file's ``xen``, else this host's."""
    if xen:
        return _target(xen, "--xen")
    if "xen" in doc:
        try:
            return xenrules.resolve(doc["xen"], f"{L.where(None, 'xen')}: xen")
        except UsageError as e:
            L.fail(None, "xen", str(e))
    return xenrules.default()


def _override(L, key, value):
    """(bytes, where) of one [override] entry."""
    if key not in FIELDS:
        near = suggest(key)
        L.fail("override", key, "unknown field" + (f"; did you mean {near}?" if near else "")
               + " (see `xcmod fields`)")
    return (check_override(key, value, lambda m: L.fail("override", key, m)),
            L.where("override", key))


def check_override(key, value, fail):
    """An override value as the bytes the field will hold (``fail(msg)`` on error)."""
    f = FIELDS[key]
    if f.kind == "uuid":
        try:
            return uuid.UUID(str(value)).bytes_le
        except ValueError:
            fail(f"not a UUID: {value!r}")
    if f.kind == "word":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
            fail(f"must be an integer 0-65535, not {value!r}")
        return value.to_bytes(2, "little")
    if not isinstance(value, str) or not value:
        fail(f"must be a non-empty string, not {value!r}")
    if "\0" in value:
        fail("must not contain NUL")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:      # argv bytes that are not UTF-8 (lone surrogates)
        fail(f"{ascii(value)} is not valid UTF-8 text")


def add_cli_overrides(policy, settings):
    """Merge ``--set FIELD=VALUE`` settings; a field given two values is an error."""
    for s in settings:
        key, sep, value = s.partition("=")
        key = key.strip()
        if not sep:
            raise UsageError(f"--set {s!r}: expected FIELD=VALUE, e.g. "
                             f"system.manufacturer=ACME")
        if key not in FIELDS:
            near = suggest(key)
            raise UsageError(f"--set {key}: unknown field"
                             + (f"; did you mean {near}?" if near else "")
                             + " (`xcmod fields` lists every field with its dmidecode and "
                             "xenstore names)")
        def fail(msg, key=key):
            raise UsageError(f"--set {key}: {msg}")
        v = value
        if FIELDS[key].kind == "word":
            try:
                v = int(value, 0)
            except ValueError:
                fail(f"must be an integer 0-65535, not {value!r}")
        encoded = check_override(key, v, fail)
        if key in policy.overrides and policy.overrides[key][0] != encoded:
            raise UsageError(f"conflicting overrides for {key}: {policy.overrides[key][1]} "
                             f"and --set give different values")
        policy.overrides[key] = (encoded, "--set")
    return policy
