"""Clients people use (docker-compose 1.29, the docker SDK, testcontainers-python, Debian's docker
CLI 20.10) against `dockyard serve`, and the same tests against the reference: dockerd 20.10 with
networking on a bridge of its own (never docker0; docker-proxy publishes ports, no iptables
rules), its user networks taken from a pool apart from dockyard's (a bridge and a pool per test
session: sessions of other worktrees may run at once). Each test takes `engine`,
run once per engine."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import start_server
from tests.dockerd import Bridge, start_dockerd

DOCKER = "/usr/bin/docker"     # Debian's 20.10 client


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self._path)


@dataclass
class Engine:
    name: str                  # dockyard | dockerd
    env: dict[str, str]        # DOCKER_HOST and a private DOCKER_CONFIG
    host: str

    def post(self, path: str, body: bytes) -> tuple[int, dict]:
        """A raw `POST /v1.41{path}` with a JSON body to the engine: (status, the JSON answer)."""
        conn = _Unix(self.host.removeprefix("unix://"))
        try:
            conn.request("POST", "/v1.41" + path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    def docker(self, *args: str, check: bool = True, cwd: Path | None = None,
               input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, cwd=cwd,
                              input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] docker {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.decode()}{proc.stdout.decode()}")
        return proc


@pytest.fixture(scope="session")
def reference(busybox_tar: Path):  # noqa: ANN201
    bridge = Bridge.claim().create()
    daemon = start_dockerd(bridge)
    if isinstance(daemon, str):
        bridge.release()
        pytest.skip(f"reference dockerd unavailable: {daemon}")
    try:
        daemon.docker("import", str(busybox_tar), "busybox:latest")
        yield daemon
    finally:
        daemon.stop()
        bridge.release()


@pytest.fixture(params=["dockyard", "dockerd"])
def engine(request: pytest.FixtureRequest, store_root: Path, busybox: str):  # noqa: ANN201
    if request.param == "dockerd":
        daemon = request.getfixturevalue("reference")
        yield Engine("dockerd", dict(daemon.env), daemon.env["DOCKER_HOST"])
        return
    tmp = Path(tempfile.mkdtemp(prefix="dy-io-", dir="/tmp"))
    server = start_server(store_root, tmp)
    env = {**os.environ, "DOCKER_HOST": server.url, "DOCKER_CONFIG": str(tmp / "docker-config")}
    try:
        yield Engine("dockyard", env, server.url)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
