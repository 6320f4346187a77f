"""Bearer token auth (Docker's token spec) against the real registry and a token server: login,
push and pull with tokens, a wrong password, and an expired token fetched again."""

from __future__ import annotations

from pathlib import Path

from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.registry.credentials import Credentials
from dockyard.transport.registry.hosts import RegistrySettings
from tests.conftest import Dockyard
from tests.registry.conftest import PASSWORD, USER


def test_login_push_pull_with_tokens(store_root: Path, tmp_path: Path, busybox: str, registry_token) -> None:
    cfg = tmp_path / "docker-config"
    d = Dockyard(store_root)
    d.env["DOCKER_CONFIG"] = str(cfg)
    host = registry_token.host
    bad = d("login", "-u", USER, "--password-stdin", host, input=b"wrong\n", check=False)
    assert bad.returncode != 0 and bad.stderr.strip() == "Error: unauthorized: incorrect username or password"
    assert d("login", "-u", USER, "--password-stdin", host, input=PASSWORD.encode()).stdout == "Login Succeeded\n"
    name = f"{host}/tok/bb:v1"
    d("tag", "busybox", name)
    d("push", name)
    puller = Dockyard(tmp_path / "puller")
    puller.env["DOCKER_CONFIG"] = str(cfg)
    puller("pull", name)
    assert puller("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == busybox
    assert registry_token.tokens.token_requests >= 3


def test_an_expired_token_is_fetched_again(busybox: str, registry_token) -> None:
    """A token the registry finds expired (401 with a new challenge) is dropped and fetched
    again, and the request repeated; a valid cached token is reused without asking the realm."""
    registry_token.tokens.expired_first = 1
    client = RegistryClient(registry_token.host, RegistrySettings(), Credentials(USER, PASSWORD))
    with client:
        assert client.blob_size("tok/x", _digest()) is None  # 404, after one refused token
        assert registry_token.tokens.token_requests == 2
        assert client.blob_size("tok/x", _digest()) is None
        assert registry_token.tokens.token_requests == 2  # the cached token is used


def _digest():  # noqa: ANN202
    from dockyard.digest import Digest

    return Digest.of_bytes(b"nothing here")
