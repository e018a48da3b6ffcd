# SPDX-License-Identifier: MIT
"""Apply a policy to firmware sources: select, scrub, override, lint, report.

:func:`select` is the whole pipeline behind ``xcmod build``.  It reads the
sources (:mod:`xcmod.firmware.host`), keeps what the
:class:`~xcmod.builder.policy.Policy`
allows for the target (``modules`` or stock ``xen`` blocks), scrubs host
identifiers (:mod:`.scrub`), applies overrides, lints AML, enforces hvmloader's table budget
and returns a :class:`Selection` with a :class:`Report` of every decision.
It raises (and so writes nothing) on anything an operator must fix.
"""
from dataclasses import dataclass, field

from ..errors import FormatError, PolicyError, UsageError
from ..firmware import aml, host, orom
from ..firmware.fields import (
    FIELDS,
    GROUPS,
    edit,
    field_offset,
    get_string,
    rebuild,
    string_names,
)
from ..firmware.smbios import END_OF_TABLE, INACTIVE, OEM_STRINGS, SmbiosTable
from ..image.rules import check_hvmloader_limits
from .policy import HVMLOADER_ACPI_OWN, SENSITIVE_ACPI, acpi_budget
from .scrub import Scrubber, sensitive_forms



@dataclass(slots=True)
class ReportEntry:
    """One decision of a build: what happened to one item of one area, and why."""
    area: str          # smbios | acpi | orom
    item: str
    action: str        # passed | dropped | skipped | scrubbed | overridden | warning | note
    reason: str = ""
    structure: tuple = None     # (type name, handle) when the item is an SMBIOS structure

    def as_dict(self):
        return {"area": self.area, "item": self.item, "action": self.action,
                "reason": self.reason}


@dataclass(slots=True)
class Report:
    """Every decision of a build, in order, under the policy and Xen it was made for."""
    policy: object
    xen: object            # xenrules.Target: its version, and why that one
    format: str
    entries: list = field(default_factory=list)

    def add(self, area, item, action, reason=""):
        self.entries.append(ReportEntry(area, item, action, reason))

    def add_structure(self, s, action, reason=""):
        """A decision about SMBIOS structure ``s``."""
        kind = _structure_kind(s)
        self.entries.append(ReportEntry("smbios", f"{kind} handle {s.handle:#06x}", action,
                                        reason, (kind, s.handle)))

    @property
    def warnings(self):
        return [e for e in self.entries if e.action == "warning"]

    def as_dict(self):
        return {"policy": self.policy, "xen": self.xen.version, "xen_why": self.xen.why,
                "format": self.format,
                "entries": [e.as_dict() for e in self.entries]}


@dataclass(slots=True)
class Selection:
    """What passes the policy: the SMBIOS table, ACPI tables and option ROMs to
    encode, the report saying why, and the host identifiers scrubbed."""
    smbios: object      # SmbiosTable, or None
    acpi: list
    oroms: list
    report: object
    sensitive: set = field(default_factory=set)   # identifiers scrubbed


def summarize_dropped(entries):
    """What ``entries`` (dropped or skipped) were and why, one short text: items that
    share a reason share it ("APIC, FACP (built by hvmloader itself; ...), RSDP (...)")."""
    groups = {}
    for e in entries:
        label = e.structure[0] if e.structure else e.item.split(" from ")[0]
        if e.area == "acpi":
            label = label.split(" ")[0]
        reason = e.reason
        key = reason.replace(label, "\0", 1) if reason.startswith(label) else reason
        groups.setdefault(key, []).append(label)
    parts = []
    for key, labels in groups.items():
        labels = list(dict.fromkeys(labels))
        if key.startswith("\0"):
            key = key[1:].lstrip(":").strip()
            key = key[3:] if key.startswith("is ") else key
        parts.append(f"{', '.join(labels)} ({key})")
    return ", ".join(parts)


def _structure_kind(s):
    """``type 1 (system)``: the structure's type, and its dmidecode group if it has one."""
    group = GROUPS.get(s.type)
    return f"type {s.type}" + (f" ({group})" if group else "")


# ------------------------------------------------------------------- SMBIOS

def _select_smbios(policy, spec, fmt, report, scrubber):
    table = host.read_smbios(spec)
    for n in table.notes:
        report.add("smbios", str(spec), "note", n)
    allowed = policy.smbios_types()
    hvm_types = policy.xen.rules.smbios_types
    kept = []
    for s in table.structures:
        reason = None
        if s.type not in allowed:
            if s.type == END_OF_TABLE:
                reason = "end-of-table: the guest's firmware writes its own"
            elif s.type == INACTIVE:
                reason = "inactive structure"
            elif s.type not in hvm_types and s.type < 128 and policy.smbios_allow is None:
                reason = f"hvmloader {policy.xen} does not take type {s.type} structures"
            else:
                reason = "not in the policy's smbios.allow"
        elif s.type == OEM_STRINGS and policy.oem_strings == "drop":
            reason = "OEM strings dropped by smbios.oem_strings = \"drop\""
        if reason:
            report.add_structure(s, "dropped", reason)
            continue
        kept.append(s)
    if not (policy.passthrough_all and fmt == "modules"):
        kept = hvmloader_smbios_rules(kept, policy.xen, report)

    sensitive = set()
    if policy.scrub:
        kept = [_scrub_structure(policy, s, i, report, scrubber, sensitive)
                for i, s in enumerate(kept)]
        kept = [s for s in kept if s is not None]
    kept = _apply_overrides(policy, kept, report)
    if sensitive:
        kept = _chase_leaks(kept, sensitive, report, scrubber)
    for s in kept:
        report.add_structure(s, "passed")
    if fmt == "xen":
        _oem_count_warning(kept, report)
    _fixed_room_warning(kept, report)
    out = SmbiosTable(kept, table.major, table.minor, table.docrev, table.entry_point,
                      table.source)
    return out, sensitive


def hvmloader_smbios_rules(structures, xen, report):
    """The structures of ``structures`` that the hvmloader of ``xen`` (a
    :class:`~.xenrules.Target`) takes, each one it would ignore reported as
    dropped, with the reason.

    tools/firmware/hvmloader/smbios.c: for the types it builds itself it takes
    the first structure of that type (get_smbios_pt_struct), if long enough
    for that release; the OEM types 128-255 are copied in a run; nothing else.
    A stock block and the patched hvmloader's module (fwt_smbios_struct()
    answers get_smbios_pt_struct()) are read alike, so ``build`` applies this
    to both formats, and ``export xl``/``libvirt --driver xen`` of an image
    gives the same block as ``build --format xen``.
    """
    hvm_types = xen.rules.smbios_types
    min_len = xen.rules.smbios_min_length
    kept, seen = [], set()
    for s in structures:
        reason = None
        if s.type < 128 and s.type not in hvm_types:
            reason = f"hvmloader {xen} ignores type {s.type} structures"
        elif s.type in hvm_types and s.type in seen:
            reason = f"hvmloader uses only the first type {s.type} structure it is given"
        elif s.size < min_len.get(s.type, 0):
            reason = (f"hvmloader {xen} ignores a type {s.type} structure shorter "
                      f"than {min_len[s.type]} bytes (this one: {s.size})")
        if reason:
            report.add_structure(s, "dropped", reason)
            continue
        seen.add(s.type)
        kept.append(s)
    return kept


# For OVMF and ROMBIOS guests hvmloader writes the SMBIOS table into a fixed area,
# after the entry point (ovmf.c, rombios.c: hvm_write_smbios_tables(); rombios/
# config.h: SMBIOS_PHYSICAL_ADDRESS 0xEB000 .. SMBIOS_PHYSICAL_END 0xF0000, the
# same in 4.17.5, 4.20.4 and master; the 2.1 entry point is 31 bytes).  SeaBIOS
# guests get an allocated table, with no such limit.
FIXED_SMBIOS_ROOM = 0xF0000 - 0xEB000 - 31


def _fixed_room_warning(structures, report):
    size = sum(s.size for s in structures)
    if size > FIXED_SMBIOS_ROOM:
        report.add("smbios", f"{len(structures)} structures, {size} bytes", "warning",
                   f"more than the {FIXED_SMBIOS_ROOM} bytes hvmloader has for SMBIOS in an "
                   f"OVMF or ROMBIOS guest, its own structures included: such a guest gets "
                   f"hvmloader's own structures only (xcmod's hvmloader refuses the module "
                   f"and says so on the console; stock hvmloader writes no SMBIOS at all); "
                   f"SeaBIOS guests only by the 16-bit table length (docs/safety.md)")


def _oem_count_warning(structures, report):
    n_oem = sum(1 for s in structures if s.type >= 128)
    if n_oem > 1:
        # smbios.c: do_struct(smbios_type_vendor_oem_init(p)) counts the whole
        # OEM run as one structure in the entry point's structure count.
        report.add("smbios", f"{n_oem} OEM structures", "warning",
                   "hvmloader counts all OEM structures as one in its entry point, so "
                   "readers that trust the count (dmidecode) see only the first 2 of them")


def stock_rules(structures, tables, xen, report):
    """(structures, tables) as Xen ``xen``'s stock hvmloader takes them from the two
    blocks: :func:`hvmloader_smbios_rules`, its OEM-count warning, and for ACPI the
    tables hvmloader builds itself refused and its table budget enforced
    (PolicyError: dropping a table the user chose is not this function's call)."""
    structures = hvmloader_smbios_rules(structures, xen, report)
    _oem_count_warning(structures, report)
    owned = [t.signature for t in tables if t.signature in HVMLOADER_ACPI_OWN]
    if owned:
        raise PolicyError(f"{' '.join(owned)}: hvmloader builds its own; a stock ACPI block "
                          f"cannot carry them (rebuild with the default policy)")
    budget = acpi_budget()
    if len(tables) > budget:
        raise PolicyError(f"{len(tables)} ACPI tables, but hvmloader appends at most {budget} "
                          f"beside its own and drops the rest silently")
    check_hvmloader_limits([(s.type, s.size) for s in structures], len(tables),
                           acpi_budget=budget)
    return structures, tables


def _scrub_structure(policy, s, index, report, scrubber, sensitive):
    if s.type == OEM_STRINGS and policy.oem_strings == "scrub":
        if scrubber.mode == "blank":
            report.add_structure(s, "dropped", "OEM strings scrubbed (mode blank)")
            for x in s.strings:
                sensitive |= sensitive_forms(x, "string")
            return None
        strings = [scrubber.text(f"oem_strings.{i + 1}#{index}") for i in range(len(s.strings))]
        for x in s.strings:
            sensitive |= sensitive_forms(x, "string")
        report.add_structure(s, "scrubbed", f"{len(strings)} OEM strings")
        return rebuild(s.formatted, strings, s.offset)
    changes, names = {}, []
    for key in policy.scrub_fields:
        f = FIELDS[key]
        if f.type != s.type or key in policy.overrides:
            continue
        off = field_offset(f, s.formatted)
        if off is None:
            continue
        label = f"{key}#{index}"
        if f.kind == "uuid":
            original = s.formatted[off:off + 16]
            changes[f] = scrubber.uuid(label)
        elif f.kind == "word":
            original = s.formatted[off:off + 2]
            changes[f] = scrubber.word(label)
        else:
            original = get_string(s, f)
            if original is None:
                continue
            changes[f] = scrubber.string(label)
        sensitive |= sensitive_forms(original, f.kind)
        names.append(f.name)
    if not changes:
        return s
    new, in_place = edit(s, changes)
    how = f"{', '.join(names)} ({scrubber.mode})"
    if in_place:
        how += "; rewritten in place (structure longer than SMBIOS 3.7 describes)"
    report.add_structure(s, "scrubbed", how)
    return new


def _apply_overrides(policy, structures, report):
    if not policy.overrides:
        return structures
    by_type = {}
    for key, (value, where) in policy.overrides.items():
        by_type.setdefault(FIELDS[key].type, []).append((FIELDS[key], value, where))
    present = {s.type for s in structures}
    for stype, items in by_type.items():
        if stype not in present:
            f, _, where = items[0]
            raise PolicyError(f"{where}: override {f.key}: no type {stype} ({f.group}) "
                              f"structure passes (absent from the source or dropped by "
                              f"the policy)")
    out = []
    for s in structures:
        items = by_type.get(s.type)
        if not items:
            out.append(s)
            continue
        for f, _, where in items:
            if field_offset(f, s.formatted) is None:
                raise PolicyError(f"{where}: override {f.key}: this type {s.type} structure "
                                  f"is only {s.length} bytes long, too short for the field")
        new, _ = edit(s, {f: v for f, v, _ in items})
        report.add_structure(s, "overridden",
                   ", ".join(f"{f.name} = {v.decode('utf-8', 'replace') if f.kind == 'string' else v.hex()}"
                             for f, v, _ in items))
        out.append(new)
    return out


def _chase_leaks(structures, sensitive, report, scrubber):
    """Scrub a host identifier wherever else it was copied; drop what still holds one."""
    texts = [x for x in sensitive if x.isascii()]
    out = []
    for n, s in enumerate(structures):
        strings = list(s.strings)
        hits = [i for i, x in enumerate(strings) if any(t in x for t in texts)]
        if hits:
            for i in hits:
                strings[i] = scrubber.text(f"leak.{s.type}.{i + 1}#{n}")
            s = rebuild(s.formatted, strings, s.offset)
            names = [n for i in hits for n in string_names(s, i + 1)]
            report.add_structure(s, "scrubbed",
                       f"{', '.join(names)} held a scrubbed host identifier")
        if any(x in s.data for x in sensitive):
            report.add_structure(s, "dropped",
                       "its formatted area holds a scrubbed host identifier")
            continue
        out.append(s)
    return out


# --------------------------------------------------------------------- ACPI

def _acpi_verdict(policy, cand, fmt):
    """(passes, reason): why a table may or may not pass."""
    sig = cand.signature
    if cand.is_rsdp:
        return False, "RSDP: a root pointer; the guest's firmware writes its own"
    if sig in HVMLOADER_ACPI_OWN:
        # passthrough-all too: xcmod's hvmloader ignores an image holding one
        # (image/rules.py), stock hvmloader would append a second one beside its own.
        return False, f"{sig} is built by hvmloader itself; a second one is never appended"
    if sig in SENSITIVE_ACPI:
        if cand.explicit or sig in policy.acpi_allow or policy.passthrough_all:
            return True, None
        return False, (f"{sig} carries a Windows licence; it passes only when named "
                       f"(--acpi FILE or acpi.allow)")
    if policy.passthrough_all or sig in policy.acpi_allow:
        return True, None
    return False, f"{sig or 'table'} is not in the policy's acpi.allow"


def _select_acpi(policy, specs, fmt, report, strict, sensitive):
    passed = []
    for spec in specs:
        for cand in host.acpi_candidates(spec):
            if cand.explicit and not cand.is_rsdp:
                cand.parse()     # a file the user named must be a whole table first
            ok, reason = _acpi_verdict(policy, cand, fmt)
            if not ok:
                if cand.explicit:
                    raise PolicyError(f"{cand.origin}: refused: {reason}")
                report.add("acpi", f"{cand.signature or '?'} from {cand.origin}", "skipped",
                           reason)
                continue
            table = cand.parse()
            item = f"{table.signature} {table.oem_table_id!r} from {cand.origin}"
            if table.signature in SENSITIVE_ACPI:
                report.add("acpi", item, "warning",
                           f"{table.signature} passes the host's Windows licence to the guest")
            for r in aml.host_regions(table.raw):
                msg = (f"{r.describe()} reaches host hardware the guest does not have")
                if strict:
                    raise PolicyError(f"{cand.origin}: refused under --strict: {msg}")
                report.add("acpi", item, "warning", msg)
            leak = next((x for x in sensitive if x in table.raw), None)
            if leak is not None:
                msg = "holds a host identifier that SMBIOS scrubbing removed"
                if policy.leak == "error":
                    raise PolicyError(f"{cand.origin}: {table.signature} {msg} (at offset "
                                      f"{table.raw.find(leak):#x}); leave it out or set "
                                      f"scrub.leak = \"warn\"")
                report.add("acpi", item, "warning", msg)
            report.add("acpi", item, "passed")
            passed.append(table)
    if not policy.passthrough_all and len(passed) > policy.acpi_budget:
        raise PolicyError(
            f"{len(passed)} ACPI tables to pass, but hvmloader appends at most "
            f"{policy.acpi_budget} beside its own {policy.hvmloader_tables} "
            f"(ACPI_MAX_SECONDARY_TABLES is 16, one slot ends the list) and drops the rest "
            f"silently: pass fewer, or set acpi.hvmloader_tables to what your guests use")
    return passed


# ---------------------------------------------------------------------- all

def select(policy, smbios_spec=None, acpi_specs=(), orom_paths=(), fmt="modules",
           strict=False):
    """Run the policy over the sources; return a Selection or raise."""
    strict = strict or policy.acpi_strict
    report = Report(policy.name, policy.xen, fmt)
    scrubber = Scrubber(policy) if policy.scrub and smbios_spec else None
    smbios_table, sensitive = None, set()
    if smbios_spec:
        smbios_table, sensitive = _select_smbios(policy, smbios_spec, fmt, report, scrubber)
    elif policy.overrides:
        raise UsageError("overrides need an SMBIOS source (--smbios)")
    acpi_tables = _select_acpi(policy, acpi_specs, fmt, report, strict, sensitive)
    roms = []
    for path in orom_paths:
        if fmt == "xen":
            raise UsageError(f"{path}: option ROMs need the module format; stock hvmloader "
                             f"has no pass-through for them")
        rom = orom.read_file(path)
        roms.append(rom)
        f = rom.first
        report.add("orom", f"{path}: {f.vendor_id:04x}:{f.device_id:04x} class {f.class_text}, "
                   f"{len(rom.images)} image(s)", "passed")
        if rom.padding:
            report.add("orom", str(path), "note",
                       f"{rom.padding} bytes of padding after the last image left out "
                       f"(no firmware reads past it)")
    return Selection(smbios_table, acpi_tables, roms, report, sensitive)


__all__ = ["select", "Selection", "Report", "PolicyError", "FormatError"]
