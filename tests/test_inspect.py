# SPDX-License-Identifier: MIT
"""The command line, tried as a new user would (issue 31): inspect of every source
build reads, build --dry-run, and errors that say what to do."""
import functools
import json
import os
import shutil
import subprocess
import sys

import pytest

from xcmod.firmware import fields, smbios
from xcmod.firmware.fields import TYPE_NAMES

from .paths import REAL, ROOT, real

DELL = real("smbios/infrasim/dell_r640_smbios.bin")
X1C6 = real("acpi/lenovo-x1c6")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")


def _one_line(r, code, *needles):
    assert r.code == code, r
    assert r.err.count("\n") == 1 and "Traceback" not in r.err, r.err
    for n in needles:
        assert n in r.err, r.err


def _dmidecode(dump, *args):
    return subprocess.run(["dmidecode", "--from-dump", str(dump), *args], capture_output=True,
                          text=True, check=True).stdout


# ------------------------------------------------------------------ inspect

def test_inspect_opens_a_dmidecode_dump_as_dmidecode_reads_it(cli):
    """A dump (the fixture `inspect fw/smbios.bin` failed on with "bad module
    signature"): dmidecode's type names and handle spelling, and every field xcmod
    models as dmidecode decodes it, structure by structure."""
    r = cli("inspect", DELL)
    assert r.code == 0, r.err
    theirs = _dmidecode(DELL)
    table = smbios.read_file(DELL)
    compared = 0
    for s in table.structures:
        head = f"Handle 0x{s.handle:04X}, DMI type {s.type}, {s.length} bytes\n"
        assert head in r.out and head in theirs
        if s.type >= 128:
            continue
        ours_block = r.out.split(head, 1)[1].split("\n\n", 1)[0]
        their_block = theirs.split(head, 1)[1].split("\n\n", 1)[0]
        assert ours_block.splitlines()[0] == their_block.splitlines()[0] == TYPE_NAMES[s.type]
        theirs_lines = their_block.splitlines()
        for line in ours_block.splitlines()[1:]:
            if line.startswith("\t") and ": " in line and not line.startswith("\t\t"):
                label = line.split(": ", 1)[0] + ": "
                # (dmidecode leaves out the rest of an empty memory slot)
                if any(t.startswith(label) for t in theirs_lines):
                    assert line in theirs_lines, (s.type, line)
                    compared += 1
    assert compared > 40
    assert "0xda00" not in r.out and "Handle 0xDA00, DMI type 218" in r.out


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(REAL, "smbios/go-smbios"))))
def test_inspect_fields_agree_with_dmidecode_on_every_dump(cli, tmp_path, name):
    """On every real dump: each decoded "Label: value" line is dmidecode's own line."""
    path = os.path.join(REAL, "smbios/go-smbios", name)
    r = cli("inspect", path, "-t", "bios,system,baseboard,chassis")
    assert r.code == 0, r.err
    dump = tmp_path / "d.dmi"            # (raw tables: dmidecode reads only dumps)
    dump.write_bytes(smbios.dump_bin(smbios.read_file(path)))
    theirs = _dmidecode(dump, "-t", "bios", "-t", "system", "-t", "baseboard", "-t",
                        "chassis").splitlines()
    decoded = [line for line in r.out.splitlines()
               if line.startswith("\t") and not line.startswith("\t\t") and ": " in line]
    assert decoded
    for line in decoded:
        assert line in theirs, line


def test_inspect_filters_types_and_tables(cli, tmp_path, capsys):
    img = tmp_path / "m.bin"
    assert cli("build", "-o", img, "--smbios", DELL, "--acpi", SSDT, "-q").code == 0
    r = cli("inspect", img, "-t", "1,3")
    assert r.code == 0 and "DMI type 1," in r.out and "DMI type 3," in r.out
    assert "DMI type 0," not in r.out and "SSDT" not in r.out.split("Module 1", 1)[1]
    r = cli("inspect", img, "--table", "SSDT")
    assert "\tSSDT " in r.out and "Handle" not in r.out
    r = cli("inspect", img, "-t", "system", "--json")
    types = {s["type"] for s in json.loads(r.out)["modules"][0]["structures"]}
    assert types == {1}                      # "system" is 1, 12, 15, 23, 32 in dmidecode
    assert json.loads(r.out)["modules"][0]["structures"][0]["fields"][
        "system.product_name"] == "PowerEdge R640"
    r = cli("inspect", img, "-t", "systems")
    assert r.code == 2 and "'systems' is not a type number" in capsys.readouterr().err


def test_inspect_counts_are_singular_and_plural(cli, tmp_path):
    img = tmp_path / "a.bin"
    assert cli("build", "-o", img, "--acpi", SSDT, "-q").code == 0
    r = cli("inspect", img)
    assert "xcmod image, 1 module," in r.out and "ACPI, 1 table\n" in r.out
    assert "1 modules" not in r.out and "1 tables" not in r.out


def test_inspect_opens_every_source_build_reads(cli, tmp_path):
    """sysfs directory, directory of tables, one table, acpidump text, RSMB blob, raw
    table: each listed; what a blocks directory held before, still."""
    r = cli("inspect", real("smbios/fwupd/tables"))
    assert r.code == 0 and "SMBIOS 2.7.0 (_SM_ entry point)" in r.out, r.err
    r = cli("inspect", X1C6, "--table", "SSDT,RSDP")
    assert r.code == 0 and r.out.count("\tSSDT ") == 2 and "\tRSDP " in r.out, r.err
    r = cli("inspect", SSDT)
    assert r.code == 0 and "SSDT" in r.out and "'HdaDsp'" in r.out
    text = tmp_path / "dump.txt"
    raw = open(SSDT, "rb").read()
    lines = ["SSDT @ 0x0000000000000000"]
    for off in range(0, len(raw), 16):
        lines.append(f"    {off:04X}: " + " ".join(f"{b:02X}" for b in raw[off:off + 16]))
    text.write_text("\n".join(lines) + "\n")
    r = cli("inspect", text, "--json")
    assert r.code == 0, r.err
    assert [t["signature"] for t in json.loads(r.out)["tables"]] == ["SSDT"]
    table = smbios.read_file(DELL)
    rawt = tmp_path / "raw.bin"
    rawt.write_bytes(table.table_bytes)
    r = cli("inspect", rawt, "-t", "1")
    assert r.code == 0 and "Product Name: PowerEdge R640" in r.out, r.err
    rsmb = tmp_path / "rsmb.bin"
    rsmb.write_bytes(bytes([0, 3, 0, 0]) + len(table.table_bytes).to_bytes(4, "little")
                     + table.table_bytes)
    r = cli("inspect", rsmb, "-t", "1")
    assert r.code == 0 and "Product Name: PowerEdge R640" in r.out, r.err


def test_inspect_host_lists_what_the_host_has(cli):
    """`inspect host` as root: the ACPI tables of /sys/firmware/acpi/tables, and the
    SMBIOS or one line saying why there is none."""
    if not os.path.isdir("/sys/firmware/acpi/tables") or os.geteuid() != 0:
        pytest.skip("needs root and a host with ACPI tables in sysfs")
    r = cli("inspect", "host", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    names = {t["signature"] for t in d["tables"]}
    assert names and names <= {n[:4] for n in os.listdir("/sys/firmware/acpi/tables")} | {
        n[:4] for n in os.listdir("/sys/firmware/acpi/tables/dynamic")
        if os.path.isdir("/sys/firmware/acpi/tables/dynamic")}
    assert d["smbios"] is not None or "smbios_error" in d


def test_inspect_dash_reads_standard_input(tmp_path):
    """`inspect -` (a pipe): the same listing as of the file."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    with open(DELL, "rb") as f:
        r = subprocess.run([sys.executable, "-m", "xcmod", "inspect", "-", "-t", "1"],
                           stdin=f, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "# <stdin>: firmware source" in r.stdout
    assert "System Information\n\tManufacturer: Dell Inc.\n" in r.stdout
    r = subprocess.run([sys.executable, "-m", "xcmod", "inspect", "-"], input=b"",
                       capture_output=True, env=env)
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"<stdin>" in r.stderr


def test_inspect_decode_runs_dmidecode_and_says_when_it_is_absent(cli, tmp_path, monkeypatch):
    img = tmp_path / "m.bin"
    assert cli("build", "-o", img, "--smbios", DELL, "-q").code == 0
    r = cli("inspect", img, "--decode", "-t", "0")
    assert r.code == 0, r.err
    assert "decoded by" in r.out and "Characteristics:" in r.out    # dmidecode's decoding
    assert "System Information" not in r.out
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("xcmod.cli.image.DMIDECODE_DIRS", ())
    _one_line(cli("inspect", img, "--decode"), 1, "dmidecode, which is not installed")


def test_inspect_refuses_what_is_nothing_it_knows(cli, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello, world\n" * 3)
    _one_line(cli("inspect", junk), 1, str(junk), "neither an xcmod image")


# ------------------------------------------------------------ build --dry-run

def test_dry_run_prints_the_report_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "m.bin"
    r = cli("build", "--dry-run", "-o", out, "--smbios", DELL, "--acpi", X1C6)
    assert r.code == 0, r.err
    assert r.out.startswith("dry run: would write ") and "nothing written" in r.out
    assert "skipped    acpi   APIC from" in r.out and "built by hvmloader itself" in r.out
    assert "dropped    smbios type 4 (processor)" in r.out
    assert os.listdir(tmp_path) == []
    d = json.loads(cli("build", "--dry-run", "--smbios", DELL, "--json").out)
    assert d["dry_run"] is True and d["would_build"] is True and d["report"]["entries"]
    _one_line(cli("build", "--dry-run", "--smbios", DELL, "--report", tmp_path / "r.json"),
              2, "--dry-run writes nothing")
    _one_line(cli("build", "--smbios", DELL), 2, "give -o OUT", "--dry-run")


def _tables_dir(tmp_path, names):
    d = tmp_path / "tables"
    d.mkdir()
    for n in names:
        shutil.copy(os.path.join(X1C6, n), d / n)
    return d


def test_nothing_to_build_names_what_was_dropped_and_true_advice(cli, tmp_path):
    """Tables the host has, none passing: the line names each and why; the advice is
    passthrough-all only where it would pass something, and never under it."""
    d = _tables_dir(tmp_path, ["APIC.aml", "FACP.aml", "RSDP.aml", "NHLT.aml"])
    r = cli("build", "-o", tmp_path / "m", "--acpi", d)
    _one_line(r, 1, "APIC, FACP (built by hvmloader itself", "RSDP (a root pointer",
              "NHLT (not in the policy's acpi.allow)",
              "--policy passthrough-all would pass 1 of them (NHLT)")
    os.remove(d / "NHLT.aml")
    r = cli("build", "-o", tmp_path / "m", "--acpi", d, "--policy", "passthrough-all")
    _one_line(r, 1, "policy passthrough-all: APIC, FACP", "no policy passes any of them")
    assert "would pass" not in r.err
    r = cli("build", "-o", tmp_path / "m", "--acpi", d)
    _one_line(r, 1, "no policy passes any of them")
    r = cli("build", "--dry-run", "--acpi", d)         # the report, then the same line
    assert r.code == 1 and "skipped    acpi   APIC" in r.out
    assert r.err.count("\n") == 1 and "nothing to build" in r.err
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------- errors that teach

def test_unknown_policy_lists_the_built_ins(cli):
    r = cli("build", "--dry-run", "--smbios", DELL, "--policy", "strictest")
    _one_line(r, 2, "--policy strictest: not a built-in policy (default, strict, "
              "passthrough-all)", "did you mean strict?")


@pytest.mark.parametrize("name,means", [
    ("system-manufacturer", "system.manufacturer (system-manufacturer is dmidecode's"),
    ("bios-strings/system-manufacturer", "system.manufacturer (bios-strings/system-"
     "manufacturer is the xenstore key"),
    ("bios-strings/enclosure-asset-tag", "chassis.asset_tag"),
    ("system.manufactuer", "did you mean system.manufacturer?"),
    ("system.product-name", "did you mean system.product_name?"),
])
def test_unknown_set_field_suggests_across_the_three_names(cli, name, means):
    r = cli("build", "--dry-run", "--smbios", DELL, "--set", f"{name}=ACME")
    _one_line(r, 2, f"--set {name}: unknown field", means, "`xcmod fields`")


def test_fields_maps_the_three_names_and_the_keys_are_xenstores(cli):
    """`xcmod fields` shows each field's dmidecode keyword and xenstore key; every
    xenstore key named is one `xcmod keys` knows, every field one --set takes, and
    dmidecode -s knows every keyword."""
    from xcmod.xen.keys import KEYS
    rows = {r["field"]: r for r in json.loads(cli("fields", "--json").out)}
    assert rows["system.manufacturer"]["dmidecode"] == "system-manufacturer"
    assert rows["system.manufacturer"]["xenstore"] == "bios-strings/system-manufacturer"
    assert set(fields.XENSTORE_KEYS) <= set(KEYS)
    assert set(fields.XENSTORE_KEYS.values()) | set(fields.DMIDECODE_KEYWORDS.values()) \
        <= set(fields.FIELDS)
    known = subprocess.run(["dmidecode", "-s", "x"], capture_output=True, text=True).stderr
    for kw in fields.DMIDECODE_KEYWORDS:
        assert f"  {kw}\n" in known, kw
    text = cli("fields").out
    assert "system-manufacturer" in text and "bios-strings/system-manufacturer" in text


@functools.lru_cache(maxsize=None)
def _world_package():
    """A copy of the package that nobody may read, for runs as nobody: the clone
    may not be (Debian 13 makes /root 0700, and a fresh root's clone is there).
    Run with the venv's interpreter resolved to Debian's python3, which has
    construct and the cffi backend from make setup's packages."""
    import atexit
    import tempfile
    d = tempfile.mkdtemp(prefix="xcmod-world-pkg-")
    atexit.register(shutil.rmtree, d, True)
    shutil.copytree(os.path.join(ROOT, "xcmod"), os.path.join(d, "xcmod"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for top, dirs, files in os.walk(d):
        os.chmod(top, 0o755)
        for f in files:
            os.chmod(os.path.join(top, f), 0o644)
    return d


def _xcmod(*args, env=None, user=None):
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    nobody = user == "nobody"
    e = dict(os.environ, PYTHONPATH=_world_package() if nobody else ROOT)
    for k in ("LD_LIBRARY_PATH", "XENSTORED_PATH", "XCMOD_FAKEXEN_DIR", "XCMOD_LOCK_DIR"):
        e.pop(k, None)
    e.update(env or {})
    python = os.path.realpath(sys.executable) if nobody else sys.executable
    return subprocess.run([python, "-m", "xcmod", *map(str, args)],
                          capture_output=True, text=True, env=e, cwd="/" if nobody else None,
                          preexec_fn=drop if nobody else None)


@pytest.fixture
def world_image():
    """An image anyone may read (pytest's own directories are root's alone)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="xcmod-world-")
    os.chmod(d, 0o755)
    img = os.path.join(d, "m.bin")
    assert _xcmod("build", "-o", img, "--acpi", SSDT, "-q").returncode == 0
    os.chmod(img, 0o644)
    yield img
    shutil.rmtree(d)


def test_not_a_dom0_is_one_line(world_image):
    """On a machine with no Xen (this one: no /dev/xen), load, keys, hvm-info and
    guest-tables say so in one line; libxc's own message is folded into it."""
    if os.path.exists("/dev/xen") or os.path.exists("/proc/xen"):
        pytest.skip("this machine runs Xen")
    if os.geteuid() != 0:
        pytest.skip("as root (a user is told first that it needs root)")
    for args in (["load", "--domid", "5", world_image], ["keys", "list", "--domid", "5"],
                 ["hvm-info", "--domid", "5"], ["guest-tables", "--domid", "5"]):
        r = _xcmod(*args)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("xcmod: error: this machine is not a Xen dom0"), r.stderr


def test_not_root_is_one_line_saying_so(world_image):
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    for args in (["load", "--domid", "5", world_image],
                 ["keys", "set", "--domid", "5", "bios-strings/oem-1=x"]):
        r = _xcmod(*args, user="nobody")
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert f"xcmod: error: {args[0]} needs root" in r.stderr, r.stderr


def test_extract_writes_what_the_image_has_and_names_what_it_lacks(cli, tmp_path):
    """The README's extract line on an SMBIOS-only image: the dump is written, the
    missing ACPI named in a warning, exit 0; asking only for what is absent: exit 1."""
    img = tmp_path / "s.bin"
    assert cli("build", "-o", img, "--smbios", DELL, "-q").code == 0
    r = cli("extract", img, "--smbios-dump", tmp_path / "g.dmi", "--acpi-dir", tmp_path / "t")
    assert r.code == 0, r.err
    assert (tmp_path / "g.dmi").exists() and not (tmp_path / "t").exists()
    assert r.err == (f"xcmod: warning: {img} holds no ACPI module or block: --acpi-dir "
                     f"{tmp_path / 't'} not written\n")
    assert "Dell Inc." in _dmidecode(tmp_path / "g.dmi", "-t", "1")
    r = cli("extract", img, "--acpi-dir", tmp_path / "t", "--json")
    _one_line(r, 1, "holds no ACPI module or block (for --acpi-dir)")
    assert r.out == "" and not (tmp_path / "t").exists()


def test_acpi_host_says_why_each_host_table_is_dropped(cli, tmp_path):
    """`build --acpi host` (issue 31's first line): --dry-run's report has a line for
    every table of /sys/firmware/acpi/tables, each not passed with its reason; a
    build that passes nothing names each in its one line."""
    top = "/sys/firmware/acpi/tables"
    if os.geteuid() != 0 or not os.path.isdir(top):
        pytest.skip("needs root and a host with ACPI tables in sysfs")
    files = [os.path.join(d, n) for d in (top, os.path.join(top, "dynamic"))
             if os.path.isdir(d) for n in os.listdir(d)
             if not os.path.isdir(os.path.join(d, n))]
    r = cli("build", "--dry-run", "--acpi", "host", "--json")
    report = json.loads(r.out)["report"]["entries"]
    for f in files:
        line, = [e for e in report if e["item"].endswith(f" from {f}")]
        assert line["action"] == "passed" or line["reason"], line
    if r.code == 1:             # nothing passed: the build's line names every table
        b = cli("build", "-o", tmp_path / "m.bin", "--acpi", "host")
        _one_line(b, 1, "nothing to build: nothing in host passes policy default")
        for e in report:
            assert e["item"].split(" ")[0] in b.err
        assert not (tmp_path / "m.bin").exists()


def test_unknown_override_in_a_policy_file_suggests_too(cli, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[override]\n"bios-strings/system-manufacturer" = "ACME"\n')
    r = cli("build", "--dry-run", "--smbios", DELL, "--policy", pol)
    _one_line(r, 1, f"{pol}:2:", "unknown field; did you mean system.manufacturer")
