#!/bin/sh
# SPDX-License-Identifier: MIT
# Start a libvirt-managed Xen guest (libvirt's libxl driver) with host firmware
# modules loaded by xcmod:
#   virsh start --paused  ->  xcmod load --domain NAME  ->  virsh resume
# Usage: virsh-start-with-modules.sh NAME MODS.bin|BLOCKS_DIR
#   (an xcmod image for xcmod's patched hvmloader, or a `build --format xen`
#   directory, e.g. one holding only smbios.bin, for stock hvmloader)
#
# This lasts ONE boot.  When the guest reboots, libvirt's libxl driver
# re-creates the domain itself, running (libxlDomainShutdownHandleRestart),
# and no script sees it: the load is not repeated and the guest boots with
# stock tables.  libvirt's "started" hook runs after the unpause, so no hook
# can do it either.  For guests that reboot, give the image to libvirt instead:
# `xcmod export libvirt --driver xen IMAGE --hvmloader PATH --out-dir DIR`
# writes a domain document that carries it on every start and reboot
# (docs/toolstacks.md).  The script says so when the domain restarts on reboot.
#
# Environment:
#   XCMOD   the xcmod command (split at spaces; default: xcmod on PATH),
#           e.g. XCMOD="/opt/xcmod/.venv/bin/python3 -m xcmod"
#   VIRSH   the virsh command (default: virsh)
#
# Nothing half-made stays: if anything fails (or the script is stopped) after
# the paused start and before the resume, the domain is destroyed again.
set -eu

me=virsh-start-with-modules
die() { echo "$me: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $me NAME MODS.bin|BLOCKS_DIR"
name=$1 image=$2

if [ -n "${XCMOD:-}" ]; then
    xcmod_cmd=$XCMOD
elif command -v xcmod >/dev/null 2>&1; then
    xcmod_cmd=xcmod
else
    die "no xcmod on PATH: set XCMOD to the xcmod command (e.g. XCMOD=\"/path/to/venv/bin/xcmod\")"
fi
virsh_cmd=${VIRSH:-virsh}
xcmod() { command $xcmod_cmd "$@"; }
virsh() { command $virsh_cmd "$@"; }

[ -d "$image" ] || xcmod verify -q "$image" || die "$image: not a valid image"

# libvirt's default on_reboot is restart
case $(virsh dumpxml "$name" 2>/dev/null || true) in
    *"<on_reboot>destroy</on_reboot>"*|*"<on_reboot>preserve</on_reboot>"*) ;;
    *) echo "$me: warning: $name restarts on reboot without the modules (libvirt re-creates" \
            "it without a load); export libvirt --hvmloader keeps them (docs/toolstacks.md)" >&2 ;;
esac

paused=
cleanup() {
    if [ -n "$paused" ]; then
        echo "$me: destroying $name: it never ran" >&2
        virsh destroy "$name" || true
        paused=
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

virsh start --paused "$name" || die "virsh start --paused $name failed"
paused=1
xcmod load --domain "$name" "$image" || die "load failed, destroying $name"
virsh resume "$name" || die "virsh resume $name failed"
paused=
echo "domain $name running with $(basename "$image")"
