# SPDX-License-Identifier: MIT
"""The boot cost, by Xen's console timestamps (run under QEMU's -icount)."""
from . import step
from .rig import CFG_OVMF, CFG_STOCK, CFG_XCMOD, create, result, sh, xcmod, xl_info
from .xencons import between, console, guest_timed, wait_for_handover


@step("boot-bench")
def boot_bench(rounds=5):
    """hvmloader's first console line ("HVM Loader") to its hand-over ("Invoking
    SeaBIOS"), by Xen's console timestamps: the stock build with stock blocks, the
    patched build with the same blocks, and the patched build with modules of the
    same content; and for the UEFI guest (to "Invoking OVMF") the patched build
    without a load and with the modules; ``rounds`` boots each, the order rotated
    every round.  Also the
    part of each span hvmloader spends waiting for its first xenstore answer
    ("Xenbus rings" to "System requested"): dom0's xenstored has to be scheduled
    for it, whatever hvmloader is built from."""
    runs = (("stock-blocks", CFG_STOCK, "/data/blocks", "Invoking SeaBIOS"),
            ("xcmod-blocks", CFG_XCMOD, "/data/blocks", "Invoking SeaBIOS"),
            ("xcmod-modules", CFG_XCMOD, "/data/mods.bin", "Invoking SeaBIOS"),
            # the UEFI guest (real qemu-xen, OvmfXen): without a load, and with one
            ("ovmf-none", CFG_OVMF, None, "Invoking OVMF"),
            ("ovmf-modules", CFG_OVMF, "/data/mods.bin", "Invoking OVMF"))
    spans = {key: [] for key, *_ in runs}
    first_xs = {key: [] for key, *_ in runs}
    for i in range(rounds):
        for key, cfg, load, to in runs[i % len(runs):] + runs[:i % len(runs)]:
            d, _ = create(f"bench-{key}-{i}", cfg=cfg)
            rc = xcmod("load", "--domid", d, load)[0] if load else 0
            console()
            sh("xl", "unpause", str(d))
            reached = rc == 0 and wait_for_handover(d, to=to)
            lines = guest_timed(d) if reached else []
            spans[key].append(between(lines, "HVM Loader", to))
            first_xs[key].append(between(lines, "Xenbus rings", "System requested"))
            sh("xl", "destroy", str(d))
    result("boot-bench", spans=spans, first_xenstore=first_xs, rounds=rounds,
           running=xl_info())

