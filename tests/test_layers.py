"""Imports point down: every import in the package, module-level or inside a function, goes to
its own layer or one below (DESIGN, Layout), and no module imports one that imports it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import dreamvideo

PACKAGE = Path(dreamvideo.__file__).parent

# Bottom to top. A module's layer is its longest listed prefix.
LAYERS = [
    ["dreamvideo.errors"],
    ["dreamvideo.config", "dreamvideo.layout", "dreamvideo.schedule", "dreamvideo.memory"],
    ["dreamvideo.io", "dreamvideo.music"],
    ["dreamvideo.models"],
    ["dreamvideo.dream"],
    ["dreamvideo.temporal"],
    ["dreamvideo.panorama"],
    ["dreamvideo.frame", "dreamvideo.metrics", "dreamvideo.sinks", "dreamvideo.view", "dreamvideo.timeline"],
    ["dreamvideo.pipeline"],
    ["dreamvideo.still", "dreamvideo.preview", "dreamvideo.animate", "dreamvideo.render"],
    ["dreamvideo.farm"],
    ["dreamvideo.cli", "dreamvideo.__main__", "dreamvideo"],
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source (``from pkg import sub``
    counts as ``pkg.sub`` when ``sub`` is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> int:
    best, layer = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    assert layer is not None, f"{name} is in no layer: add it to LAYERS (and to DESIGN's Layout)"
    return layer


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_imports_point_down():
    upward = [
        f"{name} (layer {_layer(name)}) imports {target} (layer {_layer(target)})"
        for name, targets in GRAPH.items()
        for target in sorted(targets)
        if _layer(target) > _layer(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_module_imports_one_that_imports_it():
    """No cycle among modules: a package importing its own submodules (its ``__init__``) is not
    counted the other way round, since Python imports a package before its submodules anyway."""
    edges = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in GRAPH.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [name, target]) if target in trail else f"{name} -> {target}")
            elif target not in state:
                visit(target, trail + [name])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [])
    assert not cycles, "\n".join(cycles)


def _design_layout() -> dict[str, str]:
    """DESIGN.md's Layout section: each entry (``io/``, ``pipeline.py``…) and its text."""
    design = (PACKAGE.parent / "DESIGN.md").read_text()
    section = design.split("## Layout", 1)[1].split("\n## ", 1)[0]
    entries: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        if line.startswith("      ") and not line.startswith("       "):
            current = line.split()[0]
        if current is not None:
            entries[current] = entries.get(current, "") + line + "\n"
    return entries


def test_every_module_is_in_design_layout():
    """DESIGN.md's Layout section names every module of the package, under its folder."""
    entries = _design_layout()
    missing = []
    for name, path in MODULES.items():
        if path.name == "__init__.py" or name == "dreamvideo.__main__":
            continue
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 1:
            found = relative.name in entries
        else:
            found = relative.name in entries.get(relative.parts[0] + "/", "")
        if not found:
            missing.append(str(relative))
    assert not missing, f"DESIGN.md's Layout misses: {', '.join(missing)}"
