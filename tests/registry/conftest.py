"""Fixtures: the real registry (Debian's docker-registry 2.8) on 127.0.0.1 at a free port: plain,
Basic auth, TLS, Bearer tokens; and a factory for any mix. All function-scoped, each in its own
tmp_path folder, all stopped (registry and token server) at teardown."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.registry.registryd import RegistryServer

USER, PASSWORD = "alice", "s3cret-pw"
TOKEN_TTL = 30  # seconds; `@pytest.mark.parametrize("registry_token", [3], indirect=True)` for less


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    """`make_registry(tls=..., htpasswd=..., token=..., token_ttl=..., port=...)`: a started
    RegistryServer (see tests/registry/registryd.py)."""
    made: list[RegistryServer] = []

    def make(**kwargs: object) -> RegistryServer:
        server = RegistryServer(tmp_path / f"registry{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def registry(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    """Plain HTTP, no auth."""
    return make_registry()


@pytest.fixture
def registry_auth(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    """htpasswd Basic auth: USER / PASSWORD."""
    return make_registry(htpasswd=(USER, PASSWORD))


@pytest.fixture
def registry_tls(make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    """HTTPS with a certificate signed by `registry_tls.ca_cert`; no auth."""
    return make_registry(tls=True)


@pytest.fixture
def registry_token(request: pytest.FixtureRequest, make_registry: Callable[..., RegistryServer]) -> RegistryServer:
    """Bearer token auth; the token server (`.tokens`) knows USER / PASSWORD, grants anonymous
    requests pull only; tokens live TOKEN_TTL seconds unless the test parametrizes this fixture
    indirectly with another ttl."""
    ttl = int(getattr(request, "param", TOKEN_TTL))
    return make_registry(token=(USER, PASSWORD), token_ttl=ttl)
