# SPDX-License-Identifier: MIT
"""Hostile input and faults (issue 21), by class, each closed at its root:

* keys always true: whatever ends a load (SIGKILL at a random point, SIGTERM,
  SIGINT, a xenstored stopped mid-load, injected libxc failures, a full disk
  for --measure), the load keys afterwards describe guest RAM or are absent;
* one output planner: no output over an input or another output;
* one bounded reader: FIFOs, devices, directories and oversized files refused
  by name, under a memory limit;
* guest-derived sizes capped (guest-tables);
* one rule set of hvmloader's, shared by verify, load and build;
* no tracebacks and one rule for numbers;
* the library raises XcmodError subclasses for misuse.

Real behaviour throughout: the CLI as a subprocess where a process boundary
matters, the real cffi module and C shim over the libxenctrl double, the real
xenstored."""
import json
import os
import random
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time

import pytest

from xcmod.errors import FormatError, UsageError, XcmodError

from . import fakexen
from .fakexen import keys
from .paths import HVMLOADER, ROOT, as_ssdt, real

SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
DELL = real("smbios/infrasim/dell_r640_smbios.bin")
PATCHES = os.path.join(ROOT, "hvmloader", "patches")


def xcmod(*args, env=None, timeout=120, preexec_fn=None, input=None):
    """``python -m xcmod ARGS`` as a process (bytes arguments pass as they are)."""
    argv = [sys.executable, "-m", "xcmod", *(a if isinstance(a, bytes) else str(a)
                                             for a in args)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env, preexec_fn=preexec_fn, input=input)


def one_line(r, code=1, *needles):
    """Exit ``code``, one line on stderr, no traceback, every needle in it."""
    err = r.stderr if hasattr(r, "stderr") else r.err
    rc = r.returncode if hasattr(r, "returncode") else r.code
    assert rc == code, (rc, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def _ssdts(n, source=SSDT):
    from xcmod.firmware.acpi import parse_table
    return [parse_table(as_ssdt(open(source, "rb").read()))] * n


def _big_ssdts(n, copies, source=SSDT):
    """``n`` SSDTs, each the AML of ``source`` ``copies`` times over (hvmloader appends
    at most 15 passed tables: large images come from large tables)."""
    from xcmod.firmware.acpi import parse_table
    raw = open(source, "rb").read()
    body = raw[36:] * copies
    t = bytearray(raw[:36] + body)
    t[4:8] = len(t).to_bytes(4, "little")
    return [parse_table(as_ssdt(bytes(t)))] * n


def _image(tables):
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    return build_image([encode_acpi_module(tables)])


# ------------------------------------------------------------ keys always true

BIG_BASE = 0x1000000


@pytest.fixture(scope="module")
def a_and_b(tmp_path_factory):
    """Image A (small) and image B (~25 MiB of real AML, so that its copy and checks
    take long enough to be interrupted anywhere), as files."""
    d = tmp_path_factory.mktemp("ab")
    a = _image(_ssdts(12))
    b = _image(_big_ssdts(15, 11, real("acpi/lenovo-x1c6/DSDT.aml")))
    (d / "A.bin").write_bytes(a)
    (d / "B.bin").write_bytes(b)
    return (d / "A.bin", a), (d / "B.bin", b)


def _xs_read(d, path):
    r = fakexen.xs(d, "xenstore-read", path)
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


def keys_state(d, domid, images):
    """Assert the invariant: every load node's keys are all absent, or all there and
    describing guest RAM that holds exactly one of ``images`` (modules: with its module
    count).  Returns what was found: {node: image index or None}."""
    from xcmod.image.creader import check_image
    found = {}
    for node, names in (("modules", ("address", "length", "count")),
                        ("smbios", ("address", "length")), ("acpi", ("address", "length"))):
        values = {k: _xs_read(d, f"/local/domain/{domid}/hvmloader/{node}/{k}") for k in names}
        if all(v is None for v in values.values()):
            found[node] = None
            continue
        assert all(v is not None for v in values.values()), (node, values)
        addr, length = int(values["address"], 16), int(values["length"], 16)
        held = fakexen.read_ram(d, domid, addr, length)
        assert held in images, f"{node} keys describe RAM holding none of the images"
        if node == "modules":
            assert check_image(held)[1] == int(values["count"])
        found[node] = images.index(held)
    return found


def _sigint_default():
    """In the child: SIGINT as a terminal's ^C finds it.  A test run started in the
    background (`make test &`, nohup) inherits it ignored, and Python then leaves
    it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _load_proc(path, *extra, domid=5, env=None):
    return subprocess.Popen([sys.executable, "-m", "xcmod", "load", "--domid", str(domid),
                             "--base", hex(BIG_BASE), str(path), *extra], cwd=ROOT, env=env,
                            preexec_fn=_sigint_default,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stalled_load(d, path, stall, *extra):
    """`xcmod load` of ``path`` into domain 9 of fake Xen ``d``, returned once the
    libxenctrl double stalls at ``stall`` (XCMOD_FAKEXEN_FAIL's stall-map:N or
    stall-write:N), a known point of the load, for a signal to reach it there."""
    stalled = os.path.join(d, "stalled")
    if os.path.exists(stalled):
        os.unlink(stalled)
    p = _load_proc(path, *extra, domid=9, env=dict(os.environ, XCMOD_FAKEXEN_FAIL=stall))
    deadline = time.monotonic() + 60
    while not os.path.exists(stalled) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists(stalled), f"the load never reached {stall}: {p.communicate()}"
    return p


@pytest.fixture
def big_domain(xen):
    """Domain 9: 96 MiB, room for B at BIG_BASE."""
    fakexen.create(xen, 9, 96)
    return xen


def test_sigkill_at_random_points_of_a_load_leaves_keys_true_or_absent(big_domain, a_and_b):
    """A real `xcmod load` of B over a loaded A, killed with SIGKILL at random points from
    start to finish: afterwards the keys describe guest RAM (A or B) or are absent."""
    import xcmod
    (pa, a), (pb, b) = a_and_b
    d = big_domain
    t = time.monotonic()
    p = _load_proc(pb, domid=9)
    assert p.wait(120) == 0, p.stderr.read()
    whole = time.monotonic() - t
    rng = random.Random(21)
    seen = []
    for _ in range(24):
        xcmod.load(9, a, base=BIG_BASE)
        assert keys_state(d, 9, [a, b]) == {"modules": 0, "smbios": None, "acpi": None}
        p = _load_proc(pb, domid=9)
        time.sleep(rng.uniform(0, whole * 1.1))
        p.kill()
        p.communicate()
        seen.append((p.returncode, keys_state(d, 9, [a, b])["modules"]))
    assert any(rc == -signal.SIGKILL for rc, _ in seen), seen
    # the kills landed at different stages: some before B's keys (absent or A's),
    # and every state found was a true one (keys_state asserted it each time)
    assert {m for _, m in seen} - {1}, seen


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                           (signal.SIGINT, 130, "interrupted")])
@pytest.mark.parametrize("stall,said,keys", [
    ("stall-map:0", "no key written, guest RAM untouched", 0),
    ("stall-write:1", "may have been changed (the copy did not complete); the keys of the "
                      "earlier load (hvmloader/modules) were removed, no key written", None)])
def test_sigterm_and_sigint_mid_load_say_what_changed(big_domain, a_and_b, sig, code, word,
                                                      stall, said, keys):
    """SIGTERM or SIGINT while B loads over A, at a known point (the libxenctrl double
    stalls before its first map of guest RAM, or before the copy's second write map,
    and says so with a file): exit 143 / 130 with one line saying whether guest RAM
    was changed and which keys were removed, and the keys as it says (A's, or none)."""
    import xcmod
    (pa, a), (pb, b) = a_and_b
    xcmod.load(9, a, base=BIG_BASE)
    p = _stalled_load(big_domain, pb, stall)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code and err.count("\n") == 1, (p.returncode, err)
    assert err.startswith(f"xcmod: {word}; ") and said in err and out == "", err
    assert keys_state(big_domain, 9, [a, b])["modules"] == keys
    if keys == 0:
        assert fakexen.read_ram(big_domain, 9, BIG_BASE, len(a)) == a


@pytest.mark.parametrize("after", [2, 3, 5, 9])
def test_injected_map_failure_mid_copy_removes_the_old_keys_first(big_domain, a_and_b, cli,
                                                                  monkeypatch, after):
    """XCMOD_FAKEXEN_FAIL=map-write-after:N during B's copy over A: A's keys are gone (RAM
    may hold part of B) and the message says so; it never claims RAM is untouched.
    (Writable maps are counted: the load reads the guest's HVM info and start info first.)"""
    import xcmod
    (pa, a), (pb, b) = a_and_b
    xcmod.load(9, a, base=BIG_BASE)
    monkeypatch.setenv("XCMOD_FAKEXEN_FAIL", f"map-write-after:{after}")
    r = cli("load", "--domid", "9", "--base", hex(BIG_BASE), pb)
    err = one_line(r, 1, "cannot map guest memory", "the keys of the earlier load "
                   "(hvmloader/modules) were removed", "no key written for it")
    assert "guest RAM at 0x1000000-" in err and "untouched" not in err
    assert keys_state(big_domain, 9, [a, b]) == {"modules": None, "smbios": None,
                                                 "acpi": None}


@pytest.mark.parametrize("stall,said,keys", [
    ("stall-map:0", "gave up, no key written, guest RAM untouched", 0),
    ("stall-write:1", "holds the new blocks; the keys of the earlier load (hvmloader/modules) "
                      "were removed, no key written for them", None)])
def test_stopped_xenstored_mid_load_leaves_keys_true(big_domain, a_and_b, stall, said, keys):
    """xenstored stopped (SIGSTOP) while B's load over A stalls at a known point (before
    its first map of guest RAM; in the copy), --timeout 2: the load gives up with one
    line saying what it had changed; once xenstored runs again the keys are as it says."""
    import xcmod
    (pa, a), (pb, b) = a_and_b
    pid = fakexen.xenstored_pid(big_domain)
    xcmod.load(9, a, base=BIG_BASE)
    p = _stalled_load(big_domain, pb, stall, "--timeout", "2")
    os.kill(pid, signal.SIGSTOP)
    try:
        out, err = p.communicate(timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert p.returncode == 1 and err.count("\n") == 1 and "ETIMEDOUT" in err, err
    assert said in err and out == "", err
    assert keys_state(big_domain, 9, [a, b])["modules"] == keys
    if keys == 0:
        assert fakexen.read_ram(big_domain, 9, BIG_BASE, len(a)) == a


def test_a_stock_load_removes_module_keys_whose_ram_it_overwrites(xen, cli, tmp_path):
    """One truth in xenstore across both paths: stock blocks loaded where a module image
    was leave no module key behind, and keys of a block that a later load overwrites
    (here libxl's acpi block, written by hand) go too; a block not overwritten stays."""
    import xcmod
    from xcmod.image.blocks import ACPI, SMBIOS, Block
    from xcmod.image.stock import encode_smbios_block
    from xcmod.firmware import smbios
    img = _image(_ssdts(2))
    xcmod.load(5, img)
    smb = encode_smbios_block(smbios.read_file(DELL).structures[:3])
    xcmod.load(5, [Block(SMBIOS, smb)])
    assert keys_state(xen, 5, [img, smb]) == {"modules": None, "smbios": 1, "acpi": None}
    # an acpi block elsewhere (libxl's acpi_firmware=) is left alone...
    acpi_blob = open(SSDT, "rb").read()
    xcmod.load(5, [Block(ACPI, acpi_blob)], base=0x300000)
    xcmod.load(5, [Block(SMBIOS, smb)])
    assert keys_state(xen, 5, [smb, acpi_blob]) == {"modules": None, "smbios": 0, "acpi": 1}
    # ...unless this load overwrites its RAM
    xcmod.load(5, [Block(SMBIOS, smb)], base=0x300000)
    assert keys_state(xen, 5, [smb, acpi_blob]) == {"modules": None, "smbios": 0, "acpi": None}


def test_keys_set_honours_the_load_lock(xen, cli):
    """`keys set` and `keys rm` wait for a load of the same domain (its lock), and give up
    after --timeout naming the lock, writing nothing."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from xcmod.xen.loader import domain_lock\n"
         "with domain_lock(5):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = xcmod("keys", "set", "--domid", "5", "bios-strings/oem-1=rack7", "--timeout", "2")
        one_line(r, 1, "another load still holds", "ETIMEDOUT")
        r = xcmod("keys", "rm", "--domid", "5", "bios-strings/oem-1", "--timeout", "2")
        one_line(r, 1, "another load still holds")
    finally:
        holder.kill()
        holder.wait()
    assert keys(xen) == ""
    assert cli("keys", "set", "--domid", "5", "bios-strings/oem-1=rack7").code == 0




def test_measure_onto_a_full_disk_writes_no_key(xen, tmp_path):
    """--measure whose file cannot be written (a file size limit: EFBIG, as a full disk
    gives ENOSPC) fails before any key is written; the line says guest RAM was changed
    and that no key was written; no measurement file is left."""
    img = tmp_path / "m.bin"
    img.write_bytes(_image(_ssdts(2)))
    fakexen.put_hvmloader(xen, 5)
    man = tmp_path / "launch.json"

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    # (no .pyc written under the limit: CPython would leave a truncated one behind)
    r = xcmod("load", "--domid", "5", img, "--hvmloader", HVMLOADER, "--measure", man,
              preexec_fn=small_files, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    one_line(r, 1, str(man), "File too large", "guest RAM at 0x200000-",
             "no key written for them")
    assert keys(xen) == "" and not man.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".xcmod-")]
    r = xcmod("load", "--domid", "5", img, "--hvmloader", HVMLOADER, "--measure", man)
    assert r.returncode == 0 and json.loads(man.read_text())["pcr"]
    assert keys_state(xen, 5, [img.read_bytes()])["modules"] == 0


def test_library_load_checks_measure_arguments_before_ram(xen):
    """load(..., measure=True, hvmloader_end=0x50000) and hvmloader_end=-1 are refused
    before guest RAM or xenstore are touched."""
    import xcmod
    img = _image(_ssdts(1))
    for bad in (0x50000, -1, 0x100000, 1 << 40, "0x150000", True):
        with pytest.raises(UsageError, match="hvmloader_end"):
            xcmod.load(5, img, measure=True, hvmloader_end=bad)
        with pytest.raises(UsageError):
            xcmod.load(5, img, hvmloader_end=bad)
    assert keys(xen) == "" and not any(fakexen.read_ram(xen, 5, 0x200000, len(img)))


def test_a_domain_without_memory_is_not_a_usage_error(xen, cli, tmp_path):
    """A domain reporting no memory (max_memkb 0): the image does not fit, exit 1 naming
    the limit, not a usage error (exit 2) about --memory."""
    fakexen.create(xen, 6, 0)
    img = tmp_path / "m.bin"
    img.write_bytes(_image(_ssdts(1)))
    r = cli("load", "--domid", "6", img)
    one_line(r, 1, "runs past the end of guest low RAM (0x0, max_memkb of domain 6")


# --------------------------------------------------------- one output planner

def _files(d):
    return {os.path.relpath(os.path.join(r, n), d): open(os.path.join(r, n), "rb").read()
            for r, _, ns in os.walk(d) for n in ns}


@pytest.fixture
def work(tmp_path, cli):
    """An image, a blocks dir and a tables dir to aim outputs at."""
    assert cli("build", "-q", "-o", tmp_path / "img.bin", "--smbios", DELL, "--acpi",
               SSDT).code == 0
    assert cli("build", "-q", "--format", "xen", "-o", tmp_path / "X", "--smbios", DELL,
               "--acpi", SSDT).code == 0
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "SSDT.dat").write_bytes(open(SSDT, "rb").read())
    (tmp_path / "D" / "T.aml").write_bytes(open(SSDT, "rb").read())
    (tmp_path / "T").mkdir()
    os.symlink(tmp_path / "img.bin", tmp_path / "link.bin")
    os.symlink(tmp_path / "D", tmp_path / "Dlink")
    return tmp_path


OVER_INPUTS = [
    (["extract", "D/SSDT.dat", "--acpi-dir", "D"], "lies inside --acpi-dir"),
    (["extract", "Dlink/SSDT.dat", "--acpi-dir", "D"], "lies inside --acpi-dir"),
    (["build", "-q", "-o", "D/T.aml", "--acpi", "D"], "lies inside the input --acpi"),
    (["build", "-q", "-o", "Dlink/T.aml", "--acpi", "D"], "lies inside the input --acpi"),
    (["build", "-q", "--format", "xen", "-o", "D", "--acpi", "D"],
     "lies inside the input --acpi"),
    (["extract", "img.bin", "--smbios-dump", "T/SSDT.dat", "--acpi-dir", "T"],
     "lies inside --acpi-dir"),
    (["export", "xl", "X/acpi.bin", "--out-dir", "X"], "lies inside --out-dir"),
    (["export", "qemu", "X", "--out-dir", "X"], "would overwrite the input SOURCE X"),
    (["export", "libvirt", "img.bin", "--out-dir", "."], "lies inside --out-dir"),
    (["extract", "link.bin", "--smbios-dump", "img.bin"], "would overwrite the input IMAGE"),
    (["build", "-q", "-o", "link.bin", "--acpi", "img.bin"], "is a link (to a file"),
    (["build", "-q", "-o", "m.bin", "--acpi", SSDT, "--manifest", "m.bin"],
     "name the same file"),
    (["build", "-q", "-o", "m.bin", "--acpi", SSDT, "--report", "X/../m.bin"],
     "name the same file"),
    (["build", "-q", "--format", "xen", "-o", "X", "--acpi", SSDT, "--manifest",
      "X/acpi.bin"], "name the same file"),
    (["build", "-q", "-o", "", "--acpi", SSDT], "-o: an empty path names no file"),
    (["extract", "img.bin", "--smbios-dump", ""], "--smbios-dump: an empty path"),
    (["extract", "img.bin", "--acpi-dir", ""], "--acpi-dir: an empty path"),
]


@pytest.mark.parametrize("words,needle", OVER_INPUTS, ids=lambda w: " ".join(w)
                         if isinstance(w, list) else None)
def test_no_output_over_an_input_or_another_output(work, cli, monkeypatch, words, needle):
    """Every output that equals or lies inside an input or another output (after
    symlinks) is refused before anything is read or written: one line, exit 2, every
    file as it was, nothing added."""
    monkeypatch.chdir(work)
    before = _files(work)
    r = cli(*words)
    one_line(r, 2, needle)
    assert _files(work) == before


def test_format_xen_onto_an_existing_file_says_so(work, cli):
    """--format xen -o FILE names the problem (not "File exists"), exit 1."""
    (work / "F").write_bytes(b"keep")
    one_line(cli("build", "-q", "--format", "xen", "-o", work / "F", "--acpi", SSDT), 1,
             "exists and is not a directory", "writes smbios.bin and acpi.bin into")
    assert (work / "F").read_bytes() == b"keep"


def test_overwriting_an_output_keeps_its_mode(work, cli):
    """An output that exists keeps its mode: a 0600 image stays 0600 (a new one is 0644)."""
    out = work / "secret.bin"
    out.write_bytes(b"old")
    os.chmod(out, 0o600)
    assert cli("build", "-q", "-o", out, "--acpi", SSDT, "--manifest", work / "new.json"
               ).code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and out.read_bytes() != b"old"
    assert stat.S_IMODE(os.stat(work / "new.json").st_mode) == 0o644
    dump = work / "g.dmi"
    dump.write_bytes(b"")
    os.chmod(dump, 0o640)
    assert cli("extract", work / "img.bin", "--smbios-dump", dump).code == 0
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o640


def test_no_directory_is_left_behind_when_a_later_output_fails(work, cli):
    """--format xen -o NEWDIR (created: its parent exists) with a --manifest that cannot
    be written: NEWDIR is not left; the same for extract --acpi-dir."""
    r = cli("build", "-q", "--format", "xen", "-o", work / "a", "--acpi", SSDT,
            "--manifest", "/proc/x.json")
    one_line(r, 1, "/proc/x.json")
    assert not (work / "a").exists()
    r = cli("extract", work / "img.bin", "--acpi-dir", work / "n1", "--smbios-dump",
            "/proc/x.dmi")
    one_line(r, 1, "/proc/x.dmi")
    assert not (work / "n1").exists()


# --------------------------------------------------------- one bounded reader

MEMORY_LIMIT = 256 << 20        # the CLI's address space, as `ulimit -v 262144`


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_the_memory_limit_is_real():
    """(The limit the next tests run under does stop an unbounded read.)"""
    r = subprocess.run([sys.executable, "-c", "open('/dev/zero', 'rb').read(1 << 30)"],
                       capture_output=True, text=True, preexec_fn=_limited, timeout=60)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def _input_cases(t):
    img = t / "img.bin"
    return {
        "--smbios": ["build", "-o", t / "o.bin", "--smbios", "{x}"],
        "--smbios mem:": ["build", "-o", t / "o.bin", "--smbios", "mem:{x}"],
        "--acpi": ["build", "-o", t / "o.bin", "--acpi", "{x}"],
        "--orom": ["build", "-o", t / "o.bin", "--orom", "{x}"],
        "--policy": ["build", "-o", t / "o.bin", "--acpi", SSDT, "--policy", "{x}"],
        "--secret-file": ["build", "-o", t / "o.bin", "--smbios", DELL, "--set",
                          "system.manufacturer=A", "--guest", "g", "--secret-file", "{x}",
                          "--policy", t / "pseudo.toml"],
        "--hvmloader": ["layout", img, "--hvmloader", "{x}"],
        "verify": ["verify", "{x}"],
        "inspect": ["inspect", "{x}"],
        "extract": ["extract", "{x}", "--acpi-dir", t / "ex"],
        "export": ["export", "qemu", "{x}", "--out-dir", t / "ex"],
        "layout": ["layout", "{x}"],
        "load": ["load", "--domid", "5", "{x}"],
    }


@pytest.fixture
def inputs(tmp_path, cli):
    assert cli("build", "-q", "-o", tmp_path / "img.bin", "--acpi", SSDT).code == 0
    (tmp_path / "pseudo.toml").write_text('[scrub]\nmode = "pseudonym"\n')
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


@pytest.mark.parametrize("case", sorted(_input_cases(__import__("pathlib").Path("/"))))
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_fifos_and_devices_are_refused_by_name_under_a_memory_limit(xen, inputs, case,
                                                                    special):
    """A FIFO or /dev/zero given as any input: one line naming it, exit 1, at once (a FIFO
    never blocks: the test's timeout would fail it) and under `ulimit -v` (nothing is
    read until memory runs out); no output written."""
    x = str(inputs / special) if special == "fifo" else special
    words = [str(w).replace("{x}", x) for w in _input_cases(inputs)[case]]
    r = xcmod(*words, preexec_fn=_limited, timeout=30)
    kind = "a FIFO" if special == "fifo" else "a character device"
    one_line(r, 1, f"{x}: is {kind}, not a regular file")
    assert not (inputs / "o.bin").exists() and not (inputs / "ex").exists()


def test_a_fifo_in_a_blocks_dir_or_a_tables_dir_is_refused(xen, tmp_path, cli):
    """A blocks-dir smbios.bin or a tables-dir entry that is a FIFO: refused by name,
    never read (so never a hang); subdirectories of a tables dir are skipped."""
    d = tmp_path / "blocks"
    d.mkdir()
    os.mkfifo(d / "smbios.bin")
    for words in (["verify", d], ["inspect", d], ["load", "--domid", "5", d],
                  ["export", "xl", d]):
        one_line(xcmod(*words, timeout=30), 1, "smbios.bin: is a FIFO")
    t = tmp_path / "tables"
    (t / "data").mkdir(parents=True)
    (t / "SSDT").write_bytes(open(SSDT, "rb").read())
    assert cli("build", "-q", "-o", tmp_path / "ok.bin", "--acpi", t).code == 0
    os.mkfifo(t / "SSDT2")
    one_line(xcmod("build", "-q", "-o", tmp_path / "o.bin", "--acpi", t, timeout=30), 1,
             "SSDT2: is a FIFO")


@pytest.mark.parametrize("opt,words,ceiling", [
    ("an xcmod image", ["verify", "{x}"], "64 MiB"),
    ("an SMBIOS source", ["build", "-o", "{t}/o", "--smbios", "{x}"], "1 MiB"),
    ("an ACPI table", ["build", "-o", "{t}/o", "--acpi", "{x}"], "64 MiB"),
    ("a policy", ["build", "-o", "{t}/o", "--acpi", SSDT, "--policy", "{x}"], "64 KiB"),
    ("a PCI option ROM", ["build", "-o", "{t}/o", "--orom", "{x}"], "16 MiB"),
    ("an hvmloader ELF", ["layout", "{t}/img.bin", "--hvmloader", "{x}"], "16 MiB"),
])
def test_inputs_over_their_ceiling_are_refused_before_reading(inputs, opt, words, ceiling):
    """A (sparse) file far larger than its input can be is refused by its size, before a
    byte is read, under the memory limit."""
    big = inputs / "big"
    with open(big, "wb") as f:
        f.truncate(8 << 30)
    argv = [str(w).replace("{x}", str(big)).replace("{t}", str(inputs)) for w in words]
    one_line(xcmod(*argv, preexec_fn=_limited, timeout=30), 1, f"{big}: 8589934592 bytes",
             f"at most {ceiling}")


def test_a_directory_where_a_file_is_expected(inputs):
    """--policy, --secret-file, --hvmloader or --orom naming a directory: one line."""
    d = inputs / "dir"
    d.mkdir()
    for words in (["build", "-o", inputs / "o", "--acpi", SSDT, "--policy", d],
                  ["build", "-o", inputs / "o", "--orom", d],
                  ["build", "-o", inputs / "o", "--smbios", DELL, "--set",
                   "system.manufacturer=A", "--guest", "g", "--secret-file", d,
                   "--policy", inputs / "pseudo.toml"],
                  ["layout", inputs / "img.bin", "--hvmloader", d]):
        one_line(xcmod(*words), 1, f"{d}: is a directory, not a regular file")


def test_a_sysfs_file_is_read_whole_whatever_its_size_says():
    """Host sysfs files claim 4096 or 0 bytes: the reader reads to EOF, bounded."""
    from xcmod.fileio import read_input
    p = "/sys/kernel/mm/transparent_hugepage/enabled"
    if not os.path.exists(p):
        p = "/proc/self/status"          # (procfs: st_size 0, content not)
    data = read_input(p, "a test file", 1 << 20)
    assert data and os.stat(p).st_size in (0, 4096) and data == open(p, "rb").read()
    with pytest.raises(FormatError, match="more than 16 bytes"):
        read_input("/proc/self/status", "a test file", 16)


# ------------------------------------------------- guest-derived sizes capped

def _poke(d, domid, gpa, data):
    with open(os.path.join(d, f"dom{domid}", "ram"), "r+b") as f:
        f.seek(gpa)
        f.write(data)


def _sum0(b, at):
    b = bytearray(b)
    b[at] = 0
    b[at] = -sum(b) & 0xFF
    return bytes(b)


def _acpi(sig, body=b"", length=None):
    n = 36 + len(body) if length is None else length
    head = struct.pack("<4sIBB6s8sI4sI", sig, n, 1, 0, b"XCMODT", b"HOSTILE ", 1, b"TEST", 1)
    return _sum0(head + body, 9)


def _rsdp(rsdt):
    return _sum0(struct.pack("<8sB6sBI", b"RSD PTR ", 0, b"XCMODT", 0, rsdt), 8)


def _sm3(address, maximum):
    return _sum0(struct.pack("<5sBBBBBBBIQ", b"_SM3_", 0, 24, 3, 0, 0, 1, 0, maximum,
                             address), 5)


def _guest_tables(d, *extra):
    """guest-tables of domain 5 as a process under the memory limit."""
    return xcmod("guest-tables", "--domid", "5", *extra, preexec_fn=_limited, timeout=60)


def test_an_sm3_maximum_of_4_gib_reads_only_the_table(xen, tmp_path):
    """An _SM3_ entry point claiming a 0xFFFFFFFF maximum: the table is read up to its
    End-of-Table structure, never 4 GiB (the CLI runs under the memory limit)."""
    from xcmod.firmware import smbios
    table = smbios.read_file(DELL).table_bytes
    _poke(xen, 5, 0xF0000, _sm3(0x300000, 0xFFFFFFFF))
    _poke(xen, 5, 0x300000, table)
    dump = tmp_path / "g.dmi"
    r = _guest_tables(xen, "--smbios-dump", dump)
    assert r.returncode == 0, r.stderr
    assert dump.exists() and table[:64] in dump.read_bytes()


@pytest.mark.parametrize("layout,needle", [
    ("300 entries", "lists 300 tables; more than 256"),
    ("overlapping 16 MiB tables", "past its memory"),
    ("FACP of length 40", "claims length 40: an ACPI FACP is 116 to"),
    ("table of length 20", "claims length 20: an ACPI table is 36 to"),
    ("table of length 4 GiB", "claims length 4294967295"),
    ("RSDT past guest memory", "are not in guest RAM"),
])
def test_hostile_acpi_sizes_are_capped_and_nothing_is_written(xen, tmp_path, layout, needle):
    """A guest controls every length guest-tables reads: entry counts, table lengths and
    their total are capped by the specification and the guest's memory; a violation is
    one line naming the address, exit 1, and neither --smbios-dump nor --acpi-dir is
    written (even where the SMBIOS part was fine)."""
    from xcmod.firmware import smbios
    _poke(xen, 5, 0xF0000, _sm3(0x300000, 0x10000))
    _poke(xen, 5, 0x300000, smbios.read_file(DELL).table_bytes)
    ssdt = open(SSDT, "rb").read()
    _poke(xen, 5, 0x500000, ssdt)
    rsdt_at = 0x400000
    if layout == "300 entries":
        entries = [0x500000] * 300
    elif layout == "overlapping 16 MiB tables":
        big = _acpi(b"SSDT", length=16 << 20)
        for i in range(200):
            _poke(xen, 5, 0x600000 + i * 64, big[:36])
        entries = [0x600000 + i * 64 for i in range(200)]
    elif layout == "FACP of length 40":
        _poke(xen, 5, 0x700000, _acpi(b"FACP", b"\0" * 4))
        entries = [0x500000, 0x700000]
    elif layout == "table of length 20":
        _poke(xen, 5, 0x700000, _acpi(b"SSDT", length=20)[:36])
        entries = [0x500000, 0x700000]
    elif layout == "table of length 4 GiB":
        _poke(xen, 5, 0x700000, _acpi(b"SSDT", length=0xFFFFFFFF)[:36])
        entries = [0x500000, 0x700000]
    else:
        entries, rsdt_at = [0x500000], 0x7FFFF00
    if rsdt_at < 32 << 20:
        _poke(xen, 5, rsdt_at, _acpi(b"RSDT", struct.pack(f"<{len(entries)}I", *entries)))
    _poke(xen, 5, 0xE0000, _rsdp(rsdt_at))
    dump, adir = tmp_path / "g.dmi", tmp_path / "acpi"
    r = _guest_tables(xen, "--smbios-dump", dump, "--acpi-dir", adir)
    one_line(r, 1, "domain 5: offset 0x", needle)
    assert not dump.exists() and not adir.exists()
    one_line(_guest_tables(xen, "--json"), 1, needle)


def test_a_guest_with_sane_tables_still_reads(xen, tmp_path):
    """The caps leave real layouts alone: RSDP, RSDT, FACP (ACPI 1.0 length), DSDT, SSDT."""
    ssdt = open(SSDT, "rb").read()
    dsdt = as_ssdt(open(real("acpi/qemu/q35_DSDT"), "rb").read())
    dsdt = _sum0(b"DSDT" + dsdt[4:], 9)
    facp = _acpi(b"FACP", struct.pack("<II", 0, 0x720000) + bytes(116 - 44))
    for at, blob in ((0x500000, ssdt), (0x710000, facp), (0x720000, dsdt)):
        _poke(xen, 5, at, blob)
    _poke(xen, 5, 0x400000, _acpi(b"RSDT", struct.pack("<2I", 0x500000, 0x710000)))
    _poke(xen, 5, 0xE0000, _rsdp(0x400000))
    r = _guest_tables(xen, "--acpi-dir", tmp_path / "a", "--json")
    assert r.returncode == 0, r.stderr
    sigs = [t["signature"] for t in json.loads(r.stdout)["acpi"]["tables"]]
    assert sigs == ["RSDT", "SSDT", "FACP", "DSDT"]
    assert (tmp_path / "a" / "DSDT.dat").read_bytes() == dsdt


# -------------------------------- hvmloader's rules: verify, load and build

def _smbios_module(structures):
    from xcmod.firmware.smbios import SmbiosStructure, SmbiosTable
    return SmbiosTable([SmbiosStructure(s) for s in structures], 3, 0).encode()


def _oem(n, text=b"x" * 200):
    return bytes([200, 4]) + n.to_bytes(2, "little") + text + b"\0\0"


def _ids():
    from xcmod.firmware.acpi import encode_acpi_ids_module
    return encode_acpi_ids_module(b"ACME  ", b"WIDGET  ")


def _acpi_module(*paths):
    from xcmod.firmware.acpi import encode_acpi_module, read_table
    return encode_acpi_module([read_table(p) for p in paths])


REFUSED_IMAGES = {
    "two ACPI-IDs modules": (lambda: [_ids(), _ids()], "a second module of type 4 (ACPI-IDs"),
    "two SMBIOS modules": (lambda: [_smbios_module([_oem(1)]), _smbios_module([_oem(2)])],
                           "a second module of type 2 (SMBIOS"),
    "two ACPI modules": (lambda: [_acpi_module(SSDT), _acpi_module(SSDT)],
                         "a second module of type 1 (ACPI"),
    "a FACS in the ACPI module": (lambda: [_acpi_module(SSDT, real("acpi/lenovo-x1c6/FACS.aml"))],
                                  "ACPI table FACS (offset 0x"),
    "a DSDT in the ACPI module": (lambda: [_acpi_module(real("acpi/qemu/q35_DSDT"))],
                                  "ACPI table DSDT (offset 0x20) refused: hvmloader builds"),
    "an SMBIOS module over 48 KiB": (lambda: [_smbios_module([_oem(i) for i in range(260)])],
                                     "SMBIOS module of 53560 bytes exceeds 49152"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_IMAGES))
def test_what_hvmloader_refuses_verify_and_load_refuse(xen, tmp_path, cli, case):
    """Images the C reader accepts but xcmod's patched hvmloader ignores whole: verify
    exits 1 with hvmloader's reason, load refuses before Xen is touched, layout too."""
    from xcmod.image.creader import check_image
    from xcmod.image.spec import build_image
    make, reason = REFUSED_IMAGES[case]
    img = build_image(make())
    check_image(img)                          # the format itself is fine
    path = tmp_path / "m.bin"
    path.write_bytes(img)
    one_line(cli("verify", path), 1, reason, "xcmod's hvmloader ignores the whole image")
    assert json.loads(cli("verify", path, "--json").out)["valid"] is False
    one_line(cli("load", "--domid", "5", path), 1, reason)
    one_line(cli("layout", path), 1, reason)
    assert keys(xen) == "" and not any(fakexen.read_ram(xen, 5, 0x200000, len(img)))
    assert cli("inspect", path).code == 0       # inspect still shows what is there


def test_build_never_writes_what_hvmloader_refuses(tmp_path, cli):
    """passthrough-all refuses tables hvmloader builds (a DSDT, a FACS), for both
    formats; an SMBIOS source whose structures pass at over 48 KiB is refused by name;
    a 4 MiB structure is refused by the SMBIOS source ceiling."""
    out = tmp_path / "o.bin"
    for t in ("acpi/qemu/q35_DSDT", "acpi/lenovo-x1c6/FACS.aml"):
        for fmt in ("modules", "xen"):
            one_line(cli("build", "-o", out, "--format", fmt, "--policy", "passthrough-all",
                         "--acpi", real(t)), 1, "is built by hvmloader itself")
    raw = tmp_path / "big.smbios"
    raw.write_bytes(b"".join(_oem(i, b"y" * 250) for i in range(320)) + b"\x7f\x04\xff\xff\0\0")
    one_line(cli("build", "-o", out, "--smbios", raw), 1, "xcmod's hvmloader takes an SMBIOS "
             "module of at most 49152 (48 KiB)")
    huge = tmp_path / "huge.smbios"
    huge.write_bytes(_oem(1, b"z" * (4 << 20)))
    one_line(cli("build", "-o", out, "--smbios", huge), 1, "at most 1 MiB")
    assert not out.exists()
    assert cli("build", "-q", "-o", out, "--smbios", DELL, "--acpi", SSDT).code == 0


def test_one_rule_set_with_the_patch_and_the_document(tmp_path):
    """image/rules.py, the patch hvmloader is built with and docs/hvmloader.md name the
    same owned tables and the same 48 KiB SMBIOS limit; the policy refuses each."""
    import re

    from xcmod.builder import policy
    from xcmod.image import rules
    import glob
    patch = next(t for t in (open(f).read() for f in sorted(glob.glob(
        os.path.join(PATCHES, "**", "*.patch"), recursive=True)))
        if "fwt_acpi_owned[][4] = {" in t)      # the patch that adds fwt.c
    owned = re.search(r"fwt_acpi_owned\[\]\[4\] = \{(.*?)\};", patch, re.S).group(1)
    assert tuple(re.findall(r'"(\w{4})"', owned)) == rules.HVMLOADER_OWNED_TABLES
    for sig in rules.HVMLOADER_OWNED_TABLES:
        f = tmp_path / f"{sig}.toml"
        f.write_text(f'[acpi]\nallow = ["SSDT", "{sig}"]\n')
        with pytest.raises(FormatError, match=f"acpi.allow: {sig} is built by hvmloader"):
            policy.read(str(f))
    limit = re.search(r"#define FWT_SMBIOS_PAYLOAD_MAX\s+(0x[0-9a-f]+)u", patch).group(1)
    assert int(limit, 16) == rules.SMBIOS_PAYLOAD_MAX
    assert "a second module of type %u" in patch and "exceeds %u" in patch
    doc = open(os.path.join(ROOT, "docs", "hvmloader.md")).read()
    assert " ".join(rules.HVMLOADER_OWNED_TABLES) in " ".join(doc.split())
    assert "48 KiB" in doc and "image/rules.py" in doc


# ---------------------------------------------- no tracebacks, strict parsing

@pytest.mark.parametrize("spelling", [" 5", "+5", "0b101", "٥", "²", "0x5", "5 ", "-0",
                                      "9" * 5000, "", "5_0"])
def test_a_domid_is_ascii_decimal_digits_only(spelling):
    """--domid takes ASCII decimal digits only (as xl reads a domid): every other spelling
    is one usage line; --domain takes such a spelling as a name, never as a number."""
    r = xcmod("load", "--domid", spelling, "m.bin")
    one_line_usage = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "argument --domid" in one_line_usage


def test_leading_zeros_are_a_domid_as_xl_reads_them(xen, cli, tmp_path):
    """05 is domain 5, for --domid and --domain alike; a number too long is one line."""
    img = tmp_path / "m.bin"
    img.write_bytes(_image(_ssdts(1)))
    r = cli("load", "--domid", "05", img, "--json")
    assert r.code == 0 and json.loads(r.out)["domid"] == 5, r.err
    assert cli("keys", "list", "--domain", "005").code == 0
    one_line(cli("load", "--domain", "9" * 5000, img), 2, "has 5000 characters")
    one_line(cli("load", "--domain", "32752", img), 2, "is not a domain id")
    one_line(cli("load", "--domain", "²", img), 1, "no domain named '²'")


def test_bytes_that_are_not_utf8_in_text_options(xen, tmp_path):
    """Non-UTF-8 bytes in --domain, --set, --guest or a key value: one usage line."""
    img = tmp_path / "m.bin"
    img.write_bytes(_image(_ssdts(1)))
    for words in ([b"load", b"--domain", b"\xff\xfe", str(img).encode()],
                  [b"build", b"-o", str(tmp_path / "o").encode(), b"--smbios",
                   DELL.encode(), b"--set", b"system.manufacturer=\xff"],
                  [b"build", b"-o", str(tmp_path / "o").encode(), b"--smbios",
                   DELL.encode(), b"--set", b"system.manu\xfffacturer=x"],
                  [b"keys", b"set", b"--domid", b"5", b"bios-strings/oem-1=\xc3"]):
        one_line(xcmod(*words), 2, "not valid UTF-8 text")
    assert keys(xen) == ""


@pytest.mark.parametrize("make,needle", [
    (lambda h: b"\x7fELF\x01", "5 bytes: too short for an ELF identification"),
    (lambda h: h[:32], "32 bytes: too short for an ELF32 header"),
    (lambda h: h[:4] + b"\x02" + h[5:40], "40 bytes: too short for an ELF64 header"),
    (lambda h: h[:0x40], "program header past end of file"),
    (lambda h: h[:0x2A] + b"\x04\x00" + h[0x2C:], "program header entry size 4"),
    (lambda h: h[:5] + b"\x02" + h[6:], "not little-endian"),
])
def test_broken_hvmloader_elfs_are_one_line(tmp_path, cli, make, needle):
    """A short, truncated or inconsistent ELF as --hvmloader: one line, no struct.error."""
    elf = tmp_path / "h.elf"
    head = open(HVMLOADER, "rb").read()
    elf.write_bytes(make(head[:4096] if len(make(head)) > 4096 else head))
    img = tmp_path / "m.bin"
    img.write_bytes(_image(_ssdts(1)))
    one_line(cli("layout", img, "--hvmloader", elf), 1, str(elf), needle)


@pytest.mark.parametrize("text,needle", [
    ('[scrub]\nmode = "fixed"\nvalue = "X\\u0000Y"\n', "p.toml:3: scrub.value: must not "
     "contain NUL"),
    ('[scrub]\nmode = "fixed"\nvalue = "X\\u0000\\u0000Y"\n', "scrub.value: must not contain"),
    ('[scrub]\nguest = "a\\u0000"\n', "scrub.guest: must not contain NUL"),
    ('[scrub]\nsecret_file = "s\\u0000"\n', "scrub.secret_file: must not contain NUL"),
    ("a = " + "[" * 2000 + "]" * 2000 + "\n", "nested too deeply"),
    ("[smbios]\nallow = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("x = " + "{a = " * 1500 + "1" + "}" * 1500 + "\n", "nested too deeply"),
])
def test_policies_that_would_corrupt_or_crash_are_refused(tmp_path, cli, text, needle):
    """A NUL in a policy string names the policy key (it would shift every later SMBIOS
    string); policies nested thousands deep are one line, not a RecursionError."""
    pol = tmp_path / "p.toml"
    pol.write_text(text)
    one_line(cli("build", "-o", tmp_path / "o", "--smbios", DELL, "--policy", pol), 1, needle)
    assert not (tmp_path / "o").exists()


def test_inspect_prints_control_characters_as_dots(tmp_path, cli):
    """SMBIOS strings with terminal escapes, BEL or C1 controls: '.' for each, as dmidecode
    prints them (the JSON keeps the exact string)."""
    from xcmod.image.spec import build_image
    evil = "A\x1b[2JB\x07C\x9bD"
    img = tmp_path / "m.bin"
    img.write_bytes(build_image([_smbios_module([bytes([1, 4, 1, 0]) + evil.encode("latin-1")
                                                 + b"\0\0"])]))
    out = cli("inspect", img).out
    assert "\t\tA.[2JB.C.D\n" in out and "\x1b" not in out and "\x07" not in out
    assert json.loads(cli("inspect", img, "--json").out)["modules"][0]["structures"][0][
        "strings"] == [evil]


@pytest.mark.parametrize("content,needle", [
    (b"x", "1 byte: too short for SMBIOS data"),
    (b"_SM3_", "5 bytes: too short for SMBIOS data"),
    (b"", "empty file"),
])
def test_tiny_smbios_dumps_say_what_they_are(tmp_path, cli, content, needle):
    """A 1-byte SMBIOS dump is "too short", not "runs past the end of the image"."""
    f = tmp_path / "s.dmi"
    f.write_bytes(content)
    err = one_line(cli("build", "-o", tmp_path / "o", "--smbios", f), 1, needle)
    assert "image" not in err


# ------------------------------------------------------------- library API

def _built():
    import xcmod
    return xcmod.build(acpi=SSDT)


LIBRARY_MISUSE = {
    "build(acpi=str) is one path": None,
    "build(acpi=int)": (lambda x: x.build(acpi=5), UsageError),
    "build(smbios=int, a file descriptor)": (lambda x: x.build(smbios=0), UsageError),
    "build(orom=[int])": (lambda x: x.build(orom=[3]), UsageError),
    "build(xen='9.9')": (lambda x: x.build(acpi=SSDT, xen="9.9"), UsageError),
    "build(fmt='elf')": (lambda x: x.build(acpi=SSDT, fmt="elf"), UsageError),
    "build(overrides=5)": (lambda x: x.build(smbios=DELL, overrides=5), UsageError),
    "build(overrides=[5])": (lambda x: x.build(smbios=DELL, overrides=[5]), UsageError),
    "build(policy=5)": (lambda x: x.build(acpi=SSDT, policy=5), UsageError),
    "build(strict='yes')": (lambda x: x.build(acpi=SSDT, strict="yes"), UsageError),
    "build(guest=5)": (lambda x: x.build(smbios=DELL, guest=5), UsageError),
    "build(acpi='')": (lambda x: x.build(acpi=""), UsageError),
    "build(acpi=missing)": (lambda x: x.build(acpi="/nonexistent"), FileNotFoundError),
    "build_image([b'junk'])": (lambda x: x.build_image([b"junk"]), FormatError),
    "build_image(b'junk')": (lambda x: x.build_image(b"junk"), UsageError),
    "build_image([5])": (lambda x: x.build_image([5]), UsageError),
    "build_image(['str'])": (lambda x: x.build_image(["XCMD"]), UsageError),
    "verify_image(5)": (lambda x: x.verify_image(5), UsageError),
    "verify_image('path')": (lambda x: x.verify_image("m.bin"), UsageError),
    "read_blocks(3), a file descriptor": (lambda x: x.read_blocks(3), UsageError),
    "read_blocks(None)": (lambda x: x.read_blocks(None), UsageError),
    "read_blocks('')": (lambda x: x.read_blocks(""), UsageError),
    "Block('bogus', b'')": (lambda x: x.Block("bogus", b""), UsageError),
    "Block('image', 5)": (lambda x: x.Block("image", 5), UsageError),
    "Block('image', 'text')": (lambda x: x.Block("image", "text"), UsageError),
    "write_build(None, path)": (lambda x: x.write_build(None, "/tmp/x"), UsageError),
    "write_build(r, 5)": (lambda x: x.write_build(_built(), 5), UsageError),
    "write_build(r, '')": (lambda x: x.write_build(_built(), ""), UsageError),
    "write_build(r, out, manifest=out)": (lambda x: x.write_build(
        _built(), "/tmp/xcmod-t.bin", manifest="/tmp/xcmod-t.bin"), UsageError),
    "write_build(r, its own input)": (lambda x: x.write_build(_built(), SSDT), UsageError),
    "load(5, 'mods.bin')": (lambda x: x.load(5, "mods.bin"), UsageError),
    "load(5, 5)": (lambda x: x.load(5, 5), UsageError),
    "load(5, [b'x'])": (lambda x: x.load(5, [b"x"]), UsageError),
    "load(5, [])": (lambda x: x.load(5, []), UsageError),
    "load('5', img)": (lambda x: x.load("5", _image(_ssdts(1))), UsageError),
    "load(5, img, base='0x200000')": (lambda x: x.load(5, _image(_ssdts(1)), base="0x200000"),
                                      UsageError),
    "load(5, img, base=-1)": (lambda x: x.load(5, _image(_ssdts(1)), base=-1), UsageError),
    "load(5, img, hvmloader_end=-1)": (lambda x: x.load(5, _image(_ssdts(1)),
                                                        hvmloader_end=-1), UsageError),
    "load(5, img, measure=True, hvmloader_end=0x50000)": (
        lambda x: x.load(5, _image(_ssdts(1)), measure=True, hvmloader_end=0x50000),
        UsageError),
    "load(5, img, force='no')": (lambda x: x.load(5, _image(_ssdts(1)), force="no"),
                                 UsageError),
    "load(5, img, lock_timeout=-1)": (lambda x: x.load(5, _image(_ssdts(1)), lock_timeout=-1),
                                      UsageError),
    "load(5, bad image)": (lambda x: x.load(5, b"junk"), FormatError),
    "keys.set_keys(5, [])": (lambda x: x.keys.set_keys(5, []), UsageError),
    "keys.set_keys(5, {k: 5})": (lambda x: x.keys.set_keys(5, {"bios-strings/oem-1": 5}),
                                 UsageError),
    "keys.set_keys(5, {5: 'x'})": (lambda x: x.keys.set_keys(5, {5: "x"}), UsageError),
    "keys.set_keys('5', {...})": (lambda x: x.keys.set_keys("5", {"bios-strings/oem-1": "a"}),
                                  UsageError),
    "keys.set_keys(5, address='+5')": (lambda x: x.keys.set_keys(
        5, {"hvmloader/modules/address": "+5"}), UsageError),
    "keys.get_keys(5, [5])": (lambda x: x.keys.get_keys(5, [5]), UsageError),
    "keys.get_keys(5, 'not/a/key')": (lambda x: x.keys.get_keys(5, "not/a/key"), UsageError),
    "keys.rm_keys(5, None)": (lambda x: x.keys.rm_keys(5, None), UsageError),
    "keys.list_keys(None)": (lambda x: x.keys.list_keys(None), UsageError),
    "keys.list_keys(-1)": (lambda x: x.keys.list_keys(-1), UsageError),
    "keys.set_keys(5, {...}, lock_timeout='5')": (lambda x: x.keys.set_keys(
        5, {"bios-strings/oem-1": "a"}, lock_timeout="5"), UsageError),
    "keys.set_keys(5, {...}, lock_timeout=True)": (lambda x: x.keys.set_keys(
        5, {"bios-strings/oem-1": "a"}, lock_timeout=True), UsageError),
    "keys.rm_keys(5, [...], lock_timeout=[5])": (lambda x: x.keys.rm_keys(
        5, ["bios-strings/oem-1"], lock_timeout=[5]), UsageError),
    "build(policy='nosuch')": (lambda x: x.build(smbios=DELL, policy="nosuch"), UsageError),
    "build(smbios=..., policy=5)": (lambda x: x.build(smbios=DELL, policy=5), UsageError),
    "build(smbios=..., strict='yes')": (lambda x: x.build(smbios=DELL, strict="yes"),
                                        UsageError),
    "load(5, img, lock_timeout='5')": (lambda x: x.load(5, _image(_ssdts(1)),
                                                        lock_timeout="5"), UsageError),
}


@pytest.mark.parametrize("case", sorted(LIBRARY_MISUSE))
def test_library_misuse_raises_xcmod_errors(xen, case, tmp_path, monkeypatch):
    """Misusing the library raises an XcmodError subclass (UsageError and FormatError are
    ValueErrors, file errors OSErrors), never a bare TypeError, AttributeError or
    KeyError; a str where a list is wanted is one path, not iterated per character."""
    import xcmod
    monkeypatch.chdir(tmp_path)
    if LIBRARY_MISUSE[case] is None:
        r = xcmod.build(acpi=SSDT)
        assert [t.signature for t in r.selection.acpi] == ["SSDT"]
        return
    call, cls = LIBRARY_MISUSE[case]
    with pytest.raises(cls) as e:
        call(xcmod)
    assert isinstance(e.value, (XcmodError, OSError)), repr(e.value)
    if cls is UsageError:
        assert isinstance(e.value, ValueError)
    assert keys(xen) == ""


# ====================================================================== round 4
# (issue 32) Each class closed at its root; the cases are the class, not only the
# issue's line.

def run_in(cwd, *args, env=None, timeout=120):
    """``python -m xcmod ARGS`` as a process in ``cwd``; stdout as bytes."""
    argv = [sys.executable, "-m", "xcmod", *(a if isinstance(a, bytes) else str(a)
                                             for a in args)]
    env = dict(os.environ if env is None else env, PYTHONPATH=ROOT)
    return subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, env=env)


def refused(r, code, *needles):
    """A bytes CompletedProcess: exit ``code``, one line on stderr, no traceback."""
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == code, (r.returncode, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def _tree(d):
    """{relpath: (lstat kind, bytes or link target)} of everything under ``d``."""
    out = {}
    for root, dirs, names in os.walk(d):
        for n in dirs + names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                v = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                v = ("file", open(p, "rb").read())
            else:
                v = (stat.S_IFMT(st.st_mode), None)
            out[os.path.relpath(p, d)] = v
    return out


@pytest.fixture
def r4(tmp_path, cli):
    """An image, an SSDT copy and a tables dir, to aim outputs at."""
    assert cli("build", "-q", "-o", tmp_path / "img.bin", "--smbios", DELL, "--acpi",
               SSDT).code == 0
    (tmp_path / "ssdt.aml").write_bytes(open(SSDT, "rb").read())
    (tmp_path / "adir").mkdir()
    return tmp_path


# ---- class 1: one output rule -------------------------------------------------

LINKED_INPUTS = {
    # name: (how the input dir reaches the output, the command)
    "symlink in an --acpi dir to -o": (
        lambda t: os.symlink(t / "o7.bin", t / "adir" / "x.aml"),
        ["build", "-q", "-o", "o7.bin", "--acpi", "adir"]),
    "hard link in an --acpi dir to -o": (
        lambda t: os.link(t / "o7.bin", t / "adir" / "x.aml"),
        ["build", "-q", "-o", "o7.bin", "--acpi", "adir"]),
    "symlink in an --acpi dir to --manifest": (
        lambda t: os.symlink(t / "o7.bin", t / "adir" / "x.aml"),
        ["build", "-q", "-o", "other.bin", "--acpi", "adir", "--manifest", "o7.bin"]),
    "symlink in an --acpi dir to --report": (
        lambda t: os.symlink(t / "o7.bin", t / "adir" / "x.aml"),
        ["build", "-q", "-o", "other.bin", "--acpi", "adir", "--report", "o7.bin"]),
    "linked directory in an --acpi dir": (
        lambda t: (os.mkdir(t / "sub"), os.rename(t / "o7.bin", t / "sub" / "o7.bin"),
                   os.symlink(t / "sub", t / "adir" / "dynamic")),
        ["build", "-q", "-o", "sub/o7.bin", "--acpi", "adir"]),
    "symlink in an --acpi dir to a --format xen block": (
        lambda t: (os.mkdir(t / "X"), os.rename(t / "o7.bin", t / "X" / "acpi.bin"),
                   os.symlink(t / "X" / "acpi.bin", t / "adir" / "x.aml")),
        ["build", "-q", "--format", "xen", "-o", "X", "--acpi", "adir"]),
    "-o a hard link of the --acpi file": (
        lambda t: (os.unlink(t / "o7.bin"), os.link(t / "ssdt.aml", t / "o7.bin")),
        ["build", "-q", "-o", "o7.bin", "--acpi", "ssdt.aml"]),
    "-o through a linked directory into the --acpi dir": (
        lambda t: os.symlink(t / "adir", t / "alias"),
        ["build", "-q", "-o", "alias/new.aml", "--acpi", "adir"]),
    "dangling symlink in an --acpi dir to where -o will be": (
        lambda t: (os.unlink(t / "o7.bin"), os.symlink(t / "new.bin", t / "adir" / "y.aml")),
        ["build", "-q", "-o", "new.bin", "--acpi", "ssdt.aml", "--acpi", "adir"]),
}


@pytest.mark.parametrize("case", sorted(LINKED_INPUTS))
def test_no_output_lands_on_a_file_an_input_directory_reaches(r4, case):
    """An output that is the same file (inode) as anything an input directory reaches,
    through a symlink, a hard link or a linked subdirectory, is refused before anything
    is read or written: exit 2, one line, the tree exactly as it was."""
    (r4 / "o7.bin").write_bytes(open(SSDT, "rb").read())
    (r4 / "adir" / "real.aml").write_bytes(open(SSDT, "rb").read())
    setup, words = LINKED_INPUTS[case]
    setup(r4)
    before = _tree(r4)
    refused(run_in(r4, *words), 2, "input --acpi")
    assert _tree(r4) == before


def _special_nodes(t):
    """{name: path} of nodes that are not regular files, made in ``t``."""
    import socket
    nodes = {}
    os.mkfifo(t / "fifo")
    nodes["a FIFO"] = t / "fifo"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(t / "sock"))
    s.close()
    nodes["a socket"] = t / "sock"
    if os.geteuid() == 0:
        os.mknod(t / "nulldev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        nodes["a device node (/dev/null's twin)"] = t / "nulldev"
        os.mknod(t / "fulldev", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        nodes["a device node (/dev/full's twin)"] = t / "fulldev"
    for target, name in (("/proc/self/fd/1", "fd1"), ("/dev/null", "devnull"),
                         (str(t / "ssdt.aml"), "tofile"), (str(t / "nothing"), "dangling")):
        os.symlink(target, t / name)
        nodes[f"a link to {target.replace(str(t), '.')}"] = t / name
    return nodes


OUTPUT_OPTIONS = {
    "build -o": lambda x: ["build", "-q", "-o", x, "--smbios", DELL],
    "build --manifest": lambda x: ["build", "-q", "-o", "m.bin", "--smbios", DELL,
                                   "--manifest", x],
    "build --report": lambda x: ["build", "-q", "-o", "m.bin", "--smbios", DELL,
                                 "--report", x],
    "extract --smbios-dump": lambda x: ["extract", "img.bin", "--smbios-dump", x],
}


@pytest.mark.parametrize("option", sorted(OUTPUT_OPTIONS))
def test_no_output_replaces_a_node_that_is_not_a_regular_file(r4, option):
    """A FIFO, a socket, a device node (as root), a link (to /proc/self/fd/1, /dev/null,
    a file, nothing) named as an output: one line naming what it is, exit 2, the node
    still there as it was, nothing else written."""
    nodes = _special_nodes(r4)
    for what, path in nodes.items():
        before = _tree(r4)
        kind = ("a link" if "link" in what else "a character device" if "device" in what
                else what)
        refused(run_in(r4, *OUTPUT_OPTIONS[option](path)), 2, str(path), f"is {kind}")
        assert _tree(r4) == before, what


def test_load_measure_onto_a_special_node_is_refused(xen, r4):
    """load --measure onto a /dev/full twin, a FIFO or a link to /proc/self/fd/1: refused
    before the load, no key written, the node as it was."""
    nodes = _special_nodes(r4)
    env = dict(os.environ)
    for what, path in nodes.items():
        before = _tree(r4)
        r = run_in(r4, "load", "--domid", "5", "img.bin", "--hvmloader", HVMLOADER,
                   "--measure", path, env=env)
        refused(r, 2, str(path))
        assert _tree(r4) == before, what
        assert keys(xen) == ""


def test_an_output_file_in_a_missing_directory_is_refused(r4):
    """-o, --manifest, --smbios-dump, --measure in a directory that does not exist: one
    line naming it, exit 2, no directory created; a directory option (--acpi-dir,
    --format xen -o, export --out-dir) creates its own last level only."""
    for words in (["build", "-q", "-o", "no/x.bin", "--smbios", DELL],
                  ["build", "-q", "-o", "/nonexistent/dir/x.bin", "--smbios", DELL],
                  ["build", "-q", "-o", "m.bin", "--smbios", DELL, "--manifest", "no/m.json"],
                  ["extract", "img.bin", "--smbios-dump", "no/g.dmi"],
                  ["extract", "img.bin", "--acpi-dir", "no/tables"],
                  ["build", "-q", "--format", "xen", "-o", "no/blocks", "--smbios", DELL],
                  ["export", "qemu", "img.bin", "--out-dir", "no/q"]):
        before = _tree(r4)
        refused(run_in(r4, *words), 2, "does not exist")
        assert _tree(r4) == before, words
    for words, made in ((["extract", "img.bin", "--acpi-dir", "tables"], "tables"),
                        (["build", "-q", "--format", "xen", "-o", "blocks", "--smbios", DELL],
                         "blocks"),
                        (["export", "qemu", "img.bin", "--out-dir", "q"], "q")):
        r = run_in(r4, *words)
        assert r.returncode == 0, r.stderr
        assert os.path.isdir(r4 / made) and os.listdir(r4 / made)


def test_dash_is_standard_output(r4):
    """-o -, --smbios-dump -, --manifest -, --report -: the bytes go to stdout (the
    command's text to stderr), no file named "-" is made; ./- names a file."""
    r = run_in(r4, "build", "-q", "-o", "-", "--smbios", DELL, "--acpi", SSDT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (r4 / "img.bin").read_bytes()
    assert not (r4 / "-").exists()
    r = run_in(r4, "extract", "img.bin", "--smbios-dump", "-")
    assert r.returncode == 0 and r.stdout[:4] in (b"_SM_", b"_SM3"), r.stdout[:8]
    assert b"wrote -" in r.stderr and not (r4 / "-").exists()
    r = run_in(r4, "build", "-o", "m.bin", "--smbios", DELL, "--manifest", "-")
    assert r.returncode == 0 and json.loads(r.stdout)["image"], r.stderr
    assert b"SMBIOS" in r.stderr and not (r4 / "-").exists()
    r = run_in(r4, "build", "-q", "-o", "./-", "--smbios", DELL)
    assert r.returncode == 0 and (r4 / "-").read_bytes()[:4] == b"XCMD"
    refused(run_in(r4, "build", "-q", "-o", "-", "--smbios", DELL, "--report", "-"), 2,
            "standard output")
    refused(run_in(r4, "build", "-q", "--format", "xen", "-o", "-", "--smbios", DELL), 2,
            "standard output")


def test_nothing_is_in_place_unless_the_whole_command_succeeded(r4):
    """A command that fails after its files were staged (here: its output stream cannot
    take the text) leaves no file and no temporary; the error is one line."""
    import io

    from xcmod.cli import main
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")      # errors="strict"
    err = io.StringIO()
    code = main(["build", "-o", str(r4 / "u.bin"), "--smbios", DELL, "--set",
                 "system.manufacturer=\u00dcn\u00ef", "--manifest", str(r4 / "u.json")],
                out, err)
    assert code == 1 and err.getvalue().count("\n") == 1, err.getvalue()
    assert not (r4 / "u.bin").exists() and not (r4 / "u.json").exists()
    assert not [n for n in os.listdir(r4) if n.startswith(".xcmod-")]


# ---- class 2: output encodings ---------------------------------------------------

ENCODINGS = {
    "PYTHONIOENCODING=ascii": {"PYTHONIOENCODING": "ascii"},
    "LC_ALL=C, no UTF-8 mode": {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""},
    "PYTHONIOENCODING=latin-1": {"PYTHONIOENCODING": "latin-1"},
    "PYTHONIOENCODING=cp437": {"PYTHONIOENCODING": "cp437"},
}


def _env(extra):
    env = dict(os.environ)
    env.pop("PYTHONIOENCODING", None)
    env.update({k: v for k, v in extra.items() if v})
    return env


@pytest.mark.parametrize("enc", sorted(ENCODINGS))
def test_no_output_encoding_gives_a_traceback(r4, enc):
    """Text the streams' encoding cannot hold (a manufacturer "\u00dcn\u00ef", "X\U0001f4a5", a
    path that is not UTF-8) is escaped on stdout and stderr, never a traceback; files
    get their bytes (UTF-8 strings in SMBIOS) whatever the locale, and are in place
    only when the command succeeded."""
    env = _env(ENCODINGS[enc])
    for value in ("\u00dcn\u00ef", "X\U0001f4a5"):
        for f in ("u.bin", "u.json"):
            if (r4 / f).exists():
                os.unlink(r4 / f)
        r = run_in(r4, "build", "-o", "u.bin", "--smbios", DELL, "--set",
                   f"system.manufacturer={value}".encode(), "--report", "u.json", env=env)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
        assert value.encode() in (r4 / "u.bin").read_bytes()
        assert json.loads((r4 / "u.json").read_text("utf-8"))
        # the report names the override: as the stream's encoding holds it, or escaped
        shown = r.stdout.decode(enc.partition("=")[2] if "IOENC" in enc else "ascii")
        assert (value in shown or value.encode("ascii", "backslashreplace").decode() in shown
                or "\\x" in shown or "\\U" in shown), shown
        r = run_in(r4, "inspect", "u.bin", env=env)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
        assert b"PowerEdge R640" in r.stdout
        r = run_in(r4, "inspect", "--json", "u.bin", env=env)
        assert r.returncode == 0 and json.loads(r.stdout)
    # a non-UTF-8 path and a non-ASCII one in an error, and in a success line
    refused(run_in(r4, "verify", b"/nonexistent/\xff-\xc3\x9c.bin", env=env), 1,
            "nonexistent")
    r = run_in(r4, "build", "-o", b"\xc3\x9c\xff.bin", "--smbios", DELL, env=env)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert os.path.exists(os.path.join(os.fsencode(r4), b"\xc3\x9c\xff.bin"))


# ---- class 4: the limits of the hvmloader that reads a build ------------------------

def _oem_structure(string_length, handle=0x3000):
    """One OEM (type 200) structure of ``string_length + 6`` bytes: a 4-byte formatted
    area and one string."""
    return bytes([200, 4]) + handle.to_bytes(2, "little") + b"A" * string_length + b"\0\0"


def _stock_dir(d, smbios=None, tables=None):
    from xcmod.image.stock import encode_acpi_block
    d.mkdir()
    if smbios is not None:
        (d / "smbios.bin").write_bytes(b"".join(struct.pack("<I", len(s)) + s
                                                for s in smbios))
    if tables is not None:
        (d / "acpi.bin").write_bytes(encode_acpi_block(tables))
    return d


SMBIOS_SOURCES = {
    # name: (structures, over the limit?)
    "one structure exactly at the limit": ([_oem_structure(65380 - 6)], False),
    "one byte over": ([_oem_structure(65380 - 5)], True),
    "a 65,000-byte string beside 400 bytes": ([_oem_structure(65000),
                                               _oem_structure(394, 0x3001)], True),
    "65,535 small structures": ([_oem_structure(0, 0x1000 + i % 0xE000)
                                 for i in range(65535)], True),
    "300 structures of 257 bytes": ([_oem_structure(251, 0x3000 + i) for i in range(300)], True),
}


@pytest.mark.parametrize("case", sorted(SMBIOS_SOURCES))
@pytest.mark.parametrize("policy", ["default", "passthrough-all"])
def test_stock_smbios_past_the_16_bit_table_length_is_refused_by_build(tmp_path, case,
                                                                       policy):
    """What stock hvmloader's smbios_entry_point_init() would truncate (a table of 64 KiB
    or more, its own structures included) is refused by build --format xen under every
    policy: one line, exit 1, no directory; at the limit it builds and verifies."""
    structures, over = SMBIOS_SOURCES[case]
    (tmp_path / "src.bin").write_bytes(b"".join(structures))
    r = run_in(tmp_path, "build", "-q", "--format", "xen", "-o", "X", "--smbios", "src.bin",
               "--policy", policy)
    if over:
        refused(r, 1, "16-bit table length", f"under policy {policy}")
        assert not (tmp_path / "X").exists()
    else:
        assert r.returncode == 0, r.stderr
        assert run_in(tmp_path, "verify", "X").returncode == 0


@pytest.mark.parametrize("words", [["verify", "{d}"], ["layout", "{d}"],
                                   ["load", "--domid", "5", "{d}"], ["export", "xl", "{d}"],
                                   ["export", "libvirt", "--driver", "xen", "{d}",
                                    "--out-dir", "{t}/lv"]])
def test_blocks_past_hvmloaders_limits_are_refused_by_every_reader(xen, tmp_path, words):
    """A hand-made smbios.bin past the 16-bit table length, or an acpi.bin of 16 tables
    (more than hvmloader appends even with none of its own): verify, layout, load and
    export refuse it in one line, exit 1, nothing written, no key."""
    from xcmod.firmware.acpi import parse_table
    over = _stock_dir(tmp_path / "S", smbios=[_oem_structure(65380 - 5)])
    many = _stock_dir(tmp_path / "A", tables=_ssdts(16))
    for d, needle in ((over, "16-bit table length"), (many, "hvmloader appends at most")):
        w = [x.replace("{d}", str(d)).replace("{t}", str(tmp_path)) for x in words]
        refused(run_in(tmp_path, *w), 1, needle)
        assert keys(xen) == "" and not (tmp_path / "lv").exists()
    ok = _stock_dir(tmp_path / "OK", tables=_ssdts(15))
    assert run_in(tmp_path, "verify", ok).returncode == 0
    assert parse_table  # (the 15 tables are whole tables)


def test_acpi_past_the_budget_is_refused_under_every_policy(tmp_path):
    """11 SSDTs (or 40): refused by build under default, strict and passthrough-all, in
    both formats (hvmloader appends 10 beside its 5 own); 10 pass; an image or a block
    of 16 tables made by hand is refused by verify (15 is the most any hvmloader takes)."""
    for n, ok in ((10, True), (11, False), (40, False)):
        for policy in ("default", "strict", "passthrough-all"):
            for fmt in ("modules", "xen"):
                args = ["build", "-q", "--format", fmt, "-o", f"o-{n}-{policy}-{fmt}",
                        "--policy", policy]
                for _ in range(n):
                    args += ["--acpi", SSDT]
                r = run_in(tmp_path, *args)
                if ok:
                    assert r.returncode == 0, r.stderr
                else:
                    refused(r, 1, "at most 10")
                    assert not (tmp_path / f"o-{n}-{policy}-{fmt}").exists()
    (tmp_path / "img16.bin").write_bytes(_image(_ssdts(16)))
    refused(run_in(tmp_path, "verify", "img16.bin"), 1, "appends at most 15")
    (tmp_path / "img15.bin").write_bytes(_image(_ssdts(15)))
    assert run_in(tmp_path, "verify", "img15.bin").returncode == 0


def _xen_sources():
    """(name, read(path)) for each Xen tree to hold the limits to: the tree `make
    hvmloader` builds (hvmloader/build, cached; its xcmod-src.tar.gz), and with
    XEN_GIT=DIR (a xen.git clone) the releases both Debians ship and master."""
    import tarfile
    import tempfile
    out = tempfile.mkdtemp()
    r = subprocess.run(["sh", os.path.join(ROOT, "hvmloader", "build"), out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with tarfile.open(os.path.join(out, "xcmod-src.tar.gz")) as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()
                 if m.name in ("tools/libacpi/build.c", "tools/firmware/hvmloader/smbios.c")}
    shutil.rmtree(out)
    yield "make hvmloader's tree", files.__getitem__
    repo = os.environ.get("XEN_GIT")
    for tag in ("RELEASE-4.17.5", "RELEASE-4.20.4", "master") if repo else ():
        yield tag, lambda f, tag=tag: subprocess.run(
            ["git", "-C", repo, "show", f"{tag}:{f}"], capture_output=True, text=True).stdout


def test_the_limits_are_the_sources_numbers():
    """The constants are hvmloader's: ACPI_MAX_SECONDARY_TABLES and the 16-bit
    parameters of smbios_entry_point_init(), as read from Xen's own source."""
    from xcmod.builder import policy
    from xcmod.image import rules
    assert rules.ACPI_MAX_SECONDARY_TABLES == policy.ACPI_MAX_SECONDARY_TABLES == 16
    assert rules.ACPI_PASSTHROUGH_MAX == 15 and policy.acpi_budget() == 10
    assert rules.SMBIOS_PASSED_MAX == 0xFFFF - rules.SMBIOS_OWN_MIN
    for tag, show in _xen_sources():
        build_c, smbios_c = show("tools/libacpi/build.c"), show(
            "tools/firmware/hvmloader/smbios.c")
        assert "#define ACPI_MAX_SECONDARY_TABLES 16" in build_c, tag
        assert "(ACPI_MAX_SECONDARY_TABLES - nr_tables - 1)" in build_c, tag
        proto = smbios_c[smbios_c.index("smbios_entry_point_init(void *start,"):][:300]
        assert "uint16_t structure_table_length" in proto, tag
        assert "uint16_t max_structure_size" in proto, tag


def test_a_special_node_inside_an_output_directory_is_not_replaced(r4):
    """A FIFO or a link where extract --acpi-dir or export --out-dir would write one of
    its files: refused in one line, exit 2, nothing written (not even the other files)."""
    for words, name in ((["extract", "img.bin", "--acpi-dir", "T"], "SSDT.dat"),
                        (["export", "qemu", "img.bin", "--out-dir", "T"],
                         "acpi-000-SSDT.dat"),
                        (["export", "xl", "img.bin", "--out-dir", "T"], "acpi.bin")):
        for make in (os.mkfifo, lambda p: os.symlink(r4 / "ssdt.aml", p)):
            (r4 / "T").mkdir()
            make(r4 / "T" / name)
            before = _tree(r4)
            refused(run_in(r4, *words), 2, name)
            assert _tree(r4) == before, words
            __import__("shutil").rmtree(r4 / "T")


def test_load_measure_dash_writes_the_measurement_to_stdout(xen, r4):
    """load --measure -: the JSON goes to stdout once the keys are written, the load's
    lines to stderr; no file named "-"."""
    r = run_in(r4, "load", "--domid", "5", "img.bin", "--hvmloader", HVMLOADER,
               "--measure", "-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["domid"] == 5 and b"loaded" in r.stderr
    assert not (r4 / "-").exists() and "modules" in keys(xen)
