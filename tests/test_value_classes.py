# SPDX-License-Identifier: MIT
"""The package's value classes, one idiom: dataclasses with slots; each keeps its
fields, compares by them, and the frozen ones refuse assignment."""
import dataclasses
import importlib
import inspect
import pkgutil
import sys

import pytest

import xcmod


def _package_values():
    """Every value class of the xcmod package (each module imported): its dataclasses."""
    skip = {"xcmod._ffi_build", "xcmod.__main__"}
    for m in pkgutil.walk_packages(xcmod.__path__, "xcmod."):
        if m.name not in skip:
            importlib.import_module(m.name)
    found = []
    for name, mod in sorted(sys.modules.items()):
        if name.startswith("xcmod.") and mod is not None:
            for cls in vars(mod).values():
                if isinstance(cls, type) and cls.__module__ == name and (
                        dataclasses.is_dataclass(cls)):
                    found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


VALUES = _package_values()

# The classes whose instances are immutable (and hash by value): what was read from
# firmware, as it came.
FROZEN = {"AcpiCandidate", "AcpiTable", "EntryPoint", "Field", "OpRegion", "OptionRom",
          "RomImage", "SmbiosStructure"}


def _fields(cls):
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _replace(r, **changes):
    return dataclasses.replace(r, **changes)


def test_the_package_has_its_value_classes():
    names = {c.__qualname__ for c in VALUES}
    assert FROZEN | {"Policy", "Module", "Item", "Report", "SmbiosTable"} <= names, names


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
