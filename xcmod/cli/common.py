# SPDX-License-Identifier: MIT
"""What every command shares: output helpers, argument types, the command
registry, the store action refusing a repeated option, and the watchdog."""
import argparse
import os
import sys

from ..checks import parse_decimal, parse_number
from ..errors import UsageError
from ..xen.layout import DEFAULT_BASE, hvmloader_end_from_elf

PROG = "xcmod"

# name -> function(sub, argparse) adding that command's parser (see command()).
COMMANDS = {}


class Terminated(BaseException):
    """SIGTERM during a load (:func:`xcmod.cli.xen.cmd_load` turns it into this), so the
    process ends through :func:`xcmod.cli.main` with a line saying what was changed."""


def command(name):
    """Register the function that adds command ``name``'s parser (cli/build.py,
    cli/image.py, cli/xen.py); :func:`xcmod.cli.build_parser` calls it."""
    def register(add):
        COMMANDS[name] = add
        return add
    return register


def _json_text(obj):
    import json     # here, off every path that prints no JSON
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def _write_json(obj, out):
    out.write(_json_text(obj))


def _warn(err, msg):
    err.write(f"{PROG}: warning: {msg}\n")


def _acpi_file_names(tables):
    seen, names = {}, []
    for t in tables:
        sig = "".join(c if c.isalnum() or c in "!_-" else "_" for c in t.signature)
        n = seen.get(sig, 0)
        seen[sig] = n + 1
        names.append(f"{sig}{n if n else ''}.dat")
    return names


def _int(text, decimal=False):
    """An integer written the one way xcmod.checks documents: ASCII decimal digits, or
    (unless ``decimal``) 0x and hexadecimal digits; no sign, space or other digits."""
    try:
        return (parse_decimal if decimal else parse_number)(text)
    except UsageError:
        rule = ("ASCII decimal digits only" if decimal else
                "ASCII decimal digits, or 0x and hexadecimal digits")
        if len(text) > 40:
            rule = f"{len(text)} characters; {rule}, at most 32 of them"
        raise argparse.ArgumentTypeError(f"not an integer: {ascii(text)[:40]} ({rule})"
                                         ) from None


def _bounded(what, low, high, decimal=False):
    """An argparse type: an integer in [low, high], or a usage error naming ``what``."""
    def parse(text):
        value = _int(text, decimal)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be {low:#x}..{high:#x} "
                                             f"({low}..{high}), not {text}")
        return value
    parse.__name__ = what.replace(" ", "_")
    return parse


# Xen's public xen.h: domids from DOMID_FIRST_RESERVED (0x7FF0) up are not
# domains; a domid is decimal, as xl reads one.  Guest physical addresses
# hvmloader reads are 32-bit.
_domid = _bounded("a domid", 0, 0x7FEF, decimal=True)   # = xcmod.xen.xenctrl.DOMID_MAX
_gpa = _bounded("a guest physical address", 0, 0xFFFFFFFF)
_mib = _bounded("guest memory in MiB", 1, 1 << 24)
_seconds = _bounded("a timeout in seconds", 1, 3600)

DEFAULT_TIMEOUT = 30
TIMEOUT_ARG = (("--timeout",), dict(
    type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
    help=f"give up after this long if xenstored, libxc or another load of the same domain "
    f"does not answer: one line, exit 1, no key written (default {DEFAULT_TIMEOUT})"))
# (for the commands that only read from Xen: keys list/get, guest-tables, hvm-info)
TIMEOUT_READ_ARG = (("--timeout",), dict(
    type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
    help=f"give up after this long if xenstored or libxc does not answer: one line, exit "
    f"1, nothing written (default {DEFAULT_TIMEOUT})"))


def _watchdog(seconds, err, command):
    """End the process with one line if ``command`` is still running after ``seconds``;
    returns the function that calls this off once the command is done.

    A stopped xenstored blocks libxenstore in read() with no timeout of its
    own, so no check in Python could return; a thread ends the process
    instead.  Keys are only written in whole transactions, so none is half
    written, and a load's keys are removed before guest RAM changes: the line
    says what the command had done (:func:`progress_note`).
    """
    import threading        # here: only the commands that talk to Xen have a timeout
    done = threading.Event()

    def fire():
        if done.wait(timeout=seconds):
            return                        # the command finished in time
        err.write(f"{PROG}: error: {command}: no answer from xenstored or libxc within "
                  f"{seconds} s (ETIMEDOUT); gave up, {progress_note(command)}\n")
        err.flush()
        fileio = sys.modules.get("xcmod.fileio")
        if fileio is not None:          # files staged for the command: none is left
            fileio.abort_pending()
        os._exit(1)
    watchdog = threading.Thread(target=fire, name="xcmod-watchdog", daemon=True)
    watchdog.start()

    def stop():
        done.set()
        watchdog.join()
    return stop


def progress_note(command):
    """What ``command`` has changed so far, for a message ending it early: a load's
    :data:`xcmod.xen.loader.PROGRESS` (if a load ran), else nothing was written
    (keys set/rm and hvm-info --to-xenstore write in one transaction each)."""
    loader = sys.modules.get("xcmod.xen.loader")
    if command == "load" and loader is not None:
        return loader.PROGRESS.note()
    return "no key written"


def _placement_args():
    """--base and --hvmloader, shared by every command that places an image."""
    return (
        (("--base",), dict(type=_gpa, default=None, metavar="GPA",
                           help=f"guest physical base address (page-aligned; default: "
                           f"the first free page after hvmloader and the modules libxc "
                           f"placed, as the guest's hvm_start_info lists them, and at "
                           f"least {DEFAULT_BASE:#x})")),
        (("--hvmloader",), dict(metavar="ELF",
                                help="hvmloader binary, to take its real end instead of "
                                "assuming 1 MiB (the toolstack's boot/hvmloader: /usr/lib/xen-X.Y/ on "
                                "Debian, /usr/lib/xen/ from Xen's make install)")),
    )


def _domain_args(what):
    """--domid N and --domain NAME|ID: one of them names the domain (see main); argparse
    shows them as one required choice (``group``)."""
    return ((("--domid",), dict(type=_domid, default=None, metavar="N",
                                help=f"{what}, by domid", group="domain")),
            (("--domain",), dict(metavar="NAME", default=None, group="domain",
                                 help=f"{what}, by name as xl resolves it (or a domid)")))


def _add_args(parser, specs):
    """Add ``specs`` to an argparse parser; those of one ``group`` go into one required,
    mutually exclusive group."""
    groups = {}
    for flags, kw in specs:
        kw = dict(kw)
        group = kw.pop("group", None)
        if group is not None:
            if group not in groups:
                groups[group] = parser.add_mutually_exclusive_group(required=True)
            groups[group].add_argument(*flags, **kw)
        else:
            parser.add_argument(*flags, **kw)


class GivenTwice(Exception):
    """A one-value option given twice with different values (:class:`Once`)."""


class Once(argparse._StoreAction):
    """argparse's ``store``, refusing a second, different value for the same option.

    Options decide what a command writes, where and what leaves the host
    (--policy, --domid, -o...): the last of two must not silently win, so
    ``--policy strict --policy passthrough-all`` is refused however spelled
    (``--opt V``, ``--opt=V``, an abbreviation, ``-oV``); the same value twice
    is harmless.  Every parser of :func:`xcmod.cli.build_parser` stores with it."""

    def __call__(self, parser, namespace, values, option_string=None):
        if self.option_strings and self.nargs is None:
            given = namespace.__dict__.setdefault(GIVEN, {})
            if self.dest in given and given[self.dest] != values:
                raise GivenTwice(
                    f"{'/'.join(self.option_strings)} given twice, as "
                    f"{ascii(str(given[self.dest]))[1:-1]} and {ascii(str(values))[1:-1]}: "
                    f"an option that decides what the command writes or where takes one "
                    f"value; give it once")
            given[self.dest] = values
        setattr(namespace, self.dest, values)


# The namespace attribute Once keeps the values given in (removed once parsed).
GIVEN = "_given_once"


def _hvmloader_end(args):
    """The end of hvmloader from --hvmloader ELF, or None for the planner's default."""
    if not args.hvmloader:
        return None
    return hvmloader_end_from_elf(args.hvmloader)

