"""Clients people use (docker-compose 1.29, the docker SDK, testcontainers-python, Debian's docker
CLI 20.10) against `dockyard serve`, and the same tests against the reference: dockerd 20.10 with
networking on a bridge of its own (never docker0; docker-proxy publishes ports, no iptables
rules), its user networks taken from a pool apart from dockyard's (a bridge and a pool per test
session: sessions of other worktrees may run at once). Each test takes `engine`,
run once per engine. dockyard's side is one serve on one store per module, as dockerd's is one
daemon per session; a test finds that store as a fresh one (busybox:latest alone), `engine`
having removed what the test before it left."""

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
from typing import Callable

import pytest

from dockyard.store.store import Store
from tests.api.conftest import start_server
from tests.conftest import Dockyard, Imported, at_once, mount_points_under
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
    root: Path | None = None   # dockyard's store (the module's serve's); None for dockerd

    def post(self, path: str, body: bytes) -> tuple[int, dict]:
        """A raw `POST /v1.41{path}` with a JSON body to the engine: (status, the JSON answer)."""
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict]:
        """`headers`: the request's instead of `Content-Type: application/json`."""
        conn = _Unix(self.host.removeprefix("unix://"))
        try:
            conn.request(method, "/v1.41" + path, body=body,
                         headers={"Content-Type": "application/json"} if headers is None else headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    @property
    def own_cli(self) -> Dockyard:
        """dockyard's own CLI on the engine's store (in process; `-H` for a client of serve)."""
        assert self.root is not None, "dockyard's own CLI is for the dockyard engine"
        return Dockyard(self.root)

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


@pytest.fixture(scope="module")
def dockyard_serve(imported: Imported, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """`dockyard serve` on a store of its own with busybox:latest, for one module's tests: its
    start and stop and the store's copy were paid in each of ~95 tests (~0.3 s each)."""
    root = tmp_path_factory.mktemp("interop") / "store"
    Store(root)
    imported.into(root)
    tmp = Path(tempfile.mkdtemp(prefix="dy-io-", dir="/tmp"))   # short: a socket's path
    server = start_server(root, tmp)
    env = {**os.environ, "DOCKER_HOST": server.url, "DOCKER_CONFIG": str(tmp / "docker-config")}
    engine = Engine("dockyard", env, server.url, root)
    try:
        yield engine, _objects(engine)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _objects(engine: Engine) -> dict[str, set[str]]:
    """What the store holds, by kind: container IDs, image IDs and tags, volumes, networks."""
    images = engine.request("GET", "/images/json?all=1")[1]
    return {"containers": {c["Id"] for c in engine.request("GET", "/containers/json?all=1")[1]},
            "images": {i["Id"] for i in images},
            "tags": {t for i in images for t in i.get("RepoTags") or () if "<none>" not in t},
            "volumes": {v["Name"] for v in engine.request("GET", "/volumes")[1].get("Volumes") or ()},
            "networks": {n["Id"] for n in engine.request("GET", "/networks")[1]}}


def _clean(engine: Engine, fresh: dict[str, set[str]]) -> None:
    """Remove what a test left on the module's store (it may have failed half-way): its
    containers, volumes, networks, images and tags, so the next test finds them as a fresh store
    has them. Nothing is left mounted under the store, as the autouse check asks of a test's own
    folder (checked before the removals, which would unmount it)."""
    left = mount_points_under(str(engine.root))
    for point in sorted(left, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    now = _objects(engine)
    for kind, path in (("containers", "/containers/{}?force=1&v=1"), ("volumes", "/volumes/{}?force=1"),
                       ("networks", "/networks/{}")):
        for name in now[kind] - fresh[kind]:
            engine.request("DELETE", path.format(name))
    for tag in now["tags"] - fresh["tags"]:
        engine.request("DELETE", f"/images/{tag}?force=1")
    for _ in range(5):      # (an image's children first: a few passes)
        extra = _objects(engine)["images"] - fresh["images"]
        if not extra:
            break
        for image in extra:
            engine.request("DELETE", f"/images/{image}?force=1")
    after = _objects(engine)
    assert after == fresh, f"the store keeps what a test left: {after} (fresh: {fresh})"
    if left:
        pytest.fail(f"the test left mounted: {left}", pytrace=False)


@pytest.fixture(params=["dockyard", "dockerd"])
def engine(request: pytest.FixtureRequest):  # noqa: ANN201
    if request.param == "dockerd":
        daemon = request.getfixturevalue("reference")
        yield Engine("dockerd", dict(daemon.env), daemon.env["DOCKER_HOST"])
        return
    taken = {"store_root", "dockyard", "busybox"} & set(request.fixturenames)
    assert not taken, f"{taken}: a test's own store is not the engine's (engine.root, engine.own_cli)"
    engine, fresh = request.getfixturevalue("dockyard_serve")
    yield engine
    _clean(engine, fresh)


@pytest.fixture
def engines(request: pytest.FixtureRequest):  # noqa: ANN201
    """The two engines `engine` gives one test each, for one test: dockyard's (the module's
    serve, cleaned after the test as `engine` cleans it) and the reference dockerd's. With
    `on_both`, a scenario whose time is mostly waits (restart delays, stop timeouts, a second in
    which nothing may happen) runs on both at once, the waits overlapping."""
    daemon = request.getfixturevalue("reference")
    dockyard, fresh = request.getfixturevalue("dockyard_serve")
    yield dockyard, Engine("dockerd", dict(daemon.env), daemon.env["DOCKER_HOST"])
    _clean(dockyard, fresh)


def on_both(engines: tuple[Engine, Engine], scenario: Callable[[Engine], None]) -> None:
    """`scenario` on dockyard's engine and on dockerd's at once (they share no store, daemon or
    process); the first error is raised once both have ended (at_once), its message naming the
    engine. Each engine's outcome is asserted on its own, as when each was a test of its own."""
    def named(engine: Engine) -> None:
        try:
            scenario(engine)
        except AssertionError as exc:
            raise AssertionError(f"[{engine.name}] {exc}") from exc
    at_once(*(lambda engine=engine: named(engine) for engine in engines))
