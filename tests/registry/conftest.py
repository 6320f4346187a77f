"""Fixtures: the real registry on 127.0.0.1 at a free port: plain, Basic auth, TLS, Bearer tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.registry.registryd import RegistryServer

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    made: list[RegistryServer] = []

    def make(**kwargs: object) -> RegistryServer:
        server = RegistryServer(tmp_path / f"registry{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.cleanup()


@pytest.fixture
def registry(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    return make_registry()


@pytest.fixture
def registry_auth(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    return make_registry(htpasswd=(USER, PASSWORD))


@pytest.fixture
def registry_tls(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    return make_registry(tls=True)


@pytest.fixture
def registry_token(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    """Bearer auth through a token server of our own (tests/registry/tokenserver.py)."""
    return make_registry(token=(USER, PASSWORD))
