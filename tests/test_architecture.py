"""The architecture holds: no import cycles in cosim/, imports point down the layers, docstrings.

Imports are read from the source with `ast`, module-level and function-level alike, including
those under `if TYPE_CHECKING:` (a type is a dependency too). `import cosim.a.b` also runs the
package `cosim.a`, so it counts as an import of both. Imports of the root package `cosim`
itself (`from cosim import __version__`) are left out: the root is the public facade and
loads its names lazily (PEP 562).

The layers, low to high (issue 8: cli -> api/verify/twin/plant -> engine -> fmu/model)::

    cli                                one module per command; no command imports another
    verify   twin   study              the applications, on api (siblings: not on each other)
    plant                              twin steps it in its loop for offline runs
    api                                the one run recipe
    results                            beside engine: names engine's types, never imports it
    engine
    resolve  -> library                library: only from resolve (FMU lookup) and cli
    fmu      opcua      realtime       opcua's section types come from io and model
    io
    model
    errors   paths                     paths: where bundled data and the user cache are

`LOWER` below is the rule itself; the picture sums it up.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

from cosim.cli import COMMANDS

PACKAGE = Path(__file__).resolve().parents[1] / "cosim"

_LOW = {"paths", "errors", "model", "io", "fmu", "ssp", "opcua", "realtime"}
_ENGINE = _LOW | {"resolve", "engine"}
_API = _ENGINE | {"results", "api"}
_APPS = _API | {"verify", "twin", "plant"}

# package (the first name under cosim/) -> the packages its modules may import, besides itself
LOWER: dict[str, set[str]] = {
    "paths": set(),  # where bundled data and the per-user cache are (issue 15)
    "errors": set(),
    "model": {"errors"},
    "fmu": {"errors", "model"},
    "io": {"errors", "model"},
    "ssp": {"errors", "model", "fmu", "io"},  # SSP packages read into / written from the model
    "opcua": {"errors", "model", "io"},
    "realtime": {"errors", "model"},
    "library": {"paths", "errors", "model", "fmu"},
    "resolve": {"errors", "model", "fmu", "ssp", "opcua", "io", "library"},
    "engine": _LOW | {"resolve"},
    "results": _LOW | {"resolve"},
    "api": _ENGINE | {"results"},
    "verify": _API,
    "twin": _API | {"plant"},  # offline runs step the plant simulator in the twin's loop
    "plant": _API,
    "study": _API | {"twin"},  # parameter studies; verdict QoIs run the twin's monitors
    "pytest_plugin": _API | {"verify"},
    "cli": _APPS | {"library", "pytest_plugin", "study"},
    "__main__": {"cli"},
    "cosim": _APPS | {"study"},  # the root package: the public API, loaded lazily
}
# (package, package) pairs allowed only under `if TYPE_CHECKING:`
TYPE_ONLY: set[tuple[str, str]] = {("results", "engine")}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "cosim.engine.plan"
    target: str  # the imported module (or package)
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        kind = ", type only" if self.type_only else ""
        return f"{self.source} (line {self.line}{kind}) imports {self.target}"


def find_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py file under the package folder `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    """Every import statement of one module: (absolute names it may load, line, type only)."""

    def __init__(self, package: str) -> None:
        self.package = package  # the package relative imports start from
        self.found: list[tuple[list[str], int, bool]] = []
        self._type_only = 0

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_only += 1
            for child in node.body:
                self.visit(child)
            self._type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(([a.name for a in node.names], node.lineno, self._type_only > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        names = [base] + [f"{base}.{a.name}" for a in node.names]  # `from p import module`
        self.found.append((names, node.lineno, self._type_only > 0))


def find_imports(root: Path) -> list[Import]:
    """Every import between modules of the package `root` (none of the root package itself)."""
    modules = find_modules(root)
    top = root.name
    result = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        collector = _Collector(package)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 2)}
        for names, line, type_only in collector.found:
            targets = set()
            for target in names:
                while target and target not in modules:  # `from m import function` -> m
                    target = target.rpartition(".")[0]
                if not target:
                    continue
                parts = target.split(".")  # the packages that run first: cosim.a for cosim.a.b
                targets |= {".".join(parts[:k]) for k in range(2, len(parts) + 1)}
            for target in sorted(targets - own - {top}):
                result.append(Import(name, target, line, type_only))
    return result


def find_cycles(root: Path) -> list[list[Import]]:
    """One example cycle (a list of imports, back to its start) per strongly connected group."""
    edges: dict[str, dict[str, Import]] = {m: {} for m in find_modules(root)}
    for imp in find_imports(root):
        edges[imp.source].setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in edges:
        if v not in index:
            visit(v)
    cycles = []
    for group in groups:  # shortest way from the group's first module back to itself
        start = min(group)
        came: dict[str, Import] = {}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            for w, imp in edges[v].items():
                if w in group and w not in came:
                    came[w] = imp
                    queue.append(w)
        path, v = [], start
        while True:
            imp = came[v]
            path.append(imp)
            v = imp.source
            if v == start:
                break
        cycles.append(path[::-1])
    return cycles


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(root: Path, lower: dict[str, set[str]]) -> list[str]:
    """Every import of a package that `lower` does not list below the importer's package."""
    worst: dict[tuple[str, int, str], Import] = {}  # one per statement and package imported
    for imp in find_imports(root):
        src, dst = _layer(imp.source), _layer(imp.target)
        if src == dst or dst in lower.get(src, set()):
            continue
        if imp.type_only and (src, dst) in TYPE_ONLY:
            continue
        key = (imp.source, imp.line, dst)
        if key not in worst or len(imp.target) > len(worst[key].target):  # cosim.a.b, not cosim.a
            worst[key] = imp
    return [
        f"{imp}: {_layer(imp.source)} may import only "
        + (", ".join(sorted(lower.get(_layer(imp.source), set()))) or "nothing")
        for _, imp in sorted(worst.items())
    ]


def command_violations(root: Path, commands: set[str]) -> list[str]:
    """Imports of a command module (cli.<command>) from any other module of cli."""
    cli = f"{root.name}.cli"
    targets = {f"{cli}.{c.replace('-', '_')}" for c in commands}
    return [
        f"{imp}: only cli/__init__ reaches a command module (shared code goes elsewhere)"
        for imp in find_imports(root)
        if imp.target in targets and imp.source.startswith(cli + ".")
    ]


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""{rel}."""\n{text}')
    return root


# --- the checks on cosim/ --------------------------------------------------------------------


def test_there_are_no_import_cycles_in_cosim() -> None:
    cycles = find_cycles(PACKAGE)
    if cycles:
        lines = []
        for cycle in cycles:
            lines.append("  " + " -> ".join([cycle[0].source, *(i.target for i in cycle)]))
            lines += [f"    {imp}" for imp in cycle]
        pytest.fail(f"{len(cycles)} import cycle(s), for example:\n" + "\n".join(lines))


def test_every_package_of_cosim_has_a_layer() -> None:
    packages = {_layer(m) for m in find_modules(PACKAGE)}
    assert packages - LOWER.keys() == set(), "add the new package to LOWER with its layer"


def test_no_module_imports_a_package_above_its_own() -> None:
    problems = layer_violations(PACKAGE, LOWER)
    if problems:
        pytest.fail(f"{len(problems)} import(s) against the layers:\n" + "\n".join(problems))


def test_no_cli_command_imports_another() -> None:
    problems = command_violations(PACKAGE, set(COMMANDS))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.mark.parametrize("name", sorted(find_modules(PACKAGE)))
def test_every_module_starts_with_a_one_line_docstring(name: str) -> None:
    path = find_modules(PACKAGE)[name]
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
    assert doc, f"{path}: no module docstring"
    lines = doc.splitlines()
    if not lines[0].strip():
        pytest.fail(f"{path}: the docstring's first line is empty")
    if len(lines) > 1 and lines[1].strip():
        pytest.fail(
            f"{path}: the summary runs over two lines:\n  {lines[0]}\n  {lines[1]}\n"
            "state the module's one job on the first line, then leave a blank line"
        )


# --- the checks can fail: the same functions on small packages with known faults ---------------


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    #   pkg.a --(module level)--> pkg.sub.b --(inside a function)--> pkg.a ; pkg.c is outside
    root = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg.sub.b import f\n",
            "sub/__init__.py": "",
            "sub/b.py": "def f():\n    from .. import a\n    return a\n",
            "c.py": "import pkg.a\n",
        },
    )
    cycles = find_cycles(root)
    assert [[(i.source, i.target) for i in c] for c in cycles] == [
        [("pkg.a", "pkg.sub.b"), ("pkg.sub.b", "pkg.a")]
    ]
    assert cycles[0][1].line == 3


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    #   pkg.x.m --> pkg.y.n runs pkg.y (its __init__) first, which imports pkg.x.m
    root = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "x/__init__.py": "",
            "x/m.py": "from pkg.y.n import V\n",
            "y/__init__.py": "from pkg.x import m\n",
            "y/n.py": "V = 1\n",
        },
    )
    (cycle,) = find_cycles(root)
    assert {(i.source, i.target) for i in cycle} == {("pkg.x.m", "pkg.y"), ("pkg.y", "pkg.x.m")}


def test_no_cycle_is_reported_for_a_tree(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from pkg import a\n",  # the root may reach anything
            "a.py": "from pkg import __version__\nimport pkg.b\n",
            "b/__init__.py": "",
            "b/c.py": "from . import d\n",
            "b/d.py": "from typing import TYPE_CHECKING\n",
        },
    )
    assert find_cycles(root) == []


def test_an_upward_import_is_reported_and_a_type_only_one_where_allowed(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "cosim",
        {
            "__init__.py": "",
            "model/__init__.py": "",
            "model/spec.py": "def f():\n    from cosim.engine.plan import Plan\n",
            "engine/__init__.py": "",
            "engine/plan.py": "from cosim.model import spec\nPlan = 1\n",
            "results/__init__.py": "",
            "results/writer.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from cosim.engine.plan import Plan\n"
                "else:\n    from cosim.model.spec import f\n"
            ),
            "results/reader.py": "from cosim.engine import plan\n",
        },
    )
    problems = layer_violations(root, LOWER)
    assert len(problems) == 2, problems
    assert problems[0].startswith("cosim.model.spec (line 3) imports cosim.engine")
    assert problems[1].startswith("cosim.results.reader (line 2) imports cosim.engine")


def test_a_command_importing_another_is_reported(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "cosim",
        {
            "__init__.py": "",
            "cli/__init__.py": "",
            "cli/output.py": "",
            "cli/run.py": "from cosim.cli.output import g\n",
            "cli/demo.py": "def f():\n    from cosim.cli.run import save\n",
        },
    )
    assert command_violations(root, {"run", "demo"}) == [
        "cosim.cli.demo (line 3) imports cosim.cli.run: only cli/__init__ reaches a command "
        "module (shared code goes elsewhere)"
    ]
