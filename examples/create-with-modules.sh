#!/bin/sh
# SPDX-License-Identifier: MIT
# Create an HVM guest with host firmware modules, the way an operator scripts it,
# and keep them across the guest's reboots, as xl's own monitor keeps a guest:
#   xl create -p -e  ->  xcmod load  ->  xl unpause  ->  wait for the shutdown
#   -> on_reboot/on_poweroff/on_crash/on_watchdog of GUEST.cfg, as xl does them;
#      a restart creates and loads again.
# Usage: create-with-modules.sh GUEST.cfg MODS.bin|BLOCKS_DIR
#   (an xcmod image, or a `xcmod build --format xen` directory for stock hvmloader)
#
# Why: when a guest reboots, the toolstack re-creates the domain from scratch,
# running: nothing runs `xcmod load` again and hvmloader builds stock tables.
# `xl create -e` leaves no xl monitor behind, so the reboot stops here (the
# domain stays shut down, reason reboot) and this script does the restart.
# It runs until the guest is gone (poweroff, destroy, save, migration): run it
# under a service manager, not from a login shell.  Without a script at all:
# `xcmod export xl IMAGE --hvmloader PATH` (docs/toolstacks.md).
#
# Environment:
#   XCMOD        the xcmod command (split at spaces; default: xcmod on PATH),
#                e.g. XCMOD="/opt/xcmod/.venv/bin/python3 -m xcmod"
#   XL           the xl command (default: xl)
#   XCMOD_POLL   seconds between looks at the domain's state (default: 1)
#   XCMOD_RESTART_DELAY  seconds between the destroy and the re-create of a
#                restart (default: 2, as xl waits)
#
# Nothing half-made stays: a domain this script created is destroyed again if
# anything fails (or the script is stopped) before it runs.  Differences from
# xl's monitor: a restart reads GUEST.cfg again (xl keeps the config it started
# with); on_soft_reset is not done (the domain is left as it is, as "preserve").
# Stopping the script while the guest runs leaves it running, unwatched: its
# next reboot is then xl's or nobody's, without the modules.
set -eu

me=create-with-modules
die() { echo "$me: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $me GUEST.cfg MODS.bin|BLOCKS_DIR"
cfg=$1 image=$2
[ -r "$cfg" ] || die "$cfg: cannot read"

if [ -n "${XCMOD:-}" ]; then
    xcmod_cmd=$XCMOD
elif command -v xcmod >/dev/null 2>&1; then
    xcmod_cmd=xcmod
else
    die "no xcmod on PATH: set XCMOD to the xcmod command (e.g. XCMOD=\"/path/to/venv/bin/xcmod\")"
fi
xl_cmd=${XL:-xl}
poll=${XCMOD_POLL:-1}
xcmod() { command $xcmod_cmd "$@"; }
xl() { command $xl_cmd "$@"; }

# The last `KEY = "value"` / `KEY = 'value'` / `KEY="value"` of GUEST.cfg
# (xl.cfg strings take either quote; comments start with #).
cfg_string() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*[\"']\\([^\"']*\\)[\"'][[:space:]]*;\\{0,1\\}[[:space:]]*\\(#.*\\)\\{0,1\\}\$/\\1/p" \
        "$cfg" | tail -n 1
}
name=$(cfg_string name)
[ -n "$name" ] || die "$cfg: no name = \"...\" line"

# xl's defaults (xl_parse.c): destroy, restart, destroy, destroy.
on_poweroff=$(cfg_string on_poweroff); on_poweroff=${on_poweroff:-destroy}
on_reboot=$(cfg_string on_reboot);     on_reboot=${on_reboot:-restart}
on_crash=$(cfg_string on_crash);       on_crash=${on_crash:-destroy}
on_watchdog=$(cfg_string on_watchdog); on_watchdog=${on_watchdog:-destroy}
for a in "$on_poweroff" "$on_reboot" "$on_crash" "$on_watchdog"; do
    case $a in
        destroy|restart|rename-restart|preserve|coredump-destroy|coredump-restart|soft-reset) ;;
        *) die "$cfg: unknown action \"$a\" (xl would refuse it too)" ;;
    esac
done

[ -d "$image" ] || xcmod verify -q "$image" || die "$image: not a valid image"

# The domain created and not yet running: destroyed on any failure or signal.
paused=
cleanup() {
    if [ -n "$paused" ]; then
        echo "$me: destroying domain $paused ($name): it never ran" >&2
        xl destroy "$paused" || true
        paused=
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

start() {
    xl create -p -e "$cfg" || die "xl create -p -e $cfg failed"
    domid=$(xl domid "$name") || die "no domain named $name after xl create"
    paused=$domid
    xcmod load --domid "$domid" "$image" || die "load failed into domain $domid"
    xl unpause "$domid" || die "xl unpause $domid failed"
    paused=
    echo "$me: domain $domid ($name) running with $(basename "$image")"
}

# The domain's state letters (xl list: r b p s REASON d), or nothing once it is gone.
state() {
    xl list "$1" 2>/dev/null |
        awk 'NR > 1 { for (i = NF; i > 0; i--) if ($i ~ /^[-r][-b][-p][-s][-rscwS?][-d]$/) { print $i; exit } }'
}

start
while :; do
    s=$(state "$domid")
    if [ -z "$s" ]; then
        echo "$me: domain $domid ($name) is gone (destroyed, saved or migrated)"
        exit 0
    fi
    # the fourth letter is s once the guest has shut down, the fifth says why
    case $s in
        ???s*) ;;
        *) sleep "$poll"; continue ;;
    esac
    case $s in
        ???s-*) why=poweroff action=$on_poweroff ;;
        ???sr*) why=reboot action=$on_reboot ;;
        ???sc*) why=crash action=$on_crash ;;
        ???sw*) why=watchdog action=$on_watchdog ;;
        ???ss*) sleep "$poll"; continue ;;   # suspended for save/migration: it goes away
        ???sS*) why=soft-reset action=preserve ;;
        *) why="unknown ($s)" action=destroy ;;
    esac
    echo "$me: domain $domid ($name) shut down: $why; on_$why = $action"
    case $action in
        coredump-*)
            xl dump-core "$domid" "/var/lib/xen/dump/$name" || echo "$me: core dump failed" >&2
            action=${action#coredump-} ;;
    esac
    case $action in
        preserve)
            echo "$me: leaving domain $domid as it is"; exit 0 ;;
        destroy)
            xl destroy "$domid"; exit 0 ;;
        restart)
            xl destroy "$domid" ;;
        rename-restart)
            xl rename "$domid" "$name-$(date -u +%Y%m%dT%H%MZ)" ||
                die "could not rename domain $domid: leaving it, not restarting" ;;
    esac
    sleep "${XCMOD_RESTART_DELAY:-2}"   # as xl waits before it re-creates (xl_vmcontrol.c)
    start
done
