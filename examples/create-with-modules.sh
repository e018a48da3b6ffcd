#!/bin/sh
# Create an HVM guest with host firmware modules, the way an operator scripts it:
#   xl create -p  ->  xcmod load  ->  xl unpause
# Usage: create-with-modules.sh GUEST.cfg MODS.bin|BLOCKS_DIR
#   (an xcmod image, or a `xcmod build --format xen` directory for stock hvmloader)
# If the load fails, the paused domain is destroyed again: nothing half-made stays.
set -eu
cfg=$1 image=$2

xcmod_py=${XCMOD_PYTHON:-python3}
[ -d "$image" ] || $xcmod_py -m xcmod verify -q "$image"

name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
xl create -p "$cfg"
domid=$(xl domid "$name")

if ! $xcmod_py -m xcmod load --domid "$domid" "$image"; then
    echo "create-with-modules: load failed, destroying domain $domid" >&2
    xl destroy "$domid"
    exit 1
fi
xl unpause "$domid"
echo "domain $domid ($name) running with $(basename "$image")"
