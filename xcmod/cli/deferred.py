"""Standard modules the command line defers until something uses them.

construct (2.10) imports, when it is imported, modules that xcmod never calls:
``pdb`` and ``traceback`` for its ``Debugger``, ``inspect`` beside them, ``pickle``
for ``Pickled`` and ``hashlib`` for checksums in its examples, ``re`` for
``Container.search``, and ``platform`` to ask once whether it runs on Windows.
They were two thirds of construct's import and a third of ``xcmod build``'s
start-up (issue 22, ``make bench``).  :func:`defer` puts a placeholder for each
into ``sys.modules``, so construct's ``import pdb`` binds the placeholder; the
first attribute anything reads of it imports the real module (and fills the
placeholder with the real module's names), so a module that is used behaves as
if imported up front.  The one exception is ``platform.system()``, which
construct calls while it is imported: the placeholder answers it as
``platform`` does on a POSIX host, with uname(2)'s system name.

Only the ``xcmod`` process installs them (``python -m xcmod`` and the console
script): importing :mod:`xcmod` or calling :func:`xcmod.cli.main` as a library
leaves the caller's ``sys.modules`` alone.  A module already imported is kept.
"""
import sys

NAMES = ("pdb", "traceback", "inspect", "pickle", "hashlib", "re", "platform")


class Deferred(type(sys)):             # types.ModuleType, without importing types
    """A placeholder for the standard module of its name, imported on first use."""

    def __getattr__(self, attr):
        import importlib
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        try:
            real = importlib.import_module(name)
        except BaseException:
            sys.modules.setdefault(name, self)
            raise
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _system():
    """``platform.system()`` where ``os.uname`` exists: uname(2)'s sysname, as the
    real one returns it there ("Linux")."""
    import os
    return os.uname().sysname


def defer(names=NAMES):
    """Install a :class:`Deferred` for each of ``names`` not yet imported."""
    import os
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = Deferred(name)
            if name == "platform" and hasattr(os, "uname"):
                sys.modules[name].__dict__["system"] = _system
