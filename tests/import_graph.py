"""The import graph of dockyard's modules, read from the source (function-level imports included,
so a lazy import cannot hide a dependency; `if TYPE_CHECKING:` blocks left out: they never run):
for tests that keep the floors and forbid cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import dockyard

ROOT = Path(dockyard.__file__).parent


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _loading_statements(tree: ast.Module) -> list[ast.AST]:
    """The statements that run when the module is imported: the module's and its classes' bodies,
    into if/try/with blocks, but not functions nor `if TYPE_CHECKING:` blocks."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, []) or [])
    return out


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _running_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those of `if TYPE_CHECKING:` blocks (annotations for type checkers, never
    run): an import anywhere else runs, at load or when its function is called."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if _is_type_checking(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def imports_of(path: Path, *, at_import: bool = False) -> set[str]:
    """The dockyard modules `path` imports, wherever its import statements are (`at_import`: only
    those that run when it is imported, see _loading_statements)."""
    out: set[str] = set()
    tree = ast.parse(path.read_text("utf-8"))
    for node in _loading_statements(tree) if at_import else _running_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("dockyard"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dockyard"):
            for alias in node.names:  # `from pkg import module` names a module, else a name
                sub = f"{node.module}.{alias.name}"
                out.add(sub if _is_module(sub) else node.module)
    return out


_GRAPHS: dict[tuple, dict[str, frozenset[str]]] = {}


def graph(package: str = "dockyard", *, at_import: bool = False) -> dict[str, set[str]]:
    """module -> the dockyard modules it imports, for every module of `package` (`at_import`:
    only the imports that run when it is imported). Read once per state of the source: six tests
    ask for it, and parsing the ~240 modules took 1.5-3 s each time; a file added, removed or
    changed (its size or mtime) reads it all again. Each caller gets sets of its own."""
    base = ROOT.parent.joinpath(*package.split("."))
    paths = sorted(base.rglob("*.py"))
    key = (package, at_import, tuple((str(p), st.st_mtime_ns, st.st_size) for p in paths
                                     for st in (p.stat(),)))
    if key not in _GRAPHS:
        _GRAPHS[key] = {module_name(p): frozenset(imports_of(p, at_import=at_import)) for p in paths}
    return {module: set(deps) for module, deps in _GRAPHS[key].items()}


def loaded_with(module: str, edges: dict[str, set[str]]) -> set[str]:
    """The dockyard modules importing `module` loads (with `at_import` edges): what it imports,
    what those import, and the packages (__init__) on the way."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        mod = todo.pop()
        parts = mod.split(".")
        for name in [".".join(parts[:i]) for i in range(1, len(parts) + 1)]:
            if name not in seen and name in edges:
                seen.add(name)
                todo.extend(edges[name])
    return seen


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle among the modules of `edges` (a package's __init__ counts as a module), or None."""
    done: set[str] = set()

    def visit(mod: str, path: list[str]) -> list[str] | None:
        if mod in path:
            return [*path[path.index(mod):], mod]
        if mod in done or mod not in edges:
            return None
        for dep in sorted(edges[mod]):
            found = visit(dep, [*path, mod])
            if found:
                return found
        done.add(mod)
        return None

    for mod in edges:
        found = visit(mod, [])
        if found:
            return found
    return None


# The floors, top to bottom (#17): a module imports its own package, the floors below its own, and
# on its own floor only what SIDEWAYS allows. The vocabulary (errors, digests, names, units, list
# filters, Go's JSON and its type errors, chunked coding, crash-safe writes, cheap dataclasses, a user's URL, the version) is the bottom floor with the
# Dockerfile frontend.
FLOORS = (
    ("dockyard.__main__",),
    ("dockyard.main",),
    ("dockyard.cli", "dockyard.api", "dockyard.client"),
    ("dockyard.engine",),
    ("dockyard.builder", "dockyard.runtime", "dockyard.transport"),
    ("dockyard.store",),
    ("dockyard.image", "dockyard.archive"),
    ("dockyard.dockerfile", "dockyard.digest", "dockyard.errors", "dockyard.dataclass", "dockyard.reference",
     "dockyard.units", "dockyard.filters", "dockyard.gojson", "dockyard.chunked", "dockyard.atomic",
     "dockyard.multiplex", "dockyard.detach", "dockyard.gopath", "dockyard.heap", "dockyard.gotypes",
     "dockyard.programs", "dockyard.urls", "dockyard"),
)
# Imports across one floor: the CLI runs the light client in process (`-H`); a build's RUN runs a
# container; BuildKit mode's exporters (builder/graph/export.py: --output type=docker|oci) write
# the built image with the transports' one copy. The bottom floor is one floor of small modules:
# any may use another (no cycle).
SIDEWAYS = {
    ("dockyard.cli", "dockyard.client"),
    ("dockyard.builder", "dockyard.runtime"),
    ("dockyard.builder", "dockyard.transport"),
}


def home(module: str) -> tuple[int, str]:
    """(floor, package) of a module: the floor's index in FLOORS (0 at the top) and the package
    of FLOORS it belongs to (the longest that names it or contains it)."""
    best: tuple[int, str] | None = None
    for level, packages in enumerate(FLOORS):
        for package in packages:
            inside = module == package or (package != "dockyard" and module.startswith(package + "."))
            if inside and (best is None or len(package) > len(best[1])):
                best = (level, package)
    if best is None:
        raise LookupError(f"{module} is on no floor of tests/import_graph.FLOORS")
    return best


def floor_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(module, import) for every import pointing up, or across a floor where SIDEWAYS does not
    allow it."""
    bottom = len(FLOORS) - 1
    wrong = set()
    for mod, deps in edges.items():
        level, package = home(mod)
        for dep in deps:
            dep_level, dep_package = home(dep)
            if dep_level > level or dep_package == package or level == dep_level == bottom:
                continue
            if dep_level == level and (package, dep_package) in SIDEWAYS:
                continue
            wrong.add((mod, dep))
    return wrong
