# SPDX-License-Identifier: MIT
"""Every xcmod command line the documentation shows is one xcmod accepts.

The command lines are taken from the fenced code blocks of README.md and
docs/*.md and from the examples of every ``--help`` epilog, and parsed by
xcmod's real argparse parser: a renamed or removed option fails here, naming
the document and line.  Those that need neither root nor Xen also run, in a
directory where the file names the documents use stand for files the
repository ships, and must exit 0; the README's quick start runs as printed,
as one shell script, from the repository's root.
"""
import glob
import io
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from xcmod import cli

from .paths import REAL, ROOT

DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT)
                             for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]

# Commands that talk to Xen (libxenctrl, xenstore) need a dom0 and root: parsed only.
XEN_COMMANDS = {"load", "hvm-info", "guest-tables"}


SHELL = ("", "sh", "shell", "console", "bash")
COMMAND = re.compile(r"(^|[;&|({]\s*)\s*(xcmod|python3 -m xcmod)\s")


def _blocks(text):
    """The fenced shell code blocks of a markdown text (``` alone or ```sh):
    [(first line number, lines)]."""
    blocks, current, start = [], None, 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if current is None:
                current, start = [], n + 1
                lang = line.strip()[3:].strip()
            else:
                if lang in SHELL:
                    blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _logical(lines, start):
    """Lines joined across trailing backslashes: [(line number, text)]."""
    out, pending, at = [], "", None
    for n, line in enumerate(lines, start):
        if at is None:
            at = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((at, pending + line))
        pending, at = "", None
    return out


def _words(text, env):
    """A shell line's words, comments dropped and $VARS expanded from ``env`` (a
    variable set from a command substitution, a domid, stands for 5)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    for w in lexer:
        words.append(re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), "5"), w))
    return words


def _commands(words):
    """The xcmod argument vectors of one shell line (split at ; && || | and
    grouping), for `xcmod ...` and `python3 -m xcmod ...`."""
    found, cur = [], []
    for w in [*words, ";"]:
        if w in (";", "&&", "||", "|", "&", "{", "}", "(", ")"):
            if cur[:1] == ["xcmod"]:
                found.append(cur[1:])
            elif cur[:3] == ["python3", "-m", "xcmod"]:
                found.append(cur[3:])
            cur = []
        else:
            cur.append(w)
    return found


def documented():
    """Every documented xcmod command line: [(where, argv)]."""
    found = []
    for doc in DOCS:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            text = f.read()
        for start, lines in _blocks(text):
            env = {}
            for n, line in _logical(lines, start):
                m = re.match(r"\s*(\w+)=(\S*)", line)
                if m and not line.lstrip().startswith("xcmod"):
                    env[m.group(1)] = m.group(2) if not m.group(2).startswith("$(") else "5"
                if COMMAND.search(line):
                    for argv in _commands(_words(line, env)):
                        found.append((f"{doc}:{n}", argv))
    return found


def help_examples():
    """The example lines of every --help (the main parser's epilog and each command's)."""
    import argparse
    parser = cli.build_parser()
    parsers = [("xcmod --help", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += [(f"xcmod {name} --help", p) for name, p in action.choices.items()]
    found = []
    for where, p in parsers:
        for _, line in _logical((p.epilog or "").splitlines(), 1):
            if line.strip().startswith("xcmod "):
                for argv in _commands(_words(line, {})):
                    found.append((where, argv))
    return found


ALL = documented() + help_examples()


def _parse(argv):
    """Parse ``argv`` with the real parser; the usage error argparse printed, or None
    (also for a line argparse answers itself and exits 0 on, as ``--version``)."""
    err = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), err
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit as e:
        if e.code == 0:
            return None
        return err.getvalue().strip() or f"exit {e.code}"
    finally:
        sys.stdout, sys.stderr = saved
    return None


def test_the_documents_show_command_lines():
    """The extraction finds what the documents hold (a broken extractor would pass
    every line vacuously): the README's quick start, --help examples."""
    where = {w.split(":")[0] for w, _ in ALL}
    assert {"README.md", "docs/cli.md", "docs/loading.md", "docs/policy.md",
            "xcmod --help", "xcmod build --help", "xcmod export --help"} <= where
    assert len(ALL) > 60


@pytest.mark.parametrize("where,argv", ALL, ids=[f"{w} {' '.join(a)[:50]}" for w, a in ALL])
def test_documented_command_line_parses(where, argv):
    problem = _parse(argv)
    assert problem is None, f"{where}: xcmod {shlex.join(argv)}\n{problem}"


# The file names the documents use, and the shipped files they stand for.
STAND_INS = {
    "host.dmi": "smbios/infrasim/dell_r640_smbios.bin",
    "slic.dat": "acpi/lenovo-x1c6/SLIC.aml",
    "SLIC.dat": "acpi/lenovo-x1c6/SLIC.aml",
    "ssdt1.dat": "acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml",
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A directory holding the documents' inputs: the stand-ins, tests/ (the README's
    paths), and what the quick start builds (mods.bin, blocks/)."""
    d = tmp_path_factory.mktemp("docs")
    for name, real in STAND_INS.items():
        shutil.copy(os.path.join(REAL, real), d / name)
    os.symlink(os.path.join(ROOT, "tests"), d / "tests")
    tables = d / "tables"
    tables.mkdir()
    for t in ("SSDT-8-HdaDsp.aml", "SLIC.aml"):
        shutil.copy(os.path.join(REAL, "acpi/lenovo-x1c6", t), tables / t)
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(d)
    try:
        assert cli.main(["build", "-o", "mods.bin", "--smbios", "host.dmi", "--acpi",
                         "ssdt1.dat", "-q"], out, out) == 0, out.getvalue()
        assert cli.main(["build", "--format", "xen", "-o", "blocks", "--smbios", "host.dmi",
                         "--acpi", "ssdt1.dat", "-q"], out, out) == 0, out.getvalue()
    finally:
        os.chdir(here)
    return d


def _runnable(argv, d):
    """Whether ``argv`` runs without root or Xen on what the sandbox holds: not a
    command that opens Xen, no host source, every path it names present."""
    if not argv or argv[0] in XEN_COMMANDS or (argv[0] == "keys" and argv[1:2] != ["known"]):
        return False
    if "host" in argv or any(a.startswith("mem:") for a in argv):
        return False
    for opt in ("-o", "--output", "--out-dir", "--acpi-dir", "--smbios-dump", "--manifest",
                "--report"):                    # never written outside the sandbox
        for i, a in enumerate(argv[:-1]):
            if a == opt and os.path.isabs(argv[i + 1]):
                return False
    if _parse(argv) is not None:
        return False                            # (test_documented_command_line_parses)
    try:
        ns = cli.build_parser().parse_args(argv)
    except SystemExit:                          # --version: argparse answered, exit 0
        return True
    src = getattr(ns, "image", None) or getattr(ns, "source", None)
    if src is not None and src != "-" and not os.path.exists(d / src):
        return False
    for opt in ("--smbios", "--acpi", "--orom", "--policy", "--secret-file", "--hvmloader"):
        for i, a in enumerate(argv[:-1]):
            if a == opt and not os.path.exists(d / argv[i + 1]):
                return False
    return True


RUNNABLE_FLOOR = 30


def test_documented_command_lines_run(sandbox, tmp_path):
    """Each documented line that needs no root or Xen exits 0 in a fresh copy of the
    sandbox (outputs of one line never feed another)."""
    ran, failed, ran_lines = 0, [], []
    for where, argv in ALL:
        if not _runnable(argv, sandbox):
            continue
        d = tmp_path / f"run{ran}"
        shutil.copytree(sandbox, d, symlinks=True)
        for opt in ("-o", "--output"):           # each line's output is made afresh
            if opt in argv[:-1]:
                shutil.rmtree(d / argv[argv.index(opt) + 1], ignore_errors=True)
                (d / argv[argv.index(opt) + 1]).unlink(missing_ok=True)
        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        os.chdir(d)
        try:
            code = cli.main(argv, out, err)
        finally:
            os.chdir(here)
        ran += 1
        ran_lines.append(f"{where}: {shlex.join(argv)}")
        if code != 0:
            failed.append(f"{where}: xcmod {shlex.join(argv)} -> {code}: {err.getvalue()}")
    assert not failed, "\n".join(failed)
    assert ran >= RUNNABLE_FLOOR, "\n".join(ran_lines)


def _quick_start():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Quick start"):]
    section = section[:section.index("\n## ", 1)]
    (start, lines), = [b for b in _blocks(section)]
    return "\n".join(lines)


def test_readme_quick_start_runs_as_printed(tmp_path):
    """The README's quick start, as one script from a copy of the repository's
    fixtures, with `xcmod` the command `pip install` makes: every line exits 0."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "xcmod").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m xcmod "
                                  f"\"$@\"\n")
    (bindir / "xcmod").chmod(0o755)
    work = tmp_path / "clone"
    work.mkdir()
    os.symlink(os.path.join(ROOT, "tests"), work / "tests")
    script = "set -e\n" + _quick_start()
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (work / "mods.bin").exists() and (work / "guest.dmi").exists()
    assert "Manufacturer: ACME" in r.stdout       # the --set reached dmidecode's view


def _all_parsers():
    """(name, parser) of xcmod, every command and every keys ACTION."""
    import argparse
    found, todo = [], [("xcmod", cli.build_parser())]
    while todo:
        name, p = todo.pop()
        found.append((name, p))
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                todo += [(f"{name} {n}", sp) for n, sp in a.choices.items()]
    return found


def test_help_names_every_positional_and_the_domain_as_one_required_choice():
    """Every positional argument has help; --domid and --domain are one required,
    mutually exclusive group wherever they appear; the --timeout of a command that
    writes no key does not promise "no key written"."""
    parsers = _all_parsers()
    assert len(parsers) > 15
    for name, p in parsers:
        for a in p._actions:
            if not a.option_strings:
                assert a.help, (name, a.dest)
        opts = {o for a in p._actions for o in a.option_strings}
        if "--domid" in opts:
            group, = [g for g in p._mutually_exclusive_groups
                      if {o for a in g._group_actions for o in a.option_strings}
                      == {"--domid", "--domain"}]
            assert group.required, name
            assert "(--domid N | --domain NAME)" in p.format_usage(), name
        timeout = [a for a in p._actions if "--timeout" in a.option_strings]
        if timeout and name.split()[1:] not in (["load"], ["keys", "set"], ["keys", "rm"]):
            assert "no key written" not in timeout[0].help, name


def test_help_wraps_descriptions_and_points_to_installed_docs(monkeypatch):
    """Descriptions wrap to the terminal (export's and keys' were one long line); the
    examples keep their lines; the epilog names what an installed user has."""
    monkeypatch.setenv("COLUMNS", "80")
    for name, p in _all_parsers():
        text = p.format_help()
        for line in text.splitlines():
            assert len(line) <= 80 or line.startswith("  xcmod ") or "{" in line, (name, line)
    main = cli.build_parser().format_help()
    assert "man xcmod" in main and "/usr/share/doc/xcmod/" in main
    assert "docs/format.md" not in main


def test_no_paragraph_is_said_twice():
    """README.md and docs/*.md say each thing once: no sentence of 80 characters or
    more (the README once held the which-path table three times) appears twice."""
    seen = {}
    for doc in DOCS:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            text = " ".join(f.read().split())
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if len(sentence) >= 80 and not sentence.startswith("|"):
                assert sentence not in seen, f"{doc} repeats {seen.get(sentence)}: {sentence}"
                seen[sentence] = doc
    assert len(seen) > 200
