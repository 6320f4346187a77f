"""The frontend stays a frontend: dockyard/dockerfile imports only dockyard.errors and its own
modules (function-level imports included), with no cycle among them."""

from __future__ import annotations

from tests.import_graph import find_cycle, graph


def test_frontend_imports_only_errors_and_itself() -> None:
    edges = graph("dockyard.dockerfile")
    assert len(edges) >= 10
    outside = {(mod, dep) for mod, deps in edges.items() for dep in deps
               if dep != "dockyard.errors" and not dep.startswith("dockyard.dockerfile")}
    assert outside == set()


def test_frontend_has_no_import_cycle() -> None:
    assert find_cycle(graph("dockyard.dockerfile")) is None
