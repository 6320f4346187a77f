"""The instruction classes' __init__, __eq__ and __repr__ are made by dockyard.dataclass (closures
over the fields) instead of the ones dataclasses generates per class: for every instruction class
they behave as the generated ones of the same fields would (defaults, fresh default_factory values,
keyword-only arguments, errors, compare= and repr= of each field, unhashable,
dataclasses.replace/fields)."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.dockerfile import instructions
from dockyard.dockerfile.instructions import Instruction
from tests.dataclass_twin import generated_twin


def _classes() -> list[type]:
    """Instruction and its subclasses, as the module names them (slots=True makes a new class:
    the one it replaced may linger among __subclasses__ until collected)."""
    out, todo = [], [Instruction]
    while todo:
        cls = todo.pop()
        if getattr(instructions, cls.__qualname__, None) is cls and cls not in out:
            out.append(cls)
        todo += cls.__subclasses__()
    return sorted(out, key=lambda c: c.__qualname__)


CLASSES = _classes()


def test_every_instruction_class_is_covered() -> None:
    names = {c.__qualname__ for c in CLASSES}
    assert {"Instruction", "FromInstruction", "RunInstruction", "CopyInstruction", "AddInstruction",
            "HealthcheckInstruction", "OnbuildInstruction", "ArgInstruction"} <= names
    assert len(CLASSES) >= 21


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_same_behaviour_as_the_generated_methods(cls: type) -> None:
    ref = generated_twin(cls, kw_only=True)
    fields = dataclasses.fields(cls)
    required = {f.name: f"v-{f.name}" for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    ours, theirs = cls(**required), ref(**required)
    # defaults and default factories: the same values, a fresh object per instance
    for f in fields:
        assert getattr(ours, f.name) == getattr(theirs, f.name), f.name
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(ours, f.name) is not getattr(cls(**required), f.name)
    # repr: the repr=True fields in order
    assert repr(ours) == repr(theirs)
    # eq: a change of a compare=True field makes them differ, of a compare=False field not
    for f in fields:
        a, b = cls(**required), cls(**{**required, f.name: ["changed"]})
        ra, rb = ref(**required), ref(**{**required, f.name: ["changed"]})
        assert (a == b) == (ra == rb) == (not f.compare), f.name
        assert (a != b) == (ra != rb)
    assert ours.__eq__(object()) is NotImplemented and theirs.__eq__(object()) is NotImplemented
    for other in CLASSES:  # another class with the same values is not equal
        names = {f.name for f in dataclasses.fields(other)}
        needs = {f.name for f in dataclasses.fields(other)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        if other is not cls and needs <= set(required):
            assert other(**{k: v for k, v in required.items() if k in names}) != ours
    assert cls.__hash__ is None and ref.__hash__ is None
    # keyword-only, every argument checked
    for bad in ({**required, "nope": 1},) + tuple({k: v for k, v in required.items() if k != n} for n in required):
        with pytest.raises(TypeError):
            cls(**bad)
        with pytest.raises(TypeError):
            ref(**bad)
    with pytest.raises(TypeError):
        cls("positional", **required)
    # dataclasses.replace and fields as before
    changed = dataclasses.replace(ours, original="X")
    assert changed.original == "X" and type(changed) is cls
    assert all(getattr(changed, f.name) == getattr(ours, f.name) for f in fields if f.name != "original")
    assert not hasattr(ours, "__dict__")  # slots as before


def test_parsed_instructions_compare_and_print_as_before() -> None:
    from dockyard.dockerfile import parse

    a = parse("FROM busybox AS b\nCOPY --chown=1 a /b/\nRUN --network=none true\n")
    b = parse("\n\nFROM busybox AS b\nCOPY --chown=1 a /b/\nRUN --network=none true\n")
    ia, ib = a.stages[0].instructions, b.stages[0].instructions
    assert ia == ib and [i.start_line for i in ia] != [i.start_line for i in ib]
    assert repr(ia[0]).startswith("CopyInstruction(original='COPY --chown=1 a /b/', heredocs=[], start_line=")
