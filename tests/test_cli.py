# SPDX-License-Identifier: MIT
"""The build / inspect / verify / extract commands, as an operator uses them."""
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .paths import ROOT, real

SMBIOS_DUMP = real("smbios/infrasim/dell_c6320_smbios.bin")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
SLIC = real("acpi/lenovo-x1c6/SLIC.aml")
SSDT2 = real("acpi/qemu/pc_SSDT.dimmpxm")


@pytest.fixture
def image(tmp_path, cli):
    out = tmp_path / "mods.bin"
    r = cli("build", "-o", out, "--policy", "passthrough-all", "--smbios", SMBIOS_DUMP,
            "--acpi", SSDT, "--acpi", SLIC, "--acpi", SSDT2)
    assert r.code == 0, r.err
    return out


def test_build_reports_what_went_in(tmp_path, cli):
    """build writes the image and says how many structures and which tables it holds."""
    out = tmp_path / "m.bin"
    r = cli("build", "-o", out, "--policy", "passthrough-all", "--smbios", SMBIOS_DUMP,
            "--acpi", SSDT, "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["image_length"] == os.path.getsize(out)
    smb, acp = summary["modules"]
    assert (smb["type"], len(smb["structures"]), smb["version"]) == ("smbios", 57, "2.8.0")
    assert (acp["type"], [t["signature"] for t in acp["tables"]]) == ("acpi", ["SSDT"])


@pytest.mark.parametrize("fmt", ["modules", "xen"])
def test_build_json_is_inspects_json_of_the_output(tmp_path, cli, fmt):
    """build --json describes what it wrote exactly as inspect --json of the output does."""
    out = tmp_path / ("m.bin" if fmt == "modules" else "blocks")
    r = cli("build", "-o", out, "--format", fmt, "--smbios", SMBIOS_DUMP, "--acpi", SSDT,
            "--json")
    assert r.code == 0, r.err
    built = json.loads(r.out)
    assert built.pop("output") == str(out) and "entries" in built.pop("report")
    assert built == json.loads(cli("inspect", out, "--json").out)


def test_inspect_json_shape(image, cli):
    """inspect --json gives the documented shape, with structures and tables in order."""
    r = cli("inspect", image, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    smb, acp = d["modules"]
    assert smb["type"] == "smbios" and smb["checksum_ok"] is True
    assert {"type", "handle", "length", "strings"} <= set(smb["structures"][0])
    bios = next(s for s in smb["structures"] if s["type"] == 0)
    assert bios["strings"] == ["Dell Inc.", "1.0.3", "06/17/2015"]
    assert [t["signature"] for t in acp["tables"]] == ["SSDT", "SLIC", "SSDT"]
    assert acp["tables"][1] == {"signature": "SLIC", "length": 374, "oem_id": "LENOVO",
                                "oem_table_id": "TP-N23", "revision": 1, "checksum_ok": True}


def test_inspect_text_is_dmidecode_like(image, cli):
    """inspect prints Handle blocks like dmidecode, and one line per ACPI table."""
    r = cli("inspect", image)
    assert r.code == 0
    assert "Handle 0x0000, DMI type 0, 24 bytes\nBIOS Information\n" in r.out
    assert "\tVendor: Dell Inc.\n" in r.out
    assert r.out.count("\tSSDT ") == 2


def test_inspect_shows_a_bad_checksum_instead_of_failing(image, cli):
    """inspect of a module with a corrupt payload byte reports checksum BAD, exit 0."""
    data = bytearray(image.read_bytes())
    data[0x40] ^= 0xFF        # inside the SMBIOS payload (a structure's data)
    image.write_bytes(data)
    r = cli("inspect", image, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["modules"][0]["checksum_ok"] is False
    assert cli("verify", image).code == 1


@pytest.mark.parametrize("crc_made_right", [False, True])
def test_inspect_shows_a_bad_table_checksum_instead_of_failing(tmp_path, cli, crc_made_right):
    """inspect of an image whose second ACPI table has a wrong checksum lists every
    table, that one BAD, the module's CRC as found (BAD, or OK once made right for the
    bytes); verify refuses it at the module's CRC or at the table's checksum byte."""
    from xcmod.firmware.acpi import encode_acpi_module, read_table
    from xcmod.image.spec import build_image, iter_modules, module_crc
    data = bytearray(build_image([encode_acpi_module([read_table(SSDT), read_table(SLIC)])]))
    mod = next(iter_modules(bytes(data)))
    table = mod.items[1].offset
    data[table + 20] ^= 0x5A                   # inside its OEM table ID
    if crc_made_right:
        body = bytes(data[mod.offset:mod.offset + mod.length])
        data[mod.offset + 16:mod.offset + 20] = module_crc(body).to_bytes(4, "little")
    img = tmp_path / "m.bin"
    img.write_bytes(data)
    r = cli("inspect", img, "--json")
    assert r.code == 0, r.err
    shown = json.loads(r.out)["modules"][0]
    assert shown["checksum_ok"] is crc_made_right
    assert [t["checksum_ok"] for t in shown["tables"]] == [True, False]
    assert bytes(data) == img.read_bytes()
    where, what = ((table + 9, "ACPI table checksum invalid") if crc_made_right else
                   (mod.offset + 16, "module checksum mismatch"))
    _assert_one_line_error(cli("verify", img), f"offset {where:#x}", what)


def test_verify_ok_and_json(image, cli):
    """verify exits 0 on a good image and says so; --json is machine-readable."""
    r = cli("verify", image)
    assert r.code == 0 and "valid, 2 modules" in r.out
    assert json.loads(cli("verify", image, "--json").out)["valid"] is True
    assert cli("verify", "-q", image).out == ""


def test_verify_names_first_problem_and_offset(image, cli):
    """verify of a corrupted image exits 1 with one line: file, offset, problem."""
    data = bytearray(image.read_bytes())
    data[0x10] ^= 1           # the first module's checksum field
    image.write_bytes(data)
    r = cli("verify", image)
    assert r.code == 1
    assert r.err == f"xcmod: error: {image}: offset 0x10: module checksum mismatch\n"


def test_extract_round_trip_through_dmidecode_and_bytes(image, tmp_path, cli):
    """extract gives a dump dmidecode decodes like the source, and the tables byte for byte."""
    dump, adir = tmp_path / "g.dmi", tmp_path / "acpi"
    r = cli("extract", image, "--smbios-dump", dump, "--acpi-dir", adir)
    assert r.code == 0, r.err
    assert dump.read_bytes() == open(SMBIOS_DUMP, "rb").read()
    assert sorted(os.listdir(adir)) == ["SLIC.dat", "SSDT.dat", "SSDT1.dat"]
    assert (adir / "SSDT.dat").read_bytes() == open(SSDT, "rb").read()
    assert (adir / "SSDT1.dat").read_bytes() == open(SSDT2, "rb").read()
    assert (adir / "SLIC.dat").read_bytes() == open(SLIC, "rb").read()


def test_extracted_tables_disassemble_with_iasl(image, tmp_path, cli):
    """acpica's disassembler reads the extracted SSDT back (a real referee)."""
    adir = tmp_path / "acpi"
    assert cli("extract", image, "--acpi-dir", adir).code == 0
    r = subprocess.run(["iasl", "-d", str(adir / "SSDT.dat")], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'DefinitionBlock ("", "SSDT", 2, "LENOVO", "HdaDsp"' in (adir / "SSDT.dsl").read_text()


def _assert_one_line_error(r, *needles, code=1):
    """Exit ``code`` (2: a usage error, worded as argparse words them), one line on stderr."""
    assert r.code == code, r
    assert r.out == ""
    prefix = "xcmod: error: " if code == 1 else "xcmod "
    assert r.err.count("\n") == 1 and r.err.startswith(prefix), r.err
    assert code == 1 or ": error: " in r.err, r.err
    assert "Traceback" not in r.err
    for n in needles:
        assert n in r.err, r.err


BAD_INPUTS = {
    "missing file": (["--smbios", "/nonexistent/x.bin"], ["/nonexistent/x.bin", "No such file"]),
    "missing acpi": (["--acpi", "/nonexistent/t.dat"], ["/nonexistent/t.dat"]),
    "rsdp as table": (["--acpi", real("acpi/lenovo-x1c6/RSDP.aml")], ["RSDP.aml", "root pointer"]),
    "truncated smbios": (["--smbios", real("smbios/fwupd/redfish-smbios.bin")],
                         ["redfish-smbios.bin", "offset 0x76", "not terminated"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_build_bad_input_one_line_no_output(tmp_path, cli, case):
    """Bad input to build: one clear line, exit 1, and no image file left behind."""
    args, needles = BAD_INPUTS[case]
    out = tmp_path / "out.bin"
    _assert_one_line_error(cli("build", "-o", out, *args), *needles)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d[:-40], "offset"),                  # truncated
    (lambda d: b"JUNK" + d[4:], "bad module signature"),
    (lambda d: b"", "image ends without an END module"),
])
def test_read_commands_refuse_bad_images(image, tmp_path, cli, mutate, needle):
    """inspect and extract refuse a broken image in one line and write nothing."""
    image.write_bytes(mutate(image.read_bytes()))
    _assert_one_line_error(cli("inspect", image), needle)
    outdir = tmp_path / "x"
    _assert_one_line_error(cli("extract", image, "--acpi-dir", outdir,
                               "--smbios-dump", tmp_path / "d.bin"), needle)
    assert not outdir.exists() and not (tmp_path / "d.bin").exists()


def test_extract_missing_module_type(tmp_path, cli):
    """extract --smbios-dump from an ACPI-only image says there is no SMBIOS module."""
    img = tmp_path / "a.bin"
    assert cli("build", "-o", img, "--acpi", SSDT).code == 0
    _assert_one_line_error(cli("extract", img, "--smbios-dump", tmp_path / "d"), "no SMBIOS module")


def test_usage_errors_exit_2(cli):
    """Unknown commands and missing required options are usage errors (exit 2)."""
    assert cli("frobnicate").code == 2
    assert cli("build").code == 2


def test_module_entry_point_runs_without_traceback(tmp_path):
    """`python -m xcmod` works as a process and reports errors in one line."""
    r = subprocess.run([sys.executable, "-m", "xcmod", "verify", str(tmp_path / "none")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "No such file" in r.stderr
    h = subprocess.run([sys.executable, "-m", "xcmod", "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    assert h.returncode == 0 and "examples:" in h.stdout


def test_every_registered_command_has_help_and_is_listed(cli, capsys):
    """Each command the cli modules register answers --help alone, and `xcmod --help` lists it."""
    from xcmod.cli import register
    COMMANDS = register()
    assert {"build", "load", "keys", "inspect", "export"} <= set(COMMANDS)
    for name in COMMANDS:
        assert cli(name, "--help").code == 0
        assert f"usage: xcmod {name}" in capsys.readouterr().out
    assert cli("--help").code == 0
    listed = capsys.readouterr().out
    assert all(f"    {name}" in listed for name in COMMANDS), listed


def test_each_command_is_named_with_the_job_that_registers_it():
    """cli.JOBS (which module a command line imports) names, for every command, the
    module that registers it, and no job registers a command JOBS lacks."""
    import importlib

    from xcmod.cli import JOBS
    from xcmod.cli.common import COMMANDS
    for job in set(JOBS.values()):
        importlib.import_module(f"xcmod.cli.{job}")
    assert set(COMMANDS) == set(JOBS)
    for name, add in COMMANDS.items():
        assert add.__module__ == f"xcmod.cli.{JOBS[name]}", name


USAGE_ERRORS = {
    "build without a source": (["build", "-o", "{t}/x.bin"], "nothing to build"),
    "extract with nothing to extract": (["extract", "{img}"], "nothing to extract"),
    "export qemu without --out-dir": (["export", "qemu", "{img}"], "needs --out-dir"),
    "export xl of an image without --out-dir": (["export", "xl", "{img}"], "needs --out-dir"),
    "export libvirt without --out-dir": (["export", "libvirt", "{img}"], "needs --out-dir"),
    "manifest over the image": (["build", "-o", "{t}/m.bin", "--manifest", "{t}/m.bin",
                                 "--acpi", SSDT], "name the same file"),
    "report over the manifest": (["build", "-o", "{t}/m.bin", "--manifest", "{t}/r.json",
                                  "--report", "{t}/r.json", "--acpi", SSDT],
                                 "name the same file"),
    "image over its source": (["build", "-o", "{t}/ssdt.dat", "--acpi", "{t}/ssdt.dat"],
                              "would overwrite the input --acpi"),
    "dump over the image": (["extract", "{img}", "--smbios-dump", "{img}"],
                            "would overwrite the input IMAGE"),
    "oem ids for stock blocks": (["build", "--format", "xen", "-o", "{t}/b", "--acpi", SSDT,
                                  "--oem-ids", "slic"], "--oem-ids needs --format modules"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2_in_one_line_and_touch_nothing(image, tmp_path, cli, case):
    """A command line that cannot work exits 2 with one line, as argparse's own errors do,
    and leaves every file as it was."""
    import shutil
    words, needle = USAGE_ERRORS[case]
    shutil.copy(SSDT, tmp_path / "ssdt.dat")
    before = {p: p.read_bytes() for p in [image, tmp_path / "ssdt.dat"]}
    listing = sorted(os.listdir(tmp_path))
    words = [w.format(t=tmp_path, img=image) for w in words]
    _assert_one_line_error(cli(*words), needle, code=2)
    assert sorted(os.listdir(tmp_path)) == listing
    assert all(p.read_bytes() == b for p, b in before.items())


# A line of every command (keys aside): short options, repeatable options, choices,
# positional choices, every option given or none.
PLAIN_LINES = [
    ["build", "-o", "m.bin", "--smbios", "host", "--acpi", "host"],
    ["build", "-q", "--output=m.bin", "--acpi", "a.dat", "--acpi=b.dat", "--acpi", "c",
     "--set", "system.manufacturer=ACME", "--set=bios.vendor=x=y", "--format", "xen"],
    ["build", "--output", "o", "--orom", "r.rom", "--oem-ids", "slic", "--policy", "strict",
     "--xen", "4.17", "--guest", "vm7", "--secret-file", "k", "--strict", "--manifest",
     "m.json", "--report", "r.json", "--quiet", "--json", "--smbios", "mem:/dev/mem"],
    ["build", "-o", ""], ["build", "--smbios", "host"],
    ["build", "--dry-run", "--smbios", "d.dmi", "--json"],
    ["verify", "mods.bin"], ["verify", "-q", "--json", "blocks/"], ["verify", "--quiet", "m"],
    ["inspect", "mods.bin"], ["inspect", "--json", "mods.bin"],
    ["inspect", "-t", "system,4", "--table", "SSDT", "--decode", "host"],
    ["extract", "m", "--smbios-dump", "g.dmi", "--acpi-dir=t/"],
    ["layout", "--memory", "32", "m", "--base", "0x300000", "--hvmloader", "h", "--json"],
    ["export", "xl", "blocks/"], ["export", "--driver", "xen", "libvirt", "m", "--name", "w",
                                  "--out-dir", "d", "--json"],
    ["export", "xapi", "m", "--vm", "5b2d"],
    ["fields"], ["fields", "--json"],
    ["hvm-info", "--domid", "5", "--to-xenstore", "--timeout", "9"],
    ["guest-tables", "--domain", "web", "--smbios-dump", "g", "--acpi-dir", "t", "--json"],
]



@pytest.mark.parametrize("words", PLAIN_LINES, ids=" ".join)
def test_every_command_line_reaches_its_function(words):
    """The parser of one command alone (what main builds) parses a line of it into the
    namespace of its command function."""
    from xcmod.cli import build_parser
    ns = build_parser(words[0]).parse_args(words)
    assert ns.command == words[0]
    assert ns.func.__name__ == "cmd_" + words[0].replace("-", "_")


def test_load_messages_come_from_argparse(cli, capsys):
    """`load` usage errors have argparse's wording and exit 2."""
    assert cli("load", "--domid", "five", "mods.bin").code == 2
    assert "argument --domid: not an integer: 'five'" in capsys.readouterr().err
    r = cli("load", "mods.bin")                   # no domain: the required choice
    assert r.code == 2
    assert "error: one of the arguments --domid --domain is required" in capsys.readouterr().err


def test_oem_ids_from_the_slic_or_given(tmp_path, cli):
    """build --oem-ids slic copies the passed SLIC's IDs into an ACPI-IDs module;
    OEMID,TABLEID pads with spaces; inspect shows them."""
    from xcmod.image.spec import XCMOD_TYPE_ACPI_IDS, iter_modules
    slic = real("acpi/lenovo-x1c6/SLIC.aml")
    out = tmp_path / "m.bin"
    r = cli("build", "-q", "-o", out, "--acpi", slic, "--oem-ids", "slic")
    assert r.code == 0, r.err
    ids = [m for m in iter_modules(out.read_bytes()) if m.type == XCMOD_TYPE_ACPI_IDS]
    raw = open(slic, "rb").read()
    assert len(ids) == 1
    assert (ids[0].type_header.oem_id, ids[0].type_header.oem_table_id) == (raw[10:16],
                                                                           raw[16:24])
    assert 'OEM ID "LENOVO", OEM Table ID "TP-N23  "' in cli("inspect", out).out
    r = cli("build", "-q", "-o", out, "--acpi", slic, "--oem-ids", "ACME,WIDGET")
    assert r.code == 0, r.err
    th = [m for m in iter_modules(out.read_bytes()) if m.type == XCMOD_TYPE_ACPI_IDS][0]
    assert (th.type_header.oem_id, th.type_header.oem_table_id) == (b"ACME  ", b"WIDGET  ")


@pytest.mark.parametrize("args,message", [
    (["--oem-ids", "slic"], "no SLIC or MSDM table passes into the image"),
    (["--oem-ids", "TOOLONGID,X"], "the OEM ID must be 1 to 6 printable ASCII"),
    (["--oem-ids", "A,B,C"], "expected 'slic' or OEMID,TABLEID"),
    (["--oem-ids", "ACME,X", "--format", "xen"], "--oem-ids needs --format modules")])
def test_oem_ids_refusals(tmp_path, cli, args, message):
    """Bad --oem-ids: one line naming the problem, nothing written."""
    out = tmp_path / "o"
    r = cli("build", "-q", "-o", out, "--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"),
            *args)
    assert r.code != 0 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not out.exists()


@pytest.mark.parametrize("argv,message", [
    (["load", "--domid", "-1", "m.bin"], "argument --domid: not an integer"),
    (["load", "--domid", "4294967296", "m.bin"], "argument --domid: a domid must be"),
    (["load", "--domid", "32752", "m.bin"], "argument --domid: a domid must be"),
    (["load", "--domid", "5", "--base", "-4096", "m.bin"], "argument --base"),
    (["load", "--domid", "5", "--base=-4096", "m.bin"], "argument --base"),
    (["load", "--domid", "5", "--base", "0x100000000", "m.bin"], "argument --base"),
    (["hvm-info", "--domid", "-1"], "argument --domid"),
    (["guest-tables", "--domid", "99999"], "argument --domid"),
    (["keys", "list", "--domid", "-3"], "argument --domid"),
    (["layout", "--memory", "0", "m.bin"], "argument --memory"),
    (["layout", "--memory", "32", "--base", "-4096", "m.bin"], "argument --base")])
def test_numbers_out_of_range_are_usage_errors(tmp_path, argv, message):
    """domids, GPAs and memory sizes are range-checked where they enter: one line,
    exit 2, no traceback."""
    r = subprocess.run([sys.executable, "-m", "xcmod", *argv], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("xcmod")


@pytest.mark.parametrize("base,message", [
    ("0x0", "below the end of hvmloader"), ("0x1000", "below the end of hvmloader"),
    ("0x81000", "below the end of hvmloader"), ("0x200800", "not page-aligned")])
def test_bases_hvmloader_cannot_use_are_refused(tmp_path, cli, base, message):
    """A base below hvmloader's end or unaligned is refused with the reason."""
    from xcmod.firmware import acpi
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    img = tmp_path / "m.bin"
    img.write_bytes(build_image([encode_acpi_module(
        [acpi.read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))])]))
    r = cli("layout", "--memory", "32", "--base", base, img)
    assert r.code == 2 and message in r.err, r.err


def test_library_load_checks_the_domid_first():
    """xcmod.load with a domid Xen cannot have is a UsageError (a ValueError), not
    cffi's OverflowError."""
    import xcmod
    from xcmod.errors import UsageError
    from xcmod.image.spec import build_image
    for bad in (-1, 1 << 32, 0x7FF0, True):
        with pytest.raises(UsageError, match="not a domain id"):
            xcmod.load(bad, build_image([]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(memory=st.integers(-(1 << 70), 1 << 70), base=st.integers(-(1 << 70), 1 << 70),
       domid=st.integers(-(1 << 70), 1 << 70), hexa=st.booleans())
def test_any_numbers_are_a_result_or_one_line(tmp_path, memory, base, domid, hexa):
    """Hypothesis: layout with any --memory/--base, and load's and hvm-info's parsing of any
    --domid/--base, end in exit 0, 1 or 2 with at most one error line: never a traceback."""
    import io

    from xcmod import cli as C
    img = tmp_path / "m.bin"
    if not img.exists():
        from xcmod.image.spec import build_image
        img.write_bytes(build_image([]))
    fmt = (lambda v: hex(v)) if hexa else str
    out, err = io.StringIO(), io.StringIO()
    code = C.main(["layout", "--memory", fmt(memory), "--base", fmt(base), str(img)], out, err)
    assert code in (0, 1, 2)
    assert code == 0 or len(err.getvalue().strip().splitlines()) <= 3   # argparse: usage + error
    assert "Traceback" not in err.getvalue()
    for argv in (["load", "--domid", fmt(domid), "--base", fmt(base), str(img)],
                 ["hvm-info", "--domid", fmt(domid)]):
        try:
            C.build_parser(argv[0]).parse_args(argv)
            ok = True
        except SystemExit as e:
            assert e.code == 2
            ok = False
        # a domid is decimal only (as xl reads one); --base is decimal or 0x hex
        assert ok == (not hexa and 0 <= domid <= 0x7FEF and
                      (argv[0] != "load" or 0 <= base <= 0xFFFFFFFF))


@pytest.mark.parametrize("extra,message", [
    (["--manifest", "{out}"], "name the same file"),
    (["--report", "{out}"], "name the same file"),
    (["--manifest", "{d}/x.json", "--report", "{d}/x.json"], "name the same file"),
    (["--acpi", "{out}"], "would overwrite the input --acpi")])
def test_build_refuses_outputs_that_collide(tmp_path, cli, extra, message):
    """Two outputs on one path, or an output on an input, are refused before anything is
    read; the existing file is left as it was."""
    out = tmp_path / "m.img"
    out.write_bytes(open(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "rb").read())
    before = out.read_bytes()
    args = [a.format(out=out, d=tmp_path) for a in extra]
    r = cli("build", "-q", "-o", out, "--acpi", real("acpi/lenovo-x1c6/SLIC.aml"), *args)
    assert r.code != 0 and message in r.err, r.err
    assert out.read_bytes() == before and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("content,needle", [
    (b"", "0 bytes: too short for an ACPI table"),
    (b"SSD", "3 bytes: too short for an ACPI table"),
    (b"not an ACPI table, just some text in a file named like one\n",
     'not an ACPI table: it starts with "not " (6e 6f 74 20)'),
])
def test_a_named_acpi_file_that_is_no_table_says_so(tmp_path, cli, content, needle):
    """--acpi FILE that is empty, 1-3 bytes or text is named as not a table, with why,
    not as a table the policy refused."""
    bad = tmp_path / "t.dat"
    bad.write_bytes(content)
    r = cli("build", "-o", tmp_path / "m.bin", "--acpi", bad)
    _assert_one_line_error(r, str(bad), needle)
    assert "acpi.allow" not in r.err and not (tmp_path / "m.bin").exists()


def test_write_errors_name_the_users_path_not_a_temporary(tmp_path, cli):
    """-o naming a directory fails naming that path, never a .xcmod-XXXX temporary."""
    (tmp_path / "out").mkdir()
    r = cli("build", "-o", tmp_path / "out", "--acpi", SSDT)
    _assert_one_line_error(r, f"{tmp_path / 'out'}: is a directory")
    assert ".xcmod-" not in r.err and os.listdir(tmp_path / "out") == []


def test_inspect_says_the_facs_has_no_checksum(tmp_path, cli):
    """inspect shows the FACS's checksum as none (it has none), JSON null, not OK."""
    from xcmod.firmware.acpi import encode_acpi_module, read_table
    from xcmod.image.spec import build_image
    img = tmp_path / "m.bin"         # (build never packs a FACS: hvmloader builds its own)
    img.write_bytes(build_image([encode_acpi_module(
        [read_table(real("acpi/lenovo-x1c6/FACS.aml")), read_table(SSDT)])]))
    text = cli("inspect", img).out
    facs = next(line for line in text.splitlines() if line.strip().startswith("FACS"))
    assert facs.endswith("checksum none (FACS)"), facs
    tables = json.loads(cli("inspect", img, "--json").out)["modules"][0]["tables"]
    assert [t["checksum_ok"] for t in tables] == [None, True]


def test_verify_and_extract_take_a_blocks_directory(tmp_path, cli):
    """verify checks a --format xen directory block by block; extract writes its tables
    and dump exactly as from the image of the same build."""
    blocks, img = tmp_path / "blocks", tmp_path / "m.bin"
    for out, fmt in ((blocks, "xen"), (img, "modules")):
        assert cli("build", "--format", fmt, "-o", out, "--smbios", SMBIOS_DUMP,
                   "--acpi", SSDT).code == 0
    r = cli("verify", blocks)
    assert r.code == 0 and "valid, SMBIOS block (" in r.out and "ACPI block (" in r.out, r.out
    d = json.loads(cli("verify", blocks, "--json").out)
    assert d["valid"] and [b["kind"] for b in d["blocks"]] == ["smbios", "acpi"]
    for src, name in ((blocks, "b"), (img, "i")):
        r = cli("extract", src, "--acpi-dir", tmp_path / f"{name}-acpi",
                "--smbios-dump", tmp_path / f"{name}.dmi")
        assert r.code == 0, r.err
    assert (tmp_path / "b-acpi/SSDT.dat").read_bytes() == (tmp_path / "i-acpi/SSDT.dat").read_bytes()
    dmi = [subprocess.run(["dmidecode", "--from-dump", str(tmp_path / f"{n}.dmi")],
                          capture_output=True, text=True).stdout for n in "bi"]
    assert "Dell Inc." in dmi[0]
    # the stock block holds what hvmloader takes (one per type), the image everything
    handles = [set(x.split("Handle ")[1:]) for x in dmi]
    assert handles[0] <= handles[1]


def test_verify_of_a_broken_block_names_the_file_and_offset(tmp_path, cli):
    """A corrupted acpi.bin in a blocks directory: exit 1 naming the file and offset."""
    blocks = tmp_path / "blocks"
    assert cli("build", "--format", "xen", "-o", blocks, "--acpi", SSDT).code == 0
    data = bytearray((blocks / "acpi.bin").read_bytes())
    data[40] ^= 0xFF
    (blocks / "acpi.bin").write_bytes(bytes(data))
    _assert_one_line_error(cli("verify", blocks), f"{blocks / 'acpi.bin'}: offset 0x9",
                           "ACPI table checksum invalid")
