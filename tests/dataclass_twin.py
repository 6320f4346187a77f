"""A twin of a dataclass whose methods dataclasses generates, for tests that prove the methods
dockyard.dataclass makes equal to the generated ones (dockerfile/instructions.py's instructions,
builder/graph/ops.py's operations; tests/test_dataclass.py twins every class of the package)."""

from __future__ import annotations

import dataclasses


def generated_twin(cls: type, **params: bool) -> type:
    """A dataclass of the same name and fields (type, default, default_factory, compare, hash,
    repr) made by dataclasses with `params` (kw_only=, frozen=...)."""
    specs = []
    for f in dataclasses.fields(cls):
        kw: dict[str, object] = {"compare": f.compare, "repr": f.repr, "hash": f.hash}
        if f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        if f.default_factory is not dataclasses.MISSING:
            kw["default_factory"] = f.default_factory
        specs.append((f.name, f.type, dataclasses.field(**kw)))  # type: ignore[call-overload]
    return dataclasses.make_dataclass(cls.__qualname__, specs, **params)
