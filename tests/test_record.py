# SPDX-License-Identifier: MIT
"""The package's value classes: dataclasses with slots, and xcmod.record.Record
where still in use; each keeps its fields, compares by them, and the frozen ones
refuse assignment."""
import dataclasses
import importlib
import inspect
import pkgutil
import sys

import pytest

import xcmod
from xcmod.record import FrozenRecordError, Record


class Point(Record, frozen=True):
    __slots__ = ("x", "y")

    def __init__(self, x, y=0):
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)


class Bag(Record):
    __slots__ = ("items", "name", "_size")
    _CACHED = ("_size",)

    def __init__(self, items, name=""):
        self.items = items
        self.name = name


def test_equality_is_by_type_and_fields():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) == Point(1, 0)
    assert Point(1, 2) != (1, 2) and Bag([1]) != Point([1])


def test_a_frozen_record_refuses_assignment_and_hashes_by_value():
    p = Point(1, 2)
    for attempt in (lambda: setattr(p, "x", 5), lambda: delattr(p, "y"),
                    lambda: setattr(p, "z", 1)):
        with pytest.raises(FrozenRecordError, match="Point is frozen"):
            attempt()
    assert issubclass(FrozenRecordError, AttributeError)
    assert (p.x, p.y) == (1, 2)
    assert hash(p) == hash(Point(1, 2)) and len({p, Point(1, 2), Point(2, 1)}) == 2


def test_a_mutable_record_is_unhashable_and_takes_no_stray_attribute():
    b = Bag([1])
    b.items.append(2)
    b.name = "n"
    assert b == Bag([1, 2], "n")
    with pytest.raises(TypeError):
        hash(b)
    with pytest.raises(AttributeError):
        b.nmae = "typo"


def test_cached_slots_are_not_fields():
    a, b = Bag([1], "a"), Bag([1], "a")
    a._size = 1
    assert a == b and Bag._FIELDS == ("items", "name")
    assert repr(a) == "Bag(items=[1], name='a')"
    assert not hasattr(a.replace(items=[2]), "_size")


def test_replace_copies_with_changes_and_refuses_unknown_fields():
    p = Point(1, 2)
    assert p.replace(y=5) == Point(1, 5) and p == Point(1, 2)
    with pytest.raises(TypeError, match="Point has no field 'z'"):
        p.replace(z=1)
    with pytest.raises(TypeError, match="has no field '_size'"):
        Bag([]).replace(_size=3)


def _package_values():
    """Every value class of the xcmod package (each module imported): its dataclasses,
    and the Records of xcmod/record.py still in use."""
    skip = {"xcmod._ffi_build", "xcmod.__main__"}
    for m in pkgutil.walk_packages(xcmod.__path__, "xcmod."):
        if m.name not in skip:
            importlib.import_module(m.name)
    found = []
    for name, mod in sorted(sys.modules.items()):
        if name.startswith("xcmod.") and mod is not None:
            for cls in vars(mod).values():
                if isinstance(cls, type) and cls.__module__ == name and (
                        dataclasses.is_dataclass(cls) or issubclass(cls, Record)) \
                        and cls is not Record:
                    found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


VALUES = _package_values()

# The classes whose instances are immutable (and hash by value): what was read from
# firmware, as it came.
FROZEN = {"AcpiCandidate", "AcpiTable", "EntryPoint", "Field", "OpRegion", "OptionRom",
          "RomImage", "SmbiosStructure"}


def _fields(cls):
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return cls._FIELDS


def _replace(r, **changes):
    return dataclasses.replace(r, **changes) if dataclasses.is_dataclass(r) \
        else r.replace(**changes)


def test_the_package_has_its_value_classes():
    names = {c.__qualname__ for c in VALUES}
    assert FROZEN | {"Policy", "Module", "Report", "SmbiosTable"} <= names, names


@pytest.mark.parametrize("cls", VALUES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_value_class_keeps_its_fields_compares_by_them_and_is_frozen_as_promised(cls):
    """``__init__`` takes every field by name and each lands in the slot of its name (a
    distinct object per field, read back by identity); equality is by type and fields;
    no instance dict; a class promised immutable refuses assignment."""
    fields = _fields(cls)
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert tuple(params) == fields, (params, fields)
    values = {name: object() for name in fields}
    r = cls(**values)
    assert all(getattr(r, name) is v for name, v in values.items())
    assert r == cls(**values) and _replace(r) == r
    other = object()
    changed = _replace(r, **{fields[0]: other})
    assert getattr(changed, fields[0]) is other and changed != r
    assert not hasattr(r, "__dict__"), "a value has slots, no instance dict"
    if cls.__name__ in FROZEN:
        with pytest.raises(AttributeError):
            setattr(r, fields[0], other)
        assert getattr(r, fields[0]) is values[fields[0]]
        assert hash(r) == hash(cls(**values))
    else:
        setattr(r, fields[0], other)
        assert getattr(r, fields[0]) is other
    assert repr(r).startswith(f"{cls.__name__}(")
