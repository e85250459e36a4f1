"""The house as drawn in the README's Architecture section, checked from the code's own imports.

Every import counts, the ones inside functions and under ``TYPE_CHECKING`` included: a module
may import only from a layer below its own, or from its own layer's folder; no two modules may
import each other, however roundabout; no module passes 600 lines, and no function passes 80
unless a ``# Long: <why>`` comment stands right above it. The checks are run on a small
made-up tree first, so a rule that could never fail is caught too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

# (layer, rank, the modules it holds by prefix): the registry the README's table describes.
# Layers of one rank are siblings and may not import each other.
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("packages", 0, ("pipelines", "metrics")),  # the empty package roots
    ("common", 1, ("pipelines.common",)),
    ("warehouse", 2, ("pipelines.warehouse",)),
    ("sign-in", 3, ("pipelines.signin",)),
    ("read", 3, ("pipelines.read",)),
    ("demo data", 3, ("pipelines.demo",)),
    ("stage", 4, ("pipelines.stage",)),
    ("ingest", 5, ("pipelines.ingest", "pipelines.load", "pipelines.undo", "pipelines.stream_batches")),
    ("kpis", 6, ("metrics.kpis",)),
    ("crises", 7, ("metrics.crises",)),
    ("reports", 8, ("metrics.reports",)),
    ("notify", 8, ("metrics.notify",)),
    ("views", 9, ("metrics.views",)),
    ("web face", 10, ("app", "pages")),
    ("command line", 10, ("cli",)),
    ("benchmarks", 11, ("benchmarks",)),
)
SOURCE_FOLDERS = ("pipelines", "metrics", "pages", "cli", "benchmarks")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    names: tuple[str, ...]


def modules_of(root: Path) -> dict[str, Path]:
    """Every project module under ``root`` by dotted name (packages by their ``__init__``)."""
    files = [root / "app.py"] if (root / "app.py").exists() else []
    for folder in SOURCE_FOLDERS:
        files += sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []
    found = {}
    for path in files:
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def edges_of(root: Path) -> tuple[dict[str, Path], list[Edge]]:
    """The project's modules and every import between them, wherever in a file it stands."""
    modules = modules_of(root)
    edges = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges += [Edge(name, a.name, node.lineno, ()) for a in node.names if a.name in modules]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    whole = f"{target}.{alias.name}"
                    if whole in modules:  # `from package import module`
                        edges.append(Edge(name, whole, node.lineno, ()))
                    elif target in modules:
                        edges.append(Edge(name, target, node.lineno, (alias.name,)))
    return modules, edges


def layer_of(module: str) -> tuple[str, int]:
    matches = [(len(p), name, rank) for name, rank, prefixes in LAYERS for p in prefixes
               if module == p or module.startswith(p + ".")]  # fmt: skip
    if not matches:
        return ("", -1)
    _, name, rank = max(matches)
    return name, rank


def upward_imports(edges: list[Edge]) -> list[str]:
    wrong = []
    for edge in edges:
        (source_layer, source_rank), (target_layer, target_rank) = layer_of(edge.source), layer_of(edge.target)
        if source_layer != target_layer and target_rank >= source_rank:
            wrong.append(f"{edge.source} (layer {source_layer}) imports {edge.target} (layer {target_layer}), "
                         f"line {edge.line}")  # fmt: skip
    return wrong


def cycles(modules: dict[str, Path], edges: list[Edge]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private_imports(edges: list[Edge]) -> list[str]:
    return [f"{e.source} takes {n} from {e.target}, line {e.line}"
            for e in edges for n in e.names if n.startswith("_") and not n.startswith("__")]  # fmt: skip


def oversized(modules: dict[str, Path]) -> list[str]:
    """Modules over 600 lines, and functions over 80 without a ``# Long:`` comment above them."""
    found = []
    for name, path in modules.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_MODULE_LINES:
            found.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if length > MAX_FUNCTION_LINES and not lines[first - 2].strip().startswith("# Long:"):
                found.append(f"{name}.{node.name}: {length} lines, and no '# Long:' comment says why")
    return found


def test_every_module_belongs_to_a_layer():
    modules, _ = edges_of(ROOT)
    assert [m for m in modules if not layer_of(m)[0]] == []


def test_no_module_imports_a_layer_above_its_own_or_a_sibling():
    _, edges = edges_of(ROOT)
    assert upward_imports(edges) == []


def test_no_import_cycle_even_through_imports_inside_functions():
    modules, edges = edges_of(ROOT)
    assert cycles(modules, edges) == []


def test_no_private_name_crosses_a_module():
    _, edges = edges_of(ROOT)
    assert private_imports(edges) == []


def test_rooms_a_person_holds_in_their_head():
    modules, _ = edges_of(ROOT)
    assert oversized(modules) == []


@pytest.fixture
def made_up_house(tmp_path: Path) -> Path:
    """A tree that breaks every rule once: ingest imports a KPI inside a function, two KPI
    modules import each other, a crisis module takes a private name, one module is too long."""
    files = {
        "pipelines/__init__.py": "",
        "pipelines/ingest.py": "def load():\n    from metrics.kpis import cube\n    return cube\n",
        "metrics/__init__.py": "",
        "metrics/kpis/__init__.py": "",
        "metrics/kpis/cube.py": "from metrics.kpis.compute import Query\n",
        "metrics/kpis/compute.py": "from metrics.kpis import cube\nQuery = 1\n_compiler = 2\n",
        "metrics/crises/__init__.py": "",
        "metrics/crises/radar.py": "from metrics.kpis.compute import _compiler\n",
        "metrics/views/long.py": "def f():\n" + "    x = 1\n" * 90 + "\n" * 520,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_each_check_finds_what_it_is_for(made_up_house: Path):
    modules, edges = edges_of(made_up_house)
    assert upward_imports(edges) == ["pipelines.ingest (layer ingest) imports metrics.kpis.cube (layer kpis), line 2"]
    assert cycles(modules, edges) == [["metrics.kpis.compute", "metrics.kpis.cube"]]
    assert private_imports(edges) == ["metrics.crises.radar takes _compiler from metrics.kpis.compute, line 1"]
    assert oversized(modules) == [
        "metrics.views.long: 611 lines",
        "metrics.views.long.f: 91 lines, and no '# Long:' comment says why",
    ]
