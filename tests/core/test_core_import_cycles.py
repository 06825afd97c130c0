"""hfopt_core's modules import each other without a cycle, counting imports inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "hfopt_core"


def _imports(path: Path) -> set[str]:
    """The hfopt_core modules ``path`` imports (relative or absolute, at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
            elif node.level == 0 and (node.module or "").startswith("hfopt_core."):
                base = node.module.split(".", 1)[1]
            elif node.level == 0 and node.module == "hfopt_core":
                base = None
            else:
                continue
            if base is None:  # from . import x / from hfopt_core import x: x may be a module
                found.update(a.name for a in node.names if (CORE / f"{a.name}.py").exists())
            else:
                found.add(base.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("hfopt_core."))
    return found


def graph() -> dict[str, set[str]]:
    """module -> the hfopt_core modules it imports (``__init__`` left out: it only re-exports)."""
    modules = {p.stem: p for p in CORE.glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_hfopt_core_has_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle in hfopt_core: " + " -> ".join(cycle)


PLUGINS = CORE.parent / "plugins"


def _plugin_imports():
    """``(file, imported module)`` for every hfopt import in the first-party plugins' packages."""
    for path in sorted(PLUGINS.glob("*/hfopt_*/**/*.py")):
        own = path.relative_to(PLUGINS).parts[1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("hfopt_") and name.split(".")[0] != own:
                    yield path.relative_to(PLUGINS), name


def test_plugins_import_only_the_plugin_api_and_other_plugins_public_packages():
    imported = list(_plugin_imports())
    assert ("hfopt-adamweightdecay/hfopt_adamweightdecay/optimizer.py", "hfopt_core.plugin") in {
        (str(p), n) for p, n in imported}  # the scan sees imports
    bad = [f"{path}: {name}" for path, name in imported
           if name != "hfopt_core.plugin" and (name.startswith("hfopt_core") or "." in name)]
    assert not bad, "plugins must import hfopt_core.plugin only, and other plugins by their package:\n" + "\n".join(bad)
