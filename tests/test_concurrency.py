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
from .paths import ROOT, real
from .test_load import keys, xen  # noqa: F401  (fixture)

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
