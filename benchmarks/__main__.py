# SPDX-License-Identifier: MIT
"""xcmod benchmarks (``make bench``).  Figures are printed, never asserted.

Every figure is reported next to a baseline measured in the same run on the
same input: dmidecode --from-dump for SMBIOS decoding, a bare process spawn
for the C reader, zlib.crc32 for the checksum.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

from xcmod.firmware import acpi, smbios
from xcmod.firmware.acpi import encode_acpi_module
from xcmod.image.spec import build_image, verify_image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REAL = os.path.join(ROOT, "tests", "fixtures", "real")
XCMOD_READ = os.path.join(ROOT, "build", "xcmod-read")


def best(fn, repeat=7):
    """Best-of-``repeat`` wall time of fn() in seconds (min filters scheduler noise)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def smbios_64k():
    """A 64 KiB structure table made of real structures with unique handles."""
    src = smbios.read_file(os.path.join(REAL, "smbios/infrasim/s2600wtt_smbios.bin"))
    body = [s for s in src.structures if s.type != 127]
    out, size, handle = [], 0, 0
    while size < 64 * 1024 - 64:
        for s in body:
            d = bytearray(s.data)
            d[2:4] = handle.to_bytes(2, "little")
            handle += 1
            out.append(smbios.SmbiosStructure(bytes(d), 0, s.length))
            size += len(d)
            if size >= 64 * 1024 - 64:
                break
    out.append(smbios.SmbiosStructure(b"\x7f\x04" + handle.to_bytes(2, "little") + b"\0\0", 0, 4))
    return smbios.SmbiosTable(out, 3, 0, 0, 3)


def acpi_1m():
    """About 1 MiB of real ACPI tables (DSDT + SSDTs, repeated)."""
    names = ["acpi/lenovo-x1c6/DSDT.aml", "acpi/qemu/pc_SSDT.dimmpxm",
             "acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml", "acpi/lenovo-x1c7/NHLT.aml"]
    tables = [acpi.read_table(os.path.join(REAL, n)) for n in names]
    out, size = [], 0
    while size < 1 << 20:
        for t in tables:
            out.append(t)
            size += t.length
    return out


def main():
    table = smbios_64k()
    tables = acpi_1m()
    dump = smbios.dump_bin(table)
    acpi_bytes = sum(t.length for t in tables)
    print(f"inputs: SMBIOS table {len(table.table_bytes)} bytes ({len(table.structures)} "
          f"structures), ACPI {acpi_bytes} bytes ({len(tables)} tables)\n")

    def build():
        return build_image([table.encode(), encode_acpi_module(tables)])
    image = build()
    t_build, m_build = best(build)
    t_verify, m_verify = best(lambda: verify_image(image))
    t_crc, _ = best(lambda: zlib.crc32(image))
    mb = len(image) / 1e6
    print(f"build image ({len(image)} bytes):    {t_build * 1e3:8.2f} ms (median {m_build * 1e3:.2f})")
    print(f"verify image (via the C reader):  {t_verify * 1e3:8.2f} ms = {mb / t_verify:7.1f} MB/s "
          f"(median {m_verify * 1e3:.2f})")
    print(f"  baseline zlib.crc32 of image:   {t_crc * 1e3:8.2f} ms; verify/crc32 = "
          f"{t_verify / t_crc:.1f}x")

    with tempfile.TemporaryDirectory() as d:
        img_path, dump_path = os.path.join(d, "img"), os.path.join(d, "dump")
        open(img_path, "wb").write(image)
        open(dump_path, "wb").write(dump)
        if os.path.exists(XCMOD_READ):
            t_c, _ = best(lambda: subprocess.run([XCMOD_READ, img_path], stdout=subprocess.DEVNULL,
                                                 check=True))
            t_true, _ = best(lambda: subprocess.run(["true"], check=True))
            print(f"verify image (C xcmod-read):      {t_c * 1e3:8.2f} ms incl. process start "
                  f"({t_true * 1e3:.2f} ms for `true`); in-process/C = {t_verify / t_c:.1f}x")

        t_smb, _ = best(lambda: smbios.parse_dump(dump))
        t_dmi, _ = best(lambda: subprocess.run(["dmidecode", "--from-dump", dump_path],
                                               stdout=subprocess.DEVNULL, check=True))
        smb_mb = len(dump) / 1e6
        print(f"\nSMBIOS parse (64 KiB dump):       {t_smb * 1e3:8.2f} ms = {smb_mb / t_smb:7.1f} MB/s")
        print(f"  baseline dmidecode --from-dump: {t_dmi * 1e3:8.2f} ms = {smb_mb / t_dmi:7.1f} MB/s "
              f"(full decode + process start); xcmod/dmidecode time = {t_smb / t_dmi:.2f}x")

    blob = b"".join(t.raw for t in tables)
    t_acpi, _ = best(lambda: [acpi.parse_table(t.raw) for t in tables])
    t_sum, _ = best(lambda: sum(blob))
    print(f"\nACPI parse (1 MiB, {len(tables)} tables): {t_acpi * 1e3:8.2f} ms = "
          f"{acpi_bytes / 1e6 / t_acpi:7.1f} MB/s")
    print(f"  baseline sum() over the bytes:  {t_sum * 1e3:8.2f} ms; parse/sum = {t_acpi / t_sum:.2f}x")
    policy_build()
    startup()
    return 0


def host_capture(d):
    """A host-style capture in sysfs layout: every SMBIOS type of a real server
    (SuperMicro, 149 structures) as a dump, and every real ACPI table as
    DIR/acpi/SIGn (about 40 tables)."""
    from tests.paths import acpi_tables
    t = smbios.read_file(os.path.join(REAL, "smbios/go-smbios/SuperMicro-Dual-Xeon.dmi"))
    t.major, t.minor, t.entry_point = 3, 0, 3
    dump = os.path.join(d, "host.dmi")
    open(dump, "wb").write(smbios.dump_bin(t))
    adir = os.path.join(d, "acpi")
    os.makedirs(adir)
    seen = {}
    for name in acpi_tables():
        raw = open(os.path.join(REAL, name), "rb").read()
        sig = raw[:4].decode("latin-1").replace("!", "_")
        seen[sig] = seen.get(sig, 0) + 1
        open(os.path.join(adir, f"{sig}{seen[sig]}"), "wb").write(raw)
    return dump, adir, len(t.structures), sum(seen.values())


def policy_build():
    from xcmod.builder import policy
    from xcmod.builder.select import select
    with tempfile.TemporaryDirectory() as d:
        dump, adir, nstruct, ntables = host_capture(d)
        pol = policy.read(None)

        def build():
            sel = select(pol, dump, [adir])
            return build_image([sel.smbios.encode(), encode_acpi_module(sel.acpi)])
        t_pol, m_pol = best(build)
        t_dmi, _ = best(lambda: subprocess.run(["dmidecode", "--from-dump", dump],
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, check=True))
        print(f"\nbuild with the default policy (host capture: {nstruct} SMBIOS structures, "
              f"{ntables} ACPI tables):")
        print(f"  select + scrub + lint + encode: {t_pol * 1e3:8.2f} ms (median {m_pol * 1e3:.2f})")
        print(f"  baseline dmidecode --from-dump: {t_dmi * 1e3:8.2f} ms; xcmod/dmidecode = "
              f"{t_pol / t_dmi:.2f}x")


def _interleaved(commands, env, rounds=15):
    """{name: (best, median)} wall time of each ``commands[name]`` (argv, env or None),
    run round-robin ``rounds`` times, so that a busy moment of the machine falls on
    every command alike rather than on whichever was being timed."""
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (argv, cmd_env) in commands.items():
            t = time.perf_counter()
            subprocess.run(argv, env=cmd_env or env, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - t)
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}


def _fake_xen(d, env):
    """A paused fake HVM domain 5 (tests/fakexen: the libxenctrl double and the real
    xenstored) and the environment `xcmod load` reaches it with, or None and why not."""
    from tests import fakexen
    lib = os.path.join(ROOT, "build", "fake-xen")
    if not os.path.exists(os.path.join(lib, "libxenctrl.so")) or \
            not os.path.exists(fakexen.XENSTORED):
        return None, "no build/fake-xen or no xenstored (make fake-xen, xen-utils)"
    state = os.path.join(d, "xen")
    xen_env = dict(env, LD_LIBRARY_PATH=lib, XCMOD_FAKEXEN_DIR=state,
                   XENSTORED_PATH=fakexen.socket_path(state),
                   XCMOD_LOCK_DIR=os.path.join(state, "locks"))
    fakexen.create(state, 5, 96)
    return xen_env, state


def startup():
    """CLI start-up: `python3 -m xcmod build` of a SeaBIOS-sized capture (what
    tests/fwgen.py gets from QEMU's SeaBIOS), `verify` and `inspect` of the image
    and `load` of it into a fake Xen domain, against `python3 -m` of an empty
    module in the same run.  Goals: build and inspect <= 3x, verify and load <= 2x."""
    from tests.fwgen import FwgenError, generate
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as d:
        cap = os.path.join(d, "cap")
        try:
            generate(cap, machine="q35", seed=12)
        except (FwgenError, OSError) as e:
            print(f"\nCLI start-up: skipped, no SeaBIOS capture ({e})")
            return
        img = os.path.join(d, "m.bin")
        py = [sys.executable, "-m"]
        build = py + ["xcmod", "build", "-q", "-o", img, "--smbios",
                      os.path.join(cap, "smbios.bin"), "--acpi", os.path.join(cap, "acpi")]
        subprocess.run(build, env=env, cwd=ROOT, check=True)       # and warm the .pyc caches
        ntab = len(os.listdir(os.path.join(cap, "acpi")))
        commands = {"empty": (py + ["benchmarks.empty"], None),
                    "import construct": (py + ["benchmarks.construct_only"], None),
                    "build's imports": (py + ["benchmarks.imports", "xcmod.cli",
                                              "xcmod.cli.build"], None),
                    "build": (build, None),
                    "verify": (py + ["xcmod", "verify", "-q", img], None),
                    "inspect": (py + ["xcmod", "inspect", img], None)}
        xen_env, state = _fake_xen(d, env)
        if xen_env:
            commands["load"] = (py + ["xcmod", "load", "--domid", "5", img], xen_env)
        commands["load's imports"] = (py + ["benchmarks.imports", "xcmod.cli", "xcmod.cli.xen",
                                            "argparse", "shutil", "threading"], None)
        commands["argparse"] = (py + ["benchmarks.imports", "argparse", "shutil"], None)
        commands["load --help"] = (py + ["xcmod", "load", "--help"], None)
        try:
            for argv, cmd_env in commands.values():                # warm every .pyc cache
                subprocess.run(argv, env=cmd_env or env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               check=True)
            t = _interleaved(commands, env)
        finally:
            if xen_env:
                from tests import fakexen
                fakexen.stop(state)
        floor = t["empty"][0]
        goals = {"build": 3, "verify": 2, "inspect": 3, "load": 2}
        print(f"\nCLI start-up (SeaBIOS q35 capture: {ntab} ACPI tables, a {os.path.getsize(img)}"
              f"-byte image; best of 15, run in turn, median in brackets):")
        print(f"  baseline python3 -m <empty>:    {floor * 1e3:8.2f} ms ({t['empty'][1] * 1e3:.2f})")
        for name, (best_t, median_t) in t.items():
            if name == "empty":
                continue
            notes = {"import construct": "the struct library alone",
                     "build's imports": "the modules build imports, running nothing",
                     "load's imports": "the modules load imports, running nothing",
                     "argparse": "argparse and the shutil its formatter imports",
                     "load --help": "argparse's help of one command"}
            goal = f"  (goal <= {goals[name]}x)" if name in goals else f"  ({notes[name]})"
            label = f"python3 -m <{name}>:" if name in notes and name != "load --help" \
                else "python3 -m xcmod " + name + ":"
            print(f"  {label:<32}{best_t * 1e3:8.2f} ms "
                  f"({median_t * 1e3:.2f}) = {best_t / floor:.2f}x{goal}")
        if not xen_env:
            print(f"  python3 -m xcmod load:          skipped: {state}")
        # what each command adds to the library it cannot start without: construct
        # (build and inspect build and describe with it), argparse (every command)
        over = [(name, base) for name, base in (("build", "import construct"),
                                                 ("inspect", "import construct"),
                                                 ("verify", "argparse"), ("load", "argparse"))
                if name in t]
        print("  over their libraries (best against best): " + ", ".join(
            f"{name} {t[name][0] / t[base][0]:.2f}x <{base}>" for name, base in over))


if __name__ == "__main__":
    sys.exit(main())
