# SPDX-License-Identifier: MIT
"""What an operator installs (issue 29): the sdist and the wheel built from it,
installed into a fresh venv outside the clone; `make install`'s tree; the man
page and completion generated from the command line's parser.

The distributions are built offline: the build's isolated environment and the
scratch venv take their packages from the wheelhouse `make test` downloads once
into the cache outside the clone (pip --no-index).  The sdist -> wheel -> venv
test builds C twice and makes two venvs: tens of seconds, marked ``dist``
(make test runs it; -m 'not dist' leaves it out while iterating).
"""
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

import xcmod
from xcmod.cli import JOBS

from .paths import ROOT, real

CACHE = os.environ.get("XCMOD_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xcmod")
WHEELHOUSE = os.path.join(CACHE, "wheelhouse")
SYSTEM_PYTHON = "/usr/bin/python3"
XEN_HEADERS = all(os.path.exists(f"/usr/include/{h}") for h in ("xenctrl.h", "xenstore.h"))
SMBIOS = real("smbios", "go-smbios", "ASRock-Single-Ryzen.dmi")
SSDT = real("acpi", "lenovo-x1c6", "SSDT-8-HdaDsp.aml")


def run(*argv, cwd=None, env=None, check=True):
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))}: exit {r.returncode}\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def offline_env(**extra):
    """The environment with pip held to the wheelhouse."""
    if not os.path.exists(os.path.join(WHEELHOUSE, ".complete")):
        pytest.fail(f"no wheelhouse at {WHEELHOUSE}: `make test` downloads it")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=WHEELHOUSE,
               PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """python -m build: the sdist, then the wheel built from the sdist (as pip does
    from PyPI), in build's own isolated environment."""
    out = tmp_path_factory.mktemp("dist")
    # a copy of the clone's committed and working files, so that the build's
    # egg-info and build/ stay out of the clone
    src = tmp_path_factory.mktemp("src")
    files = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                cwd=ROOT).stdout.split("\0")
    for f in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, f)):
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
    run(sys.executable, "-m", "build", "--outdir", out, src, env=offline_env())
    sdist = [p for p in out.iterdir() if p.name.endswith(".tar.gz")]
    wheel = [p for p in out.iterdir() if p.name.endswith(".whl")]
    assert len(sdist) == 1 and len(wheel) == 1, list(out.iterdir())
    return sdist[0], wheel[0]


@pytest.mark.dist
def test_sdist_carries_the_c_sources_headers_and_licences(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for f in ("csrc/xcmod_module.h", "csrc/xcmod_reader.c", "csrc/xcmod_reader.h",
              "csrc/xcmod_load.c", "csrc/xcmod_load.h", "csrc/cdefs/xcmod_reader.h",
              "csrc/cdefs/xenctrl.h", "csrc/cdefs/xenstore.h", "csrc/cdefs/xcmod_load.h",
              "LICENSE", "LICENSES/MIT.txt", "xcmod/_ffi_build.py", "tools/xcmod-manpage"):
        assert f in names, f"{f} missing from {sdist.name}"
    assert not [n for n in names if n.endswith((".so", ".o"))]


@pytest.mark.dist
def test_twine_check_passes(dists):
    r = run(sys.executable, "-m", "twine", "check", "--strict", *dists)
    assert r.stdout.count("PASSED") == 2, r.stdout


@pytest.mark.dist
def test_wheel_metadata(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as z:
        info = f"xcmod-{xcmod.__version__}.dist-info"
        meta = z.read(f"{info}/METADATA").decode()
        names = z.namelist()
    assert "License-Expression: MIT" in meta
    assert "Author: The xcmod authors" in meta
    assert f"Version: {xcmod.__version__}" in meta
    assert f"{info}/licenses/LICENSE" in names
    assert any(n.startswith("xcmod/image/_reader") and n.endswith(".so") for n in names)
    assert (any(n.startswith("xcmod/xen/_xen") for n in names)) == XEN_HEADERS


@pytest.mark.dist
def test_wheel_works_in_a_fresh_venv_outside_the_clone(dists, tmp_path):
    _, wheel = dists
    venv = tmp_path / "venv"
    run(SYSTEM_PYTHON, "-m", "venv", venv)
    env = offline_env()
    run(venv / "bin" / "pip", "install", "--quiet", wheel, env=env)
    work = tmp_path / "work"
    work.mkdir()
    xc = venv / "bin" / "xcmod"
    assert run(xc, "--version", cwd=work, env=env).stdout == f"xcmod {xcmod.__version__}\n"
    where = run(venv / "bin" / "python", "-c", "import xcmod; print(xcmod.__file__)",
                cwd=work, env=env).stdout
    assert where.startswith(str(venv)), where
    run(xc, "build", "-o", "mods.bin", "--smbios", SMBIOS, "--acpi", SSDT, cwd=work, env=env)
    assert "valid" in run(xc, "verify", "mods.bin", cwd=work, env=env).stdout
    listing = run(xc, "inspect", "mods.bin", cwd=work, env=env).stdout
    assert "SSDT" in listing and "smbios" in listing.lower()
    if XEN_HEADERS:
        # load's binding: compiled against libxen-dev, imports with the real libxenctrl
        r = run(venv / "bin" / "python", "-c", "import xcmod.xen._xen as x; print(x.lib)",
                cwd=work, env=env)
        assert "Lib" in r.stdout


@pytest.mark.dist
@pytest.mark.skipif(not XEN_HEADERS, reason="needs libxen-dev, to build a binding that could leak")
def test_a_stale_binding_does_not_leak_into_a_wheel_built_without_xen(dists, tmp_path):
    sdist, _ = dists
    with tarfile.open(sdist) as t:
        t.extractall(tmp_path)   # our own sdist, just built
    src = tmp_path / sdist.name[:-len(".tar.gz")]

    def wheel(outdir, **env):
        run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
            tmp_path / outdir, src, env=offline_env(**env))
        (whl,) = (tmp_path / outdir).iterdir()
        return [n for n in zipfile.ZipFile(whl).namelist() if n.endswith(".so")]

    assert any("/_xen" in n for n in wheel("with"))
    assert [n for n in os.listdir(src / "build") if n.startswith("lib")]   # what could leak
    without = wheel("without", XCMOD_WITH_XEN="0")
    assert not any("/_xen" in n for n in without), without
    assert any("/_reader" in n for n in without)


# --- make install -------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    run("make", "-s", "install-files", f"DESTDIR={dest}", "PREFIX=/usr/local",
        f"PYTHON={sys.executable}", cwd=ROOT)
    return dest


def test_make_install_puts_each_file_under_prefix(installed):
    pyver = "%d.%d" % sys.version_info[:2]
    for f in ("bin/xcmod", "share/man/man1/xcmod.1", "share/bash-completion/completions/xcmod",
              "include/xcmod/xcmod_module.h", "include/xcmod/xcmod_reader.h",
              "share/xcmod/reader/xcmod_reader.c", "lib/pkgconfig/xcmod.pc",
              f"lib/python{pyver}/dist-packages/xcmod/cli/__init__.py"):
        assert (installed / "usr/local" / f).is_file(), f
    assert os.access(installed / "usr/local/bin/xcmod", os.X_OK)
    assert open(installed / "usr/local/bin/xcmod").readline() == f"#!{SYSTEM_PYTHON}\n"
    with open(os.path.join(ROOT, "csrc", "xcmod_module.h"), "rb") as a, \
            open(installed / "usr/local/include/xcmod/xcmod_module.h", "rb") as b:
        assert a.read() == b.read()


def test_installed_command_runs_on_the_system_python(installed, tmp_path):
    pyver = "%d.%d" % sys.version_info[:2]
    env = dict(os.environ,
               PYTHONPATH=str(installed / f"usr/local/lib/python{pyver}/dist-packages"))
    xc = installed / "usr/local/bin/xcmod"
    assert run(xc, "--version", cwd=tmp_path, env=env).stdout == f"xcmod {xcmod.__version__}\n"
    run(xc, "build", "-o", "m.bin", "--smbios", SMBIOS, cwd=tmp_path, env=env)
    assert "valid" in run(xc, "verify", "m.bin", cwd=tmp_path, env=env).stdout
    where = run(SYSTEM_PYTHON, "-c", "import xcmod.image._reader as r; print(r.__file__)",
                cwd=tmp_path, env=env).stdout
    assert where.startswith(str(installed)), where


def test_pkg_config_names_the_installed_header(installed):
    env = dict(os.environ, PKG_CONFIG_PATH=str(installed / "usr/local/lib/pkgconfig"))
    r = run("pkg-config", "--cflags", "--print-errors", "xcmod", env=env)
    assert r.stdout.split() == ["-I/usr/local/include/xcmod"]
    assert run("pkg-config", "--modversion", "xcmod", env=env).stdout.strip() == \
        xcmod.__version__
    assert run("pkg-config", "--variable=readerdir", "xcmod", env=env).stdout.strip() == \
        "/usr/local/share/xcmod/reader"


def test_man_page_documents_every_command_and_option(installed):
    from xcmod.cli import build_parser
    page = open(installed / "usr/local/share/man/man1/xcmod.1").read()
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert set(sub.choices) == set(JOBS)
    for name, cmd in sub.choices.items():
        assert f'.SS "{name.replace("-", chr(92) + "-")}"' in page, name
        for action in cmd._actions:
            for opt in action.option_strings:
                assert opt.replace("-", "\\-") in page, f"{name} {opt}"
    assert "\\-\\-version" in page
    # man renders it without a warning (what lintian checks too)
    r = run("man", "--warnings", "-l", "-Tutf8", "-Z",
            installed / "usr/local/share/man/man1/xcmod.1",
            env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    assert r.stderr == ""


def test_bash_completion_completes_commands_and_options(installed):
    script = installed / "usr/local/share/bash-completion/completions/xcmod"

    def complete(*words):
        line = " ".join(words)
        r = run("bash", "-c", f"source {script}; COMP_WORDS=({line}); "
                f"COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT={len(line)}; "
                "_shtab_xcmod; printf '%s\\n' \"${COMPREPLY[@]}\"")
        return set(r.stdout.split())

    assert complete("xcmod", "") >= set(JOBS)
    assert complete("xcmod", "ve") == {"verify"}
    assert "--smbios" in complete("xcmod", "build", "--")
    assert complete("xcmod", "load", "--dom") == {"--domid", "--domain"}
