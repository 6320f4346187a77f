"""Fixtures of the build-cache tests: the real registry (tests/registry's fixtures) and stores
standing for machines (`machine("a")`: a Dockyard on a store of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import Dockyard
from tests.registry.conftest import make_registry, registry  # noqa: F401 - fixtures

__all__ = ["make_registry", "registry"]


@pytest.fixture
def machine(tmp_path: Path) -> Callable[[str], Dockyard]:
    """`machine(name)`: the dockyard CLI on a fresh store of its own, one per name."""
    made: dict[str, Dockyard] = {}

    def make(name: str) -> Dockyard:
        if name not in made:
            made[name] = Dockyard(tmp_path / f"machine-{name}")
        return made[name]

    return make
