# SPDX-License-Identifier: MIT
"""The shipped scripts (examples/*.sh), run on the host with fake xl, virsh and xcmod on
PATH that record every call: name parsing, the xcmod they call, the reboot loop (on_*
actions as xl's monitor does them), and every failure path leaving no paused domain."""
import os
import signal
import subprocess
import time

import pytest

from .paths import ROOT

CREATE = os.path.join(ROOT, "examples", "create-with-modules.sh")
VIRSH_START = os.path.join(ROOT, "examples", "virsh-start-with-modules.sh")

# A fake xl: domains are files in $FAKE (dom.ID: "STATE NAME"); $FAKE/boots lists, one
# word per boot, how each boot ends once unpaused: a shutdown reason letter of xl list
# ('-' poweroff, r, c, w, s, S) or "gone" (destroyed behind the script's back).
# $FAKE/fail-CMD makes xl CMD fail.
FAKE_XL = r"""#!/bin/sh
echo "xl $*" >> "$FAKE/calls"
cmd=$1; shift
[ -e "$FAKE/fail-$cmd" ] && { echo "xl $cmd: injected failure" >&2; exit 1; }
case $cmd in
create)
    n=$(cat "$FAKE/next" 2>/dev/null || echo 1); echo $((n + 1)) > "$FAKE/next"
    for a; do cfg=$a; done
    name=$(sed -n 's/^NAME_FOR_FAKE=//p' "$FAKE/env")
    echo "--p--- $name" > "$FAKE/dom.$n" ;;
domid)
    for f in "$FAKE"/dom.*; do
        [ -e "$f" ] || continue
        read st name < "$f"
        [ "$name" = "$1" ] && { echo "${f##*.}"; exit 0; }
    done
    echo "xl domid: no domain $1" >&2; exit 1 ;;
unpause)
    f="$FAKE/dom.$1"; read st name < "$f"
    boot=$(cat "$FAKE/boot" 2>/dev/null || echo 0); boot=$((boot + 1)); echo $boot > "$FAKE/boot"
    end=$(sed -n "${boot}p" "$FAKE/boots")
    case $end in
        gone) rm -f "$f" ;;
        "") echo "r----- $name" > "$f" ;;
        *) echo "---s${end}- $name" > "$f" ;;
    esac ;;
list)
    f="$FAKE/dom.$1"
    [ -e "$f" ] || { echo "xl list: domain $1 does not exist" >&2; exit 1; }
    read st name < "$f"
    echo "Name                                        ID   Mem VCPUs	State	Time(s)"
    printf '%-40s %5d %5d %5d     %s  %8.1f\n' "$name" "$1" 32 1 "$st" 0.5 ;;
destroy) rm -f "$FAKE/dom.$1" ;;
rename) read st name < "$FAKE/dom.$1"; echo "$st $2" > "$FAKE/dom.$1"
        mv "$FAKE/dom.$1" "$FAKE/renamed.$1" ;;
dump-core) ;;
*) echo "fake xl: $cmd?" >&2; exit 2 ;;
esac
"""

FAKE_XCMOD = r"""#!/bin/sh
echo "xcmod $*" >> "$FAKE/calls"
[ -e "$FAKE/fail-xcmod-$1" ] && { echo "xcmod $1: injected failure" >&2; exit 1; }
if [ "$1" = load ] && [ -e "$FAKE/hang-load" ]; then touch "$FAKE/loading"; exec sleep 60; fi
exit 0
"""

FAKE_VIRSH = r"""#!/bin/sh
echo "virsh $*" >> "$FAKE/calls"
[ -e "$FAKE/fail-$1" ] && { echo "virsh $1: injected failure" >&2; exit 1; }
[ "$1" = dumpxml ] && cat "$FAKE/domain.xml" 2>/dev/null
exit 0
"""


class Rig:
    def __init__(self, tmp_path, xcmod_on_path=True):
        self.dir = tmp_path / "fake"
        self.bin = tmp_path / "bin"
        self.dir.mkdir()
        self.bin.mkdir()
        fakes = {"xl": FAKE_XL, "virsh": FAKE_VIRSH}
        if xcmod_on_path:
            fakes["xcmod"] = FAKE_XCMOD
        for name, text in fakes.items():
            p = self.bin / name
            p.write_text(text)
            p.chmod(0o755)
        (tmp_path / "other").mkdir()
        other = tmp_path / "other" / "fakexcmod"
        other.write_text(FAKE_XCMOD.replace('echo "xcmod $*"', 'echo "other $*"'))
        other.chmod(0o755)
        self.other = other
        self.image = tmp_path / "mods.bin"
        self.image.write_bytes(b"image")
        self.cfg = tmp_path / "guest.cfg"
        self.path = f"{self.bin}:/usr/bin:/bin"
        if not xcmod_on_path:
            # the system's commands without an xcmod installed among them (a Debian
            # package of it puts one in /usr/bin): links to every other one
            system = tmp_path / "system"
            system.mkdir()
            for d in ("/usr/bin", "/bin"):
                for name in os.listdir(d):
                    if name != "xcmod" and not (system / name).exists():
                        (system / name).symlink_to(os.path.join(d, name))
            self.path = f"{self.bin}:{system}"

    def config(self, text, name="web 1"):
        self.cfg.write_text(text)
        (self.dir / "env").write_text(f"NAME_FOR_FAKE={name}\n")

    def boots(self, *ends):
        (self.dir / "boots").write_text("".join(e + "\n" for e in ends))

    def fail(self, what):
        (self.dir / f"fail-{what}").touch()

    def env(self, **extra):
        env = {"PATH": self.path, "FAKE": str(self.dir),
               "XCMOD_POLL": "0", "XCMOD_RESTART_DELAY": "0"}
        env.update(extra)
        return env

    def run(self, script, *args, **env):
        return subprocess.run(["sh", script, *map(str, args)], capture_output=True,
                              text=True, env=self.env(**env), timeout=60)

    def calls(self):
        p = self.dir / "calls"
        return p.read_text().splitlines() if p.exists() else []

    def domains(self):
        return sorted(p.name for p in self.dir.glob("dom.*"))


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


@pytest.mark.parametrize("line", [
    'name = "web 1"', "name='web 1'", 'name="web 1"', "  name\t=  'web 1'  # the guest",
    'name = "web 1";',
])
def test_name_in_every_form_xl_accepts(rig, line):
    rig.config(f'type = "hvm"\n{line}\nmemory = 32\n')
    rig.boots("-")
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 0, r.stderr
    assert "xl domid web 1" in rig.calls()


def test_two_reboots_are_restarted_and_loaded_again_then_poweroff_destroys(rig):
    """on_reboot's default (restart): each reboot destroys the old domain and creates,
    loads and unpauses a new one, paused until loaded; poweroff (destroy) ends it."""
    rig.config('name = "web 1"\n')
    rig.boots("r", "r", "-")
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 0, r.stderr
    cfg, img = str(rig.cfg), str(rig.image)
    boot = lambda d: [f"xl create -p -e {cfg}", "xl domid web 1",
                      f"xcmod load --domid {d} {img}", f"xl unpause {d}"]
    calls = [c for c in rig.calls() if not c.startswith("xl list")]
    assert calls == [f"xcmod verify -q {img}", *boot(1), "xl destroy 1", *boot(2),
                     "xl destroy 2", *boot(3), "xl destroy 3"]
    assert "shut down: reboot; on_reboot = restart" in r.stdout
    assert rig.domains() == []


@pytest.mark.parametrize("cfg, ends, tail, left", [
    ('on_reboot = "destroy"', ("r",), ["xl destroy 1"], []),
    ("on_reboot = 'preserve'", ("r",), [], ["dom.1"]),
    ('on_crash = "coredump-restart"', ("c", "-"),
     ["xl dump-core 1 /var/lib/xen/dump/web 1", "xl destroy 1"], []),
    ('on_poweroff = "preserve"', ("-",), [], ["dom.1"]),
    ('on_watchdog = "restart"', ("w", "-"), ["xl destroy 1"], []),
    ("", ("c",), ["xl destroy 1"], []),                    # on_crash: destroy
    ("", ("S",), [], ["dom.1"]),                           # soft reset: left as it is
])
def test_each_action_as_xl_does_it(rig, cfg, ends, tail, left):
    rig.config(f'name = "web 1"\n{cfg}\n')
    rig.boots(*ends)
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 0, r.stderr
    calls = [c for c in rig.calls() if not c.startswith("xl list")]
    after = calls[calls.index("xl unpause 1") + 1:]
    assert after[:len(tail)] == tail
    restarted = "xl unpause 2" in calls
    assert restarted == (len(ends) > 1)
    assert rig.domains() == left


def test_rename_restart_keeps_the_old_domain_under_a_new_name(rig):
    rig.config('name = "web 1"\non_reboot = "rename-restart"\n')
    rig.boots("r", "-")
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 0, r.stderr
    calls = rig.calls()
    assert any(c.startswith("xl rename 1 web 1-") for c in calls)
    assert "xl destroy 1" not in calls and "xl unpause 2" in calls
    assert (rig.dir / "renamed.1").exists()


def test_a_domain_destroyed_behind_its_back_ends_the_script(rig):
    rig.config('name = "web 1"\n')
    rig.boots("gone")
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 0 and "is gone" in r.stdout


@pytest.mark.parametrize("failure, boots, destroyed", [
    ("xcmod-verify", ("-",), None),
    ("create", ("-",), None),
    ("xcmod-load", ("-",), "1"),
    ("unpause", ("-",), "1"),
])
def test_every_failure_leaves_no_paused_domain(rig, failure, boots, destroyed):
    rig.config('name = "web 1"\n')
    rig.boots(*boots)
    rig.fail(failure)
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode != 0 and r.stderr.strip(), r
    assert rig.domains() == []
    calls = rig.calls()
    assert ("xl destroy 1" in calls) == (destroyed == "1")
    if failure == "xcmod-verify":
        assert not any(c.startswith("xl create") for c in calls)


def test_a_failed_load_after_a_reboot_destroys_the_new_domain(rig):
    rig.config('name = "web 1"\n')
    rig.boots("r", "-")
    # the second load fails: a fake xcmod that fails once a first load was recorded
    x = rig.bin / "xcmod"
    x.write_text(FAKE_XCMOD.replace('exit 0\n', '[ "$1" = load ] && [ "$(grep -c "^xcmod load" '
                                    '"$FAKE/calls")" -ge 2 ] && exit 1\nexit 0\n'))
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 1 and "load failed into domain 2" in r.stderr
    calls = rig.calls()
    assert "xl destroy 2" in calls and "xl unpause 2" not in calls
    assert rig.domains() == []


def test_stopped_while_loading_destroys_the_paused_domain(rig):
    rig.config('name = "web 1"\n')
    rig.boots("-")
    (rig.dir / "hang-load").touch()
    p = subprocess.Popen(["sh", CREATE, str(rig.cfg), str(rig.image)], env=rig.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if (rig.dir / "loading").exists():
            break
        time.sleep(0.05)
    else:
        p.kill()
        pytest.fail("the load never started")
    os.kill(p.pid, signal.SIGTERM)
    # (sh runs its trap once the foreground load returns; end the load as a signal would)
    subprocess.run(["pkill", "-TERM", "-P", str(p.pid)])
    out, err = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "xl destroy 1" in rig.calls() and rig.domains() == [], err


def test_bad_config_is_refused_before_anything_is_created(rig):
    rig.config('memory = 32\n')
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 1 and "no name" in r.stderr and rig.calls() == []
    rig.config('name = "web 1"\non_reboot = "explode"\n')
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 1 and 'unknown action "explode"' in r.stderr
    assert rig.calls() == []


def test_xcmod_is_the_one_on_path_or_XCMOD_never_python3(tmp_path):
    rig = Rig(tmp_path, xcmod_on_path=False)
    rig.config('name = "web 1"\n')
    rig.boots("-")
    r = rig.run(CREATE, rig.cfg, rig.image)
    assert r.returncode == 1 and "no xcmod on PATH: set XCMOD" in r.stderr
    assert rig.calls() == []
    r = rig.run(CREATE, rig.cfg, rig.image, XCMOD=f"{rig.other} ")
    assert r.returncode == 0, r.stderr
    assert f"other load --domid 1 {rig.image}" in rig.calls()
    for script in (CREATE, VIRSH_START):
        text = open(script).read()
        assert "python3 -m xcmod" not in text.replace('XCMOD="/opt/xcmod/.venv/bin/python3 -m '
                                                      'xcmod"', "")


# ------------------------------------------------------------- virsh-start-with-modules


def test_virsh_start_loads_between_a_paused_start_and_the_resume(rig):
    (rig.dir / "domain.xml").write_text("<domain><on_reboot>destroy</on_reboot></domain>")
    r = rig.run(VIRSH_START, "web", rig.image)
    assert r.returncode == 0, r.stderr
    assert [c for c in rig.calls() if not c.startswith("virsh dumpxml")] == [
        f"xcmod verify -q {rig.image}", "virsh start --paused web",
        f"xcmod load --domain web {rig.image}", "virsh resume web"]
    assert "warning" not in r.stderr


def test_virsh_start_warns_that_a_restart_on_reboot_loses_the_modules(rig):
    (rig.dir / "domain.xml").write_text("<domain><name>web</name></domain>")   # default
    r = rig.run(VIRSH_START, "web", rig.image)
    assert r.returncode == 0 and "restarts on reboot without the modules" in r.stderr


@pytest.mark.parametrize("failure, destroyed", [
    ("xcmod-verify", False), ("start", False), ("xcmod-load", True), ("resume", True)])
def test_virsh_start_failures_leave_nothing_paused(rig, failure, destroyed):
    rig.fail(failure)
    r = rig.run(VIRSH_START, "web", rig.image)
    assert r.returncode != 0 and r.stderr.strip()
    assert ("virsh destroy web" in rig.calls()) == destroyed
