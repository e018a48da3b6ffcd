# SPDX-License-Identifier: MIT
"""The package's boundaries: which job may import which, and what load's path may cost."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

from .paths import ROOT, real

PACKAGE = os.path.join(ROOT, "xcmod")


def _module_name(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _imports(path):
    """Every module ``path`` imports, at the top or inside a function, as absolute names."""
    name = _module_name(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}   # `from . import x`
    return found


def _modules(subpackage):
    top = os.path.join(PACKAGE, subpackage)
    return [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs if f.endswith(".py")]


@pytest.mark.parametrize("job,forbidden", [("xen", "xcmod.builder"), ("builder", "xcmod.xen"),
                                           ("firmware", "xcmod.builder"),
                                           ("firmware", "xcmod.xen"), ("image", "xcmod.builder"),
                                           ("image", "xcmod.xen")])
def test_a_job_never_imports_the_other(job, forbidden):
    """xen/ (load) never imports builder/ (build) nor the reverse; the specs (firmware/)
    and the image format (image/) import neither job."""
    assert _modules(job)
    for path in _modules(job):
        bad = sorted(m for m in _imports(path) if m == forbidden or
                     m.startswith(forbidden + "."))
        assert not bad, f"{os.path.relpath(path, ROOT)} imports {bad}"


# The package's own lazy API, `python -m xcmod` and setup.py's cffi builds: above
# every layer, and imported by nothing in the package (xcmod/__init__.py says so).
OUTSIDE_THE_LAYERS = {"xcmod", "xcmod.__main__", "xcmod._ffi_build"}


def _layers():
    """{layer name: (depth, group)} from the layer line of xcmod's docstring (the
    literal block after its one ``::``), where ``cli -> builder | xen -> ...`` gives
    cli depth 0, builder and xen depth 1 in one group, and so on down."""
    doc = ast.get_docstring(ast.parse(open(os.path.join(PACKAGE, "__init__.py")).read()))
    after = doc.split("::\n", 1)[1]
    line = next(x for x in after.splitlines() if x.strip())
    return {name.strip(): (depth, group)
            for depth, group in enumerate(line.split("->"))
            for name in group.split("|")}


def _graph():
    """{module: {package module it imports}} for every module of the package, each
    import resolved as Python resolves it (``from .x import y`` names the module
    x.y if there is one, else x), at module level or inside a function."""
    paths = {_module_name(os.path.join(d, f)): os.path.join(d, f)
             for d, _, fs in os.walk(PACKAGE) for f in fs if f.endswith(".py")}
    compiled = {"xcmod.image._reader", "xcmod.xen._xen"}    # cffi builds: import nothing
    known = set(paths) | compiled
    graph = {m: set() for m in known}
    for name, path in paths.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                           for a in node.names]
            else:
                continue
            for t in targets:
                assert not t.startswith("xcmod") or t in known, f"{name} imports {t}: no such module"
                if t in known and t != name:
                    graph[name].add(t)
    return graph


def _layer_of(module, layers):
    return layers[module.split(".")[1]]


def test_imports_only_run_down_the_layers():
    """Every import in the package, inside functions too, goes to the importer's own
    layer or one below it (xcmod/__init__.py's layer line), never across a ``|``;
    nothing imports the modules outside the layers."""
    layers, graph = _layers(), _graph()
    bad = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target in OUTSIDE_THE_LAYERS:
                bad.append(f"{importer} imports {target}, which stands outside the layers")
            elif importer not in OUTSIDE_THE_LAYERS:
                (d_from, g_from), (d_to, g_to) = (_layer_of(importer, layers),
                                                  _layer_of(target, layers))
                if d_to < d_from or (d_to == d_from and
                                     importer.split(".")[1] != target.split(".")[1]):
                    bad.append(f"{importer} ({g_from.strip()}) imports {target} "
                               f"({g_to.strip()})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)
    assert {m.split(".")[1] for m in graph if m not in OUTSIDE_THE_LAYERS} == set(layers), \
        "every package and module of xcmod has a layer, and every layer a module"


def test_no_module_imports_itself_back():
    """No import cycle between modules, through any number of them (inside
    functions too): each is the strongly connected components' test, by Tarjan."""
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, "modules importing each other: " + "; ".join(
        " <-> ".join(c) for c in cycles)


LOAD_PATH = ["xcmod", "xcmod.__main__", "xcmod.errors", "xcmod.cli", "xcmod.cli.common",
             "xcmod.cli.xen", "xcmod.xen.loader", "xcmod.xen.layout", "xcmod.xen.xenctrl",
             "xcmod.xen.xenstore", "xcmod.image.blocks", "xcmod.image.creader",
             "xcmod.image.rules", "xcmod.image.carrier"]


def test_load_path_never_imports_construct_at_import_time():
    """The modules `xcmod load` runs import construct nowhere at module level: the
    struct library is the build job's (and of image descriptions load never makes)."""
    for mod in LOAD_PATH:
        path = os.path.join(ROOT, *mod.split(".")) + ".py"
        if not os.path.exists(path):
            path = os.path.join(ROOT, *mod.split("."), "__init__.py")
        tree = ast.parse(open(path).read(), path)
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module}
        assert "construct" not in names, (mod, names)


def test_a_load_runs_without_construct_or_the_build_job(tmp_path):
    """`python -m xcmod load` of an image, run for real up to the domain check, never
    imports construct, the builder or the firmware parsers: load's start-up path,
    between `xl create -p` and `xl unpause`."""
    from xcmod.firmware.acpi import encode_acpi_module, read_table
    from xcmod.image.spec import build_image
    img = tmp_path / "m.bin"
    img.write_bytes(build_image([encode_acpi_module(
        [read_table(real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml"))])]))
    # (re may be there before: setuptools' editable-install finder can import it)
    code = ("import sys, runpy; before = set(sys.modules)\n"
            "sys.argv = ['xcmod', 'load', '--domid', '0', sys.argv[1]]\n"
            "try:\n    runpy.run_module('xcmod', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "new = set(sys.modules) - before\n"
            "print(code, sorted(new & {'construct', 'xcmod.builder', 'xcmod.firmware'}))\n")
    r = subprocess.run([sys.executable, "-c", code, str(img)], capture_output=True,
                       text=True, cwd=ROOT)
    # domain 0 is refused after the image was checked and before Xen is opened
    assert r.stdout.strip() == "1 []", r.stdout + r.stderr
    assert "refusing to load into domain 0" in r.stderr


def test_without_libxen_dev_the_reader_is_built_and_load_says_what_is_missing(tmp_path, cli):
    """Built where the Xen headers are missing (XCMOD_WITH_XEN=0), xcmod gets its C reader
    but no Xen binding: build and verify work, load says in one line what to install."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("xcmod", "csrc"):
        shutil.copytree(os.path.join(ROOT, name), src / name,
                        ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    env = dict(os.environ, XCMOD_WITH_XEN="0")
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                       capture_output=True, text=True, cwd=src, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "building without the Xen binding" in r.stderr
    built = sorted(os.path.relpath(os.path.join(d, f), src / "xcmod")
                   for d, _, fs in os.walk(src / "xcmod") for f in fs if f.endswith(".so"))
    assert [b.split(".")[0] for b in built] == ["image/_reader"], built

    def xcmod(*args):
        return subprocess.run([sys.executable, "-m", "xcmod", *map(str, args)],
                              capture_output=True, text=True, cwd=src)
    img = tmp_path / "m.bin"
    assert xcmod("build", "-q", "-o", img, "--acpi",
                 real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")).returncode == 0
    assert xcmod("verify", img).returncode == 0
    r = xcmod("load", "--domid", "5", img)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "installed without its Xen binding" in r.stderr and "libxen-dev" in r.stderr


def _run_cli(argv, probe, cwd=ROOT):
    """Run ``python -m xcmod ARGV`` in a fresh interpreter as the console does (runpy),
    then print its exit code and the value of ``probe`` (an expression over
    ``sys.modules`` as the command left it)."""
    code = ("import sys, runpy\n"
            f"sys.argv = ['xcmod'] + {list(map(str, argv))!r}\n"
            "try:\n    runpy.run_module('xcmod', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            f"print(code, {probe})\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd)


REAL_MODULES = ("__import__('gc').isenabled(), sorted(n for n, m in sys.modules.items() "
                "if type(m).__module__.startswith('xcmod'))")


@pytest.mark.parametrize("command", ["build", "inspect"])
def test_the_command_line_runs_with_real_modules_and_the_collector_on(tmp_path, command):
    """`python -m xcmod build` and `inspect` (construct imported) end with the cyclic
    garbage collector on and no entry of sys.modules an object of xcmod's own (a
    placeholder standing in for a module)."""
    img = tmp_path / "m.bin"
    argv = ["build", "-q", "-o", img, "--smbios", real("smbios/infrasim/dell_r640_smbios.bin"),
            "--acpi", real("acpi/lenovo-x1c6/SSDT-8-HdaDsp.aml")]
    if command == "inspect":
        assert _run_cli(argv, "0").returncode == 0
        argv = ["inspect", img]
    r = _run_cli(argv, REAL_MODULES)
    assert r.stdout.splitlines()[-1] == "0 True []", r.stdout + r.stderr
    assert "construct" in _run_cli(argv, "sorted(sys.modules)").stdout
    assert img.exists()


def _functions():
    """(module path, its source lines, function node) for every function of the
    package, methods and nested functions too."""
    for d, _, fs in os.walk(PACKAGE):
        for f in sorted(fs):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                source = open(path).read()
                for node in ast.walk(ast.parse(source, path)):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        yield os.path.relpath(path, ROOT), source.splitlines(), node


def _code_lines(function, lines):
    """The lines of ``function``'s body that hold code: its docstring, blank lines
    and comment-only lines left out (a line counts once, however many nodes it holds)."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    spanned = {line for stmt in body for node in ast.walk(stmt) if hasattr(node, "lineno")
               for line in range(node.lineno, node.end_lineno + 1)}
    return {n for n in spanned
            if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")}


def test_code_lines_are_counted_as_said():
    """The counter itself: a docstring, a blank line and a comment line are not code;
    a statement over two lines is two."""
    source = ('def f():\n    """Doc\n    string."""\n\n    # note\n    if x:\n'
              '        # note\n\n        x = (1,\n             2)\n    return x\n')
    assert len(_code_lines(ast.parse(source).body[0], source.splitlines())) == 4


MAX_FUNCTION_LINES = 60


def test_no_function_runs_over_sixty_code_lines():
    """Functions of one job: none in xcmod/ over 60 lines of code (docstring excluded)."""
    long = sorted(f"{path}:{fn.lineno} {fn.name}: {len(_code_lines(fn, lines))} lines"
                  for path, lines, fn in _functions()
                  if len(_code_lines(fn, lines)) > MAX_FUNCTION_LINES)
    assert not long, "functions over 60 code lines:\n" + "\n".join(long)


MAX_FUNCTION_IMPORTS = 39


def test_few_imports_inside_functions():
    """Imports inside functions stay under 40 in xcmod/ (each an import that keeps a
    heavy module off a command's path, or the package's PEP 562 API): an import at
    the top is the rule."""
    inside = sorted({(path, node.lineno) for path, _, fn in _functions() for node in ast.walk(fn)
                     if isinstance(node, (ast.Import, ast.ImportFrom))})
    assert len(inside) <= MAX_FUNCTION_IMPORTS, \
        f"{len(inside)} imports inside functions:\n" + "\n".join(f"{p}:{n}" for p, n in inside)


def test_no_test_module_imports_another():
    """Shared fixtures live in conftest.py and shared helpers in plain modules
    (tests/hvmharness.py, tests/xenrig/...): a test module never imports from
    another test module, nor from conftest.py."""
    tests = os.path.join(ROOT, "tests")
    found = []
    for base, _, names in os.walk(tests):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""] + [a.name for a in node.names if not node.module]
                elif isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                else:
                    continue
                last = [m.rsplit(".", 1)[-1] for m in mods]
                if any(m.startswith("test_") or m == "conftest" for m in last):
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not found, found
