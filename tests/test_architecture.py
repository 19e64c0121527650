"""The package's import graph follows the layers of docs/architecture.md: imports point down, no cycles.

Every ``import`` counts, including the ones inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hpdesc

PACKAGE = Path(hpdesc.__file__).parent

# room (first name below hpdesc) -> layer; an import may point to its own layer or a lower one
LAYERS = {
    "registry": 0, "errors": 0, "atomic": 0, "params": 0, "pixels": 0, "progress": 0,
    "models": 1, "losses": 1, "optimizers": 1, "config": 1,
    "data": 2,
    "benchmark": 3, "validate": 3,
    "training": 4, "inference": 4, "matching": 4, "export": 4,
    "api": 5, "commands": 5, "experiments": 5, "plugins": 5,
    "cli": 6, "__main__": 6,
}
ROOT = "hpdesc"  # the package itself: __version__ and the lazy API (imports api only when asked)
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The hpdesc modules ``path`` imports (``from pkg import sub`` names the submodule)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == ROOT)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == ROOT:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
    return {m for m in found if m in modules}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, modules) for m, p in modules.items()}


def test_every_room_has_a_layer(graph):
    rooms = {_room(m) for m in graph} - {ROOT}
    assert rooms, "no modules found"
    assert not rooms - set(LAYERS), f"rooms without a layer in LAYERS: {sorted(rooms - set(LAYERS))}"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Edges from a module to one in a higher layer."""
    out = []
    for mod, deps in graph.items():
        if _room(mod) == ROOT:
            continue
        for dep in deps:
            if _room(dep) != ROOT and LAYERS[_room(dep)] > LAYERS[_room(mod)]:
                out.append(f"{mod} (layer {LAYERS[_room(mod)]}) -> {dep} (layer {LAYERS[_room(dep)]})")
    return sorted(out)


def find_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Import cycles among modules (depth-first search; each back edge reported once)."""
    cycles, state = [], {}

    def visit(mod, stack):
        state[mod] = "open"
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if dep == mod or _room(dep) == ROOT:
                continue
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[mod] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [])
    return cycles


def test_imports_point_down(graph):
    assert sum(len(d) for d in graph.values()) > 50  # the graph was really read
    upward = upward_imports(graph)
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def oversized(texts: dict[str, str]) -> list[str]:
    """Modules over MAX_LINES lines (no exemption: a docstring cannot excuse one)."""
    return [f"{mod}: {text.count(chr(10))} lines" for mod, text in texts.items() if text.count("\n") > MAX_LINES]


def test_modules_are_small():
    big = oversized({mod: path.read_text(encoding="utf-8") for mod, path in _modules().items()})
    assert not big, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(big)


def test_the_checks_catch_violations():
    """The checks themselves find an upward import and a cycle in a made-up graph."""
    bad = {"hpdesc.config": {"hpdesc.cli.main"}, "hpdesc.cli.main": {"hpdesc.config"},
           "hpdesc.data.store": {"hpdesc.errors"}, "hpdesc.errors": set()}
    assert upward_imports(bad) == ["hpdesc.config (layer 1) -> hpdesc.cli.main (layer 6)"]
    assert find_cycles(bad) == ["hpdesc.cli.main -> hpdesc.config -> hpdesc.cli.main"]
    assert find_cycles({"hpdesc.data.store": {"hpdesc.errors"}, "hpdesc.errors": set()}) == []
    long = '"""A module.\n\nThis module is long because it says so."""\n' + "x = 1\n" * MAX_LINES
    assert oversized({"hpdesc.long": long, "hpdesc.short": "x = 1\n"}) == [f"hpdesc.long: {MAX_LINES + 3} lines"]
