"""The package's layering, read statically from the sources (every import, including those inside
functions): the core reads bottom-up without cycles (dtypes -> tensor -> tape -> ops ->
methods/creation), nn and optim reach the engine only through its public API and the backend
seam, and the ops and the tape never name CuPy (the array library is the backends' business).

The checks run on the source text, so they hold whether or not CuPy, numba or a GPU is present.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pyproject maps these folders into the one namespace
PACKAGES = {"autodiff": ROOT / "autodiff", "autodiff.backends": ROOT / "backends",
            "autodiff.nn": ROOT / "nn", "autodiff.optim": ROOT / "optim"}


# ----------------------------------------------------------------------------- the import graph
def module_name(path: Path) -> str:
    """The dotted module name of a source file under one of :data:`PACKAGES`."""
    for pkg, folder in sorted(PACKAGES.items(), key=lambda kv: -len(str(kv[1]))):
        try:
            rel = path.relative_to(folder)
        except ValueError:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join([pkg] + parts)
    raise ValueError(f"{path} is not in a package of the project")


def source_of(module: str) -> Path | None:
    """The file of a project module (``autodiff.ops.shape`` -> autodiff/ops/shape.py)."""
    for pkg, folder in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if module == pkg or module.startswith(pkg + "."):
            rest = module[len(pkg):].lstrip(".").split(".") if module != pkg else []
            base = folder.joinpath(*rest) if rest else folder
            for cand in (base.with_suffix(".py"), base / "__init__.py"):
                if cand.is_file():
                    return cand
            return None
    return None


def imports_of(path: Path) -> set[str]:
    """The project modules ``path`` imports anywhere in its body. ``from P import n`` counts as
    importing the module ``P.n`` when there is one, otherwise ``P`` (the names of its
    ``__init__``); the implicit import of parent packages is not counted."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            targets = [(mod, a.name) for a in node.names]
        else:
            continue
        for mod, name in targets:
            if name is not None and source_of(f"{mod}.{name}") is not None:
                found.add(f"{mod}.{name}")
            elif source_of(mod) is not None:
                found.add(mod)
    found.discard(me)
    return found


def graph(files) -> dict[str, set[str]]:
    """module -> the modules among ``files`` it imports."""
    mods = {module_name(f): f for f in files}
    return {m: imports_of(f) & set(mods) for m, f in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``g`` as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}            # 1: on the current path, 2: done
    for root in sorted(g):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(g[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(g[nxt])))
    return None


def _files(*patterns) -> list[Path]:
    return sorted(p for pat in patterns for p in ROOT.glob(pat))


CORE = _files("autodiff/*.py", "autodiff/ops/*.py")


# ----------------------------------------------------------------------------- the graph tools
def test_find_cycle_reports_the_cycle_and_nothing_on_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"x": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_imports_are_resolved_relative_absolute_and_inside_functions(tmp_path, monkeypatch):
    pkg = tmp_path / "autodiff"
    (pkg / "ops").mkdir(parents=True)
    for f in ("__init__.py", "tape.py", "tensor.py", "ops/__init__.py", "ops/shape.py"):
        (pkg / f).write_text("")
    (pkg / "ops" / "shape.py").write_text(
        "from ..tape import record\nfrom . import registry\n"
        "def f():\n    from autodiff.tensor import make\n    import autodiff.ops\n")
    (pkg / "ops" / "registry.py").write_text("")
    monkeypatch.setitem(PACKAGES, "autodiff", pkg)
    assert imports_of(pkg / "ops" / "shape.py") == {
        "autodiff.tape", "autodiff.ops.registry", "autodiff.tensor", "autodiff.ops"}


# ----------------------------------------------------------------------------- the checks
def test_core_import_graph_is_acyclic():
    g = graph(CORE)
    assert {"autodiff.tape", "autodiff.tensor", "autodiff.ops.shape"} <= set(g)
    cycle = find_cycle(g)
    assert cycle is None, "import cycle in the core: " + " -> ".join(cycle)


@pytest.mark.parametrize("lower, upper", [
    ("autodiff.dtypes", "autodiff.tensor"), ("autodiff.tensor", "autodiff.tape"),
    ("autodiff.tape", "autodiff.ops.shape"), ("autodiff.ops.shape", "autodiff.methods"),
    ("autodiff.ops.shape", "autodiff.creation")])
def test_core_reads_bottom_up(lower, upper):
    """The lower module does not reach the upper one, directly or through others."""
    g = graph(CORE)
    seen, todo = set(), [lower]
    while todo:
        m = todo.pop()
        for n in g[m] - seen:
            seen.add(n)
            todo.append(n)
    assert upper not in seen, f"{lower} imports {upper} (directly or not)"


@pytest.mark.parametrize("package", ["autodiff/data", "nn", "optim"])
def test_package_import_graph_is_acyclic(package):
    cycle = find_cycle(graph(_files(f"{package}/*.py", f"{package}/*/*.py")))
    assert cycle is None, f"import cycle in {package}: " + " -> ".join(cycle)


def _forbidden_for_nn_optim(module: str) -> bool:
    """The tape, and every backends module but the seam itself (``autodiff.backends``)."""
    return module == "autodiff.tape" or module.startswith("autodiff.backends.")


@pytest.mark.parametrize("path", _files("nn/**/*.py", "optim/**/*.py"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nn_and_optim_use_neither_the_tape_nor_kernel_modules(path):
    mod = module_name(path)
    bad = {m for m in imports_of(path) if _forbidden_for_nn_optim(m)}
    assert not bad, f"{mod} imports {sorted(bad)}: use the public API (autodiff, autodiff.ops, " \
                    f"autodiff.backends.kernels_for)"


def cupy_mentions(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every identifier, attribute, import or string (docstrings aside) of
    ``path`` that names cupy."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.alias):
            text = node.name
        elif isinstance(node, ast.ImportFrom):
            text = node.module or ""
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            text = node.value
        else:
            continue
        if "cupy" in text.lower():
            hits.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), text))
    return [(line, text) for line, _, text in sorted(hits)]


def test_cupy_mentions_finds_code_but_not_docstrings(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""Runs on NumPy or cupy."""\nimport cupyx\n'
                 'def f(a):\n    """cupy here is fine."""\n'
                 '    return type(a).__module__.startswith("cupy") or a.cupy_thing\n')
    assert [t for _, t in cupy_mentions(f)] == ["cupyx", "cupy", "cupy_thing"]


@pytest.mark.parametrize("path", _files("autodiff/ops/*.py", "autodiff/tape.py"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_ops_and_tape_do_not_name_cupy(path):
    assert cupy_mentions(path) == [], f"{path.relative_to(ROOT)} names CuPy; put the " \
                                      f"array-library choice in backends (kernels_for)"


# ----------------------------------------------------------------------------- the array-library seam
#: Code that decides NumPy vs CuPy by naming a library: ``xp is numpy`` (or ``np``), importing
#: cupy/cupyx, a module-name test (``__module__``/``__name__`` against "cupy"/"numpy"), or
#: importing a kernel module (``cuda_kernels``, ``cpu_kernels``).
LIBRARY_TESTS = re.compile(
    r"\bis\s+(?:not\s+)?(?:numpy|np)\b(?!\.)|^\s*(?:import|from)\s+cupyx?\b|"
    r"__(?:module|name)__\b[^\n]*[\"'](?:cupy|numpy)[\"']|\b(?:cuda|cpu)_kernels\b", re.M)
#: Packages allowed such tests: none (the data loaders and the collectives ask the seam too).
SEAM_EXEMPT: tuple[str, ...] = ()


def library_tests(path: Path) -> list[str]:
    """The lines of ``path`` (docstrings and comments included) that test for NumPy vs CuPy."""
    text = path.read_text()
    return [text[:m.start()].count("\n") + 1 for m in LIBRARY_TESTS.finditer(text)]


def test_library_tests_finds_each_form(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("if xp is numpy:\n    pass\nok = xp is not np\nimport cupy\nfrom cupyx import a\n"
                 "t = type(a).__module__.startswith('cupy')\nfrom .cuda_kernels import f\n"
                 "fine = numpy.ndarray is xp.ndarray\nis_numpy_like = 1\n")
    assert library_tests(f) == [1, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("path", [p for p in _files("autodiff/**/*.py", "nn/**/*.py",
                                                    "optim/**/*.py")
                                  if not str(p.relative_to(ROOT)).startswith(SEAM_EXEMPT)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_numpy_or_cupy_test_outside_backends(path):
    lines = library_tests(path)
    assert not lines, f"{path.relative_to(ROOT)} lines {lines} choose between NumPy and CuPy: " \
                      f"ask the seam (autodiff.backends: on_host, device_of, kernels_for)"
