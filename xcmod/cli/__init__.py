# SPDX-License-Identifier: MIT
"""The ``python -m xcmod`` command line: a thin layer over the library.

One module per job, each registering its commands (:func:`.common.command`):
:mod:`.build` (build, fields, export), :mod:`.image` (inspect, extract,
layout), :mod:`.verify` (verify) and :mod:`.xen` (load, keys, hvm-info,
guest-tables).  Every
command is a function ``cmd_NAME(args, out, err) -> int`` that parses
nothing itself: it calls :mod:`xcmod.builder`, :mod:`xcmod.image` or
:mod:`xcmod.xen` and renders the result to the streams it is given.

:func:`main` turns every error xcmod raises on purpose into one line on
stderr: exit 2 for a usage error (:class:`~xcmod.errors.UsageError`, and
argparse's own), 1 for anything else (bad input, Xen refusing, a file that
cannot be written), 130 for SIGINT and 143 for SIGTERM during a load, the
line saying what the command had changed.  A command line imports the module
of its own job only, and builds the parser of its own command only.
"""
import argparse
import codecs
import errno
import importlib
import io
import os
import sys

from ..errors import UsageError, XcmodError
from ..fileio import STDOUT, deferred
from .common import (
    COMMANDS,
    GIVEN,
    PROG,
    GivenTwice,
    Once,
    Terminated,
    _watchdog,
    progress_note,
)

# command -> the module of its job, which registers it (common.command)
JOBS = {"build": "build", "fields": "build", "export": "build",
        "inspect": "image", "verify": "verify", "extract": "image", "layout": "image",
        "load": "xen", "keys": "xen", "hvm-info": "xen", "guest-tables": "xen"}


def register(only=None):
    """Import the job module registering command ``only``, or every job's; returns
    COMMANDS, which then holds their commands."""
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
  xcmod build --dry-run --smbios host --acpi host   # what would pass, and why not
  xcmod inspect host.dmi -t system  # a source or an image, as dmidecode shows it
  xcmod inspect mods.bin            # dmidecode-like listing; --json for scripts
  xcmod verify mods.bin             # exit 0 if valid, 1 naming the first problem
  xcmod extract mods.bin --smbios-dump guest.dmi --acpi-dir tables/
  dmidecode --from-dump guest.dmi   # real tools read what is inside
  xcmod layout --memory 32 mods.bin # where it goes in guest RAM, and what it needs
  xcmod load --domid 5 mods.bin     # between `xl create -p` and `xl unpause`
  xcmod export xl blocks/           # xl.cfg lines for the stock blocks

More: `xcmod COMMAND --help`, `man xcmod`, and the guides (the image format,
policies, loading, UEFI guests) in /usr/share/doc/xcmod/ where the Debian
package is installed, else in docs/ of xcmod's source.
"""


class Parser(argparse.ArgumentParser):
    """argparse's parser, storing every one-value option with :class:`.common.Once`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, Once)
        self.register("action", "store", Once)


def build_parser(only=None):
    """The argument parser: every command's, or with ``only`` that command's alone."""
    p = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    # the package's version, read off the package itself (always imported before
    # this one; the layers keep its lazy API out of the command line's imports)
    p.add_argument("--version", action="version",
                   version=f"{PROG} {sys.modules[__package__.rpartition('.')[0]].__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           help="what to do; `xcmod COMMAND --help` for its options")
    sub.required = True
    add_parser = sub.add_parser

    def add_wrapped(name, **kw):          # every command's help wraps alike
        kw["formatter_class"] = Formatter
        return add_parser(name, **kw)
    sub.add_parser = add_wrapped
    for name, add in register(only).items():
        if only is None or name == only:
            add(sub, argparse)
    return p


class Formatter(argparse.HelpFormatter):
    """A help formatter that wraps descriptions to the terminal and keeps paragraphs
    whose lines are indented (examples, tables) as written."""

    def _fill_text(self, text, width, indent):
        import textwrap     # here: only --help wraps text
        out = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if any(line[:1].isspace() for line in lines[1:]):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(para.split()), width,
                                         initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out) + "\n"


def main(argv=None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv and not argv[0].startswith("-") else None
    parser = build_parser(only=first if first in JOBS else None)
    try:
        args = parser.parse_args(argv)
    except GivenTwice as e:
        err.write(f"{PROG} {first}: error: {e}\n")
        return 2
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    vars(args).pop(GIVEN, None)
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
            from ..xen.xenstore import resolve_domain   # here: the build job has no domain
            args.domid = resolve_domain(args.domain)
        return _run(args, out, err)
    except UsageError as e:
        err.write(f"{PROG} {args.command}: error: {e}\n")
        return 2
    except XcmodError as e:
        err.write(f"{PROG}: error: {_xen_hint(e, args.command)}\n")
        return 1
    except BrokenPipeError:
        return 1
    except UnicodeError as e:       # a stream a library caller gave that cannot take text
        err.write(f"{PROG}: error: {ascii(str(e))[1:-1]}; no file written\n")
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


def _xen_hint(e, command):
    """The error line for ``e``; where Xen could not be opened, first what that means:
    this machine is no Xen dom0, or the command needs root (not a lock path's EACCES)."""
    op = getattr(e, "op", None)
    if op not in ("lock", "xc_interface_open", "xs_open"):
        return str(e)
    if e.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
        return f"{command} needs root: it works as dom0's toolstack does ({e})"
    if (e.errno == errno.ENOENT and op != "lock" and not os.environ.get("XENSTORED_PATH")
            and not os.path.exists("/dev/xen") and not os.path.exists("/proc/xen")):
        return (f"this machine is not a Xen dom0 (no /dev/xen: Xen is not running, or this "
                f"is a guest); {command} runs in dom0 ({e})")
    return str(e)


def _run(args, out, err):
    """Run the command with the output rule's last clause (docs/safety.md): every file it
    writes is staged (:class:`xcmod.fileio.deferred`) and its standard output held;
    once it returned, the output is written, and only if it returned 0 and the
    output could be written are the files renamed into place.  An exception (a
    rendering or encoding error included) leaves no file and no partial output; a
    command returning non-zero keeps its output and writes no file."""
    held = io.StringIO()
    # `-o -` and the like: the bytes go to stdout, the command's text to stderr
    text_to = err if any(getattr(args, d, None) == STDOUT for d in OUTPUT_OPTIONS) else out
    with deferred() as files:
        code = args.func(args, held, err)
        # the text first: a stream that cannot take it fails before any file is in place
        text_to.write(held.getvalue())
        if code == 0:
            text_to.flush()
            files.commit()
    return code


# Options naming a file a command writes: `-` is standard output (fileio.STDOUT).
OUTPUT_OPTIONS = ("output", "manifest", "report", "smbios_dump", "measure")


# Options whose values are text xcmod writes somewhere (xenstore, SMBIOS strings, XML,
# a command line), not paths: they must be UTF-8 (argv bytes that are not arrive as
# lone surrogates, which nothing downstream could encode).
TEXT_OPTIONS = ("domain", "set", "guest", "name", "vm", "oem_ids", "keys")


def _not_text(args):
    """The usage error for the first TEXT_OPTIONS value that is not UTF-8 text, or None.

    Under a locale that is not UTF-8 (LC_ALL=C with PYTHONUTF8=0), Python decodes
    argv as ASCII and UTF-8 bytes arrive as lone surrogates: such a value is taken
    as the UTF-8 text its bytes are (xcmod's text is UTF-8 whatever the locale)."""
    for dest in TEXT_OPTIONS:
        values = getattr(args, dest, None)
        is_list = isinstance(values, list)
        fixed = []
        for v in values if is_list else [values]:
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    try:
                        v = os.fsencode(v).decode("utf-8")
                    except (UnicodeError, ValueError):
                        name = "KEY" if dest == "keys" else f"--{dest.replace('_', '-')}"
                        return f"{name} {ascii(v)[:60]}: not valid UTF-8 text"
            fixed.append(v)
        if values is not None:
            setattr(args, dest, fixed if is_list else fixed[0])
    return None


def console_main():
    """Entry point of the ``xcmod`` console script and of ``python -m xcmod``."""
    _escaping(sys.stderr)
    sys.exit(main(sys.argv[1:], _escaping(sys.stdout)))


def _escape(e):
    """The ``xcmod-escape`` codec error handler: a lone surrogate from argv (a path that
    is not UTF-8) goes out as the byte it came as, every other character the stream's
    encoding cannot hold as a backslash escape (``\\xdc``, ``\\U0001f4a5``).  So
    text never ends a command with UnicodeEncodeError, whatever PYTHONIOENCODING or
    the locale (LC_ALL=C, latin-1) says."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    out = []
    for ch in e.object[e.start:e.end]:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(bytes([o - 0xDC00]))
        else:
            out.append(ch.encode("ascii", "backslashreplace"))
    return b"".join(out), e.end


def _escaping(stream):
    """``stream`` (sys.stdout or sys.stderr) with the ``xcmod-escape`` error handler."""
    try:
        codecs.lookup_error("xcmod-escape")
    except LookupError:
        codecs.register_error("xcmod-escape", _escape)
    try:
        stream.reconfigure(errors="xcmod-escape")
    except (AttributeError, ValueError):
        pass
    return stream

