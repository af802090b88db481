"""The code's map holds: lower layers never import higher ones, no import cycles, README lists every module."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.data import REPO

SRC = REPO / "src"
# Lowest first. A module may import its own package and anything in a lower layer.
LAYERS = [
    {
        "sentiops",
        "sentiops.config",
        "sentiops.text",
        "sentiops.files",
        "sentiops.logs",
        "sentiops.exit_codes",
        "sentiops.charts",
        "sentiops.version",
        "sentiops.volume",
        "sentiops.tracing",
        "sentiops.trace_export",
    },
    {
        "sentiops.data",
        "sentiops.registry",
        "sentiops.version",
        "sentiops.evaluation",
        "sentiops.pins",
        "sentiops.engines",
    },
    {"sentiops.inference", "sentiops.card"},
    {"sentiops.monitoring"},
    {"sentiops.labelling"},
    {"sentiops.training", "sentiops.scoring", "sentiops.serving"},
    {"sentiops.cli"},
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _unit(module: str) -> str:
    """The layer unit a module belongs to: its package under sentiops, or the top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _rank(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if _unit(module) in layer)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sentiops"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sentiops"))
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def test_every_module_has_a_layer():
    assert [m for m in _modules() if not any(_unit(m) in layer for layer in LAYERS)] == []


def _too_high(module: str, target: str) -> bool:
    """Higher layers are off limits; so are siblings above the foundation (training must not
    reach into serving, nor scoring into training)."""
    return _rank(target) > _rank(module) or (_rank(target) == _rank(module) and _rank(module) > 0)


def test_lower_layers_never_import_higher_ones():
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _unit(target) != _unit(module) and _unit(target) != "sentiops" and _too_high(module, target)
    ]
    assert wrong == []


def test_no_import_cycles():
    graph = _graph()
    # Package __init__ files that only re-export are edges from the package to its children; skip those.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in edges[node]:
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_architecture_map_lists_every_module():
    readme = (REPO / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(SRC / "sentiops"))
        for path in (SRC / "sentiops").rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and str(path.relative_to(SRC / "sentiops")) not in readme
    ]
    assert missing == []
