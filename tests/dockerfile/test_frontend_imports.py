"""The frontend stays a frontend: dockyard/dockerfile imports only dockyard.errors and its own
modules (function-level imports included), with no cycle among them. Read from the source, so a
lazy import cannot hide a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import dockyard.dockerfile

FRONTEND = Path(dockyard.dockerfile.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every dockyard module `path` imports, wherever the import statement is."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("dockyard"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dockyard"):
            # `from dockyard.dockerfile import parser` names a module, `... import parse` a function
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if (FRONTEND / f"{alias.name}.py").exists()
                        and node.module == "dockyard.dockerfile" else node.module)
    return out


def frontend_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(FRONTEND.glob("*.py")):
        name = "dockyard.dockerfile" if path.name == "__init__.py" else f"dockyard.dockerfile.{path.stem}"
        graph[name] = imported_modules(path)
    return graph


def test_frontend_imports_only_errors_and_itself() -> None:
    graph = frontend_graph()
    assert len(graph) >= 10
    outside = {(mod, dep) for mod, deps in graph.items() for dep in deps
               if dep != "dockyard.errors" and not dep.startswith("dockyard.dockerfile")}
    assert outside == set()


def test_frontend_has_no_import_cycle() -> None:
    graph = frontend_graph()
    # The package's __init__ re-exports; its modules never import it back (checked here too).
    done: set[str] = set()

    def visit(mod: str, path: list[str]) -> None:
        if mod in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(mod):], mod]))
        if mod in done or mod not in graph:
            return
        for dep in sorted(graph[mod]):
            visit(dep, [*path, mod])
        done.add(mod)

    for mod in graph:
        visit(mod, [])
