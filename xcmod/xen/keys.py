# SPDX-License-Identifier: MIT
"""hvmloader's xenstore keys (xen/include/public/hvm/hvm_xs_strings.h).

Every key hvmloader reads lives under /local/domain/<domid>/.  ``KEYS`` lists
them with a validator;
``tests/test_guest_tools.py::test_keys_match_the_installed_header`` checks the
list against the installed header, so a key the header gains or loses fails a test.
"""
import re

from ..checks import parse_number, seconds_arg, text_arg, texts_arg
from ..errors import UsageError
from .loader import DEFAULT_LOCK_TIMEOUT, _busy, _other_loads, _require_here, domain_lock
from .xenctrl import check_domid
from .xenstore import XenStore, require_domain


_ADDRESS = "address"       # hvmloader parses with strtoll(s, NULL, 0): write 0x...
_LENGTH = "length"
_BOOL01 = "0|1"
_TEXT = "text"

# name -> (kind, description).  The order follows hvm_xs_strings.h.
KEYS = {
    "hvmloader/bios": ("rombios|seabios|ovmf", "firmware hvmloader hands over to"),
    "hvmloader/generation-id-address": (_ADDRESS, "VM generation ID location"),
    "hvmloader/allow-memory-relocate": (_BOOL01, "may hvmloader relocate RAM for PCI"),
    "hvmloader/pci/xen-platform-pci-bar-uc": (_BOOL01, "map the platform PCI BAR UC"),
    "hvmloader/acpi/address": (_ADDRESS, "stock ACPI pass-through block"),
    "hvmloader/acpi/length": (_LENGTH, "stock ACPI pass-through block"),
    "hvmloader/smbios/address": (_ADDRESS, "stock SMBIOS pass-through block"),
    "hvmloader/smbios/length": (_LENGTH, "stock SMBIOS pass-through block"),
    "hvmloader/smbios/default_battery": (_BOOL01, "add hvmloader's default battery"),
    "bios-strings/bios-vendor": (_TEXT, "SMBIOS type 0 vendor"),
    "bios-strings/bios-version": (_TEXT, "SMBIOS type 0 version"),
    "bios-strings/system-manufacturer": (_TEXT, "SMBIOS type 1 manufacturer"),
    "bios-strings/system-product-name": (_TEXT, "SMBIOS type 1 product name"),
    "bios-strings/system-version": (_TEXT, "SMBIOS type 1 version"),
    "bios-strings/system-serial-number": (_TEXT, "SMBIOS type 1 serial number"),
    "bios-strings/baseboard-manufacturer": (_TEXT, "SMBIOS type 2 manufacturer"),
    "bios-strings/baseboard-product-name": (_TEXT, "SMBIOS type 2 product name"),
    "bios-strings/baseboard-version": (_TEXT, "SMBIOS type 2 version"),
    "bios-strings/baseboard-serial-number": (_TEXT, "SMBIOS type 2 serial number"),
    "bios-strings/baseboard-asset-tag": (_TEXT, "SMBIOS type 2 asset tag"),
    "bios-strings/baseboard-location-in-chassis": (_TEXT, "SMBIOS type 2 location"),
    "bios-strings/enclosure-manufacturer": (_TEXT, "SMBIOS type 3 manufacturer"),
    "bios-strings/enclosure-serial-number": (_TEXT, "SMBIOS type 3 serial number"),
    "bios-strings/enclosure-asset-tag": (_TEXT, "SMBIOS type 3 asset tag"),
    "bios-strings/battery-manufacturer": (_TEXT, "SMBIOS type 22 manufacturer"),
    "bios-strings/battery-device-name": (_TEXT, "SMBIOS type 22 device name"),
    # xcmod's own (module format, and the hvm-info mirror)
    "hvmloader/modules/address": (_ADDRESS, "xcmod module image (xcmod load)"),
    "hvmloader/modules/length": (_LENGTH, "xcmod module image (xcmod load)"),
    "hvmloader/modules/count": ("count", "modules in the image (xcmod load)"),
}
# Keys xen/include/public/hvm/hvm_xs_strings.h has only since RELEASE-4.21.0
# (not in 4.17 to 4.20): an older hvmloader ignores them.
SINCE_4_21 = frozenset({"hvmloader/pci/xen-platform-pci-bar-uc"})
# "bios-strings/oem-%d": 1 to 99 OEM strings for SMBIOS type 11.
OEM_KEY = re.compile(r"bios-strings/oem-([1-9][0-9]?)\Z")
HVM_INFO_KEYS = ("vcpus", "apic-mode", "vcpu-online", "low-mem-end", "reserved-mem-start",
                 "high-mem-end")
for _k in HVM_INFO_KEYS:
    KEYS[f"hvmloader/hvm-info/{_k}"] = ("mirror", "HVM info table mirror (xcmod hvm-info)")
# Roots `keys list` walks.
ROOTS = ("hvmloader", "bios-strings")
# hvmloader copies strings into fixed buffers; its xenstore reads are bounded by
# the xenstore page (XENSTORE_PAYLOAD_MAX 4096), SMBIOS strings have no limit
# of their own, but a string over 255 bytes is almost surely a mistake.
MAX_TEXT = 255


def kind_of(name):
    if name in KEYS:
        return KEYS[name][0]
    if OEM_KEY.match(name):
        return _TEXT
    return None


def check_name(name):
    """The key's kind, or UsageError naming the nearest known key."""
    kind = kind_of(text_arg(name, "key name"))
    if kind is None:
        import difflib      # here, off load's path: only a typo needs it
        near = difflib.get_close_matches(name, list(KEYS) + ["bios-strings/oem-1"], 1)
        hint = f"; did you mean {near[0]}?" if near else " (see `xcmod keys known`)"
        raise UsageError(f"{name}: not a key hvmloader reads{hint}")
    return kind


def _u32(name, value, what):
    """A positive 32-bit number, decimal or 0x hexadecimal ASCII digits, nothing else
    (xcmod.checks.parse_number: hvmloader reads these with strtoll(s, NULL, 0), and
    xcmod's patched hvmloader takes exactly these two forms)."""
    try:
        n = parse_number(value, name)
    except UsageError:
        raise UsageError(f"{name}: {ascii(value)} is not {what} (decimal, or 0x and "
                         f"hexadecimal digits)") from None
    if not 0 < n < 1 << 32:
        raise UsageError(f"{name}: {value} is outside hvmloader's 32-bit range")
    return n


def check_value(name, value):
    """Validate ``value`` for key ``name``; return it as written to xenstore."""
    kind = check_name(text_arg(name, "key name"))
    text_arg(value, name, empty=True)
    if kind == _ADDRESS:
        return f"{_u32(name, value, 'an address'):#x}"
    if kind in (_LENGTH, "count"):
        n = _u32(name, value, "a number")
        return f"{n:#x}" if kind == _LENGTH else str(n)
    if kind == _BOOL01:
        if value not in ("0", "1"):
            raise UsageError(f"{name}: must be 0 or 1, not {value!r}")
        return value
    if kind == "mirror":
        raise UsageError(f"{name}: written by `xcmod hvm-info --to-xenstore` only")
    if "|" in kind:
        if value not in kind.split("|"):
            raise UsageError(f"{name}: must be one of {kind.replace('|', ', ')}, not {value!r}")
        return value
    if not value:
        raise UsageError(f"{name}: empty; hvmloader treats an empty string as unset "
                         f"(use `keys rm`)")
    if not value.isprintable() or len(value.encode()) > MAX_TEXT:
        raise UsageError(f"{name}: must be printable text of at most {MAX_TEXT} bytes")
    return value


# ------------------------------------------------------------ on a domain
#
# What `xcmod keys` does, as library calls: each opens xenstore, checks the
# domain is there, validates every name and value before writing any, and
# writes or removes in one transaction, guest read-only.

def _names(names):
    """``names``: one key (a str, never iterated per character) or a list of them."""
    names = texts_arg(names, "keys")
    if not names:
        raise UsageError("no key named")
    for n in names:
        check_name(n)
    return names


def list_keys(domid):
    """{relative key: value} of every hvmloader/* and bios-strings/* key the domain has."""
    check_domid(domid)
    found = {}
    with XenStore() as xs:
        base = require_domain(xs, domid)

        def walk(rel):
            v = xs.read(f"{base}/{rel}")
            if v:
                found[rel] = v.decode("utf-8", "replace")
            for child in xs.directory(f"{base}/{rel}"):
                walk(f"{rel}/{child}")
        for root in ROOTS:
            walk(root)
    return found


def get_keys(domid, names):
    """{name: value or None} of ``names`` (each a key hvmloader reads)."""
    check_domid(domid)
    names = _names(names)
    with XenStore() as xs:
        base = require_domain(xs, domid)
        return {n: (None if (v := xs.read(f"{base}/{n}")) is None
                    else v.decode("utf-8", "replace")) for n in names}


def _timeout(value, default):
    """``lock_timeout`` checked where it enters: None (the default), or seconds in
    (0, 86400] as an int or float (not '5', not True): UsageError naming it."""
    return default if value is None else seconds_arg(value, "lock_timeout")


def _refuse_dom0(domid, what):
    if check_domid(domid) == 0:
        raise UsageError(f"domain 0: refusing to {what} hvmloader keys of domain 0")


def set_keys(domid, values, lock_timeout=None):
    """Write ``values`` {name: value}, every one validated first, in one transaction,
    read-only for the guest; returns {name: value as written}.  Holds the domain's
    load lock (:func:`xcmod.xen.loader.domain_lock`), so it never interleaves with a
    load of the same domain."""
    _refuse_dom0(domid, "change")
    if not isinstance(values, dict):
        raise UsageError(f"keys to set must be a dict {{name: value}}, not "
                         f"{type(values).__name__}")
    if not values:
        raise UsageError("no key to set")
    timeout = _timeout(lock_timeout, DEFAULT_LOCK_TIMEOUT)
    checked = {n: check_value(n, v) for n, v in values.items()}
    with domain_lock(domid, timeout), XenStore() as xs:
        base = require_domain(xs, domid)

        def body(t):
            _no_load_running(xs, domid, t)
            for n, v in checked.items():
                xs.write_for_guest(f"{base}/{n}", v, domid, t)
        xs.transaction(body)
    return checked


def _no_load_running(xs, domid, t):
    """In transaction ``t``: XenError (EBUSY) if a load of ``domid`` is running that the
    lock did not exclude (another XCMOD_LOCK_DIR), or if the domain's directory is
    gone (a write would re-create it): :mod:`xcmod.xen.loader`'s marks."""
    _require_here(xs, domid, t)
    others = _other_loads(xs, domid, None, t)
    if others:
        raise _busy(domid, others, "is running", "no key changed")


def rm_keys(domid, names, lock_timeout=None):
    """Remove ``names`` in one transaction, holding the domain's load lock."""
    _refuse_dom0(domid, "remove")
    names = _names(names)
    with domain_lock(domid, _timeout(lock_timeout, DEFAULT_LOCK_TIMEOUT)), XenStore() as xs:
        base = require_domain(xs, domid)

        def body(t):
            _no_load_running(xs, domid, t)
            for n in names:
                xs.rm(f"{base}/{n}", t)
        xs.transaction(body)
