#!/bin/sh
# SPDX-License-Identifier: MIT
# The README on a stock Debian, for real: debootstrap a throwaway root of a
# Debian release (the default variant, plus git and make, and
# ca-certificates for the site's CA below), clone this repository's
# committed HEAD into it, and run exactly `make setup` and `make test` there
# as root, with Debian's own python3 and nothing beside the clone.
#
#   sh tests/fresh-debian.sh [SUITE] [DIR]
#
# SUITE is bookworm (Debian 12), trixie (Debian 13) or all (one after the
# other); it defaults to this machine's own release.  DIR defaults to
# build/fresh-SUITE.  The mirror is the one this machine's apt uses
# (tools/debian-mirror reads its sources).  FRESH_TARGETS (default "test")
# are the make targets run after `make setup`: "test test-xen" adds the rig.
# FRESH_DEB=1 runs the operator's install instead of make setup: `make deb`
# (which installs its own build dependencies), `apt-get install
# ./build/deb/*.deb` and man-db, then the installed xcmod outside the clone:
# --version, `man xcmod`, build and verify of a fixture; FRESH_TARGETS, when
# given with it, then run after `make setup` (FRESH_TARGETS=test-xen-installed:
# the rig boots the installed hvmloader and xcmod).
# The root is removed at the end (KEEP=1 keeps it).  Needs debootstrap (make
# setup installs it) and root; about 5 minutes a suite, most of it
# debootstrap and apt (FRESH_DEB=1: longer, it builds OvmfXen).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
. /etc/os-release
suite=${1:-$VERSION_CODENAME}
targets=${FRESH_TARGETS:-test}
if [ "$suite" = all ]; then
    for s in bookworm trixie; do
        sh "$0" "$s" || exit 1
    done
    exit 0
fi
case $suite in
    bookworm|trixie) ;;
    *) echo "fresh-debian: suite must be bookworm, trixie or all, not '$suite'" >&2; exit 2 ;;
esac
root=${2:-$repo/build/fresh-$suite}
mirrors=$(sh "$repo/tools/debian-mirror") || exit 1
mirror=${mirrors% *}
security=${mirrors#* }

die() { echo "fresh-debian: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

mounted=""
cleanup() {
    for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$root"
}
trap cleanup EXIT INT TERM

start=$(date +%s)
rm -rf "$root"
mkdir -p "$(dirname "$root")"          # build/ is not there in a fresh clone
echo "fresh-debian: debootstrap $suite from $mirror into $root"
debootstrap --include=git,make,ca-certificates "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    die "debootstrap failed (see $root.debootstrap.log)"
# The site's own TLS trust (a proxy's CA, say), as any machine here has it:
# pip reaches PyPI over https.  Only local CA certificates are carried over.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
        die "update-ca-certificates failed in the new root"
fi
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES
for m in proc sys dev dev/pts; do
    mkdir -p "$root/$m"
    case $m in
        proc) mount -t proc proc "$root/proc" ;;
        sys) mount -t sysfs sysfs "$root/sys" ;;
        dev) mount --bind /dev "$root/dev" ;;
        dev/pts) mount -t devpts devpts "$root/dev/pts" ;;
    esac
    mounted="$root/$m $mounted"
done
git clone --quiet "$repo" "$root/root/xcmod"
boot=$(date +%s)
if [ "${FRESH_DEB:-0}" = 1 ]; then
    what="make deb, apt-get install ./build/deb/*.deb, the installed xcmod"
    fixture=/root/xcmod/tests/fixtures/real/smbios/go-smbios/ASRock-Single-Ryzen.dmi
    job="cd /root/xcmod && make deb &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./build/deb/*.deb man-db &&
         cd /tmp && command -v xcmod && xcmod --version &&
         man xcmod | grep -q 'xcmod build' && echo 'man xcmod: renders' &&
         xcmod build -o /tmp/m.bin --smbios $fixture &&
         xcmod verify /tmp/m.bin && ls -l /usr/lib/xcmod/"
    if [ -n "${FRESH_TARGETS:-}" ]; then
        what="$what, then make setup && make $targets"
        job="$job && cd /root/xcmod && make setup && for t in $targets; do make \$t || exit 1; done"
    fi
else
    what="make setup && make $targets"
    job="cd /root/xcmod && make setup && for t in $targets; do make \$t || exit 1; done"
fi
echo "fresh-debian: root ready in $((boot - start)) s; $what in the clone"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "$job"
echo "fresh-debian: PASSED: $what on a fresh $suite" \
     "(Debian $(cat "$root/etc/debian_version")) in $(( $(date +%s) - boot )) s" \
     "(debootstrap $((boot - start)) s)"
