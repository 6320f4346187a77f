"""The operation classes' __init__, __setattr__/__delattr__ (frozen), __eq__, __hash__ and __repr__
are made by dockyard.dataclass (closures over the fields) instead of the ones dataclasses generates
per frozen class: for every operation class they behave as the generated ones of the same fields
would (positional and keyword arguments, defaults, errors, frozen, compare=/hash=/repr= of each
field, dataclasses.replace/fields)."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.builder.graph import ops
from dockyard.builder.graph.ops import Op
from tests.dataclass_twin import generated_twin

CLASSES = sorted((c for c in Op.__subclasses__() if getattr(ops, c.__qualname__, None) is c),
                 key=lambda c: c.__qualname__)


def test_every_operation_class_is_covered() -> None:
    assert {c.__qualname__ for c in CLASSES} == {"ImageOp", "ContextOp", "HttpOp", "ExecOp", "CopyOp", "MkdirOp"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_same_behaviour_as_the_generated_methods(cls: type) -> None:
    ref = generated_twin(cls, frozen=True)
    fields = dataclasses.fields(cls)
    required = [f"v-{f.name}" for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    ours, theirs = cls(*required), ref(*required)
    for f in fields:
        assert getattr(ours, f.name) == getattr(theirs, f.name), f.name
    assert repr(ours) == repr(theirs)
    assert hash(ours) == hash(theirs)
    # every field given, positionally and by keyword: the same instance
    every = [f"w-{f.name}" for f in fields]
    assert cls(*every) == cls(**{f.name: v for f, v in zip(fields, every)})
    assert repr(cls(*every)) == repr(ref(*every)) and hash(cls(*every)) == hash(ref(*every))
    # eq and hash: a change of a compare=True field makes them differ, of a compare=False field not
    for i, f in enumerate(fields):
        changed = [*every[:i], "changed", *every[i + 1:]]
        a, b, ra, rb = cls(*every), cls(*changed), ref(*every), ref(*changed)
        assert (a == b) == (ra == rb) == (not f.compare), f.name
        assert (hash(a) == hash(b)) == (hash(ra) == hash(rb)), f.name
    assert ours.__eq__(object()) is NotImplemented
    for other in CLASSES:
        if other is not cls:
            assert all(o != ours for o in _samples(other))
    # the same argument errors
    bad_calls = [((*every, "extra"), {}), ((), {"nope": 1}), ((every[0],), {fields[0].name: every[0]})]
    bad_calls += [((), {f.name: f"v-{f.name}" for f in fields if f.name != name}) for name in
                  (f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)]
    for args, kwargs in bad_calls:
        with pytest.raises(TypeError):
            cls(*args, **kwargs)
        with pytest.raises(TypeError):
            ref(*args, **kwargs)
    # frozen
    for attr in (fields[0].name, "anything"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ours, attr, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(ours, attr)
    # replace and fields as before
    new = dataclasses.replace(ours, **{fields[-1].name: "r"})
    assert type(new) is cls and getattr(new, fields[-1].name) == "r"
    assert cls.__match_args__ == ref.__match_args__


def _samples(cls: type) -> list[Op]:
    fields = dataclasses.fields(cls)
    return [cls(*[f"w-{f.name}" for f in fields])]
