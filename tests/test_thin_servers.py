"""The servers are thin: the CLI (dockyard/cli) and the API server (dockyard/api) parse input, call
the engine and format output. Read from the source (tests/import_graph.py, lazy imports included):
they import the engine and the shared vocabulary, never the store, the runtime, the builder or
the transports behind it, and never each other; dockyard/main.py, above both, joins them. The CLI
runs the light client (dockyard/client) in process for `-H`."""

from __future__ import annotations

import pytest

from tests.import_graph import graph

# one xdist group with tests/test_start_up.py (why: there); its two tests parse the package once
pytestmark = pytest.mark.xdist_group("start-up and import graph")

# Small modules every floor may use: the version, the errors, names and digests, Docker's units and
# list filters, Go's JSON and its type errors, Go's durations, chunked encoding, Docker's
# stdout/stderr multiplexing, crash-safe file writes, dataclasses made cheaper, malloc's choices,
# Docker's detach keys.
VOCABULARY = {"dockyard", "dockyard.errors", "dockyard.reference", "dockyard.digest",
              "dockyard.units", "dockyard.filters", "dockyard.gojson", "dockyard.gotypes",
              "dockyard.dockerfile.durations", "dockyard.chunked", "dockyard.multiplex",
              "dockyard.atomic", "dockyard.dataclass", "dockyard.heap", "dockyard.detach"}
def _reaches(edges: dict[str, set[str]], package: str, *also: str) -> set[tuple[str, str]]:
    """(module, what it imports) for the modules of `package` importing past the engine (and the
    packages `also`)."""
    allowed = (package + ".", "dockyard.engine.", *(p + "." for p in also))
    return {(mod, dep) for mod, deps in edges.items() if mod.startswith(package + ".")
            for dep in deps if not dep.startswith(allowed) and dep not in VOCABULARY}


def test_cli_and_api_call_only_the_engine() -> None:
    edges = graph()
    assert sum(mod.startswith("dockyard.cli.") for mod in edges) >= 10
    assert sum(mod.startswith("dockyard.api.") for mod in edges) >= 10
    assert _reaches(edges, "dockyard.cli", "dockyard.client") == set()
    assert _reaches(edges, "dockyard.api") == set()


def test_cli_and_api_never_import_each_other() -> None:
    edges = graph()
    crossing = {(mod, dep) for mod, deps in edges.items() for dep in deps
                if (mod.startswith("dockyard.cli.") and dep.startswith("dockyard.api."))
                or (mod.startswith("dockyard.api.") and dep.startswith(("dockyard.cli.", "dockyard.client.")))}
    assert crossing == set()
    below = {(mod, dep) for mod, deps in edges.items() if not mod.startswith(
        ("dockyard.cli.", "dockyard.api.")) and mod != "dockyard.main" for dep in deps
        if dep.startswith(("dockyard.cli.", "dockyard.api."))}
    assert below == set()
    # (cli.build_cmd: a plain `build` command line runs in process without the CLI's parser)
    assert edges["dockyard.main"] == {"dockyard", "dockyard.cli.main", "dockyard.api.daemon", "dockyard.client.main",
                                      "dockyard.client.program", "dockyard.cli.build_cmd"}
