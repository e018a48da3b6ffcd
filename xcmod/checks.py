# SPDX-License-Identifier: MIT
"""Arguments checked where they enter: the library's and the command line's.

Every public function of xcmod takes its arguments through these, so that a
misuse (a str where a list is wanted, an int where a path is, a negative
address) is one :class:`~xcmod.errors.UsageError` (a ``ValueError``) naming
the argument, never a ``TypeError`` from deep inside, a file descriptor opened
by accident or a string iterated per character.

The one rule for numbers written as text (docs/cli.md, "Numbers and text"):

* a domid (``--domid``, a numeric ``--domain``) is ASCII decimal digits only,
  as xl reads one: no sign, space, underscore, base prefix or other script's
  digits; leading zeros are allowed (``05`` is 5, as for xl);
* every other number (``--base``, ``--memory``, ``--timeout``, key values) is
  ASCII decimal digits, or ``0x``/``0X`` and hexadecimal digits (the two forms
  hvmloader's own parser of xcmod's keys takes), again with leading zeros
  allowed and nothing else.

Neither may be longer than :data:`MAX_DIGITS` characters: no value xcmod
takes needs more, and Python refuses to convert very long ones anyway.
"""
import os

from .errors import UsageError

MAX_DIGITS = 32
_DEC = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


def _too_long(text, what):
    if isinstance(text, str) and len(text) > MAX_DIGITS:
        raise UsageError(f"{what}: {_shown(text)} has {len(text)} characters; no number "
                         f"xcmod takes needs more than {MAX_DIGITS}")


def parse_decimal(text, what="a number"):
    """``text`` as an int if it is ASCII decimal digits only; UsageError otherwise."""
    _too_long(text, what)
    if not isinstance(text, str) or not text or not set(text) <= _DEC:
        raise UsageError(f"{what}: {_shown(text)} is not a decimal number "
                         f"(ASCII digits 0-9 only)")
    return int(text, 10)


def parse_number(text, what="a number"):
    """``text`` as an int: ASCII decimal digits, or 0x and hexadecimal digits."""
    hexa = isinstance(text, str) and text[:2] in ("0x", "0X")
    _too_long(text[2:] if hexa else text, what)
    if hexa and len(text) > 2 and set(text[2:]) <= _HEX:
        return int(text[2:], 16)
    if not hexa and isinstance(text, str) and text and set(text) <= _DEC:
        return int(text, 10)
    raise UsageError(f"{what}: {_shown(text)} is not a number (ASCII decimal digits, or "
                     f"0x and hexadecimal digits)")


def _shown(text):
    """A value for a message: short, quoted, never a raw control or a surrogate."""
    if not isinstance(text, str):
        return f"{type(text).__name__} {text!r}"[:80]
    r = ascii(text)
    return r if len(r) <= 40 else r[:37] + "...'"


def text_arg(value, what, *, empty=False):
    """``value`` if it is a str that encodes as UTF-8 (argv bytes that are not UTF-8
    arrive as lone surrogates), with no NUL; UsageError otherwise."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text (a str), not {type(value).__name__}")
    if not value and not empty:
        raise UsageError(f"{what} is empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what}: {_shown(value)} is not valid UTF-8 text") from None
    if "\0" in value:
        raise UsageError(f"{what}: {_shown(value)} holds a NUL character")
    return value


def path_arg(value, what):
    """A path argument as a str: a str, bytes or os.PathLike, not empty.  An int is
    refused: ``open(5)`` would read file descriptor 5."""
    if isinstance(value, bool) or not isinstance(value, (str, bytes, os.PathLike)):
        raise UsageError(f"{what} must be a path (str or os.PathLike), not "
                         f"{type(value).__name__} {value!r}"[:120])
    p = os.fsdecode(os.fspath(value))
    if not p:
        raise UsageError(f"{what}: an empty path names no file")
    if "\0" in p:
        raise UsageError(f"{what}: {_shown(p)} holds a NUL character, which no path can")
    return p


def paths_arg(value, what):
    """A list of paths: one path (str/os.PathLike), or a list or tuple of them; None and
    () are the empty list.  A str is one path, never iterated per character."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)):
        return [path_arg(value, what)]
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{what} must be a path or a list of paths, not "
                         f"{type(value).__name__}")
    return [path_arg(v, f"{what}[{i}]") for i, v in enumerate(value)]


def texts_arg(value, what):
    """A list of text: one str, or a list or tuple of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [text_arg(value, what)]
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{what} must be a str or a list of str, not {type(value).__name__}")
    return [text_arg(v, f"{what}[{i}]") for i, v in enumerate(value)]


def bytes_arg(value, what):
    """``value`` as bytes if it is bytes, bytearray or memoryview (never ``bytes(5)``,
    five zero bytes from an int)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise UsageError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def int_arg(value, what, low, high):
    """``value`` if it is an int (not a bool) in [low, high]; UsageError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be an integer, not {type(value).__name__} {value!r}"
                         [:120])
    if not low <= value <= high:
        raise UsageError(f"{what} {value:#x} is outside {low:#x}..{high:#x}")
    return value


def bool_arg(value, what):
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be True or False, not {type(value).__name__}")
    return value


def seconds_arg(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value != value or value > 86400:
        raise UsageError(f"{what} must be a number of seconds in (0, 86400], not {value!r}")
    return value
