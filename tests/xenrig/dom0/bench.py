# SPDX-License-Identifier: MIT
"""The boot cost of the image on every path, by Xen's console timestamps (the job
runs under QEMU's -icount: tests/test_xen_rig.py's boot bench).

hvmloader's first console line ("HVM Loader") to its hand-over ("Invoking SeaBIOS",
"Invoking OVMF"), for the patched hvmloader on the SeaBIOS guest and on the UEFI
guest (OvmfXen), each without an image, with the image through the carrier of
`xcmod export xl` (xl create) and with the same image through `xcmod load`;
``rounds`` boots of each, the order rotated every round.  Also the part of each
span hvmloader spends waiting for its first xenstore answer ("Xenbus rings" to
"System requested"): dom0's xenstored has to be scheduled for it, whatever
hvmloader is built from."""
import json
import time

from . import step
from .rig import CFG_OVMF, CFG_XCMOD, HVMLOADER_XCMOD, create, result, sh, xcmod, xl_info
from .xencons import between, console, guest_timed

IMAGE = "/data/mods-x.bin"


def carrier_cfg(base, lines, name):
    """``base`` with export xl's carrier line(s) added (its firmware= is already the
    patched hvmloader the lines name)."""
    path = f"/tmp/{name}.cfg"
    with open(path, "w") as f:
        f.write(open(base).read() + "".join(x + "\n" for x in lines
                                            if not x.startswith("firmware")))
    return path


def handed_over(domid, to, timeout=120):
    """Unpaused ``domid``'s hvmloader has handed over (its line ``to``).  dom0 stays
    idle while hvmloader runs (under -icount its work would count in the guest's
    time): it sleeps half a second of guest time (hvmloader's span is milliseconds),
    then looks every half second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if any(text.startswith(to) for _, text in guest_timed(domid)):
            return True
    return False


@step("boot-bench")
def boot_bench(rounds=5):
    rc, out, err, _ = xcmod("export", "xl", IMAGE, "--hvmloader", HVMLOADER_XCMOD,
                            "--out-dir", "/tmp/bench-carrier", "--json")
    if rc:
        result("boot-bench", rc=rc, err=err)
        raise SystemExit(1)
    lines = [x for x in json.loads(out)["lines"] if not x.startswith("#")]
    seabios, uefi = "Invoking SeaBIOS", "Invoking OVMF"
    runs = (("seabios-none", CFG_XCMOD, None, seabios),
            ("seabios-carrier", carrier_cfg(CFG_XCMOD, lines, "bench-seabios"), None, seabios),
            ("seabios-load", CFG_XCMOD, IMAGE, seabios),
            # the UEFI guest (real qemu-xen, OvmfXen)
            ("ovmf-none", CFG_OVMF, None, uefi),
            ("ovmf-carrier", carrier_cfg(CFG_OVMF, lines, "bench-ovmf"), None, uefi),
            ("ovmf-load", CFG_OVMF, IMAGE, uefi))
    spans = {key: [] for key, *_ in runs}
    first_xs = {key: [] for key, *_ in runs}
    for i in range(rounds):
        for key, cfg, load, to in runs[i % len(runs):] + runs[:i % len(runs)]:
            d, _ = create(f"bench-{key}-{i}", cfg=cfg)
            rc = xcmod("load", "--domid", d, load)[0] if load else 0
            console()
            sh("xl", "unpause", str(d))
            reached = rc == 0 and handed_over(d, to)
            lines_d = guest_timed(d) if reached else []
            spans[key].append(between(lines_d, "HVM Loader", to))
            first_xs[key].append(between(lines_d, "Xenbus rings", "System requested"))
            sh("xl", "destroy", str(d))
    result("boot-bench", rc=0, spans=spans, first_xenstore=first_xs, rounds=rounds,
           running=xl_info(), carrier=lines)
