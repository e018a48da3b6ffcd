# SPDX-License-Identifier: MIT
"""xcmod.hostxen: the installed Xen read off a root, Debian's packages or make install."""
import os
import shutil
import subprocess

import pytest

from xcmod import hostxen

# The releases these tests lay out, in one table: Debian 13's and Debian 12's
# packages, and Xen's own `make install` of a line between them.
DEBIAN_13 = {"line": "4.20", "version": "4.20.4+63-g7abfd2bce2-0+deb13u1", "point": "4.20.4"}
DEBIAN_12 = {"line": "4.17", "version": "4.17.5+72-g01140da4e8-1", "point": "4.17.5"}
UPSTREAM_LINE = "4.19"
NOT_INSTALLED_LINE = "4.21"          # a directory of a newer line with no boot/ in it

STATUS = """\
Package: xen-hypervisor-common
Status: install ok installed
Version: {hypervisor}

Package: xen-utils-{line}
Status: {status}
Priority: optional
Version: {version}
Description: XEN administrative tools
 The userspace tools to manage a system virtualized through the XEN virtual
 machine monitor.

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
"""


def _status(**fields):
    return STATUS.format(hypervisor=DEBIAN_13["version"], **fields)


def _root(tmp_path, lines, status=None):
    for line in lines:
        os.makedirs(tmp_path / "usr/lib" / f"xen-{line}" / "boot")
    if status is not None:
        os.makedirs(tmp_path / "var/lib/dpkg")
        (tmp_path / "var/lib/dpkg/status").write_text(status)
    return str(tmp_path)


def test_debian_newest_line_and_its_packages_point_release(tmp_path):
    """Lines compare as numbers (4.9 < 4.17 < 4.20), a directory without boot/ or not
    named xen-X.Y is no line, and the point release is xen-utils-X.Y's version's."""
    new, old = DEBIAN_13, DEBIAN_12
    root = _root(tmp_path, ["4.9", old["line"], new["line"]], _status(
        line=new["line"], status="install ok installed", version=new["version"]))
    os.makedirs(tmp_path / "usr/lib" / f"xen-{NOT_INSTALLED_LINE}")   # no boot/: not installed
    os.makedirs(tmp_path / "usr/lib/xen-4.x/boot")
    os.makedirs(tmp_path / "usr/lib/xen-5/boot")
    x = hostxen.installed(root)
    prefix = f"/usr/lib/xen-{new['line']}"
    assert (x.version, x.prefix, x.line) == (new["point"], prefix, new["line"])
    assert x.found_by == f"Debian package xen-utils-{new['line']} {new['version']}"
    assert x.hvmloader == f"{prefix}/boot/hvmloader"
    x = hostxen.installed(_root(tmp_path / "b", ["4.9", old["line"]]))
    assert (x.version, x.prefix) == (old["line"], f"/usr/lib/xen-{old['line']}")


LINE = DEBIAN_12["line"]


@pytest.mark.parametrize("status,version,want", [
    ("install ok installed", DEBIAN_12["version"], DEBIAN_12["point"]),
    ("deinstall ok config-files", DEBIAN_12["version"], LINE),   # removed
    ("install ok installed", DEBIAN_13["version"], LINE),        # another line's version
    ("install ok installed", f"{LINE}-1", LINE),                 # no point release
    ("install ok installed", f"{DEBIAN_12['point']} trailing", LINE),  # not one word
])
def test_debian_version_is_read_only_from_an_installed_package_of_the_line(
        tmp_path, status, version, want):
    root = _root(tmp_path, [LINE], _status(line=LINE, status=status, version=version))
    x = hostxen.installed(root)
    assert x.version == want, x
    if want == LINE:
        assert f"no xen-utils-{LINE} in dpkg's status" in x.found_by


def test_a_package_named_alike_is_not_the_one(tmp_path):
    status = _status(line=f"{LINE}x", status="install ok installed", version=f"{LINE}.9-1")
    x = hostxen.installed(_root(tmp_path, [LINE], status))
    assert x.version == LINE


def _upstream(tmp_path, soname, hypervisor=None):
    os.makedirs(tmp_path / "usr/lib/xen/boot")
    (tmp_path / "usr/lib/xen/boot/hvmloader").write_bytes(b"\x7fELF")
    lib = tmp_path / "usr/lib/x86_64-linux-gnu"
    os.makedirs(lib)
    for name in ("libxenctrl.so", soname, "libxenstore.so.4"):
        (lib / name).write_bytes(b"")
    if hypervisor:
        d = tmp_path / "sys/hypervisor"
        os.makedirs(d / "version")
        (d / "type").write_text("xen\n")
        major, minor, extra = hypervisor
        for k, v in (("major", major), ("minor", minor), ("extra", extra)):
            (d / "version" / k).write_text(v + "\n")
    return str(tmp_path)


MAJOR, MINOR = UPSTREAM_LINE.split(".")
SONAME = f"libxenctrl.so.{UPSTREAM_LINE}"


@pytest.mark.parametrize("hypervisor,want", [
    (None, UPSTREAM_LINE),
    ((MAJOR, MINOR, ".2-pre"), f"{UPSTREAM_LINE}.2"),
    ((MAJOR, MINOR, ""), UPSTREAM_LINE),
    ((MAJOR, str(int(MINOR) - 1), ".3"), UPSTREAM_LINE),  # another line runs: not our point
    ((MAJOR, MINOR, "-rc"), UPSTREAM_LINE),
])
def test_make_install_line_from_the_soname_and_point_from_the_running_xen(
        tmp_path, hypervisor, want):
    x = hostxen.installed(_upstream(tmp_path, SONAME, hypervisor))
    assert (x.version, x.prefix) == (want, "/usr/lib/xen")
    assert x.found_by.startswith(f"/usr/lib/x86_64-linux-gnu/{SONAME}")


def test_no_xen_is_none(tmp_path):
    assert hostxen.installed(str(tmp_path)) is None
    os.makedirs(tmp_path / "usr/lib/xen/boot")
    (tmp_path / "usr/lib/xen/boot/hvmloader").write_bytes(b"")
    assert hostxen.installed(str(tmp_path)) is None     # hvmloader but no libxenctrl


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="no dpkg-query")
def test_this_hosts_xen_is_what_dpkg_query_says():
    """The referee: dpkg-query's own reading of the status file, for the line found."""
    x = hostxen.installed()
    if x is None or not x.prefix.startswith("/usr/lib/xen-"):
        pytest.skip("no Debian Xen package here")
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", f"xen-utils-{x.line}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(x.version + "+") or r.stdout.startswith(x.version + "-") \
        or r.stdout == x.version, (r.stdout, x)
