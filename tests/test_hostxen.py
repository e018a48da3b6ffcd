# SPDX-License-Identifier: MIT
"""xcmod.hostxen: the installed Xen read off a root, Debian's packages or make install."""
import os
import shutil
import subprocess

import pytest

from xcmod import hostxen

STATUS = """\
Package: xen-hypervisor-common
Status: install ok installed
Version: 4.20.4+63-g7abfd2bce2-0+deb13u1

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
    root = _root(tmp_path, ["4.9", "4.17", "4.20"], STATUS.format(
        line="4.20", status="install ok installed", version="4.20.4+63-g7abfd2bce2-0+deb13u1"))
    os.makedirs(tmp_path / "usr/lib/xen-4.21")               # no boot/: not installed
    os.makedirs(tmp_path / "usr/lib/xen-4.x/boot")
    os.makedirs(tmp_path / "usr/lib/xen-5/boot")
    x = hostxen.installed(root)
    assert (x.version, x.prefix, x.line) == ("4.20.4", "/usr/lib/xen-4.20", "4.20")
    assert x.found_by == "Debian package xen-utils-4.20 4.20.4+63-g7abfd2bce2-0+deb13u1"
    assert x.hvmloader == "/usr/lib/xen-4.20/boot/hvmloader"
    x = hostxen.installed(_root(tmp_path / "b", ["4.9", "4.17"]))
    assert (x.version, x.prefix) == ("4.17", "/usr/lib/xen-4.17")


@pytest.mark.parametrize("status,version,want", [
    ("install ok installed", "4.17.5+72-g01140da4e8-1", "4.17.5"),
    ("deinstall ok config-files", "4.17.5+72-g01140da4e8-1", "4.17"),  # removed
    ("install ok installed", "4.18.0-1", "4.17"),      # another line's version
    ("install ok installed", "4.17-1", "4.17"),        # no point release
    ("install ok installed", "4.17.5 trailing", "4.17"),  # not one word
])
def test_debian_version_is_read_only_from_an_installed_package_of_the_line(
        tmp_path, status, version, want):
    root = _root(tmp_path, ["4.17"], STATUS.format(line="4.17", status=status,
                                                    version=version))
    x = hostxen.installed(root)
    assert x.version == want, x
    if want == "4.17":
        assert "no xen-utils-4.17 in dpkg's status" in x.found_by


def test_a_package_named_alike_is_not_the_one(tmp_path):
    status = STATUS.format(line="4.17x", status="install ok installed", version="4.17.9-1")
    x = hostxen.installed(_root(tmp_path, ["4.17"], status))
    assert x.version == "4.17"


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


@pytest.mark.parametrize("hypervisor,want", [
    (None, "4.19"),
    (("4", "19", ".2-pre"), "4.19.2"),
    (("4", "19", ""), "4.19"),
    (("4", "18", ".3"), "4.19"),          # another line runs: its point is not ours
    (("4", "19", "-rc"), "4.19"),
])
def test_make_install_line_from_the_soname_and_point_from_the_running_xen(
        tmp_path, hypervisor, want):
    x = hostxen.installed(_upstream(tmp_path, "libxenctrl.so.4.19", hypervisor))
    assert (x.version, x.prefix) == (want, "/usr/lib/xen")
    assert x.found_by.startswith("/usr/lib/x86_64-linux-gnu/libxenctrl.so.4.19")


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
