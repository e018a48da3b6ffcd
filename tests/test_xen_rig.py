"""The real stack (``make test-xen``): Xen 4.17 + Linux dom0 under QEMU TCG,
real libxenctrl/libxenstore/xenstored/xl, a paused HVM domain and Debian's
stock hvmloader consuming what xcmod loaded.  The scenario runs in dom0
(tests/xenrig/scenario.py) and reports ``XCMOD-RESULT`` lines; this test
asserts on them."""
import base64
import json
import os
import shutil
import subprocess
import sys

import pytest

from xcmod import smbios

from . import xenrig
from .paths import real
from .test_policy import host_identifiers

pytestmark = pytest.mark.xen

SMBIOS_SRC = real("smbios/infrasim/dell_r640_smbios.bin")
SSDT = real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")
MEMORY_MIB, VIDEORAM_MIB, VCPUS = 32, 8, 2      # tests/xenrig/test-hvm.cfg


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """Build the inputs on the host, boot the rig once, collect the results."""
    from xcmod import acpi
    from xcmod.acpi import encode_acpi_module
    from xcmod.cli import main
    from xcmod.format import build_image
    data = tmp_path_factory.mktemp("rigdata")
    shutil.copy(os.path.join(xenrig.HERE, "scenario.py"), data)
    shutil.copy(os.path.join(xenrig.ROOT, "examples", "create-with-modules.sh"), data)
    null = open(os.devnull, "w")
    assert main(["build", "-q", "-o", str(data / "mods.bin"), "--smbios", SMBIOS_SRC,
                 "--acpi", SSDT], null, sys.stderr) == 0
    assert main(["build", "-q", "--format", "xen", "-o", str(data / "blocks"), "--smbios",
                 SMBIOS_SRC, "--acpi", SSDT], null, sys.stderr) == 0
    t = acpi.load_table(SSDT)
    (data / "bench.bin").write_bytes(build_image([encode_acpi_module([t] * 138)]))
    log = tmp_path_factory.mktemp("riglog") / "console.log"
    with open(log, "w") as out:
        status, text = xenrig.run(os.path.join(xenrig.HERE, "scenario.sh"), str(data),
                                  timeout=400, out=out)
    tail = "\n".join(text.splitlines()[-60:])
    assert status == 0, f"rig exited {status}; console tail:\n{tail}"
    results = {}
    for line in text.splitlines():
        if line.startswith("XCMOD-RESULT "):
            d = json.loads(line[len("XCMOD-RESULT "):])
            results[d["step"]] = d
    return results, data


def test_hvm_info_matches_the_xl_config(rig):
    """hvm-info decodes the table libxc/libxl wrote: vcpus and low memory of the xl config."""
    r = rig[0]["hvm-info"]
    assert r["rc"] == 0, r["err"]
    info = r["info"]
    assert info["checksum_ok"] and info["nr_vcpus"] == VCPUS
    assert info["vcpus_online"] == list(range(VCPUS))
    # memory= includes the device model's video RAM, which is not guest RAM
    assert info["low_mem_end"] == (MEMORY_MIB - VIDEORAM_MIB) << 20
    assert info["high_mem_end"] is None


def test_module_image_lands_byte_for_byte(rig):
    """load writes lowercase-hex keys, guest read-only, and readback matches the image."""
    results, data = rig
    assert results["load-modules"]["rc"] == 0, results["load-modules"]["err"]
    g = results["modules-in-guest"]
    size = os.path.getsize(data / "mods.bin")
    assert g["keys"] == {"address": "0x200000", "length": f"{size:#x}", "count": "2"}
    assert g["perms"].count("(n0,r1)") == 3
    assert g["readback_sha256"] == g["image_sha256"]


def test_measurement_matches_an_independent_readback(rig):
    """--measure's hvmloader digest equals the C readback of the same guest range."""
    m = rig[0]["load-modules"]["measurement"]
    assert [i["name"] for i in m["items"]] == ["hvmloader", "module 0 smbios",
                                              "module 1 acpi", "module 2 end"]
    assert m["items"][0]["sha256"] == rig[0]["modules-in-guest"]["hvmloader_ram_sha256"]
    assert m["regions"][0]["length"] == 0x133f40 - 0x100000


def test_keys_and_layout(rig):
    """keys set/list and layout work against the real xenstored and hvmloader ELF."""
    k = rig[0]["keys"]
    assert k["rc"] == 0 and k["oem"] == "xcmod-rig"
    assert k["listed"]["keys"]["hvmloader/acpi/address"] == "0x300000"
    lay = rig[0]["layout"]
    assert lay["rc"] == 0 and lay["layout"]["blocks"][0]["start"] == 0x200000


def test_dom0_and_running_domains_are_refused_untouched(rig):
    """Domain 0 and a running domain are refused; RAM unchanged, no keys written."""
    d0 = rig[0]["refuse-dom0"]
    assert d0["rc"] == 1 and "domain 0" in d0["err"] and d0["keys"] != 0
    run = rig[0]["refuse-running"]
    assert run["rc"] == 1 and "running" in run["err"]
    assert run["untouched"] and run["image_absent"] and run["keys"] is None


def test_load_limit_is_the_guests_ram_not_max_memkb(rig):
    """An image ending past the 24 MiB of guest RAM (32 MiB max_memkb) is refused untouched."""
    r = rig[0]["refuse-past-lowmem"]
    assert 0x900000 + r["size"] > (MEMORY_MIB - VIDEORAM_MIB) << 20
    assert 0x900000 + r["size"] < MEMORY_MIB << 20
    assert r["rc"] == 1 and "from the guest's HVM info table" in r["err"] and r["untouched"]


def test_stock_blocks_load_with_the_four_keys(rig):
    """The --format xen blocks land page-aligned under the four stock keys."""
    r = rig[0]["load-stock"]
    assert r["rc"] == 0, r["err"]
    for kind, b in r["blocks"].items():
        assert b["address"].startswith("0x") and b["address"] == b["address"].lower()
        assert int(b["address"], 16) % 4096 == 0
        assert b["readback_sha256"] == b["file_sha256"], kind


def test_stock_hvmloader_consumes_the_blocks(rig):
    """Stock hvmloader ran and the guest's SMBIOS/ACPI carry what passed, and no host serial."""
    ran = rig[0]["hvmloader-ran"]
    assert ran["invoked"] and ran["unpause"] == 0 and ran["pause"] == 0   # xl unpause/pause
    g = rig[0]["guest-tables"]
    assert g["rc"] == 0, g["err"]
    text = g["dmidecode"]
    assert "Manufacturer: Dell Inc." in text and "Product Name: PowerEdge R640" in text
    assert "DMI type 218" in text                     # an OEM structure passed through
    for secret in host_identifiers(smbios.load(SMBIOS_SRC)):
        assert secret.decode("latin-1") not in text
        assert secret.decode("latin-1") not in rig[0]["dmidecode-raw"]["out"]
    raw = rig[0]["dmidecode-raw"]
    assert raw["rc"] == 0 and "Product Name: PowerEdge R640" in raw["out"]
    tables = g["tables"]["acpi"]["tables"]
    assert all(t["checksum_ok"] for t in tables)
    files = [base64.b64decode(v) for v in g["acpi_files"].values()]
    assert open(SSDT, "rb").read() in files           # reachable from the guest's RSDP


def test_example_script_creates_loads_and_unpauses(rig):
    """examples/create-with-modules.sh works as shipped: domain running, keys written."""
    r = rig[0]["example-script"]
    assert r["rc"] == 0, r["err"]
    assert r["address"] == "0x200000"
    assert "running with mods.bin" in r["out"]
    assert "test-hvm" in r["xl_list"]


def test_load_is_a_small_fraction_of_domain_creation(rig):
    """Load into a domain with the real qemu-xen device model works; report its time
    against xl create -p of that domain, best of 5 each (no timing assert)."""
    b = rig[0]["bench"]
    assert b["rc"] == 0, b["err"]
    assert b["real_dm_keys"] == "0x200000"      # loads into a domain with the real qemu-xen
    create, load, floor = b["xl_create_seconds"], b["load_seconds"], b["python_m_empty_seconds"]
    print(f"\nrig: xl create -p {create:.2f} s, python -m xcmod load ({b['image_bytes']} "
          f"bytes) {load:.2f} s = {load / create:.0%} of it; python -m EMPTY {floor:.2f} s "
          f"({floor / create:.0%}), so xcmod's own part {load - floor:.2f} s = "
          f"{(load - floor) / create:.0%}; python -c pass {b['python_pass_seconds']:.2f} s")


def test_make_xen_run_gives_an_operators_script_the_rig(tmp_path):
    """`make xen-run SCRIPT= DATA=`: DATA at /data, the tools on PATH, the script's
    output streamed and its status as the last line, `XEN-RUN-EXIT N`, and passed on."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "note.txt").write_text("from the host\n")
    script = tmp_path / "job.sh"
    script.write_text("cat /data/note.txt\n"
                      "for t in python3 xl xenstore-read xenstore-ls dmidecode; do\n"
                      "  command -v $t >/dev/null && echo \"tool $t\"; done\n"
                      "python3 -m xcmod --help | grep -q examples: && echo xcmod-help\n"
                      "xl create -p /etc/xen/test-hvm.cfg >/dev/null 2>&1 && "
                      "xl list test-hvm | grep -q test-hvm && echo created-paused\n"
                      "exit 7\n")
    r = subprocess.run(["make", "-s", "xen-run", f"SCRIPT={script}", f"DATA={data}"],
                       cwd=xenrig.ROOT, capture_output=True, text=True, timeout=400)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines and lines[-1] == "XEN-RUN-EXIT 7", r.stdout[-3000:] + r.stderr[-2000:]
    for want in ("from the host", "tool python3", "tool xl", "tool xenstore-read",
                 "tool xenstore-ls", "tool dmidecode", "xcmod-help", "created-paused"):
        assert want in lines, (want, r.stdout[-3000:])
    # make cannot exit with an arbitrary status: it fails, naming the script's
    assert r.returncode != 0 and "Error 7" in r.stderr
