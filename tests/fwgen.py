# SPDX-License-Identifier: MIT
"""The project's SeaBIOS table generator: real firmware builds fresh tables.

QEMU boots its own SeaBIOS with chosen (or random) SMBIOS values and extra
ACPI tables; once POST has put the SMBIOS entry point and the RSDP into the
F-segment, guest RAM is saved and what the BIOS built is written out:

    OUT/smbios.bin     entry point + table, as `dmidecode --dump-bin` writes it
    OUT/dmidecode.txt  dmidecode's decoding of that dump
    OUT/acpi/SIG.dat   every ACPI table reachable from the RSDP (SSDT1.dat, ...)
    OUT/params.json    machine, entry point, the -smbios/-acpitable values, seed

    python3 -m tests.fwgen OUT [--random] [--seed N] [--machine pc|q35]
                           [--entry 32|64] [--smbios SPEC]... [--acpitable SPEC]...

SPECs go to QEMU's -smbios / -acpitable unchanged.  Shares no code with xcmod
(it is a referee), needs Debian's qemu-system-x86, seabios and dmidecode.
"""
import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

from .referees import dmidecode_mem

RAM_MIB = 128
FSEG = (0xF0000, 0x10000)
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NAMES = ("Contoso", "Fabrikam", "Northwind", "Tailspin", "Adatum", "Litware", "Proseware",
         "Woodgrove", "Wingtip", "Coho")


class FwgenError(RuntimeError):
    """QEMU, SeaBIOS or dmidecode did not give what was asked (a test failure, not an exit)."""


class Qmp:
    """A minimal QMP client over QEMU's UNIX socket."""

    def __init__(self, path, deadline, proc=None, log=None):
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if proc is not None and proc.poll() is not None:
                    said = ""
                    if log is not None:
                        log.seek(0)
                        said = ": " + " | ".join(log.read().strip().splitlines()[-2:])
                    raise FwgenError(f"{proc.args[0]} exited ({proc.returncode}) before "
                                     f"QMP came up{said}")
                if time.monotonic() > deadline:
                    raise FwgenError("QEMU's QMP socket never came up")
                time.sleep(0.05)
        self.f = self.sock.makefile("rw")
        self.f.readline()                          # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **arguments):
        self.f.write(json.dumps({"execute": name, "arguments": arguments}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "error" in r:
                raise FwgenError(f"QMP {name}: {r['error']}")
            if "return" in r:
                return r["return"]

    def close(self):
        self.sock.close()


def _tables_ready(fseg):
    """SeaBIOS has finished: the SMBIOS anchor and the RSDP are in the F-segment."""
    smbios = fseg.find(b"_SM_") >= 0 or fseg.find(b"_SM3_") >= 0
    return smbios and fseg.find(b"RSD PTR ") >= 0


@contextlib.contextmanager
def running(args, log):
    """Popen ``args`` writing to the file ``log`` (never a pipe it could fill); stopped
    on the way out if it is still running: SIGINT first, which QEMU takes as quit and
    virt-qemu-run as "destroy the guest" (a SIGKILL would leave libvirt's QEMU child
    running), then SIGKILL after 20 s."""
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def save_when_ready(q, proc, log, work, deadline, ram_mib=RAM_MIB, quit=True):
    """Poll the F-segment through QMP ``q`` until SeaBIOS has built its tables, then
    stop the guest, save all of its RAM to WORK/ram.bin and (``quit``) end QEMU; the path.
    ``proc`` is the process that runs QEMU (QEMU itself, or virt-qemu-run), ``log``
    the file it writes to, read back into the error when no tables come."""
    ram, fseg = os.path.join(work, "ram.bin"), os.path.join(work, "fseg.bin")
    while True:
        q.cmd("pmemsave", val=FSEG[0], size=FSEG[1], filename=fseg)
        if _tables_ready(open(fseg, "rb").read()):
            break
        if time.monotonic() > deadline or proc.poll() is not None:
            log.seek(0)
            raise FwgenError("SeaBIOS built no tables: " + log.read())
        time.sleep(0.1)
    time.sleep(0.2)                                # let POST finish its writes
    q.cmd("stop")
    q.cmd("pmemsave", val=0, size=ram_mib << 20, filename=ram)
    if quit:
        q.cmd("quit")
    q.close()
    return ram


def _qemu(machine, sock, extra, smbios, acpitables):
    """QEMU's command line: ``machine``, RAM_MIB of RAM, no devices or display, QMP
    on ``sock``, ``extra`` options, then each -smbios and -acpitable value."""
    args = ["qemu-system-x86_64", "-machine", machine, "-m", str(RAM_MIB), "-nodefaults",
            "-display", "none", "-monitor", "none", "-qmp", f"unix:{sock},server=on,wait=off",
            *extra]
    for s in smbios:
        args += ["-smbios", s]
    for a in acpitables:
        args += ["-acpitable", a]
    return args


def snapshot_ram(machine, entry, smbios, acpitables, work, timeout=60):
    """Boot QEMU+SeaBIOS, wait for the tables, save all of guest RAM; its path."""
    sock, ram = os.path.join(work, "qmp.sock"), os.path.join(work, "ram.bin")
    m = machine if entry == 32 else f"{machine},smbios-entry-point-type=64"
    args = _qemu(m, sock, ["-serial", "none"], smbios, acpitables)
    deadline = time.monotonic() + timeout
    log = open(os.path.join(work, "qemu.log"), "w+")
    with running(args, log) as p:
        save_when_ready(Qmp(sock, deadline), p, log, work, deadline)
        p.wait(timeout=20)
    return ram


OVMF = "/usr/share/ovmf/OVMF.fd"        # Debian's ovmf: edk2's OvmfPkgX64, for QEMU


def snapshot_ovmf_ram(smbios, acpitables, work, timeout=180):
    """Boot QEMU (q35) with Debian's OVMF to its UEFI shell, with no boot device,
    then save all of guest RAM; its path.  By the shell prompt the DXE phase is
    over: the EFI system table's configuration table lists the ACPI and SMBIOS
    tables OVMF built from QEMU's fw_cfg."""
    sock, ram = os.path.join(work, "qmp.sock"), os.path.join(work, "ram.bin")
    serial = os.path.join(work, "serial.log")
    args = _qemu("q35", sock, ["-bios", OVMF, "-serial", f"file:{serial}"], smbios,
                 acpitables)
    deadline = time.monotonic() + timeout
    log = open(os.path.join(work, "qemu.log"), "w+")
    with running(args, log) as p:
        q = Qmp(sock, deadline)
        while not (os.path.exists(serial) and b"Shell> " in open(serial, "rb").read()):
            if time.monotonic() > deadline or p.poll() is not None:
                log.seek(0)
                raise FwgenError("OVMF reached no UEFI shell: " + log.read())
            time.sleep(0.5)
        q.cmd("stop")
        q.cmd("pmemsave", val=0, size=RAM_MIB << 20, filename=ram)
        q.cmd("quit")
        q.close()
        p.wait(timeout=20)
    return ram


def acpi_tables(mem):
    """{name: bytes} of every table reachable from the RSDP in the BIOS area."""
    rsdp = next((a for a in range(0xE0000, 0x100000, 16) if mem[a:a + 8] == b"RSD PTR "
                 and sum(mem[a:a + 20]) & 0xFF == 0), None)
    if rsdp is None:
        return {}
    rev = mem[rsdp + 15]
    out, seen = {"RSDP": mem[rsdp:rsdp + (36 if rev >= 2 else 20)]}, {}

    def at(addr):
        return mem[addr:addr + struct.unpack_from("<I", mem, addr + 4)[0]]

    def add(t):
        sig = t[:4].decode("latin-1")
        n = seen[sig] = seen.get(sig, -1) + 1
        out[sig if n == 0 else f"{sig}{n}"] = t

    xsdt = struct.unpack_from("<Q", mem, rsdp + 24)[0] if rev >= 2 else 0
    root, width = (xsdt, 8) if xsdt else (struct.unpack_from("<I", mem, rsdp + 16)[0], 4)
    rt = at(root)
    add(rt)
    for off in range(36, len(rt), width):
        t = at(struct.unpack_from("<Q" if width == 8 else "<I", rt, off)[0])
        add(t)
        if t[:4] == b"FACP":
            facs, dsdt = struct.unpack_from("<II", t, 36)
            if len(t) >= 148:
                dsdt = struct.unpack_from("<Q", t, 140)[0] or dsdt
            for addr in (dsdt, facs):
                if addr:
                    add(at(addr))
    return out


def random_values(rng, work):
    """Machine, entry point, -smbios and -acpitable values drawn from ``rng``."""
    def word():
        return rng.choice(NAMES) + "-" + "".join(rng.choice(ALNUM)
                                                 for _ in range(rng.randint(3, 10)))
    smbios = [
        f"type=0,vendor={word()},version={rng.randint(1, 9)}.{rng.randint(0, 99)},"
        f"date=0{rng.randint(1, 9)}/1{rng.randint(0, 9)}/20{rng.randint(10, 26)}",
        f"type=1,manufacturer={word()},product={word()},version={word()},serial={word()},"
        f"uuid={uuid.UUID(int=rng.getrandbits(128), version=4)},sku={word()},family={word()}",
        f"type=2,manufacturer={word()},product={word()},version={word()},serial={word()},"
        f"asset={word()},location={word()}",
        f"type=3,manufacturer={word()},version={word()},serial={word()},asset={word()},"
        f"sku={word()}",
    ]
    smbios += [f"type=11,value={word()}" for _ in range(rng.randint(1, 4))]
    acpitables = []
    for i in range(rng.randint(1, 3)):
        blob = os.path.join(work, f"extra{i}.bin")
        with open(blob, "wb") as f:
            f.write(rng.randbytes(rng.randint(16, 400)))
        oem = "".join(rng.choice(ALNUM) for _ in range(6))
        acpitables.append(f"sig={rng.choice(['SSDT', 'SLIC', 'MSDM', 'OEMX'])},rev=1,"
                          f"oem_id={oem},oem_table_id=T{rng.randint(1000000, 9999999)},"
                          f"oem_rev={rng.randint(1, 999)},asl_compiler_id=QEMU,"
                          f"asl_compiler_rev=1,data={blob}")
    return rng.choice(["pc", "q35"]), rng.choice([32, 64]), smbios, acpitables


def generate(out, machine="pc", entry=32, smbios=(), acpitables=(), rand=False, seed=None):
    seed = random.randrange(1 << 32) if seed is None else seed
    smbios, acpitables = list(smbios), list(acpitables)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fwgen-")
    try:
        if rand:
            machine, entry, s, a = random_values(random.Random(seed), work)
            smbios, acpitables = s + smbios, a + acpitables
        ram = snapshot_ram(machine, entry, smbios, acpitables, work)
        dump = os.path.join(out, "smbios.bin")
        try:
            dmidecode_mem(ram, "-q", dump_bin=dump)
        except subprocess.CalledProcessError as e:
            raise FwgenError("dmidecode --dump-bin failed: " + e.stderr) from None
        text = subprocess.run(["dmidecode", "--from-dump", dump], capture_output=True,
                              text=True, check=True).stdout
        with open(os.path.join(out, "dmidecode.txt"), "w") as f:
            f.write(text)
        os.makedirs(os.path.join(out, "acpi"), exist_ok=True)
        with open(ram, "rb") as f:
            mem = f.read()
        for name, blob in acpi_tables(mem).items():
            with open(os.path.join(out, "acpi", name + ".dat"), "wb") as f:
                f.write(blob)
        with open(os.path.join(out, "params.json"), "w") as f:
            json.dump({"seed": seed, "machine": machine, "entry_point": entry,
                       "smbios": smbios, "acpitable": acpitables}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tests.fwgen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--machine", default="pc", choices=["pc", "q35"])
    ap.add_argument("--entry", type=int, choices=[32, 64], default=32)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--smbios", action="append", default=[])
    ap.add_argument("--acpitable", action="append", default=[])
    ap.add_argument("--random", action="store_true")
    a = ap.parse_args(argv)
    try:
        generate(a.out, a.machine, a.entry, a.smbios, a.acpitable, a.random, a.seed)
    except FwgenError as e:
        print(f"fwgen: {e}", file=sys.stderr)
        return 1
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
