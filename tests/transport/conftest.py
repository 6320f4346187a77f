"""One real registry (docker-registry on 127.0.0.1) for the module's tests; each test uses
repositories of its own."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.registry.registryd import RegistryServer


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()
