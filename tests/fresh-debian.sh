#!/bin/sh
# The README on a stock Debian 12, for real: debootstrap a throwaway bookworm
# root (the default variant, plus git and make, and ca-certificates for the
# site's CA below), clone this
# repository's committed HEAD into it, and run exactly `make setup` and
# `make test` there as root, with Debian's own python3 and nothing beside the clone.
#
#   sh tests/fresh-debian.sh [DIR]     # DIR defaults to build/fresh-debian
#
# The root is removed at the end (KEEP=1 keeps it).  Needs debootstrap (make
# setup installs it) and root; about 5 minutes, most of it debootstrap and apt.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$repo/build/fresh-debian}
mirror=${XCMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${XCMOD_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

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
echo "fresh-debian: debootstrap bookworm into $root"
debootstrap --include=git,make,ca-certificates bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
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
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
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
echo "fresh-debian: root ready in $((boot - start)) s; make setup && make test in the clone"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c 'cd /root/xcmod && make setup && make test'
echo "fresh-debian: PASSED: make setup && make test on a fresh Debian 12 in" \
     "$(( $(date +%s) - boot )) s (debootstrap $((boot - start)) s)"
