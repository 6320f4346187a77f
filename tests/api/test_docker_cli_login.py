"""The docker CLI logs in through `dockyard serve` (`POST /auth`), then pushes and pulls with the
credentials it sends in `X-Registry-Auth`, to a registry with htpasswd Basic auth. As with
dockerd, the server checks the credentials and the docker CLI keeps them in its config.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.registry.registryd import RegistryServer


def docker(env: dict[str, str], *args: str, input: bytes | None = None, check: bool = True
           ) -> subprocess.CompletedProcess:
    r = subprocess.run(["docker", *args], env=env, input=input if input is not None else b"",
                       capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr.decode()}{r.stdout.decode()}")
    return r


@pytest.fixture
def auth_registry(tmp_path: Path):  # noqa: ANN201
    server = RegistryServer(tmp_path / "registry", htpasswd=("bob", "pa55-word")).start()
    yield server
    server.cleanup()


def test_docker_login_push_pull_through_dockyard(cli_env: dict[str, str], busybox: str, auth_registry,
                                                tmp_path: Path) -> None:
    host = auth_registry.host
    bad = docker(cli_env, "login", "-u", "bob", "--password-stdin", host, input=b"nope\n", check=False)
    assert bad.returncode != 0
    assert "401 Unauthorized" in bad.stderr.decode()
    out = docker(cli_env, "login", "-u", "bob", "--password-stdin", host, input=b"pa55-word\n").stdout.decode()
    assert "Login Succeeded" in out
    config = json.loads((Path(cli_env["DOCKER_CONFIG"]) / "config.json").read_text())
    assert host in config["auths"]
    name = f"{host}/private/bb:v1"
    docker(cli_env, "tag", "busybox", name)
    pushed = docker(cli_env, "push", name).stdout.decode()
    assert "v1: digest: sha256:" in pushed
    docker(cli_env, "rmi", name)
    docker(cli_env, "pull", name)
    assert docker(cli_env, "image", "inspect", "-f", "{{.Id}}", name).stdout.decode().strip() == busybox
    # A build whose FROM is missing pulls it with the credentials the CLI sends in X-Registry-Config.
    docker(cli_env, "rmi", name)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {name}\nLABEL child=1\n")
    built = docker(cli_env, "build", "-t", "child", str(ctx)).stdout.decode()
    assert f"Status: Downloaded newer image for {name}" in built
    docker(cli_env, "logout", host)
    docker(cli_env, "rmi", name)
    denied = docker(cli_env, "pull", name, check=False)
    assert denied.returncode != 0
    # As from dockerd: the registry's refusal, not a login prompt (that needs a 401 from the API).
    assert "no basic auth credentials" in denied.stderr.decode()
