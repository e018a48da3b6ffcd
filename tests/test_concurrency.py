# SPDX-License-Identifier: MIT
"""Loads stay right under concurrency: keys always describe the bytes in guest RAM."""
import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from xcmod.errors import XenError
from xcmod.xen.loader import domain_lock

from . import fakexen
from .fakexen import keys
from .paths import ROOT, real

ROUNDS = int(os.environ.get("XCMOD_CONCURRENCY_ROUNDS", "50"))
N_SAME, M_DOMAINS = 8, 4


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """N_SAME different real images (1..N_SAME copies of a Lenovo SSDT), as files."""
    from xcmod.firmware import acpi
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    ssdt = acpi.read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))
    d = tmp_path_factory.mktemp("images")
    out = []
    for i in range(N_SAME):
        blob = build_image([encode_acpi_module([ssdt] * (i + 1))])
        (d / f"m{i}.bin").write_bytes(blob)
        out.append((d / f"m{i}.bin", blob))
    return out


def _load(domid, path):
    return subprocess.Popen([sys.executable, "-m", "xcmod", "load", "--domid", str(domid),
                             str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _published(d, domid):
    """(address, length, count) from xenstore and the bytes guest RAM holds there."""
    read = lambda k: fakexen.xs(d, "xenstore-read",
                                f"/local/domain/{domid}/hvmloader/modules/{k}").stdout.strip()
    addr, length = int(read("address"), 16), int(read("length"), 16)
    return addr, length, int(read("count")), fakexen.read_ram(d, domid, addr, length)


def test_parallel_loads_keep_keys_and_ram_in_agreement(xen, images):
    """N loads of different images into one domain, and M loads into M domains, all at
    once, ROUNDS times: every load exits 0 and the keys describe exactly the image that
    guest RAM holds."""
    for m in range(M_DOMAINS):
        fakexen.create(xen, 6 + m, 32)
    blobs = {blob for _, blob in images}
    for _ in range(ROUNDS):
        procs = [_load(5, path) for path, _ in images]
        procs += [_load(6 + m, images[m][0]) for m in range(M_DOMAINS)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        addr, length, count, ram = _published(xen, 5)
        assert addr == 0x200000 and count == 1 and ram in blobs
        for m in range(M_DOMAINS):
            assert _published(xen, 6 + m)[3] == images[m][1]


def test_a_crashed_holder_does_not_leave_the_lock_stuck(xen, images):
    """A load killed while it holds the domain lock releases it: the next load goes on."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from xcmod.xen.loader import domain_lock\n"
         "with domain_lock(5):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(XenError) as e:
        with domain_lock(5, timeout=0.2):
            pass
    assert e.value.errno == errno.ETIMEDOUT and "another load" in str(e.value)
    assert "(ETIMEDOUT)" in str(e.value)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    t = time.monotonic()
    p = _load(5, images[0][0])
    assert p.wait(timeout=60) == 0, p.stderr.read()
    assert time.monotonic() - t < 30


def test_load_removes_the_other_paths_keys(xen, images, tmp_path, cli):
    """Blocks then image leaves no stock keys; image then blocks leaves no module keys."""
    from xcmod.firmware import acpi
    from xcmod.image.stock import encode_acpi_block
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "acpi.bin").write_bytes(encode_acpi_block(
        [acpi.read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))]))
    assert cli("load", "--domid", "5", blocks).code == 0
    assert "acpi" in keys(xen) and "modules" not in keys(xen)
    assert cli("load", "--domid", "5", images[0][0]).code == 0
    k = keys(xen)
    assert "modules" in k and "address" in k and "acpi" not in k.replace("modules", "")
    assert fakexen.xs(xen, "xenstore-read", "/local/domain/5/hvmloader/acpi/address").returncode
    assert cli("load", "--domid", "5", blocks).code == 0
    assert fakexen.xs(xen, "xenstore-read",
                      "/local/domain/5/hvmloader/modules/address").returncode != 0
    assert fakexen.xs(xen, "xenstore-read",
                      "/local/domain/5/hvmloader/acpi/address").stdout.strip() == "0x200000"


def test_keys_are_not_written_when_ram_changes_before_the_transaction(xen, images, mocker):
    """The in-transaction recheck: RAM that no longer holds the image means no key."""
    import xcmod
    from xcmod.xen.xenctrl import XenControl
    real_read = XenControl.read_from_guest
    calls = []

    def tampered(self, domid, gpa, length):
        calls.append(gpa)
        data = real_read(self, domid, gpa, length)
        return bytes([data[0] ^ 0xFF]) + data[1:]
    mocker.patch.object(XenControl, "read_from_guest", tampered)
    with pytest.raises(XenError) as e:
        xcmod.load(5, images[1][1])
    assert "changed after" in str(e.value) and 0x200000 in calls
    assert keys(xen) == ""


def test_a_one_block_stock_load_leaves_the_other_blocks_keys(xen, tmp_path, cli):
    """A stock load of smbios.bin alone keeps hvmloader/acpi/* (libxl writes those for
    acpi_firmware=); it still removes the module image's keys."""
    from xcmod.firmware import smbios
    from xcmod.image.stock import encode_smbios_block
    t = smbios.read_file(real("smbios/infrasim/dell_r640_smbios.bin"))
    d = tmp_path / "smbios-only"
    d.mkdir()
    (d / "smbios.bin").write_bytes(encode_smbios_block(t.structures[:3]))
    for k, v in (("acpi/address", "0x700000"), ("acpi/length", "0x100"),
                 ("modules/address", "0x200000")):
        fakexen.xs(xen, "xenstore-write", f"/local/domain/5/hvmloader/{k}", v)
    assert cli("load", "--domid", "5", d, "--base", "0x300000").code == 0
    read = lambda k: fakexen.xs(xen, "xenstore-read", f"/local/domain/5/hvmloader/{k}")
    assert read("acpi/address").stdout.strip() == "0x700000"
    assert read("smbios/address").stdout.strip() == "0x300000"
    assert read("modules/address").returncode != 0


# ---- issue 32: loads that disagree on the lock, a domain that vanishes -----------

def _load_env(lock_dir, **extra):
    return subprocess.Popen([sys.executable, "-m", "xcmod", "load", "--domid", "5",
                             str(extra.pop("path"))], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, XCMOD_LOCK_DIR=str(lock_dir), **extra))


def _keys_true(d, domid=5):
    """The load keys of ``domid`` are absent or describe exactly an image RAM holds."""
    r = fakexen.xs(d, "xenstore-read", f"/local/domain/{domid}/hvmloader/modules/address")
    if r.returncode:
        return None
    addr, length, count, ram = _published(d, domid)
    return ram


def test_loads_that_disagree_on_the_lock_directory_never_leave_false_keys(xen, images,
                                                                          tmp_path):
    """Two loads of different images into one domain, each with its own XCMOD_LOCK_DIR
    (so the lock excludes nothing), ROUNDS//5 times: each either publishes or says another
    load started during it; the keys afterwards are absent or describe what RAM holds,
    never other bytes (the load's mark in xenstore, re-read in the publishing
    transaction)."""
    blobs = {blob for _, blob in images}
    locks = [tmp_path / "lock-a", tmp_path / "lock-b"]
    for _ in range(max(ROUNDS // 5, 4)):
        procs = [_load_env(locks[i % 2], path=images[i][0]) for i in range(4)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert (p.returncode == 0 or "another load of this domain" in err
                    or "changed after" in err), err
            assert err.count("\n") <= 1 and "Traceback" not in err, err
        ram = _keys_true(xen)
        assert ram is None or ram in blobs


def _mark(d, pid, start=None):
    """Write a load's mark for process ``pid`` as a load would (its start time from
    /proc unless given)."""
    from xcmod.xen.loader import _start_time
    start = _start_time(pid) if start is None else start
    r = fakexen.xs(d, "xenstore-write", f"/local/domain/5/xcmod-load/{pid}-test",
                   f"{pid} {start}")
    assert r.returncode == 0, r.stderr


def test_a_load_that_runs_meanwhile_stops_the_other_publishing(xen, images, mocker):
    """Deterministically: another live load's mark appearing while this load copies
    (what a load under another lock directory does) makes this one publish nothing, and
    leaves no mark of its own."""
    import xcmod
    from xcmod.xen.xenctrl import XenControl
    real_copy = XenControl.copy_to_guest

    def copy(self, domid, gpa, data):
        _mark(xen, os.getppid())            # a live process: pytest's parent
        return real_copy(self, domid, gpa, data)
    mocker.patch.object(XenControl, "copy_to_guest", copy)
    with pytest.raises(XenError) as e:
        xcmod.load(5, images[0][1])
    assert "another load of this domain" in str(e.value) and "ran during" in str(e.value)
    assert "modules" not in keys(xen)
    listing = fakexen.xs(xen, "xenstore-ls", "/local/domain/5/xcmod-load").stdout
    assert f"{os.getpid()}-" not in listing and f"{os.getppid()}-test" in listing


def test_a_running_load_is_seen_before_ram_is_touched_and_a_stale_mark_is_not(xen, images,
                                                                            cli):
    """A live mark present at the start: refused before guest RAM is touched (exit 1,
    one line).  A stale one (its process gone, or another process under that pid):
    removed, and the load goes on."""
    _mark(xen, os.getppid())
    r = cli("load", "--domid", "5", images[0][0])
    assert r.code == 1 and "is running" in r.err and r.err.count("\n") == 1, r.err
    assert not any(fakexen.read_ram(xen, 5, 0x200000, len(images[0][1])))
    fakexen.xs(xen, "xenstore-rm", "/local/domain/5/xcmod-load")
    dead = subprocess.Popen(["true"])
    dead.wait()
    _mark(xen, dead.pid, start="12345")
    _mark(xen, os.getppid(), start="1")          # pid reused: another start time
    r = cli("load", "--domid", "5", images[0][0])
    assert r.code == 0, r.err
    assert fakexen.xs(xen, "xenstore-ls", "/local/domain/5/xcmod-load").returncode != 0


VANISH = {
    "xenstore dir removed": lambda d, domid: fakexen.xs(d, "xenstore-rm",
                                                        f"/local/domain/{domid}"),
    "domain destroyed": lambda d, domid: __import__("shutil").rmtree(
        os.path.join(d, f"dom{domid}")),
    "domain dying": lambda d, domid: open(os.path.join(d, f"dom{domid}", "info"), "a"
                                          ).write("dying=1\n"),
}


@pytest.mark.parametrize("how", sorted(VANISH))
@pytest.mark.parametrize("what", ["image", "stock blocks"])
def test_a_domain_that_vanishes_during_the_copy_gets_no_keys(xen, images, tmp_path, cli,
                                                              mocker, how, what):
    """The domain's xenstore directory removed, the domain destroyed, or dying, while
    the copy runs: the load says so in one line, exit 1, and writes nothing: no key,
    no /local/domain/5 re-created."""
    from xcmod.xen.xenctrl import XenControl
    if what == "image":
        src = images[2][0]
    else:
        from xcmod.firmware import acpi
        from xcmod.image.stock import encode_acpi_block
        src = tmp_path / "blocks"
        src.mkdir()
        (src / "acpi.bin").write_bytes(encode_acpi_block(
            [acpi.read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))]))
    real_copy = XenControl.copy_to_guest

    def copy(self, domid, gpa, data):
        r = real_copy(self, domid, gpa, data)
        VANISH[how](xen, domid)
        return r
    mocker.patch.object(XenControl, "copy_to_guest", copy)
    r = cli("load", "--domid", "5", src)
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert "domain 5 vanished during the load" in r.err and "no key written" in r.err
    listing = fakexen.xs(xen, "xenstore-ls", "/local/domain/5")
    if how == "xenstore dir removed":
        assert listing.returncode != 0, listing.stdout     # not re-created
    else:
        assert "hvmloader" not in listing.stdout and "xcmod-load" not in listing.stdout, \
            listing.stdout


# ---- issue 32: environment paths checked for what they must be -------------------

def _xcmod_env(*args, **env):
    return subprocess.run([sys.executable, "-m", "xcmod", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **{k: str(v) for k, v in env.items()}))


def _one_line(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def test_xenstored_path_must_be_a_socket(xen, images, tmp_path):
    """XENSTORED_PATH naming a regular file, a FIFO, a directory or /dev/null (every
    command that talks to xenstored): one line naming the variable and what the path
    is, exit 2, nothing written to it; XENSTORED_RUNDIR whose socket is not one, the
    same."""
    import socket
    regular = tmp_path / "regular"
    regular.write_bytes(b"")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    bad_rundir = tmp_path / "rundir"
    bad_rundir.mkdir()
    (bad_rundir / "socket").write_bytes(b"")
    cases = {regular: "a regular file", fifo: "a FIFO", tmp_path: "a directory",
             "/dev/null": "a character device"}
    for words in (["keys", "list", "--domid", "5"], ["load", "--domid", "5", images[0][0]],
                  ["keys", "set", "--domid", "5", "bios-strings/oem-1=x"],
                  ["hvm-info", "--domid", "5", "--to-xenstore"],
                  ["load", "--domain", "name", images[0][0]]):
        for path, what in cases.items():
            _one_line(_xcmod_env(*words, XENSTORED_PATH=path), 2,
                      f"XENSTORED_PATH={path} is {what}", "nothing sent")
            assert regular.read_bytes() == b""
        env = {k: v for k, v in os.environ.items() if k != "XENSTORED_PATH"}
        r = subprocess.run([sys.executable, "-m", "xcmod", *map(str, words)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env=dict(env, XENSTORED_RUNDIR=str(bad_rundir)))
        _one_line(r, 2, "XENSTORED_RUNDIR=", "is a regular file")
        assert (bad_rundir / "socket").read_bytes() == b""
    assert keys(xen) == ""
    s = socket.socket(socket.AF_UNIX)           # a socket nobody listens on: refused
    s.bind(str(tmp_path / "dead.sock"))
    s.close()
    _one_line(_xcmod_env("keys", "list", "--domid", "5",
                         XENSTORED_PATH=tmp_path / "dead.sock"), 1, "cannot connect")


def test_lock_dir_must_be_a_private_directory(xen, images, tmp_path):
    """XCMOD_LOCK_DIR relative, a file, a link, world-writable, or with a lock file that
    is a link or a FIFO: one line naming it, exit 2, nothing loaded; a missing one whose
    parent exists is made (0700)."""
    f = tmp_path / "file"
    f.write_bytes(b"")
    os.symlink(tmp_path, tmp_path / "link")
    (tmp_path / "open").mkdir()
    os.chmod(tmp_path / "open", 0o777)
    (tmp_path / "withlink").mkdir(mode=0o700)
    os.symlink(f, tmp_path / "withlink" / "domain-5.lock")
    (tmp_path / "withfifo").mkdir(mode=0o700)
    os.mkfifo(tmp_path / "withfifo" / "domain-5.lock")
    for d, needle in (("relative/dir", "absolute path"), (f, "is a regular file"),
                      (tmp_path / "link", "is a link"), (tmp_path / "open", "writable by others"),
                      (tmp_path / "no" / "such", "nor its parent"),
                      (tmp_path / "withlink", "is a link"),
                      (tmp_path / "withfifo", "not a regular file")):
        for words in (["load", "--domid", "5", images[0][0]],
                      ["keys", "set", "--domid", "5", "bios-strings/oem-1=x"]):
            _one_line(_xcmod_env(*words, XCMOD_LOCK_DIR=d), 2, needle)
    assert keys(xen) == "" and f.read_bytes() == b""
    r = _xcmod_env("load", "--domid", "5", images[0][0], XCMOD_LOCK_DIR=tmp_path / "new")
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(tmp_path / "new").st_mode & 0o777) == oct(0o700)


def test_keys_set_and_rm_wait_for_no_load_and_recreate_no_domain(xen, cli):
    """keys set/rm while a load the lock did not exclude is running (its live mark):
    refused, one line, no key changed; for a domain whose xenstore directory is gone:
    refused, nothing re-created."""
    _mark(xen, os.getppid())
    for words in (["keys", "set", "--domid", "5", "bios-strings/oem-1=x"],
                  ["keys", "rm", "--domid", "5", "bios-strings/oem-1"]):
        r = cli(*words)
        assert r.code == 1 and "is running" in r.err and "no key changed" in r.err, r.err
    assert "oem-1" not in fakexen.xs(xen, "xenstore-ls", "/local/domain/5").stdout
    fakexen.xs(xen, "xenstore-rm", "/local/domain/5/xcmod-load")
    assert cli("keys", "set", "--domid", "5", "bios-strings/oem-1=x").code == 0
