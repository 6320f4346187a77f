"""The builder's shape, read from the source: no import cycle (function-level imports included),
the instruction semantics shared by every build mode do not depend on the classic builder, and
the classic builder has a handler for every instruction."""

from __future__ import annotations

import dockyard.dockerfile.instructions as instructions
from dockyard.builder.classic.dispatchers import HANDLERS
from tests.import_graph import find_cycle, graph


def test_builder_has_no_import_cycle() -> None:
    edges = graph("dockyard.builder")
    assert "dockyard.builder.classic.dispatchers" in edges
    assert find_cycle(edges) is None


def test_shared_semantics_do_not_depend_on_a_build_mode() -> None:
    edges = graph("dockyard.builder")
    shared = [m for m in edges if not m.startswith(("dockyard.builder.classic", "dockyard.builder.graph"))]
    assert {"dockyard.builder.stage", "dockyard.builder.metadata"} <= set(shared)
    wrong = {(m, d) for m in shared for d in edges[m]
             if d.startswith(("dockyard.builder.classic", "dockyard.builder.graph"))}
    assert wrong == set()


def test_every_instruction_has_a_classic_handler() -> None:
    kinds = {obj for obj in vars(instructions).values()
             if isinstance(obj, type) and issubclass(obj, instructions.Instruction) and obj.keyword}
    assert len(kinds) == len(instructions.INSTRUCTION_KEYWORDS)
    # FROM starts a stage (dispatch_from); every other instruction goes through the table.
    assert set(HANDLERS) == kinds - {instructions.FromInstruction}
