# SPDX-License-Identifier: MIT
"""xcmod as Debian's packages install it (tests/test_xen_rig_installed.py, step
``installed``): the rig's ``installed`` variant carries /usr/bin/xcmod, its modules
and /usr/lib/xcmod/hvmloader from the packages installed on the host (make deb),
and no clone's xcmod.  A guest boots the installed hvmloader with the carrier lines
of the installed ``xcmod export xl``, and another with the installed ``xcmod load``."""
import hashlib
import json
import re

from . import step
from .boots import boot_to_seabios
from .rig import CFG, result, sh
from .tables import tables_of
from .xencons import guest_lines

HVMLOADER = "/usr/lib/xcmod/hvmloader"
IMAGE = "/data/mods-x.bin"


def guest_cfg(name, lines):
    """test-hvm.cfg (the stand-in device model) named ``name`` with ``lines`` added."""
    text = re.sub(r'(?m)^name = .*$', f'name = "{name}"', open(CFG).read())
    path = f"/tmp/{name}.cfg"
    with open(path, "w") as f:
        f.write(text + "".join(line + "\n" for line in lines))
    return path


def boot(name, lines, load=False):
    """Create ``name`` paused from ``lines``; with ``load``, the installed `xcmod load`
    of the image; boot to SeaBIOS; the tables, as a reboot scenario's boot has them."""
    rc, _, err, _ = sh("xl", "create", "-p", guest_cfg(name, lines))
    if rc:
        return {"boot": name, "reached": False, "rc": rc, "err": err}
    d = int(sh("xl", "domid", name)[1])
    loaded = sh("xcmod", "load", "--domid", str(d), IMAGE)[:3:2] if load else None
    keys = sh("xenstore-read", f"/local/domain/{d}/hvmloader/modules/address")
    reached = boot_to_seabios(d)[0]
    tables = tables_of(d, name)
    tables.get("acpi_b64", {}).pop("DSDT.dat", None)
    tables.pop("acpi_sha256", None)
    sh("xl", "destroy", str(d))
    return {"boot": name, "domid": d, "reached": reached, "load": loaded,
            "module_keys": keys[1].decode().strip() if keys[0] == 0 else None,
            "log": [t for t in guest_lines(d) if t.startswith(("xcmod:", "ACPI:"))],
            **tables}


@step("installed")
def installed():
    """The installed command and modules, then the two guests."""
    where = sh("sh", "-c", "command -v xcmod")[1].decode().strip()
    version = sh("xcmod", "--version")
    modules = sh("python3", "-c", "import json, xcmod, xcmod.image._reader as r, "
                 "xcmod.xen._xen as x; print(json.dumps([xcmod.__file__, r.__file__, "
                 "x.__file__]))")
    result("installed-command", where=where, version=version[1].decode().strip(),
           version_rc=version[0], modules=json.loads(modules[1]) if modules[0] == 0 else None,
           modules_err=modules[2],
           hvmloader_sha256=hashlib.sha256(open(HVMLOADER, "rb").read()).hexdigest())
    rc, out, err, _ = sh("xcmod", "export", "xl", IMAGE, "--hvmloader", HVMLOADER,
                         "--out-dir", "/tmp/installed-carrier", "--json")
    lines = [x for x in json.loads(out)["lines"] if not x.startswith("#")] if rc == 0 else []
    result("installed-carrier", rc=rc, err=err, lines=lines,
           boot=boot("installed-carrier", lines) if rc == 0 else None)
    result("installed-load", boot=boot("installed-load", [f'firmware = "{HVMLOADER}"'],
                                       load=True))
