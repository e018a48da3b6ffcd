# SPDX-License-Identifier: MIT
"""Pass-through policy on real tables: selection, scrubbing, overrides, reports, errors."""
import json
import os
import subprocess

import pytest

from xcmod.firmware import smbios
from xcmod.firmware.contents import smbios_table
from xcmod.firmware.fields import FIELDS, get_string, uuid_forms
from xcmod.image.read import read, single_module
from xcmod.image.spec import XCMOD_TYPE_SMBIOS

from .samples import smbios_past_ovmf_room
from .identifiers import host_identifiers
from .paths import SMBIOS_SOURCES, real

SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
SSDT_IO = real("acpi/qemu/pc_SSDT.dimmpxm")
DELL = real("smbios/infrasim/dell_r640_smbios.bin")


def _one_line_error(r, *needles, code=1):
    """Exit ``code`` (2 for a usage error) and one line naming the problem."""
    assert r.code == code, r
    prefix = "xcmod: error: " if code == 1 else "xcmod build: error: "
    assert r.err.count("\n") == 1 and r.err.startswith(prefix), r.err
    for n in needles:
        assert n in r.err, r.err


def _smbios_of(path):
    return smbios_table(single_module(read(path), XCMOD_TYPE_SMBIOS, str(path)))


@pytest.mark.parametrize("src", SMBIOS_SOURCES)
def test_default_policy_leaves_no_host_identifier(tmp_path, cli, src):
    """No original serial/UUID/asset string of a real table survives the default policy."""
    source = smbios.read_file(real(src))
    secrets = host_identifiers(source)
    img = tmp_path / "m.bin"
    r = cli("build", "-o", img, "--smbios", real(src), "-q")
    assert r.code == 0, r.err
    data = img.read_bytes()
    leaked = [s for s in secrets if s in data]
    assert leaked == []
    # manufacturer and product survive wherever the source had them
    out = _smbios_of(img)
    for key in ("system.manufacturer", "system.product_name", "baseboard.product_name"):
        f = FIELDS[key]
        before = [get_string(s, f) for s in source.structures if s.type == f.type][:1]
        after = [get_string(s, f) for s in out.structures if s.type == f.type][:1]
        if before and before[0]:
            assert after == before, key


def test_scrubbed_dump_decodes_in_dmidecode(tmp_path, cli):
    """dmidecode reads the scrubbed result: serials Not Specified, vendor strings intact."""
    img, dump = tmp_path / "m.bin", tmp_path / "d.dmi"
    assert cli("build", "-o", img, "--smbios", DELL, "-q").code == 0
    assert cli("extract", img, "--smbios-dump", dump).code == 0
    text = subprocess.run(["dmidecode", "--from-dump", str(dump), "-t", "1"],
                          capture_output=True, text=True, check=True).stdout
    assert "Manufacturer: Dell Inc." in text and "Product Name: PowerEdge R640" in text
    assert "Serial Number: Not Specified" in text
    assert "UUID: Not Settable" in text     # dmidecode's words for all 00h


def _pseudonym_build(tmp_path, cli, guest, name):
    secret = tmp_path / "secret"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef")
    img = tmp_path / name
    pol = tmp_path / "p.toml"
    pol.write_text('[scrub]\nmode = "pseudonym"\n')
    r = cli("build", "-o", img, "--smbios", DELL, "--policy", pol, "--guest", guest,
            "--secret-file", secret, "-q")
    assert r.code == 0, r.err
    t = _smbios_of(img)
    s1 = next(s for s in t.structures if s.type == 1)
    return get_string(s1, FIELDS["system.serial_number"]), s1.formatted[8:24], img.read_bytes()


def test_pseudonyms_are_stable_per_guest_and_hide_the_host(tmp_path, cli):
    """Same secret and guest give the same fake serial/UUID every build; another guest differs."""
    a1, u1, d1 = _pseudonym_build(tmp_path, cli, "vm1", "a.bin")
    a2, u2, _ = _pseudonym_build(tmp_path, cli, "vm1", "b.bin")
    b, ub, _ = _pseudonym_build(tmp_path, cli, "vm2", "c.bin")
    assert (a1, u1) == (a2, u2) and a1 != b and u1 != ub
    assert len(a1) == 12 and u1 != bytes(16)
    assert not [s for s in host_identifiers(smbios.read_file(DELL)) if s in d1]


def test_pseudonym_without_secret_is_a_usage_error(tmp_path, cli):
    """Pseudonym mode without --secret-file says what it needs, writes nothing."""
    pol = tmp_path / "p.toml"
    pol.write_text('[scrub]\nmode = "pseudonym"\n')
    _one_line_error(cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--policy", pol),
                    "--secret-file", code=2)
    assert not (tmp_path / "m").exists()


def test_fixed_mode_and_overrides(tmp_path, cli):
    """Fixed mode writes the given text; --set overrides any string field by name."""
    pol = tmp_path / "p.toml"
    pol.write_text('[scrub]\nmode = "fixed"\nvalue = "REDACTED"\n\n[override]\n'
                   '"baseboard.manufacturer" = "Baseboards Inc"\n')
    img = tmp_path / "m.bin"
    r = cli("build", "-o", img, "--smbios", DELL, "--policy", pol, "--set",
            "system.manufacturer=ACME", "--set", "system.uuid=12345678-1234-5678-9abc-def012345678",
            "--json")
    assert r.code == 0, r.err
    t = _smbios_of(img)
    s1 = next(s for s in t.structures if s.type == 1)
    s2 = next(s for s in t.structures if s.type == 2)
    assert get_string(s1, FIELDS["system.manufacturer"]) == b"ACME"
    assert get_string(s1, FIELDS["system.serial_number"]) == b"REDACTED"
    assert get_string(s2, FIELDS["baseboard.manufacturer"]) == b"Baseboards Inc"
    assert get_string(s1, FIELDS["system.product_name"]) == b"PowerEdge R640"
    actions = {(e["item"].split(" handle")[0], e["action"]) for e in json.loads(r.out)["report"]["entries"]}
    assert ("type 1 (system)", "overridden") in actions


def test_conflicting_overrides_fail_with_no_output(tmp_path, cli):
    """A field given two different values (policy and --set) is one clear error."""
    pol = tmp_path / "p.toml"
    pol.write_text('[override]\n"system.manufacturer" = "A"\n')
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--policy", pol, "--set",
            "system.manufacturer=B")
    _one_line_error(r, "conflicting overrides for system.manufacturer", "p.toml:2", code=2)
    assert not (tmp_path / "m").exists()


def test_override_of_a_dropped_type_is_an_error(tmp_path, cli):
    """Overriding a type the policy does not pass is refused, naming the field."""
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--set", "processor.version=X")
    _one_line_error(r, "processor.version", "no type 4")


@pytest.mark.parametrize("text,needles", [
    ('[scrub]\nmode = "blank"\n\n[smbios]\nallow = [1]\nalow_oem = true\n',
     ["p.toml:6", "smbios.alow_oem", "unknown key"]),
    ('[scrub]\nmode = "sometimes"\n', ["p.toml:2", "scrub.mode", "blank, fixed, pseudonym"]),
    ('[acpi]\nallow = ["SSDT", "FACP"]\n', ["p.toml:2", "FACP", "hvmloader itself"]),
    ('[override]\n"system.colour" = "red"\n', ["p.toml:2", "override.system.colour"]),
    ('[scrub\nmode = 1\n', ["not valid TOML", "line 1"]),
])
def test_bad_policy_names_file_line_and_key(tmp_path, cli, text, needles):
    """A policy with an unknown key or bad value: one line with file, line and key."""
    pol = tmp_path / "p.toml"
    pol.write_text(text)
    _one_line_error(cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--policy", pol),
                    *needles)
    assert not (tmp_path / "m").exists()


def test_xen_version_sets_the_smbios_types(tmp_path, cli):
    """Type 9 (slots) passes for Xen master but is dropped for 4.17, with the reason."""
    for xen, expect in (("4.17", False), ("master", True)):
        img = tmp_path / f"{xen}.bin"
        r = cli("build", "-o", img, "--smbios", DELL, "--xen", xen, "--json")
        assert r.code == 0, r.err
        types = {s.type for s in _smbios_of(img).structures}
        assert (9 in types) is expect
        assert 4 not in types and 127 not in types
        assert {0, 1, 2, 3, 11} <= types and 218 in types


@pytest.mark.parametrize("fmt", ["modules", "xen"])
def test_smbios_past_ovmfs_fixed_room_is_said(tmp_path, cli, fmt):
    """OVMF and ROMBIOS guests have 20449 bytes for SMBIOS (hvmloader's fixed area): a
    build whose structures pass it says so, with the size, in either format; the
    same source without the extra OEM structures does not."""
    source = smbios.read_file(DELL)
    big = smbios_past_ovmf_room()
    for name, table, said in (("big", big, True), ("plain", source, False)):
        (tmp_path / f"{name}.dmi").write_bytes(smbios.dump_bin(table))
        r = cli("build", "-o", tmp_path / f"{name}.out", "--format", fmt,
                "--smbios", tmp_path / f"{name}.dmi", "--json")
        assert r.code == 0, r.err
        warned = [e for e in json.loads(r.out)["report"]["entries"]
                  if e["action"] == "warning" and "OVMF or ROMBIOS" in e["reason"]]
        assert bool(warned) is said, warned
        if said:
            assert "more than the 20449 bytes" in warned[0]["reason"]
            passed = int(warned[0]["item"].split(", ")[1].removesuffix(" bytes"))
            assert 20449 < passed <= sum(s.size for s in big.structures)


# ----------------------------------------------------------------------- ACPI

def test_explicit_refused_table_is_an_error(tmp_path, cli):
    """A FACP named as a file is refused (hvmloader builds its own), nothing written."""
    r = cli("build", "-o", tmp_path / "m", "--acpi", real("acpi/lenovo-x1c6/FACP.aml"))
    _one_line_error(r, "FACP.aml", "built by hvmloader")
    assert os.listdir(tmp_path) == []


def test_directory_skips_and_reports(tmp_path, cli):
    """From a directory, refused and sensitive tables are skipped and reported; SSDTs pass."""
    img = tmp_path / "m.bin"
    r = cli("build", "-o", img, "--acpi", real("acpi/lenovo-x1c6"), "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert [(m["type"], [t["signature"] for t in m["tables"]]) for m in d["modules"]] == \
        [("acpi", ["SSDT", "SSDT"])]
    by = {e["item"].split(" ")[0]: (e["action"], e["reason"]) for e in d["report"]["entries"]}
    assert by["FACP"][0] == "skipped" and "hvmloader" in by["FACP"][1]
    assert by["MSDM"][0] == "skipped" and "licence" in by["MSDM"][1]
    assert by["RSDP"][0] == "skipped"


def test_sensitive_table_passes_when_named_with_a_warning_said_once(tmp_path, cli):
    """MSDM given as a file passes with one warning: in the printed report, or on stderr
    under -q (never both)."""
    msdm = real("acpi/lenovo-x1c6/MSDM.REDACTED.aml")
    r = cli("build", "-o", tmp_path / "m", "--acpi", msdm)
    assert r.code == 0, r.err
    assert r.err == "" and r.out.count("Windows licence") == 1, r.out
    assert "  warning    acpi   MSDM" in r.out
    r = cli("build", "-o", tmp_path / "m", "--acpi", msdm, "-q")
    assert r.code == 0 and "Windows licence" not in r.out
    assert r.err.count("\n") == 1 and "warning: MSDM" in r.err and "Windows licence" in r.err


def test_aml_lint_warns_and_strict_refuses(tmp_path, cli):
    """An SSDT with SystemIO/SystemMemory OperationRegions warns; --strict refuses it."""
    r = cli("build", "-o", tmp_path / "a", "--acpi", SSDT_IO)
    assert r.code == 0 and "OperationRegion NPIO (SystemIO at 0xa18 length 0x4)" in r.out
    _one_line_error(cli("build", "-o", tmp_path / "b", "--acpi", SSDT_IO, "--strict"),
                    "refused under --strict", "NPIO")
    assert not (tmp_path / "b").exists()
    assert cli("build", "-o", tmp_path / "c", "--acpi", SSDT, "--strict").code == 0


def test_table_budget(tmp_path, cli):
    """More tables than hvmloader has room for is an error; the budget follows the policy."""
    args = [a for _ in range(11) for a in ("--acpi", SSDT)]
    _one_line_error(cli("build", "-o", tmp_path / "m", *args), "11 ACPI tables",
                    "at most 10 beside its own 5")
    pol = tmp_path / "p.toml"
    pol.write_text("[acpi]\nhvmloader_tables = 4\n")
    assert cli("build", "-o", tmp_path / "m", "--policy", pol, *args).code == 0


def test_bad_checksum_allowed_table(tmp_path, cli):
    """An allowed table with a bad checksum: one line naming the file and offset."""
    bad = tmp_path / "SSDT1"
    data = bytearray(open(SSDT, "rb").read())
    data[40] ^= 1
    bad.write_bytes(data)
    _one_line_error(cli("build", "-o", tmp_path / "m", "--acpi", bad), "SSDT1", "offset 0x9",
                    "checksum invalid")


def test_leak_into_acpi_is_refused(tmp_path, cli):
    """An ACPI table quoting a scrubbed serial is refused by default (scrub.leak = error)."""
    serial = get_string(next(s for s in smbios.read_file(DELL).structures if s.type == 1),
                        FIELDS["system.serial_number"])
    raw = bytearray(open(SSDT, "rb").read())
    raw[-len(serial) - 1:-1] = serial
    raw[9] = (raw[9] - sum(raw)) & 0xFF
    leak = tmp_path / "SSDT9"
    leak.write_bytes(raw)
    _one_line_error(cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--acpi", leak),
                    "SSDT9", "host identifier")


def test_a_copied_host_identifier_is_reported_by_field_name(tmp_path, cli):
    """A scrubbed serial found again in another string (here put there by --set) is
    scrubbed too, and the report names that string's field, not a string number."""
    serial = get_string(next(s for s in smbios.read_file(DELL).structures if s.type == 1),
                        FIELDS["system.serial_number"]).decode()
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--json",
            "--set", f"baseboard.version=rev {serial}")
    assert r.code == 0, r.err
    entries = json.loads(r.out)["report"]["entries"]
    chased = [e for e in entries if "held a scrubbed host identifier" in e["reason"]]
    assert [e["reason"] for e in chased] == ["baseboard.version held a scrubbed host identifier"]
    assert serial.encode() not in (tmp_path / "m").read_bytes()


def test_nothing_passing_is_an_error(tmp_path, cli):
    """A build where the policy lets nothing through fails, naming the source, instead of
    writing an empty image."""
    d = tmp_path / "tables"
    d.mkdir()
    for name in ("q35_FACP", "q35_APIC", "q35_HPET", "q35_WAET"):
        (d / name).write_bytes(open(real("acpi/qemu", name), "rb").read())
    _one_line_error(cli("build", "-o", tmp_path / "m", "--acpi", d), "nothing to build",
                    f"nothing in {d} passes policy default",
                    "APIC, FACP, HPET, WAET (built by hvmloader itself",
                    "no policy passes any of them")
    assert not (tmp_path / "m").exists()


def test_fields_lists_names(cli):
    """`xcmod fields` lists every override-able field, marking the scrubbed ones."""
    r = cli("fields")
    assert r.code == 0
    assert "system.serial_number" in r.out and "(scrubbed by default)" in r.out
    rows = json.loads(cli("fields", "--json").out)
    assert {"field": "system.uuid", "type": 1, "offset": 8, "kind": "uuid",
            "scrubbed_by_default": True, "dmidecode": "system-uuid", "xenstore": None} in rows


def _structure(stype, handle, formatted, strings=()):
    """One SMBIOS structure: header + ``formatted`` bytes + its string set."""
    body = bytes([stype, 4 + len(formatted)]) + handle.to_bytes(2, "little") + bytes(formatted)
    tail = b"".join(s + b"\0" for s in strings) + b"\0" if strings else b"\0\0"
    return body + tail


# Each case: (structure, {xen version: kept?}).  The record length hvmloader
# compares is the whole structure with its strings (xcmod.builder.xenrules).
_SHORT_TYPE1 = _structure(1, 0x100, [1, 2, 3, 4], [b"A", b"B", b"C", b"D"])    # 2.0: 17 bytes
_FULL_TYPE1 = _structure(1, 0x100, [1, 2, 3, 4] + [7] * 16 + [6, 0, 0], [b"A", b"B", b"C", b"D"])
_TYPE3_12 = _structure(3, 0x300, [0, 1, 0, 0, 0, 0])                # 10 + "\0\0" = 12 bytes
_TYPE3_11 = _structure(3, 0x300, [0, 1, 0, 0, 0])                   # 9 + "\0\0" = 11 bytes
_SLOT = _structure(9, 0x900, [1, 0xA5, 0x0D, 3, 4, 1, 0, 4, 0, 0, 0, 0, 0], [b"SLOT1"])
_SHORT_SLOT = _structure(9, 0x900, [1, 0xA5, 0x0D, 3, 4, 1])        # 10 + 2 = 12 < 13
_OLD = {"4.17", "4.17.0", "4.18", "4.19.3", "4.20.0", "4.20.1"}
_CHECKED = {"4.19", "4.19.4", "4.20", "4.20.2", "4.20.4", "4.20.9", "any"}
_NEW = {"4.21", "4.21.0", "4.22", "4.22.0", "master"}
RELEASE_CASES = [
    ("type 1 of SMBIOS 2.0 (17 bytes < 27)", _SHORT_TYPE1, _OLD),
    ("type 1 of 27 bytes and strings", _FULL_TYPE1, _OLD | _CHECKED | _NEW),
    ("type 3 of 11 bytes (< 12)", _TYPE3_11, _OLD),
    ("type 3 of 12 bytes (offsetof(security_status) is enough)", _TYPE3_12,
     _OLD | _CHECKED | _NEW),
    ("type 9 (slots), taken since 4.21", _SLOT, _NEW),
    ("type 9 of 12 bytes (< 13)", _SHORT_SLOT, set()),
]


@pytest.mark.parametrize("what,struct,kept_by", RELEASE_CASES, ids=[c[0] for c in RELEASE_CASES])
def test_each_xen_release_keeps_and_drops_what_its_hvmloader_does(tmp_path, cli, what, struct,
                                                                  kept_by):
    """For every modelled release line (and the points where a line changed), a structure
    is in the output exactly when that release's hvmloader would take it, and the report
    names the release and the reason when it is not."""
    src = tmp_path / "raw.bin"
    src.write_bytes(struct + _structure(127, 0xFEFF, []))
    stype = struct[0]
    for xen in sorted(_OLD | _CHECKED | _NEW):
        img = tmp_path / f"{xen}.bin"
        r = cli("build", "-o", img, "--smbios", src, "--xen", xen, "--json")
        if not r.code == 0:
            assert xen not in kept_by and "nothing to build" in r.err, (xen, r.err)
            continue
        report = json.loads(r.out)["report"]
        got = stype in {s.type for s in _smbios_of(img).structures}
        assert got == (xen in kept_by), (xen, report)
        assert report["xen"].startswith(xen if xen in ("any", "master") else xen[:4])


def test_xen_versions_resolve_and_unknown_ones_are_refused(tmp_path, cli):
    """A line means its newest release; an unknown version is refused with the list."""
    from xcmod.builder import xenrules
    assert xenrules.resolve("4.20").version == "4.20.4"
    assert xenrules.resolve("4.19.3").rules is xenrules.OLD
    assert xenrules.resolve("4.19.4").rules is xenrules.CHECKED
    assert xenrules.resolve("4.21.1").rules is xenrules.NEW
    for bad in ("9.9", "4.16", "4", "4.20.x", "latest", "٤.٢٠", "4.20.4.1"):
        r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--xen", bad)
        _one_line_error(r, "4.17[.0-7]", "master", code=2)
        assert not (tmp_path / "m").exists()


def test_default_xen_is_this_hosts_and_the_report_says_so(tmp_path, cli):
    from xcmod import hostxen
    xen = hostxen.installed()
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)["report"]
    assert report["xen"] == xen.version and xen.found_by in report["xen_why"]
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL)
    assert f"Xen {xen.version} (this host's: {xen.found_by})" in r.out.splitlines()[1] \
        or f"Xen {xen.version} (this host's: {xen.found_by})" in r.out


def test_policy_file_names_its_xen_and_a_bad_one_names_the_line(tmp_path, cli):
    pol = tmp_path / "p.toml"
    pol.write_text('xen = "4.21"\n')
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--policy", pol, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["report"]["xen"] == "4.21.2"
    assert 9 in {s.type for s in _smbios_of(tmp_path / "m").structures}
    pol.write_text('\nxen = "4.99"\n')
    _one_line_error(cli("build", "-o", tmp_path / "n", "--smbios", DELL, "--policy", pol),
                    "p.toml:2", "xen", "not modelled")


@pytest.mark.parametrize("raw", [bytes(range(16)), bytes(16), b"\xff" * 16,
                                 bytes.fromhex("4c4c4544004d5910804bc4c04f575032")])
def test_uuid_forms_are_the_uuid_modules_texts(raw):
    """The texts a leak check looks for, against Python's uuid module: SMBIOS 7.2.1's
    order is RFC 4122's bytes_le; both orders, with and without dashes, both cases."""
    import uuid
    want = set()
    for u in (uuid.UUID(bytes_le=raw), uuid.UUID(bytes=raw)):
        for s in (str(u), u.hex, str(u).upper(), u.hex.upper()):
            want.add(s.encode())
    assert uuid_forms(raw) == want
    assert uuid_forms(bytearray(raw)) == want


# ---- issue 32: types checked where they enter ---------------------------------------

@pytest.mark.parametrize("text,needles", [
    ("[smbios]\nallow = [true, false]\n", ["p.toml:2", "smbios.allow", "not a list holding true"]),
    ("[smbios]\nallow = [1, true]\n", ["smbios.allow", "true"]),
    ("[smbios]\nallow = [1, 2.0]\n", ["smbios.allow", "2.0"]),
    ('[smbios]\nallow = ["1"]\n', ["smbios.allow", "'1'"]),
    ("[smbios]\nallow = [256]\n", ["smbios.allow", "256"]),
    ("[smbios]\nallow = 1\n", ["smbios.allow", "not 1"]),
    ("[smbios]\noem = 1\n", ["smbios.oem", "true or false, not 1"]),
    ('[scrub]\nenabled = "yes"\n', ["scrub.enabled", "true or false"]),
    ("[acpi]\nstrict = 0\n", ["acpi.strict", "true or false, not 0"]),
    ("[acpi]\nhvmloader_tables = true\n", ["acpi.hvmloader_tables", "not true"]),
    ("[acpi]\nhvmloader_tables = 5.0\n", ["acpi.hvmloader_tables", "5.0"]),
    ('[override]\n"battery.sbds_serial_number" = true\n', ["override.battery", "0-65535"]),
    ('[override]\n"system.manufacturer" = 1\n', ["override.system.manufacturer", "string"]),
    ("xen = 4.2\n", ["p.toml:1", "xen", "string"]),
])
def test_policy_values_are_refused_when_of_the_wrong_type(tmp_path, text, needles):
    """true/false are not numbers and numbers are not booleans (bool is an int in
    Python): each value of the wrong type is one line naming file, line and key, exit
    1, nothing written."""
    pol = tmp_path / "p.toml"
    pol.write_text(text)
    r = subprocess.run([__import__("sys").executable, "-m", "xcmod", "build", "-o",
                        str(tmp_path / "m"), "--smbios", DELL, "--policy", str(pol)],
                       capture_output=True, text=True, cwd=os.path.dirname(
                           os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr
    assert not (tmp_path / "m").exists()


def test_policy_that_is_neither_builtin_nor_a_file_lists_the_builtins(tmp_path, cli):
    """--policy nosuch and xcmod.build(policy='nosuch'): the project's UsageError naming
    the built-ins, not FileNotFoundError."""
    import xcmod
    from xcmod.errors import UsageError
    r = cli("build", "-o", tmp_path / "m", "--smbios", DELL, "--policy", "nosuch")
    assert r.code == 2 and "default, strict, passthrough-all" in r.err, r.err
    for bad in ("nosuch", "strictest", str(tmp_path / "missing.toml")):
        with pytest.raises(UsageError, match="not a built-in policy"):
            xcmod.build(smbios=DELL, policy=bad)


@pytest.mark.parametrize("words", [
    ["--policy", "strict", "--policy", "passthrough-all"],
    ["--policy=strict", "--policy", "passthrough-all"],
    ["--policy", "strict", "--pol", "passthrough-all"],
    ["--xen", "4.17", "--xen", "master"],
    ["--format", "xen", "--format", "modules"],
    ["--guest", "a", "--guest", "b"],
    ["--oem-ids", "slic", "--oem-ids", "ABC,DEF"],
    ["-o", "{t}/x.bin", "-o{t}/y.bin"],
    ["--output", "{t}/x.bin", "-o", "{t}/y.bin"],
])
def test_a_one_value_option_repeated_with_another_value_is_refused(tmp_path, cli, words):
    """Options that decide what leaves the host, or where it goes, do not let the last of
    two values silently win: one line naming the option and both values, exit 2,
    nothing written.  The same value twice is accepted."""
    w = [x.replace("{t}", str(tmp_path)) for x in words]
    base = ["build", "-q", "--smbios", DELL]
    if not any(x.startswith("-o") or x == "--output" for x in w):
        base += ["-o", str(tmp_path / "m.bin")]
    r = cli(*base, *w)
    assert r.code == 2 and r.err.count("\n") == 1 and "given twice" in r.err, r.err
    assert not os.listdir(tmp_path)
    assert cli("build", "-q", "--smbios", DELL, "-o", tmp_path / "ok.bin", "--policy",
               "strict", "--policy=strict").code == 0


def test_load_and_keys_refuse_two_different_domains(cli):
    """--domid 5 --domid 6 (or --domain): refused before anything is read."""
    for words in (["load", "--domid", "5", "--domid", "6", "x.bin"],
                  ["keys", "set", "--domid", "5", "--domid=6", "bios-strings/oem-1=x"],
                  ["load", "--domain", "a", "--domain", "b", "x.bin"],
                  ["extract", "i.bin", "--smbios-dump", "a", "--smbios-dump", "b"]):
        r = cli(*words)
        assert r.code == 2 and "given twice" in r.err, (words, r.err)
