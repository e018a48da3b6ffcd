"""Load an image into a paused HVM guest and tell hvmloader where it is.

    >>> import xcmod
    >>> xcmod.load(5, open("mods.bin", "rb").read())        # doctest: +SKIP
    LoadResult(domid=5, base=2097152, length=3840, count=2, keys={...})

Two formats, one procedure:

* an xcmod image goes at ``base`` and is announced under
  ``hvmloader/modules/{address,length,count}``;
* stock blocks (``build --format xen``: smbios.bin, acpi.bin) go page-aligned
  from ``base`` and are announced with the four keys stock hvmloader reads,
  ``hvmloader/{smbios,acpi}/{address,length}``.

Order, so that a failure leaves nothing behind: validate the input, check the
domain and the layout, connect to xenstored, copy and verify guest RAM (and
read back what ``measure`` asks for), and only then write the keys, in one
transaction, guest read-only.

The layout keeps clear of what libxc's domain builder placed after hvmloader
(the "firmware" module: OVMF's 2 MiB reach past 0x200000), as the guest's
hvm_start_info lists it (:func:`_libxc_regions`).

One truth in xenstore: the transaction that writes one path's keys removes
the other path's (see :func:`stale_paths`), so hvmloader
never finds keys describing RAM that now holds something else.  Loads into one
domain are serialised by a lock per domain (:func:`domain_lock`), and inside
the transaction the guest RAM the keys describe is read back once more, so
keys are only written for bytes that are there.
"""
import errno as _errno
import os

from ..errors import UsageError, XenError
from ..image.blocks import IMAGE, Block, check
from .layout import DEFAULT_BASE, HVMLOADER_PHYSICAL_ADDRESS, PCI_MEM_START, plan
from .xenstore import domain_path, require_domain

# The nodes a load writes under /local/domain/<domid>/: the module image's and
# stock hvmloader's two (hvm_xs_strings.h), with the keys each holds.
LOAD_KEYS = {"hvmloader/modules": ("address", "length", "count"),
             "hvmloader/smbios": ("address", "length"),
             "hvmloader/acpi": ("address", "length")}


def stale_paths(domid, keys):
    """What a load writing ``keys`` removes: the other path's nodes (a module image's
    load removes the stock blocks' and the reverse), and the keys of the nodes it
    writes that it does not set.  A stock load of one block leaves the other
    block's keys alone: libxl may have written them for ``acpi_firmware=`` or
    ``smbios_firmware=``."""
    root = domain_path(domid)
    written = {node for node, names in LOAD_KEYS.items()
               if any(f"{root}/{node}/{n}" in keys for n in names)}
    modules = "hvmloader/modules" in written
    out = []
    for node, names in LOAD_KEYS.items():
        if node in written:
            out += [f"{root}/{node}/{n}" for n in names if f"{root}/{node}/{n}" not in keys]
        elif (node == "hvmloader/modules") != modules:
            out.append(f"{root}/{node}")
    return out


# Where the per-domain lock files live (XCMOD_LOCK_DIR overrides, for tests).
LOCK_DIR = "/run/xcmod"
DEFAULT_LOCK_TIMEOUT = 30.0


class domain_lock:
    """An exclusive lock on one domain's loads, held for a ``with`` block.

    A ``flock`` on ``LOCK_DIR/domain-<domid>.lock``: the kernel drops it when
    its holder exits, however it exits, so a crashed load never leaves it
    stuck.  Waits at most ``timeout`` seconds, then raises ETIMEDOUT.
    """

    def __init__(self, domid, timeout=DEFAULT_LOCK_TIMEOUT):
        self.domid, self.timeout, self.fd = domid, timeout, None

    def __enter__(self):
        import fcntl
        import time
        d = os.environ.get("XCMOD_LOCK_DIR", LOCK_DIR)
        path = os.path.join(d, f"domain-{self.domid}.lock")
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise XenError(e.errno, f"lock {path}: {e.strerror}", op="lock") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise XenError(_errno.ETIMEDOUT, f"domain {self.domid}: another load "
                                   f"still holds {path} after {self.timeout:g} s",
                                   op="lock") from None
                time.sleep(0.01)

    def __exit__(self, *exc):
        os.close(self.fd)             # releases the flock


class LoadResult:
    """What a load did (a plain class: see layout.Region on import cost).

    ``blocks``: [(kind, name, gpa, length)] as placed; ``count``: the modules of
    an xcmod image (the value of hvmloader/modules/count), None for stock blocks;
    ``libxc``: the Regions libxc placed that the layout kept clear of.
    """

    def __init__(self, domid, base, length, count, keys=None, blocks=None, measurement=None,
                 warnings=None, libxc=None):
        self.domid, self.base, self.length, self.count = domid, base, length, count
        self.libxc = libxc or []
        self.keys = keys or {}
        self.blocks = blocks or []            # [(kind, name, gpa, length)]
        self.measurement = measurement
        self.warnings = warnings or []        # what the caller should be told

    def __repr__(self):
        return (f"LoadResult(domid={self.domid}, base={self.base}, length={self.length}, "
                f"count={self.count}, keys={self.keys!r})")

    def as_dict(self):
        d = {"domid": self.domid, "base": self.base, "length": self.length,
             "count": self.count, "keys": self.keys,
             "blocks": [{"kind": k, "name": n, "address": a, "length": n_}
                        for k, n, a, n_ in self.blocks],
             "libxc": [r.as_dict() for r in self.libxc],
             "warnings": self.warnings}
        if self.measurement is not None:
            d["measurement"] = self.measurement
        return d


def _keys_for(domid, placed, count):
    """The keys that announce ``placed`` [(Block, gpa)] to hvmloader, by each block's kind;
    an image's node also gets its module ``count``."""
    keys = {}
    for blk, gpa in placed:
        node = "modules" if blk.kind == IMAGE else blk.kind
        root = domain_path(domid, "hvmloader", node)
        keys[f"{root}/address"] = f"{gpa:#x}"
        keys[f"{root}/length"] = f"{len(blk):#x}"
        if blk.kind == IMAGE:
            keys[f"{root}/count"] = str(count)
    return keys


def _load_blocks(domid, blocks, count, force, hvmloader_end, base, measure, lock_timeout):
    """Place ``blocks`` (checked Blocks), copy, verify, publish their keys."""
    from .xenctrl import XenControl
    from .xenstore import XenStore

    warnings = []
    with domain_lock(domid, lock_timeout), XenControl() as xc:
        info = xc.domain_info(domid)
        lowmem_end = _guest_lowmem_end(xc, domid, info, warnings)
        libxc = _libxc_regions(xc, domid, info, force, lowmem_end, warnings)
        layout = plan([(b.name, len(b)) for b in blocks], info.memory_mib, base, hvmloader_end,
                      lowmem_end=lowmem_end, libxc=libxc)
        placed = [(b, region.start) for b, region in zip(blocks, layout.blocks)]
        for b, gpa in placed:
            xc.check_domain(domid, gpa, len(b), force=force)
        with XenStore() as xs:
            require_domain(xs, domid)
            for b, gpa in placed:
                xc.copy_to_guest(domid, gpa, b.data)
            measurement = None
            if measure:
                measurement = _measure(xc, domid, placed, hvmloader_end)
            keys = _keys_for(domid, placed, count)
            stale = stale_paths(domid, keys)

            def publish(t):
                # The keys may only describe bytes that are there: read the
                # guest RAM once more, inside the transaction that writes them.
                for b, gpa in placed:
                    if xc.read_from_guest(domid, gpa, len(b)) != b.data:
                        raise XenError(_errno.EIO, f"domain {domid}: guest RAM at {gpa:#x} "
                                       f"changed after {b.name} was copied there (another "
                                       f"writer?); no key written", op="verify")
                # One directory read instead of an rm round trip per stale node:
                # a fresh domain has none of them.
                hv = domain_path(domid, "hvmloader/")
                present = set(xs.directory(hv[:-1], t))
                for path in stale:
                    if path[len(hv):].split("/")[0] in present:
                        xs.rm(path, t)
                for path, value in keys.items():
                    xs.write_for_guest(path, value, domid, t)
            xs.transaction(publish)
    return keys, [(b.kind, b.name, g, len(b)) for b, g in placed], measurement, warnings, libxc


def _libxc_regions(xc, domid, info, force, lowmem_end, warnings):
    """What libxc's domain builder placed after hvmloader, which the image must not
    overwrite: the modules the guest's hvm_start_info lists (the "firmware"
    module, SeaBIOS or OVMF) and the start info itself, found at vCPU0's %rbx.

    [] for a domain the shim will refuse anyway (PV, dying, running without
    ``force``).  [] and a line in ``warnings`` where there is no start info:
    the layout is then what it was without one, from DEFAULT_BASE.  A start
    info whose numbers are wrong is a FormatError: nothing is loaded.
    """
    from .layout import start_info_regions
    if not info.hvm or info.dying or not (info.paused or force):
        return []
    ram_end = lowmem_end or min(info.max_memkb * 1024, PCI_MEM_START)
    regions, reason = start_info_regions(lambda a, n: xc.read_from_guest(domid, a, n),
                                         xc.start_info_gpa(domid), ram_end,
                                         f"domain {domid}")
    if regions is None:
        warnings.append(f"domain {domid}: no hvm_start_info ({reason}), so what libxc "
                        f"placed after hvmloader is unknown: the image is placed as if "
                        f"nothing were there, from {DEFAULT_BASE:#x} or --base (where "
                        f"OVMF's 2 MiB firmware module, for one, would lie)")
        return []
    return regions


def _guest_lowmem_end(xc, domid, info, warnings):
    """Where the guest's low RAM really ends: the HVM info table's low_mem_pgend.

    max_memkb also counts memory the guest does not see as RAM (the device
    model's video RAM, for one), so the table the domain builder wrote, which
    hvmloader itself follows, is the better limit.  None (fall back to
    max_memkb) for a PV domain, or when there is no valid table to read; the
    latter is said in ``warnings``, naming what is used instead.
    """
    from ..errors import XcmodError
    from .hvminfo import HVM_INFO_PADDR, SIZE, low_mem_end
    if not info.hvm or info.max_memkb * 1024 < HVM_INFO_PADDR + SIZE:
        return None
    try:
        return low_mem_end(xc.read_from_guest(domid, HVM_INFO_PADDR, SIZE))
    except XcmodError as e:
        warnings.append(f"domain {domid}: HVM info table at {HVM_INFO_PADDR:#x} unusable "
                        f"({getattr(e, 'message', e)}); the image is "
                        f"checked against max_memkb "
                        f"({info.memory_mib} MiB) instead, which counts video RAM too")
        return None


def _measure(xc, domid, placed, hvmloader_end):
    """SHA-256 of hvmloader's range and every block, as read back from guest RAM."""
    from ..image.manifest import block_items, measure
    items = [("hvmloader", xc.read_from_guest(domid, HVMLOADER_PHYSICAL_ADDRESS,
                                             hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS))]
    for b, gpa in placed:          # as build --manifest has them, but read back
        items += block_items(b.kind, b.name, xc.read_from_guest(domid, gpa, len(b)))
    doc = measure(items)
    doc["domid"] = domid
    doc["regions"] = ([{"name": "hvmloader", "address": HVMLOADER_PHYSICAL_ADDRESS,
                        "length": hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS}] +
                      [{"name": b.name, "address": g, "length": len(b)} for b, g in placed])
    return doc


def load(domid, image, base=None, force=False, hvmloader_end=None, source=None,
         measure=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Copy ``image`` into domain ``domid`` and publish the keys hvmloader reads.

    ``base`` None places it after hvmloader and what libxc placed there (the
    firmware module), at 0x200000 at the lowest; an explicit ``base`` that
    overlaps any of it is refused.

    ``image`` is an xcmod image (bytes, or ``[Block(IMAGE, ...)]``) or stock blocks
    (``[Block(SMBIOS, ...), Block(ACPI, ...)]``, as :func:`xcmod.image.blocks.read_path`
    gives for a ``build --format xen`` directory).  Everything the load needs, the
    blocks, the domid and what ``measure`` needs, is checked before guest RAM is touched.
    """
    from .xenctrl import check_domid
    blocks = image if isinstance(image, list) else [Block(IMAGE, image, source)]
    count = check(blocks)
    if check_domid(domid) == 0:
        raise XenError(_errno.EPERM, "domain 0: refusing to load into domain 0")
    if measure and hvmloader_end is None:
        raise UsageError("--measure needs --hvmloader ELF: the hvmloader image the domain "
                         "runs is measured from guest RAM over the range its ELF loads")
    keys, placed, m, warnings, libxc = _load_blocks(domid, blocks, count, force, hvmloader_end,
                                                    base, measure, lock_timeout)
    return LoadResult(domid, placed[0][2], sum(n for *_, n in placed), count, keys, placed, m,
                      warnings, libxc)
