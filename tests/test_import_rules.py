"""The shape of the package (#17), read from the source with function-level imports included
(tests/import_graph.py): floors only point down (CLI and API side by side on top -> engine ->
builder, runtime, transport -> store -> image, archive -> dockerfile, digest, errors), the CLI and
the API never import each other, the registry transport never imports the store, the Dockerfile
frontend imports only errors (and dockyard.dataclass, the language's dataclasses made cheaper),
and no module reaches itself through its imports."""

from __future__ import annotations

import pytest

from tests.import_graph import FLOORS, find_cycle, floor_violations, graph, home


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    found = graph()
    assert len(found) > 150 and sum(map(len, found.values())) > 600  # the whole package was read
    return found


def test_every_module_is_on_a_floor(edges) -> None:
    for mod in edges:
        home(mod)  # raises for a package FLOORS does not place


def test_floors_only_point_down(edges) -> None:
    assert floor_violations(edges) == set()


def test_the_rules_catch_what_they_forbid() -> None:
    # The checker itself: each kind of wrong import is found.
    wrong = {
        "dockyard.store.images": {"dockyard.engine.images"},        # up
        "dockyard.cli.main": {"dockyard.api.daemon"},               # the servers, sideways
        "dockyard.api.build": {"dockyard.cli.build_cmd"},
        "dockyard.runtime.spec": {"dockyard.builder.stage"},        # across a floor, not allowed
        "dockyard.transport.store": {"dockyard.builder.context"},
        "dockyard.runtime.containers": {"dockyard.transport.copy"},
        "dockyard.image.config": {"dockyard.archive.tarheader"},
        "dockyard.builder.run": {"dockyard.runtime.lifecycle"},     # allowed: RUN's container
        "dockyard.cli.build_cmd": {"dockyard.client.build"},         # allowed: the light client
        "dockyard.reference": {"dockyard.digest"},                  # allowed: the vocabulary
    }
    assert floor_violations(wrong) == {
        ("dockyard.store.images", "dockyard.engine.images"),
        ("dockyard.cli.main", "dockyard.api.daemon"),
        ("dockyard.api.build", "dockyard.cli.build_cmd"),
        ("dockyard.runtime.spec", "dockyard.builder.stage"),
        ("dockyard.transport.store", "dockyard.builder.context"),
        ("dockyard.runtime.containers", "dockyard.transport.copy"),
        ("dockyard.image.config", "dockyard.archive.tarheader"),
    }
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert [p for level in FLOORS for p in level].count("dockyard.errors") == 1


def test_the_registry_transport_does_not_know_the_store(edges) -> None:
    # copy() joins a transport and the store: only the store's adapter (transport/store.py)
    # imports the store; copy and every other adapter, the registry's above all, do not.
    inside = {mod for mod in edges if mod.startswith("dockyard.transport.")}
    assert "dockyard.transport.registry.client" in inside and "dockyard.transport.copy" in inside
    wrong = {(mod, dep) for mod in inside - {"dockyard.transport.store"} for dep in edges[mod]
             if dep.startswith("dockyard.store")}
    assert wrong == set()
    assert any(dep.startswith("dockyard.store.") for dep in edges["dockyard.transport.store"])


def test_the_frontend_imports_only_errors(edges) -> None:
    frontend = {mod for mod in edges if mod.startswith("dockyard.dockerfile.")}
    assert len(frontend) >= 10
    outside = {(mod, dep) for mod in frontend for dep in edges[mod]
               if not dep.startswith("dockyard.dockerfile") and dep not in ("dockyard.errors", "dockyard.dataclass")}
    assert outside == set()


def test_no_import_cycle(edges) -> None:
    assert find_cycle(edges) is None
