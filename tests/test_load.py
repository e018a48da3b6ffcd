# SPDX-License-Identifier: MIT
"""`xcmod load` through the real cffi module and C shim, a libxenctrl double and a real xenstored."""
import errno
import json
import os

import pytest

from xcmod.errors import XenError

from . import fakexen
from .fakexen import keys, ram
from .paths import as_ssdt, real

BASE = 0x200000


@pytest.fixture(scope="module")
def big_image():
    """An image of about 1.2 MiB (a real DSDT's AML, as SSDTs: hvmloader refuses a DSDT
    in an image), so the copy takes several mapping chunks."""
    from xcmod.firmware import acpi
    from xcmod.firmware.acpi import encode_acpi_module
    from xcmod.image.spec import build_image
    aml = acpi.parse_table(as_ssdt(open(real("acpi/lenovo-x1c6/DSDT.aml"), "rb").read()))
    return build_image([encode_acpi_module([aml] * 8)])


def test_load_copies_and_publishes(xen, image, cli, tmp_path):
    """load puts the image at 0x200000 and writes address/length/count, guest read-only."""
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    r = cli("load", "--domid", "5", path, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["keys"]["/local/domain/5/hvmloader/modules/address"] == "0x200000"
    assert ram(xen, 5, len(image)) == image
    read = lambda k: fakexen.xs(xen, "xenstore-read", f"/local/domain/5/hvmloader/modules/{k}").stdout
    assert (read("address"), read("length"), read("count")) == \
        ("0x200000\n", f"{len(image):#x}\n", "2\n")
    perms = fakexen.xs(xen, "xenstore-ls", "-p", "/local/domain/5/hvmloader/modules").stdout
    assert perms.count("(n0,r5)") == 3


def test_library_api_multi_chunk(xen, big_image):
    """xcmod.load copies an image larger than one mapping chunk, byte for byte."""
    import xcmod
    res = xcmod.load(5, big_image)
    assert (res.base, res.length, res.count) == (BASE, len(big_image), 1)
    assert ram(xen, 5, len(big_image)) == big_image


@pytest.mark.parametrize("setup,needle,err", [
    (lambda d: fakexen.create(d, 6, 32, running=True), "running", errno.EBUSY),
    (lambda d: fakexen.create(d, 6, 32, pv=True), "not an HVM guest", errno.EINVAL),
    (lambda d: None, "no such domain", errno.ESRCH),
    (lambda d: fakexen.create(d, 6, 2), "guest low RAM", None),
])
def test_precheck_refusals_touch_nothing(xen, image, setup, needle, err):
    """Refused domains keep their RAM untouched and get no keys."""
    import xcmod
    setup(xen)
    ram_file = os.path.join(xen, "dom6", "ram")
    before = open(ram_file, "rb").read() if os.path.exists(ram_file) else None
    with pytest.raises(xcmod.XcmodError, match=needle) as e:
        xcmod.load(6, image)
    if err is not None:
        assert isinstance(e.value, OSError) and e.value.errno == err
    if before is not None:                # every byte of the guest's RAM is as it was
        assert open(ram_file, "rb").read() == before
    assert keys(xen, 6) == ""


def test_dom0_is_refused_even_with_force(xen, image):
    """Domain 0 is never a target, --force or not."""
    import xcmod
    with pytest.raises(XenError) as e:
        xcmod.load(0, image, force=True)
    assert e.value.errno == errno.EPERM


def test_force_loads_into_a_running_domain(xen, image):
    """--force allows a running HVM domain."""
    import xcmod
    fakexen.create(xen, 7, 32, running=True)
    xcmod.load(7, image, force=True)
    assert ram(xen, 7, len(image)) == image


@pytest.mark.parametrize("knob,needle,touched", [
    ("open", "Xen control interface", False),
    ("getinfo", "cannot get domain information", False),
    ("map", "cannot map guest memory", False),
    # maps before the copy: the HVM info table, the hvm_start_info, its module list
    # and the firmware module's command line; the 5th is the copy's first chunk
    ("map-after:5", "cannot map guest memory", True),
    ("lose-writes", "read back differs", False),
])
def test_injected_libxc_failures(xen, big_image, monkeypatch, cli, tmp_path, knob, needle, touched):
    """Each libxc failure gives one line with the reason and libxc's text, and no keys."""
    path = tmp_path / "m.bin"
    path.write_bytes(big_image)
    monkeypatch.setenv("XCMOD_FAKEXEN_FAIL", knob)
    r = cli("load", "--domid", "5", path)
    assert r.code == 1 and r.err.count("\n") == 1 and needle in r.err, r.err
    assert keys(xen) == ""
    written = ram(xen, 5, len(big_image))
    assert any(written) == touched


def test_xenstore_write_failure_leaves_no_keys(xen, image, mocker):
    """A failing write inside the transaction aborts it: no key survives."""
    import xcmod
    from xcmod.xen.xenstore import XenStore
    real_write = XenStore.write
    calls = []

    def flaky(self, path, value, t=0):
        calls.append(path)
        if len(calls) == 2:
            raise XenError(errno.EIO, "injected write failure")
        return real_write(self, path, value, t)
    mocker.patch.object(XenStore, "write", flaky)
    with pytest.raises(XenError, match="injected"):
        xcmod.load(5, image)
    assert keys(xen) == ""


def test_eagain_storm_is_bounded(xen, image, mocker):
    """A transaction that conflicts forever gives up after the retry bound, with EAGAIN."""
    import xcmod
    from xcmod.xen import xenstore
    ffi, lib = xenstore._xen()

    class Conflicting:
        def __getattr__(self, name):
            return getattr(lib, name)

        def xs_transaction_end(self, h, t, abort):
            lib.xs_transaction_end(h, t, True)
            ffi.errno = errno.EAGAIN
            return False
    mocker.patch.object(xenstore, "_xen", lambda: (ffi, Conflicting()))
    with pytest.raises(XenError) as e:
        xcmod.load(5, image)
    assert e.value.errno == errno.EAGAIN and "16 retries" in str(e.value)
    assert keys(xen) == ""


def test_no_xenstored_fails_before_ram_is_touched(xen, image, monkeypatch):
    """Without a reachable xenstored the load fails before any guest byte is written."""
    import xcmod
    monkeypatch.setenv("XENSTORED_PATH", os.path.join(xen, "nowhere"))
    with pytest.raises(XenError, match="cannot connect to xenstored"):
        xcmod.load(5, image)
    assert not any(ram(xen, 5, len(image)))


def test_bad_image_is_refused_before_xen_is_touched(xen, image, cli, tmp_path):
    """A corrupt image is refused by verification; the domain is left alone."""
    bad = bytearray(image)
    bad[100] ^= 1
    path = tmp_path / "bad.bin"
    path.write_bytes(bad)
    r = cli("load", "--domid", "5", path)
    assert r.code == 1 and "checksum mismatch" in r.err
    assert keys(xen) == "" and not any(ram(xen, 5, len(image)))


def test_corrupt_hvm_info_table_is_a_warning_naming_the_fallback(xen, image, cli, tmp_path):
    """A corrupt HVM info table: load still checks the image, against max_memkb, and
    says so in one warning line; without corruption there is no warning."""
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    r = cli("load", "--domid", "5", path)
    assert r.code == 0 and "warning" not in r.err
    with open(os.path.join(xen, "dom5", "ram"), "r+b") as f:
        f.seek(0x9F800)
        f.write(b"XXXXXXXX")                      # signature gone
    r = cli("load", "--domid", "5", path, "--json")
    assert r.code == 0, r.err
    lines = [ln for ln in r.err.splitlines() if "warning" in ln]
    assert len(lines) == 1 and "HVM info table at 0x9f800 unusable" in lines[0]
    assert "max_memkb (32 MiB)" in lines[0]
    assert json.loads(r.out)["warnings"] == [lines[0].split("warning: ", 1)[1]]


def test_stopped_xenstored_is_a_bounded_wait(xen, image, tmp_path):
    """xenstored stopped (SIGSTOP): load gives up after --timeout with one line and
    exit 1; no key is written and guest RAM is as before."""
    import signal
    import subprocess
    import sys
    import time

    from .paths import ROOT
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    before = ram(xen, 5, len(image))
    pid = fakexen.xenstored_pid(xen)
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "xcmod", "load", "--domid", "5", str(path),
                            "--timeout", "2"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        took = time.monotonic() - t
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.returncode == 1 and took < 30, (r.returncode, took)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "within 2 s (ETIMEDOUT)" in lines[0], r.stderr
    assert ram(xen, 5, len(image)) == before
    assert keys(xen) == ""


def test_domain_by_name_as_xl_resolves_it(xen, image, cli, tmp_path, capsys):
    """--domain NAME finds the domain by /local/domain/*/name (or takes a domid);
    a missing or shared name, or no domain given, is one line and a non-zero exit."""
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    fakexen.create(xen, 6, 32)
    fakexen.xs(xen, "xenstore-write", "/local/domain/5/name", "web1")
    fakexen.xs(xen, "xenstore-write", "/local/domain/6/name", "db1")
    r = cli("load", "--domain", "db1", path, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["domid"] == 6 and ram(xen, 6, len(image)) == image
    assert cli("hvm-info", "--domain", "5").code == 0
    r = cli("load", "--domain", "nope", path)
    assert r.code == 1 and "no domain named 'nope'" in r.err and "(ENOENT)" in r.err
    capsys.readouterr()
    r = cli("load", path)       # argparse: one of the required choice
    assert r.code == 2
    assert "one of the arguments --domid --domain is required" in capsys.readouterr().err
    fakexen.xs(xen, "xenstore-write", "/local/domain/6/name", "web1")
    r = cli("keys", "list", "--domain", "web1")
    assert r.code == 2 and "ambiguous: domains 5, 6" in r.err
    assert keys(xen, 5) == ""


def test_the_watchdog_is_called_off_when_the_command_ends(xen, cli):
    """--timeout ends only a command still running: an in-process command that finished
    leaves the process alive past its timeout (this test would never report otherwise)."""
    import time
    assert cli("hvm-info", "--domid", "5", "--timeout", "1").code == 0
    time.sleep(1.5)
    assert cli("keys", "list", "--domid", "5", "--timeout", "1").code == 0


def test_c_api_load_image_checks_then_copies(xen, image):
    """xcmod_load_image(), the one-call C API for a C toolstack: the pre-checks, then
    copy and verify; a running domain only with XCMOD_LOAD_FORCE."""
    from xcmod.xen._xen import ffi, lib
    fakexen.create(xen, 7, 32, running=True)
    xch = lib.xc_interface_open(ffi.NULL, ffi.NULL, 0)
    assert xch != ffi.NULL
    try:
        fail = ffi.new("size_t *")
        assert lib.xcmod_load_image(xch, 5, BASE, image, len(image), 0, fail) == \
            lib.XCMOD_LOAD_OK
        assert ram(xen, 5, len(image)) == image
        assert lib.xcmod_load_image(xch, 7, BASE, image, len(image), 0, fail) == \
            lib.XCMOD_LOAD_E_RUNNING
        assert not any(ram(xen, 7, len(image)))
        assert lib.xcmod_load_image(xch, 7, BASE, image, len(image), lib.XCMOD_LOAD_FORCE,
                                    fail) == lib.XCMOD_LOAD_OK
        assert ram(xen, 7, len(image)) == image
        assert lib.xcmod_load_image(xch, 0, BASE, image, len(image), 0, fail) == \
            lib.XCMOD_LOAD_E_DOM0
    finally:
        lib.xc_interface_close(xch)


# ------------------------------------------ UEFI guests: what libxc placed stays

def _whole_ram(d, domid):
    return open(os.path.join(d, f"dom{domid}", "ram"), "rb").read()


def test_default_load_never_changes_a_byte_of_ovmf(xen, image, big_image, cli, tmp_path):
    """OVMF's 2 MiB firmware module sits at 0x134000-0x333fff, right after hvmloader,
    where libxc puts it, across the old default base 0x200000.  A default load reads
    the guest's hvm_start_info (vCPU0's %rbx) and goes after it: outside the image,
    guest RAM is byte for byte what it was, the firmware module included."""
    placed = fakexen.create(xen, 6, 64, firmware="ovmf")
    assert placed["firmware"] == (0x134000, 0x334000)
    for img, want in ((image, 0x335000), (big_image, 0x800000)):  # the big one: past the
        path = tmp_path / "m.bin"                                # self-test window
        path.write_bytes(img)
        before = _whole_ram(xen, 6)
        r = cli("load", "--domid", "6", path, "--json")
        assert r.code == 0 and r.err == "", r.err
        d = json.loads(r.out)
        assert d["blocks"][0]["address"] == want
        assert d["keys"]["/local/domain/6/hvmloader/modules/address"] == f"{want:#x}"
        assert [(x["name"], x["start"], x["end"]) for x in d["libxc"]] == [
            ('module "firmware"', 0x134000, 0x334000),
            ("hvm_start_info", 0x334000, 0x3348a8)]
        after = _whole_ram(xen, 6)
        assert after[want:want + len(img)] == img
        assert after[:want] == before[:want]
        assert after[want + len(img):] == before[want + len(img):]
        assert after[0x134000:0x334000] == fakexen.firmware_image(2 << 20)


def test_default_load_of_stock_blocks_keeps_clear_of_ovmf(xen, cli, tmp_path):
    """Stock blocks (build --format xen) go after OVMF's module too, page by page."""
    fakexen.create(xen, 6, 64, firmware="ovmf")
    d = tmp_path / "blocks"
    assert cli("build", "--format", "xen", "-o", d, "--smbios", real("smbios/infrasim/dell_r640_smbios.bin"),
               "--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"), "-q").code == 0
    r = cli("load", "--domid", "6", d, "--json")
    assert r.code == 0, r.err
    addrs = sorted(b["address"] for b in json.loads(r.out)["blocks"])
    assert addrs[0] == 0x335000 and len(addrs) == 2
    assert fakexen.read_ram(xen, 6, 0x134000, 2 << 20) == fakexen.firmware_image(2 << 20)


@pytest.mark.parametrize("base", ["0x200000", "0x333000"])
def test_explicit_base_over_the_firmware_module_is_refused(xen, image, cli, tmp_path, base):
    """--base inside OVMF's module: one line naming the module and its range, exit 1,
    no key, and guest RAM untouched."""
    fakexen.create(xen, 6, 64, firmware="ovmf")
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    before = _whole_ram(xen, 6)
    r = cli("load", "--domid", "6", path, "--base", base)
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert 'overlaps module "firmware" placed by libxc (0x134000-0x333fff)' in r.err
    assert keys(xen, 6) == "" and _whole_ram(xen, 6) == before


def test_explicit_base_after_the_modules_is_taken(xen, image):
    """An explicit base clear of libxc's modules, lower than the default, is used."""
    import xcmod
    fakexen.create(xen, 6, 64, firmware="seabios")     # 0x134000-0x173fff, start info
    res = xcmod.load(6, image, base=0x180000)          # at 0x174000
    assert res.base == 0x180000 and ram(xen, 6, len(image), 0x180000) == image
    assert xcmod.load(6, image).base == 0x200000       # default: never below 0x200000


@pytest.mark.parametrize("rbx,reason", [
    (None, "vCPU0's %rbx is 0"),
    (0x300000, "no hvm_start_info magic at vCPU0's %rbx 0x300000 (found 0x00000000)"),
    (0x7FFFFFFF000, "vCPU0's %rbx 0x7fffffff000 is not in guest low RAM (ends 0x4000000)"),
])
def test_without_a_start_info_the_old_layout_and_one_warning(xen, image, cli, tmp_path, rbx,
                                                             reason):
    """No start info at %rbx: the load places the image as before (0x200000) and says,
    in one warning line, that it could not see what libxc placed."""
    fakexen.create(xen, 6, 64, firmware=None)
    if rbx is not None:
        with open(os.path.join(xen, "dom6", "vcpu0"), "w") as f:
            f.write(f"rbx={rbx:#x}\n")
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    r = cli("load", "--domid", "6", path, "--json")
    assert r.code == 0, r.err
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xcmod: warning: domain 6: no "
                                                   f"hvm_start_info ({reason})"), r.err
    assert "OVMF's 2 MiB firmware module" in lines[0]
    d = json.loads(r.out)
    assert d["base"] == BASE and d["libxc"] == [] and ram(xen, 6, len(image)) == image


@pytest.mark.parametrize("offset,value,needle", [
    (12, 1000, "nr_modules 1000 exceeds 16"),
    (16, 1 << 40, "module list 0x10000000000+0x20 is not in guest low RAM"),
    (56 + 8, 0xFFFFFFFFFFFFFFFF, "module 0 0x134000+0xffffffffffffffff is not in guest"),
])
def test_a_broken_start_info_refuses_the_load(xen, image, cli, tmp_path, offset, value, needle):
    """A start info with its magic and an impossible number: one line naming the field
    and its guest address, exit 1, nothing written, no traceback."""
    import struct
    placed = fakexen.create(xen, 6, 64, firmware="ovmf")
    with open(os.path.join(xen, "dom6", "ram"), "r+b") as f:
        f.seek(placed["start_info"] + offset)
        f.write(struct.pack("<I" if offset == 12 else "<Q", value))
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    before = _whole_ram(xen, 6)
    r = cli("load", "--domid", "6", path)
    assert r.code == 1 and r.err.count("\n") == 1 and "Traceback" not in r.err, r.err
    assert r.err.startswith("xcmod: error: domain 6: offset 0x3340")
    assert f"hvm_start_info at 0x334000: {needle}" in r.err
    assert keys(xen, 6) == "" and _whole_ram(xen, 6) == before


def test_unreadable_vcpu_context_is_one_line(xen, image, cli, tmp_path, monkeypatch):
    """xc_vcpu_getcontext failing: one line with errno and libxc's text, no key, RAM as
    it was (the layout cannot be known, so nothing is placed)."""
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    monkeypatch.setenv("XCMOD_FAKEXEN_FAIL", "getcontext")
    before = _whole_ram(xen, 5)
    r = cli("load", "--domid", "5", path)
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert "cannot read vCPU0's context" in r.err and "EACCES" in r.err
    assert "XEN_DOMCTL_getvcpucontext denied" in r.err
    assert keys(xen) == "" and _whole_ram(xen, 5) == before


def test_c_api_start_info_gpa(xen):
    """xcmod_start_info_gpa(): vCPU0's %rbx for an HVM domain; refuses domain 0, a PV
    domain and a missing one."""
    from xcmod.xen._xen import ffi, lib
    placed = fakexen.create(xen, 6, 64, firmware="ovmf")
    fakexen.create(xen, 7, 32, pv=True)
    xch = lib.xc_interface_open(ffi.NULL, ffi.NULL, 0)
    try:
        gpa = ffi.new("uint64_t *")
        assert lib.xcmod_start_info_gpa(xch, 6, gpa) == lib.XCMOD_LOAD_OK
        assert gpa[0] == placed["start_info"] == 0x334000
        assert lib.xcmod_start_info_gpa(xch, 0, gpa) == lib.XCMOD_LOAD_E_DOM0
        assert lib.xcmod_start_info_gpa(xch, 7, gpa) == lib.XCMOD_LOAD_E_NOT_HVM
        assert lib.xcmod_start_info_gpa(xch, 9, gpa) == lib.XCMOD_LOAD_E_NO_DOMAIN
        assert lib.xcmod_start_info_gpa(xch, 6, ffi.NULL) == lib.XCMOD_LOAD_E_ARGUMENT
    finally:
        lib.xc_interface_close(xch)


def test_a_real_load_imports_only_its_own_path(xen, image, tmp_path):
    """`python -m xcmod load` into a paused domain (start info read, keys published),
    as a domain-creation script runs it: neither construct, nor the builder, nor the
    firmware parsers."""
    import subprocess
    import sys

    from .paths import ROOT
    path = tmp_path / "m.bin"
    path.write_bytes(image)
    code = ("import sys, runpy; before = set(sys.modules)\n"
            "sys.argv = ['xcmod', 'load', '--domid', '5', sys.argv[1]]\n"
            "try:\n    runpy.run_module('xcmod', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "new = set(sys.modules) - before\n"
            "print(code, sorted(n for n in new if n == 'construct' or "
            "n.startswith(('xcmod.builder', 'xcmod.firmware'))))\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.stdout.splitlines()[-1] == "0 []", r.stdout + r.stderr
    assert keys(xen).count("\n") >= 2 and ram(xen, 5, len(image)) == image
