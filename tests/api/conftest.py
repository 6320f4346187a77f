"""A real `dockyard serve` on a unix socket in a temp dir, against the test's store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.forkserver import Forked, ForkServer


@dataclass
class Server:
    proc: subprocess.Popen | Forked
    socket: Path
    log: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("dockyard serve did not stop on SIGTERM") from None
        return self.proc.returncode

    def raw(self, request: bytes, timeout: float = 30) -> bytes:
        """Send raw bytes, read until the server closes or `timeout`."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(self.socket))
            s.sendall(request)
            out = b""
            try:
                while data := s.recv(65536):
                    out += data
            except TimeoutError:
                pass
            return out


def start_server(store_root: Path, tmp: Path, *, max_files: int | None = None) -> Server:
    """`max_files`: the server's RLIMIT_NOFILE (soft and hard), set before it starts.

    The server is forked from the suite's fork server (tests/forkserver.py: an interpreter with
    dockyard's modules loaded), as the suite's CLI commands are: a new interpreter paid ~0.3 s
    of CPU before the socket was there (imports), 0.9 s of wall at load 11, in each of the ~200
    tests that start one; forked, 0.01 s and 0.02-0.07 s. A server with its own limit (set
    before its start) is a new interpreter still, as is every one where the fork server is off."""
    sock = tmp / "d.sock"
    log = tmp / "serve.log"
    args = ["--root", str(store_root), "serve", "-H", f"unix://{sock}"]

    def limit() -> None:
        import resource

        if max_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

    forks = ForkServer.get() if max_files is None else None
    with open(log, "wb") as err, open(os.devnull, "wb") as null:
        if forks is not None:
            proc: subprocess.Popen | Forked = forks.spawn(args, env=dict(os.environ), cwd=REPO,
                                                          stdout=null.fileno(), stderr=err.fileno())
        else:
            proc = subprocess.Popen([sys.executable, "-m", "dockyard", *args], stdout=subprocess.DEVNULL,
                                    stderr=err, cwd=REPO, preexec_fn=limit)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dockyard serve did not start:\n{log.read_text()}")
        time.sleep(0.02)
    return Server(proc, sock, log)


@pytest.fixture
def server(store_root: Path):  # noqa: ANN201
    # A short directory: unix socket paths are limited to 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="dy-api-", dir="/tmp"))
    srv = start_server(store_root, tmp)
    yield srv
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def cli_env(server: Server) -> dict[str, str]:
    """The environment for the docker CLI, pointed at our server, classic builder."""
    return {**os.environ, "DOCKER_HOST": server.url, "DOCKER_BUILDKIT": "0",
            "DOCKER_CONFIG": str(server.socket.parent / "docker-config")}



@pytest.fixture
def registry():  # noqa: ANN201
    """A local registry (Debian's docker-registry) on a free port; yields HOST:PORT."""
    import socket as socket_mod

    with socket_mod.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="dy-reg-", dir="/tmp"))
    (tmp / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(tmp / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        with socket_mod.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("docker-registry did not start")
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)
