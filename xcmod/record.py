# SPDX-License-Identifier: MIT
"""The base of image/spec.py's value classes (:class:`~xcmod.image.spec.Item`,
:class:`~xcmod.image.spec.Module`); every other value class is a standard
dataclass with slots.

A record names its fields, in order, in ``__slots__`` and writes its own
``__init__``.  This class adds ``==`` by type and fields, a ``repr`` naming
them, :meth:`replace`, and with ``class X(Record, frozen=True)`` immutability
and a hash; a frozen record's ``__init__`` assigns with ``object.__setattr__``.
A slot named in ``_CACHED`` holds a value computed from the fields on first
use (a parsed header): no field, so never compared, shown or copied.
"""


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record."""


class Record:
    __slots__ = ()
    _CACHED = ()
    _FIELDS = ()

    def __init_subclass__(cls, frozen=False, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._FIELDS = tuple(name for name in cls.__slots__ if name not in cls._CACHED)
        if frozen:
            cls.__setattr__ = cls.__delattr__ = _refuse
            cls.__hash__ = Record._hash

    def _values(self):
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def _hash(self):
        return hash(self._values())

    def __repr__(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__name__}({shown})"

    def replace(self, **changes):
        """A copy with ``changes`` (field=value) made; ``__init__`` takes every field
        by its name."""
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return type(self)(**{name: changes[name] if name in changes else getattr(self, name)
                             for name in self._FIELDS})


def _refuse(self, name, *value):
    raise FrozenRecordError(f"{type(self).__name__} is frozen: cannot set {name!r}")
