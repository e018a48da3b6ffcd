# SPDX-License-Identifier: MIT
"""The test doubles stand in for the installed Xen's real libraries, whichever release.

The libxenctrl double must carry the real library's soname and each symbol's
version node (else the binding, linked against the real one, would not bind
to it), and the xenstored preload must define every libxen* call the
installed xenstored makes (else that call reaches the real library, which
fails without a hypervisor).
"""
import os
import re
import subprocess

from .paths import BUILD, XENSTORED

FAKE = os.path.join(BUILD, "fake-xen")
REAL_XENCTRL = subprocess.run(["gcc", "-print-file-name=libxenctrl.so"], capture_output=True,
                              text=True, check=True).stdout.strip()


def _readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


def _soname(path):
    return re.search(r"Library soname: \[(.*?)\]", _readelf("-d", path)).group(1)


def _defined_versions(path):
    """{symbol: version node} of the dynamic symbols ``path`` defines."""
    out = {}
    for line in _readelf("--dyn-syms", "-W", path).splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] != "UND" and "@@" in f[7]:
            name, version = f[7].split("@@")
            out[name] = version
    return out


def test_double_has_the_real_soname_and_symbol_versions():
    real = _defined_versions(REAL_XENCTRL)
    double = os.path.join(FAKE, "libxenctrl.so")
    assert _soname(double) == _soname(REAL_XENCTRL)
    mine = _defined_versions(double)
    assert {"xc_interface_open", "xc_domain_getinfolist", "xc_map_foreign_range"} <= set(mine)
    assert {s: real.get(s) for s in mine} == mine


def test_binding_binds_to_the_double_by_version():
    """The binding's versioned references are ones the double defines."""
    import xcmod.xen._xen as ext
    needs = {}
    for line in _readelf("--dyn-syms", "-W", ext.__file__).splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] == "UND" and f[7].startswith("xc_") and "@" in f[7]:
            name, version = f[7].split("@")[0], f[7].split("@")[-1]
            needs[name] = version
    assert needs, "the binding references no libxenctrl symbol"
    assert {s: _defined_versions(os.path.join(FAKE, "libxenctrl.so")).get(s) for s in needs} \
        == needs


def test_preload_defines_every_xen_call_of_the_installed_xenstored():
    imports = set()
    for line in _readelf("--dyn-syms", "-W", XENSTORED).splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] == "UND" and re.match(r"(xc|xen[a-z]+)_", f[7]):
            imports.add(f[7].split("@")[0])
    assert "xc_interface_open" in imports
    nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(FAKE, "xenstored-preload.so")],
                        capture_output=True, text=True, check=True).stdout
    defined = {l.split()[-1] for l in nm.splitlines()}
    assert sorted(imports - defined) == []
