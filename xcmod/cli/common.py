"""What every command shares: output helpers, argument types, the command
registry, the fast parser of plain command lines, and the watchdog.

Nothing here imports argparse or json at module level: every command goes
through this module, and ``python -m xcmod load`` must start fast.
"""
import os

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
    import json  # here, not at the top: `load` without --json never needs it
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
    from ..checks import parse_decimal, parse_number
    from ..errors import UsageError
    try:
        return (parse_decimal if decimal else parse_number)(text)
    except UsageError:
        import argparse
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
            import argparse
            raise argparse.ArgumentTypeError(f"{what} must be {low:#x}..{high:#x} "
                                             f"({low}..{high}), not {text}")
        return value
    parse.__name__ = what.replace(" ", "_")
    return parse


# Xen's public xen.h: domids from DOMID_FIRST_RESERVED (0x7FF0) up are not
# domains; a domid is decimal, as xl reads one.  Guest physical addresses
# hvmloader reads are 32-bit.
_domid = _bounded("a domid", 0, 0x7FEF, decimal=True)   # = xen.DOMID_MAX (load stays fast)
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
    says what the command had done (:func:`progress_note`).  _thread is built
    in: no import cost on load's path.
    """
    import _thread
    done = _thread.allocate_lock()
    done.acquire()

    def fire():
        if done.acquire(timeout=seconds):
            return                        # the command finished in time
        err.write(f"{PROG}: error: {command}: no answer from xenstored or libxc within "
                  f"{seconds} s (ETIMEDOUT); gave up, {progress_note(command)}\n")
        err.flush()
        import sys
        fileio = sys.modules.get("xcmod.fileio")
        if fileio is not None:          # files staged for the command: none is left
            fileio.abort_pending()
        os._exit(1)
    _thread.start_new_thread(fire, ())
    return done.release


def progress_note(command):
    """What ``command`` has changed so far, for a message ending it early: a load's
    :data:`xcmod.xen.loader.PROGRESS` (if a load ran), else nothing was written
    (keys set/rm and hvm-info --to-xenstore write in one transaction each)."""
    import sys
    loader = sys.modules.get("xcmod.xen.loader")
    if command == "load" and loader is not None:
        return loader.PROGRESS.note()
    return "no key written"


def _placement_args():
    """--base and --hvmloader, shared by every command that places an image."""
    from ..xen.layout import DEFAULT_BASE
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
        if isinstance(parser, _Recorder):        # parse_plain reads "group" itself
            parser.add_argument(*flags, **kw)
            continue
        kw = dict(kw)
        group = kw.pop("group", None)
        if group is not None:
            if group not in groups:
                groups[group] = parser.add_mutually_exclusive_group(required=True)
            groups[group].add_argument(*flags, **kw)
        else:
            parser.add_argument(*flags, **kw)


class Args:
    """What :func:`parse_plain` returns: the attributes argparse's Namespace would have."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _dest(flags):
    """argparse's dest for an argument: its first long option (else its first short
    one) without the dashes, "-" as "_"; a positional's name."""
    if not flags[0].startswith("-"):
        return flags[0]
    name = next((f for f in flags if f.startswith("--")), flags[0])
    return name.lstrip("-").replace("-", "_")


def parse_plain(argv, specs, **defaults):
    """Parse a plain command line of ``specs`` without argparse, or return None.

    ``python -m xcmod load`` runs in domain-creation scripts between `xl
    create -p` and `xl unpause`, and importing and building argparse (re,
    gettext, shutil, a help formatter per option) costs more than the load
    itself on a slow or emulated CPU; for build, verify and inspect it was
    most of their start-up.  Plain means: every option spelled in full, once
    (an ``append`` option as often as wanted), as ``--opt VALUE`` or
    ``--opt=VALUE`` (flags bare), no value starting with "-", every
    positional given, every required option present, one of each required choice
    (``group``), and every ``type`` and
    ``choices`` accepting its value.  Anything else (``-h``, ``--``, an
    abbreviation, a repeat, a bad value, ``nargs``) returns None, and argparse
    parses the line and words the error.  For a plain line the result is what
    argparse's Namespace would hold (tests/test_cli.py holds the two to that).
    """
    options, positionals, ns = {}, [], dict(defaults)
    for flags, kw in specs:
        if "nargs" in kw:
            return None
        dest = kw.get("dest") or _dest(flags)
        if flags[0].startswith("-"):
            options.update((f, (dest, kw)) for f in flags)
            ns[dest] = kw.get("default", False if kw.get("action") == "store_true" else None)
        else:
            positionals.append((dest, kw))
    given, words, values = {}, iter(argv), []       # given: {dest: [values as typed]}
    for word in words:
        if not word.startswith("-"):
            values.append(word)
            continue
        name, eq, value = word.partition("=")
        if name not in options:
            return None
        dest, kw = options[name]
        if dest in given and kw.get("action") != "append":
            return None
        if kw.get("action") == "store_true":
            if eq:
                return None
            given[dest] = [True]
            continue
        if not eq:
            value = next(words, "-")
        if value.startswith("-"):
            return None
        given.setdefault(dest, []).append(value)
    if len(values) != len(positionals):
        return None
    groups = {}                 # a required choice (--domid | --domain): exactly one
    for flags, kw in specs:
        if "group" in kw:
            groups.setdefault(kw["group"], []).append(kw.get("dest") or _dest(flags))
    if any(sum(d in given for d in dests) != 1 for dests in groups.values()):
        return None
    given.update((dest, [v]) for (dest, _), v in zip(positionals, values))
    for dest, kw in dict([*options.values(), *positionals]).items():   # (each dest once)
        if dest not in given:
            if kw.get("required"):
                return None
            if "type" in kw and isinstance(ns[dest], str):    # argparse types str defaults too
                try:
                    ns[dest] = kw["type"](ns[dest])
                except Exception:
                    return None
            continue
        typed = []
        for v in given[dest]:
            if "type" in kw and isinstance(v, str):
                try:
                    v = kw["type"](v)
                except Exception:
                    return None
            if "choices" in kw and v not in kw["choices"]:
                return None
            typed.append(v)
        ns[dest] = [*ns[dest], *typed] if kw.get("action") == "append" else typed[0]
    return Args(**ns)


class _Recorder:
    """What a command's parser function (see :func:`command`) is handed instead of
    argparse and its subparsers: it records the arguments, for :func:`plain_args`."""

    RawDescriptionHelpFormatter = None          # the one argparse name they use

    def __init__(self):
        self.specs, self.defaults, self.nested = [], {}, False

    def add_parser(self, name, **kw):
        return self

    def add_argument(self, *flags, **kw):
        self.specs.append((flags, kw))

    def set_defaults(self, **kw):
        self.defaults.update(kw)

    def add_subparsers(self, **kw):             # (keys ACTION ...: left to argparse)
        self.nested = True
        return self


# Actions that take no value; an option with any other action but "append" takes one.
_NO_VALUE = ("store_true", "store_false", "store_const", "count", "help", "version")


def repeated_option(name, argv):
    """The usage error for a one-value option of command ``name`` given twice in ``argv``
    with different values, or None.  Options decide what a command writes, where and
    what leaves the host (--policy, --domid, -o...): the last of two must not
    silently win, so ``--policy strict --policy passthrough-all`` is refused, however
    spelled (``--opt V``, ``--opt=V``, an abbreviation argparse would take, ``-oV``);
    the same value twice is harmless.  Words after ``--`` are not options."""
    recorder = _Recorder()
    COMMANDS[name](recorder, recorder)
    longs, shorts = {}, {}
    for flags, kw in recorder.specs:
        if not flags[0].startswith("-"):
            continue
        dest = kw.get("dest") or _dest(flags)
        takes = kw.get("action") not in _NO_VALUE
        once = takes and kw.get("action") != "append" and "nargs" not in kw
        for f in flags:
            (longs if f.startswith("--") else shorts)[f] = (dest, takes, once, flags)
    seen, words, i = {}, list(argv), 0
    while i < len(words):
        w = words[i]
        i += 1
        if w == "--":
            break
        if w.startswith("--"):
            opt, eq, value = w.partition("=")
            found = [f for f in longs if f == opt] or [f for f in longs if f.startswith(opt)]
            if len(found) != 1:
                continue                    # unknown or ambiguous: argparse's to word
            dest, takes, once, flags = longs[found[0]]
            if takes and not eq:
                if i >= len(words):
                    continue
                value, i = words[i], i + 1
        elif w.startswith("-") and len(w) > 1 and w[:2] in shorts:
            dest, takes, once, flags = shorts[w[:2]]
            value = w[2:]
            if takes and not value:
                if i >= len(words):
                    continue
                value, i = words[i], i + 1
        else:
            continue
        if not once:
            continue
        if dest in seen and seen[dest] != value:
            shown = "/".join(flags)
            return (f"{shown} given twice, as {ascii(seen[dest])[1:-1]} and "
                    f"{ascii(value)[1:-1]}: an option that decides what the command writes "
                    f"or where takes one value; give it once")
        seen[dest] = value
    return None


def plain_args(name, argv):
    """Command ``name``'s arguments from a plain line ``argv`` (:func:`parse_plain`)
    without importing argparse, or None: argparse parses that line."""
    recorder = _Recorder()
    COMMANDS[name](recorder, recorder)
    if recorder.nested:
        return None
    return parse_plain(argv, recorder.specs, command=name, **recorder.defaults)


def _hvmloader_end(args):
    """The end of hvmloader from --hvmloader ELF, or None for the planner's default."""
    if not args.hvmloader:
        return None
    from ..xen.layout import hvmloader_end_from_elf
    return hvmloader_end_from_elf(args.hvmloader)

