#!/bin/sh
# Start a libvirt-managed Xen guest (libvirt's libxl driver) with host firmware
# modules, the way `xcmod export libvirt --driver xen` recommends:
#   virsh start --paused  ->  xcmod load --domain NAME  ->  virsh resume
# Usage: virsh-start-with-modules.sh NAME MODS.bin|BLOCKS_DIR
#   (an xcmod image for xcmod's patched hvmloader, or a `build --format xen`
#   directory, e.g. one holding only smbios.bin, for stock hvmloader)
# libvirt's "started" hook runs after the unpause, so a hook cannot do this; a
# wrapper can.  If the load fails the paused domain is destroyed again.
set -eu
name=$1 image=$2

xcmod_py=${XCMOD_PYTHON:-python3}
[ -d "$image" ] || $xcmod_py -m xcmod verify -q "$image"

virsh start --paused "$name"
if ! $xcmod_py -m xcmod load --domain "$name" "$image"; then
    echo "virsh-start-with-modules: load failed, destroying $name" >&2
    virsh destroy "$name"
    exit 1
fi
virsh resume "$name"
echo "domain $name running with $(basename "$image")"
