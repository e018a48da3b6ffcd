"""Load an image into a paused HVM guest and tell hvmloader where it is.

    >>> import xcmod
    >>> xcmod.load(5, open("mods.bin", "rb").read())        # doctest: +SKIP
    LoadResult(domid=5, base=2097152, length=3840, count=2, keys={...})

Order, so that a failure leaves nothing behind: validate the image, check
the domain and the layout, connect to xenstored, copy and verify guest RAM,
and only then write the keys, in one transaction, guest read-only.
"""
import errno as _errno
from dataclasses import dataclass, field

from .errors import XenError
from .format import verify_image
from .layout import DEFAULT_BASE, plan


def modules_path(domid):
    return f"/local/domain/{domid}/hvmloader/modules"


@dataclass
class LoadResult:
    domid: int
    base: int
    length: int
    count: int
    keys: dict = field(default_factory=dict)

    def as_dict(self):
        return {"domid": self.domid, "base": self.base, "length": self.length,
                "count": self.count, "keys": self.keys}


def load(domid, image, base=DEFAULT_BASE, force=False, hvmloader_end=None, source=None):
    """Copy ``image`` (bytes) into domain ``domid`` at ``base`` and publish its keys."""
    from .xen import XenControl
    from .xenstore import XenStore

    if domid == 0:
        raise XenError(_errno.EPERM, "domain 0: refusing to load into domain 0")
    mods = verify_image(image, source=source)
    count = len(mods) - 1
    with XenControl() as xc:
        info = xc.domain_info(domid)
        plan([("xcmod modules", len(image))], info.memory_mib, base, hvmloader_end)
        xc.check_domain(domid, base, len(image), force=force)
        with XenStore() as xs:
            if xs.read(f"/local/domain/{domid}") is None:
                raise XenError(_errno.ENOENT, f"domain {domid}: /local/domain/{domid} is "
                               f"not in xenstore")
            xc.copy_to_guest(domid, base, image)
            root = modules_path(domid)
            keys = {f"{root}/address": f"{base:#x}", f"{root}/length": f"{len(image):#x}",
                    f"{root}/count": str(count)}

            def publish(t):
                for path, value in keys.items():
                    xs.write(path, value, t)
                    # Owner dom0, nobody else but the guest, which may only read.
                    xs.set_permissions(path, [(0, xs.PERM_NONE), (domid, xs.PERM_READ)], t)
            xs.transaction(publish)
    return LoadResult(domid, base, len(image), count, keys)
