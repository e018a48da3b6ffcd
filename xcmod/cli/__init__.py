"""The ``python -m xcmod`` command line: a thin layer over the library.

One module per job, each registering its commands (:func:`.common.command`):
:mod:`.build` (build, fields, export), :mod:`.image` (inspect, verify,
extract, layout) and :mod:`.xen` (load, keys, hvm-info, guest-tables).  Every
command is a function ``cmd_NAME(args, out, err) -> int`` that parses
nothing itself: it calls :mod:`xcmod.builder`, :mod:`xcmod.image` or
:mod:`xcmod.xen` and renders the result to the streams it is given.

:func:`main` turns every error xcmod raises on purpose into one line on
stderr: exit 2 for a usage error (:class:`~xcmod.errors.UsageError`, and
argparse's own), 1 for anything else (bad input, Xen refusing, a file that
cannot be written), 130 for SIGINT and 143 for SIGTERM during a load, the
line saying what the command had changed.  Only the command being run gets a
parser, and a plain line (every option in full, no help asked:
:func:`.common.parse_plain`) gets none at all: argparse costs more than a load
on a slow CPU, and was most of build's, verify's and inspect's start-up.
"""
import sys

from .common import COMMANDS, PROG, Terminated, _watchdog, plain_args, progress_note

# command -> the module of its job, which registers it (common.command); a command
# line imports only its own (a module costs 10-20 ms under the rig's emulated CPU)
JOBS = {"build": "build", "fields": "build", "export": "build",
        "inspect": "image", "verify": "image", "extract": "image", "layout": "image",
        "load": "xen", "keys": "xen", "hvm-info": "xen", "guest-tables": "xen"}


def register(only=None):
    """Import the job module registering command ``only``, or every job's; returns
    COMMANDS, which then holds their commands."""
    import importlib
    for job in dict.fromkeys(JOBS.values()) if only is None else (JOBS[only],):
        importlib.import_module(f"{__name__}.{job}")
    return COMMANDS

DESCRIPTION = """\
Pass host SMBIOS structures and ACPI tables into Xen HVM guests: build an
image (or the blocks stock hvmloader reads) from the host's firmware under a
pass-through policy, check it, look inside, export it to xl/QEMU/libvirt, and
load it into a paused guest for hvmloader.
"""

EPILOG = """\
examples:
  xcmod build -o mods.bin --smbios host --acpi host  # as root, default policy
  xcmod build -o mods.bin --smbios host.dmi --acpi slic.dat --acpi ssdt1.dat
  xcmod build --format xen -o blocks/ --smbios host --policy site.toml
  xcmod inspect mods.bin            # dmidecode-like listing; --json for scripts
  xcmod verify mods.bin             # exit 0 if valid, 1 naming the first problem
  xcmod extract mods.bin --smbios-dump guest.dmi --acpi-dir tables/
  dmidecode --from-dump guest.dmi   # real tools read what is inside
  xcmod layout --memory 32 mods.bin # where it goes in guest RAM, and what it needs
  xcmod load --domid 5 mods.bin     # between `xl create -p` and `xl unpause`
  xcmod export xl blocks/           # xl.cfg lines for the stock blocks

The image format is described in docs/format.md and csrc/xcmod_module.h,
policies in docs/policy.md.
"""


def build_parser(only=None):
    """The argument parser: every command's, or with ``only`` that command's alone
    (each subparser costs gettext lookups and a formatter, 15 ms apiece on a slow CPU)."""
    import argparse
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # the package's version, read off the package itself (always imported before
    # this one; the layers keep its lazy API out of the command line's imports)
    p.add_argument("--version", action="version",
                   version=f"{PROG} {sys.modules[__package__.rpartition('.')[0]].__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, add in register(only).items():
        if only is None or name == only:
            add(sub, argparse)
    return p


def main(argv=None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv and not argv[0].startswith("-") else None
    if first in JOBS:
        register(first)
    args = plain_args(first, argv[1:]) if first in JOBS else None
    if args is None:
        parser = build_parser(only=first if first in JOBS else None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 2
    from ..errors import UsageError, XcmodError
    if hasattr(args, "domain") and (args.domid is None) == (args.domain is None):
        err.write(f"{PROG} {args.command}: error: name the domain with --domid N or "
                  f"--domain NAME|ID (one of them)\n")
        return 2
    bad = _not_text(args)
    if bad:
        err.write(f"{PROG} {args.command}: error: {bad}\n")
        return 2
    stop_watchdog = _watchdog(args.timeout, err, args.command) \
        if getattr(args, "timeout", None) else (lambda: None)
    try:
        if getattr(args, "domain", None) is not None:
            from ..xen.xenstore import resolve_domain
            args.domid = resolve_domain(args.domain)
        return args.func(args, out, err)
    except UsageError as e:
        err.write(f"{PROG} {args.command}: error: {e}\n")
        return 2
    except XcmodError as e:
        err.write(f"{PROG}: error: {e}\n")
        return 1
    except BrokenPipeError:
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        err.write(f"{PROG}: error: {where}{e.strerror or e}\n")
        return 1
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted; {progress_note(args.command)}\n")
        return 130
    except Terminated:
        err.write(f"{PROG}: terminated (SIGTERM); {progress_note(args.command)}\n")
        return 143
    finally:
        stop_watchdog()


# Options whose values are text xcmod writes somewhere (xenstore, SMBIOS strings, XML,
# a command line), not paths: they must be UTF-8 (argv bytes that are not arrive as
# lone surrogates, which nothing downstream could encode).
TEXT_OPTIONS = ("domain", "set", "guest", "name", "vm", "oem_ids", "keys")


def _not_text(args):
    """The usage error for the first TEXT_OPTIONS value that is not UTF-8 text, or None."""
    for dest in TEXT_OPTIONS:
        values = getattr(args, dest, None)
        for v in values if isinstance(values, list) else [values]:
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    name = "KEY" if dest == "keys" else f"--{dest.replace('_', '-')}"
                    return f"{name} {ascii(v)[:60]}: not valid UTF-8 text"
    return None


# Commands that never import construct (tests/test_architecture.py runs a load and
# holds it to that): nothing of construct's to defer, and .deferred would be one
# more module on the start-up path of the command a domain's creation waits for.
NOTHING_TO_DEFER = ("load",)


def console_main():
    """Entry point of the ``xcmod`` console script and of ``python -m xcmod``: the
    standard modules construct imports but xcmod never calls are deferred
    (:mod:`.deferred`) in this process only, then :func:`main` runs.

    The process runs without the cyclic garbage collector.  Its collections
    walked every object the imports had made, again and again: 1-1.5 ms of a
    10-20 ms command natively, and in the rig's emulated CPU one comparison
    gave a load 0.438 s without them and 0.468 s with them (issue 22).  One
    command runs and the process exits; every input is read against its
    ceiling (:mod:`xcmod.fileio`), and what cycles a command leaves
    (construct's parse contexts) wait for the exit: ``build`` of the benchmark's
    64 KiB SMBIOS table and 1 MiB of ACPI tables peaks at the same RSS either
    way.  :func:`main` called as a library leaves the caller's collector alone.
    """
    import gc
    gc.disable()
    if (sys.argv[1:2] or [None])[0] not in NOTHING_TO_DEFER:
        from .deferred import defer
        defer()
    sys.exit(main(sys.argv[1:], _stdout()))


def _stdout():
    """sys.stdout writing a path that is not UTF-8 (argv's lone surrogates) back as the
    bytes it came as, instead of raising UnicodeEncodeError."""
    try:
        sys.stdout.reconfigure(errors="surrogateescape")
    except (AttributeError, ValueError):
        pass
    return sys.stdout

