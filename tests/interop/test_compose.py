"""docker-compose 1.29 (Debian's package) on a project with a `build:`, two services, a named
volume, the default network, one service reaching the other by name and a published port read
with curl from the host: `up -d`, `ps`, `logs`, `up -d` again (a no-op), `down -v`."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.interop.conftest import Engine

PROJECT_DIR = REPO / "tests" / "data" / "compose" / "app"

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")


def compose(engine: Engine, project: str, cwd: Path, *args: str, check: bool = True,
            timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**engine.env, "COMPOSE_PROJECT_NAME": project, "DOCKER_BUILDKIT": "0",
           "COMPOSE_DOCKER_CLI_BUILD": "0", "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    proc = subprocess.run(["docker-compose", "--ansi", "never", *args], env=env, cwd=cwd,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"[{engine.name}] docker-compose {' '.join(args)} failed "
                             f"({proc.returncode}):\n{proc.stderr.decode()}{proc.stdout.decode()}")
    return proc


def _logs_until(engine: Engine, project: str, cwd: Path, text: str, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = compose(engine, project, cwd, "logs", "--no-color").stdout.decode()
        if text in out or time.monotonic() > deadline:
            return out
        time.sleep(0.3)


def test_compose_project(engine: Engine, tmp_path: Path) -> None:
    cwd = tmp_path / "app"
    shutil.copytree(PROJECT_DIR, cwd)
    project = f"dyio{engine.name}"
    try:
        up = compose(engine, project, cwd, "up", "-d")
        assert "Creating dyio" in up.stderr.decode()
        ps = compose(engine, project, cwd, "ps").stdout.decode().splitlines()
        assert [line.split()[0] for line in ps[2:]] == [f"{project}_client_1", f"{project}_web_1"]
        assert all(" Up " in line for line in ps[2:])
        # the client reached the web service by its name on the project's default network
        logs = _logs_until(engine, project, cwd, "hello from web")
        assert "hello from web" in logs and "web starting" in logs
        # the published port, from the host
        port = compose(engine, project, cwd, "port", "web", "8080").stdout.decode().strip()
        host_port = int(port.rsplit(":", 1)[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=10) as reply:
            assert reply.read() == b"hello from web\n"
        curl = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{host_port}/"], capture_output=True,
                              timeout=30)
        assert curl.stdout == b"hello from web\n"
        # the named volume and the network exist, labelled for compose
        volumes = engine.docker("volume", "ls", "-q").stdout.decode().split()
        assert f"{project}_data" in volumes
        networks = engine.docker("network", "ls", "--filter", f"label=com.docker.compose.project={project}",
                                 "--format", "{{.Name}}").stdout.decode().split()
        assert networks == [f"{project}_default"]
        # a second `up -d` changes nothing
        again = compose(engine, project, cwd, "up", "-d").stderr.decode()
        assert f"{project}_web_1 is up-to-date" in again and f"{project}_client_1 is up-to-date" in again
        down = compose(engine, project, cwd, "down", "-v").stderr.decode()
        assert f"Removing network {project}_default" in down and f"Removing volume {project}_data" in down
        assert engine.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout == b""
        assert f"{project}_data" not in engine.docker("volume", "ls", "-q").stdout.decode().split()
    finally:
        compose(engine, project, cwd, "down", "-v", "--rmi", "local", check=False)
