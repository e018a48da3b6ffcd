"""xcmod.record.Record, the base of the package's value classes, and every one of them."""
import ast
import importlib
import inspect
import os
import pkgutil

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


def _package_records():
    """Every Record subclass defined in the xcmod package (each module imported)."""
    skip = {"xcmod._ffi_build", "xcmod.__main__"}
    for m in pkgutil.walk_packages(xcmod.__path__, "xcmod."):
        if m.name not in skip:
            importlib.import_module(m.name)
    found, todo = [], list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("xcmod."):
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


RECORDS = _package_records()


def test_the_package_has_its_records():
    names = {c.__qualname__ for c in RECORDS}
    assert {"SmbiosStructure", "AcpiTable", "Policy", "Module", "Report"} <= names, names


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_record_takes_every_field_by_name_and_keeps_each_in_its_own_slot(cls):
    """``__init__``'s parameters are the fields, in order; each argument lands in the
    slot of its name (a distinct object per field, read back by identity), so
    equality, repr and replace() see what was given."""
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert tuple(params) == cls._FIELDS, (params, cls._FIELDS)
    values = {name: object() for name in cls._FIELDS}
    r = cls(**values)
    assert all(getattr(r, name) is v for name, v in values.items())
    assert r == cls(**values) and r.replace() == r
    other = object()
    assert getattr(r.replace(**{cls._FIELDS[0]: other}), cls._FIELDS[0]) is other
    assert not hasattr(r, "__dict__"), "a record has slots, no instance dict"
    if cls.__setattr__ is not object.__setattr__:
        with pytest.raises(FrozenRecordError):
            setattr(r, cls._FIELDS[0], other)
    assert repr(r).startswith(f"{cls.__name__}(")


def test_no_module_of_the_package_imports_dataclasses():
    """The records replaced them for start-up (xcmod/record.py); one coming back
    would bring its import and per-class cost to every command importing it."""
    root = os.path.dirname(xcmod.__file__)
    users = []
    for d, _, fs in os.walk(root):
        for f in fs:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                for node in ast.walk(ast.parse(open(path).read(), path)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                        else [node.module] if isinstance(node, ast.ImportFrom) else []
                    if "dataclasses" in names:
                        users.append(os.path.relpath(path, root))
    assert not users, users
