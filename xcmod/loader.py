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

One truth in xenstore: the transaction that writes one path's keys removes
the other path's (see :func:`stale_paths`), so hvmloader
never finds keys describing RAM that now holds something else.  Loads into one
domain are serialised by a lock per domain (:func:`domain_lock`), and inside
the transaction the guest RAM the keys describe is read back once more, so
keys are only written for bytes that are there.
"""
import errno as _errno
import os
from .creader import check_image
from .errors import UsageError, XenError
from .layout import DEFAULT_BASE, HVMLOADER_PHYSICAL_ADDRESS, plan


def modules_path(domid):
    return f"/local/domain/{domid}/hvmloader/modules"


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
    root = f"/local/domain/{domid}"
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
    """What a load did (a plain class: see layout.Region on import cost)."""

    def __init__(self, domid, base, length, count, keys=None, blocks=None, measurement=None,
                 warnings=None):
        self.domid, self.base, self.length, self.count = domid, base, length, count
        self.keys = keys or {}
        self.blocks = blocks or []            # [(name, gpa, length)]
        self.measurement = measurement
        self.warnings = warnings or []        # what the caller should be told

    def __repr__(self):
        return (f"LoadResult(domid={self.domid}, base={self.base}, length={self.length}, "
                f"count={self.count}, keys={self.keys!r})")

    def as_dict(self):
        d = {"domid": self.domid, "base": self.base, "length": self.length,
             "count": self.count, "keys": self.keys,
             "blocks": [{"name": n, "address": a, "length": n_} for n, a, n_ in self.blocks],
             "warnings": self.warnings}
        if self.measurement is not None:
            d["measurement"] = self.measurement
        return d


def _load_blocks(domid, blocks, keys_for, force, hvmloader_end, base, measure, lock_timeout,
                 image):
    """Place ``blocks`` [(name, bytes)], copy, verify, publish ``keys_for(placed)``.

    ``image``: the one block is an xcmod image (measured module by module), not
    stock blocks; said by the caller, never guessed from the count."""
    from .xen import XenControl, check_domid
    from .xenstore import XenStore

    if check_domid(domid) == 0:
        raise XenError(_errno.EPERM, "domain 0: refusing to load into domain 0")
    if measure and hvmloader_end is None:
        raise UsageError("--measure needs --hvmloader ELF: the hvmloader image the domain "
                         "runs is measured from guest RAM over the range its ELF loads")
    warnings = []
    with domain_lock(domid, lock_timeout), XenControl() as xc:
        info = xc.domain_info(domid)
        layout = plan([(n, len(b)) for n, b in blocks], info.memory_mib, base, hvmloader_end,
                      lowmem_end=_guest_lowmem_end(xc, domid, info, warnings))
        placed = [(blk.name, blk.start, blob) for blk, (_, blob) in zip(layout.blocks, blocks)]
        for _, gpa, blob in placed:
            xc.check_domain(domid, gpa, len(blob), force=force)
        with XenStore() as xs:
            if xs.read(f"/local/domain/{domid}") is None:
                raise XenError(_errno.ENOENT, f"domain {domid}: /local/domain/{domid} is "
                               f"not in xenstore")
            for _, gpa, blob in placed:
                xc.copy_to_guest(domid, gpa, blob)
            measurement = None
            if measure:
                measurement = _measure(xc, domid, placed, hvmloader_end, image)
            keys = keys_for(placed)
            stale = stale_paths(domid, keys)

            def publish(t):
                # The keys may only describe bytes that are there: read the
                # guest RAM once more, inside the transaction that writes them.
                for name, gpa, blob in placed:
                    if xc.read_from_guest(domid, gpa, len(blob)) != blob:
                        raise XenError(_errno.EIO, f"domain {domid}: guest RAM at {gpa:#x} "
                                       f"changed after {name} was copied there (another "
                                       f"writer?); no key written", op="verify")
                # One directory read instead of an rm round trip per stale node:
                # a fresh domain has none of them.
                hv = f"/local/domain/{domid}/hvmloader/"
                present = set(xs.directory(hv[:-1], t))
                for path in stale:
                    if path[len(hv):].split("/")[0] in present:
                        xs.rm(path, t)
                for path, value in keys.items():
                    xs.write_for_guest(path, value, domid, t)
            xs.transaction(publish)
    return keys, [(n, g, len(b)) for n, g, b in placed], measurement, warnings


def _guest_lowmem_end(xc, domid, info, warnings):
    """Where the guest's low RAM really ends: the HVM info table's low_mem_pgend.

    max_memkb also counts memory the guest does not see as RAM (the device
    model's video RAM, for one), so the table the domain builder wrote, which
    hvmloader itself follows, is the better limit.  None (fall back to
    max_memkb) for a PV domain, or when there is no valid table to read; the
    latter is said in ``warnings``, naming what is used instead.
    """
    from .errors import XcmodError
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


def _measure(xc, domid, placed, hvmloader_end, image):
    """SHA-256 of hvmloader's range and every block, as read back from guest RAM."""
    from .manifest import measure
    items = [("hvmloader", xc.read_from_guest(domid, HVMLOADER_PHYSICAL_ADDRESS,
                                             hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS))]
    if image:                   # one item per module, as build --manifest has
        from .format import iter_modules
        _, gpa, blob = placed[0]
        back = xc.read_from_guest(domid, gpa, len(blob))
        items += [(f"module {i} {m.type_name}", back[m.offset:m.offset + m.length])
                  for i, m in enumerate(iter_modules(back))]
    else:
        items += [(name, xc.read_from_guest(domid, gpa, len(blob))) for name, gpa, blob in placed]
    doc = measure(items)
    doc["domid"] = domid
    doc["regions"] = ([{"name": "hvmloader", "address": HVMLOADER_PHYSICAL_ADDRESS,
                        "length": hvmloader_end - HVMLOADER_PHYSICAL_ADDRESS}] +
                      [{"name": n, "address": g, "length": len(b)} for n, g, b in placed])
    return doc


def load(domid, image, base=DEFAULT_BASE, force=False, hvmloader_end=None, source=None,
         measure=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Copy xcmod ``image`` (bytes) into domain ``domid`` at ``base`` and publish its keys."""
    _, count = check_image(image, source=source)
    root = modules_path(domid)

    def keys_for(placed):
        _, gpa, blob = placed[0]
        return {f"{root}/address": f"{gpa:#x}", f"{root}/length": f"{len(blob):#x}",
                f"{root}/count": str(count)}
    keys, placed, m, warnings = _load_blocks(domid, [("xcmod modules", image)], keys_for,
                                             force, hvmloader_end, base, measure, lock_timeout,
                                             image=True)
    return LoadResult(domid, base, len(image), count, keys, placed, m, warnings)


def load_stock(domid, smbios_block=None, acpi_block=None, base=DEFAULT_BASE, force=False,
               hvmloader_end=None, source=None, measure=False,
               lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Copy stock hvmloader blocks into ``domid`` and write the four keys hvmloader reads."""
    from . import stock
    blocks = stock.validated_blocks(smbios_block, acpi_block, source or "")
    if not blocks:
        raise UsageError(f"{source}: both blocks are empty: nothing to load")

    def keys_for(placed):
        keys = {}
        for name, gpa, blob in placed:
            kind = "smbios" if name.startswith("SMBIOS") else "acpi"
            root = f"/local/domain/{domid}/hvmloader/{kind}"
            keys[f"{root}/address"] = f"{gpa:#x}"
            keys[f"{root}/length"] = f"{len(blob):#x}"
        return keys
    keys, placed, m, warnings = _load_blocks(domid, blocks, keys_for, force, hvmloader_end,
                                             base, measure, lock_timeout, image=False)
    return LoadResult(domid, base, sum(n for _, _, n in placed), len(blocks), keys, placed, m,
                      warnings)
