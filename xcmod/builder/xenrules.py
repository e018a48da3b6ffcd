# SPDX-License-Identifier: MIT
"""What each Xen release's hvmloader takes from passed-in firmware: one table.

``xcmod build --xen VERSION`` (or the policy's ``xen = "..."``) names the
hvmloader that will read the output; without it, the Xen installed on this
host (:mod:`xcmod.hostxen`), and without one, the rules every release below
honours (``any``).  Each rule cites the release's own source,
tools/firmware/hvmloader/smbios.c of xen.git at the tag named:

* **Types taken.**  For each SMBIOS type it builds, hvmloader takes the
  *first* passed structure of that type (get_smbios_pt_struct(); later ones
  of the type are never looked at) and copies every OEM structure (types
  128-255, smbios_type_vendor_oem_init(), no length check in any release).
  Every other type is ignored.  Types 0, 1, 2, 3, 11, 22, 39 in every
  release (RELEASE-4.17.0 smbios.c:387, 446, 506, 600, 714, 871, 953);
  7, 8, 9, 26, 27, 28 as well since 4.21.0 (commit 9f114abb37, "hvmloader:
  add new SMBIOS tables (7, 8, 9, 26, 27, 28)"; RELEASE-4.21.0
  smbios.c:763, 775, 787, 1035, 1052, 1069).
* **Minimum lengths.**  Since 4.21.0 (commit 2f7d52f016, "hvmloader: fix
  SMBIOS table length checks"), backported to 4.19.4 (c275e90b3c) and 4.20.2
  (9eb436c461), smbios_pt_copy() ignores a passed structure whose record
  length (formatted area, strings and the double NUL) is below the size of
  the structure hvmloader knows (RELEASE-4.19.4 smbios.c:167, the sizes at
  :412, 469, 530, 628, 744, 911, 997; RELEASE-4.21.0 smbios.c:185).  Type 3's
  minimum is offsetof(security_status) = 12, whatever the comment beside it
  says.  Before those releases only a zero length was ignored.

A line alone (``4.20``) means its newest release, which is also the stricter
one where a line changed; a later point release than the table knows
(``4.20.9``) is taken as the newest it knows of that line.
"""
from .. import hostxen
from ..errors import UsageError

TYPES = frozenset({0, 1, 2, 3, 11, 22, 39})
TYPES_4_21 = TYPES | frozenset({7, 8, 9, 26, 27, 28})
# smbios_types.h sizes (offsetof/endof_field() where the code says so).
MIN_LENGTH = {0: 24, 1: 27, 2: 8, 3: 12, 11: 5, 22: 26, 39: 16}
MIN_LENGTH_4_21 = {**MIN_LENGTH, 7: 19, 8: 9, 9: 13, 26: 20, 27: 12, 28: 20}


class Rules:
    """One set of hvmloader SMBIOS rules."""
    __slots__ = ("smbios_types", "smbios_min_length")

    def __init__(self, smbios_types, smbios_min_length):
        self.smbios_types = smbios_types            # types < 128 it takes (first of each)
        self.smbios_min_length = smbios_min_length  # type -> least record length taken


OLD = Rules(TYPES, {})
CHECKED = Rules(TYPES, MIN_LENGTH)
NEW = Rules(TYPES_4_21, MIN_LENGTH_4_21)

# line -> (newest point release known, [(first point release, rules), ...])
RELEASES = {
    "4.17": (7, [(0, OLD)]),
    "4.18": (6, [(0, OLD)]),
    "4.19": (6, [(0, OLD), (4, CHECKED)]),
    "4.20": (4, [(0, OLD), (2, CHECKED)]),
    "4.21": (2, [(0, NEW)]),
    "4.22": (0, [(0, NEW)]),
}
MASTER = "master"          # xen.git's staging line (4.23-unstable in August 2026)
ANY = "any"                # what every release above honours
NAMES = tuple(RELEASES) + (MASTER, ANY)


class Target:
    """The hvmloader a build is for: a version, its rules, and how it was chosen."""
    __slots__ = ("version", "rules", "why")

    def __init__(self, version, rules, why):
        self.version, self.rules, self.why = version, rules, why

    def __str__(self):
        return self.version


def _known():
    return (", ".join(f"{line}[.0-{newest}]" for line, (newest, _) in RELEASES.items())
            + f", {MASTER}, {ANY}")


def resolve(version, why="--xen"):
    """The Target for ``version``: "4.20", "4.20.4", "master" or "any".

    Raises UsageError naming the versions known for anything else.
    """
    if not isinstance(version, str):
        raise UsageError(f"Xen version must be a string such as \"4.20\", not {version!r}")
    v = version.strip()
    if v == MASTER:
        return Target(MASTER, NEW, why)
    if v == ANY:
        return Target(ANY, CHECKED, why)
    parts = v.split(".")
    if (len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() for p in parts)
            or len(v) > 16):
        raise UsageError(f"unknown Xen version {version!r}: give one of {_known()}")
    line = f"{int(parts[0])}.{int(parts[1])}"
    if line not in RELEASES:
        raise UsageError(f"Xen {line} is not modelled: give one of {_known()}")
    newest, changes = RELEASES[line]
    point = int(parts[2]) if len(parts) == 3 else newest
    rules = [r for first, r in changes if first <= point][-1]
    return Target(f"{line}.{point}", rules, why)


def default():
    """This host's Xen if one is installed and modelled, else ``any``."""
    xen = hostxen.installed()
    if xen is None:
        return Target(ANY, CHECKED, "no Xen installed here: rules every release honours")
    try:
        return resolve(xen.version, f"this host's: {xen.found_by}")
    except UsageError:
        return Target(ANY, CHECKED, f"this host's Xen {xen.version} is not modelled: "
                                    "rules every release honours")
