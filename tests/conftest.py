"""Shared fixtures: a fresh store per test, the dockyard CLI, a busybox rootfs tar and image."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from dockyard.store.store import Store
from tests.forkserver import ForkServer

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile dockyard/ and tests/ once, as an installed package is: the suite starts
    thousands of `python -m dockyard` (and serve, registry, helper) interpreters, and where the
    environment sets PYTHONDONTWRITEBYTECODE (this machine's sessions do) none of them may write
    a .pyc, so each compiled its ~90 modules from source again (0.1-0.3 s of CPU per command).
    compileall writes regardless, and only what is missing or older than its source; a module
    edited during the session is still read from its source (the .pyc records the source's
    mtime and size).

    pytest imports each test module as its own rewrite of it (asserts that explain themselves),
    cached as a .pyc of its own only where bytecode may be written: under
    PYTHONDONTWRITEBYTECODE every pytest process rewrote all ~300 test modules again, ~14 s of
    CPU to collect the suite (measured with --collect-only), paid by each pytest-xdist worker.
    This process may write them (as compileall does for the rest)."""
    import compileall

    sys.dont_write_bytecode = False
    if hasattr(session.config, "workerinput"):   # a pytest-xdist worker: its controller compiled
        return
    for folder in ("dockyard", "tests"):
        compileall.compile_dir(REPO / folder, quiet=1)


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook, which reads the mark into the node ID
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On 2 workers (scripts/test.sh: pytest-xdist, `--dist loadgroup`) each test is scheduled
    alone, where a free worker is, except a module's tests that share something of the module
    (xdist_group: they run on one worker, one after the other, as they do serially):
    - a module-scoped fixture: a daemon, a registry or stores made once for the module's tests
      would otherwise be made once on each worker;
    - the `engine` of tests/interop: the dockyard side is one serve per module (requested
      by the fixture, not by the test), and a test's two sides (`[dockyard]`, `[dockerd]`)
      run the same commands, which a check of every process (`ps -eo args`) would see from
      the other side running at the same time on the other worker."""
    if not getattr(config.option, "loadgroup", False):   # (set on xdist's workers alone)
        return
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for ds in (defs.name2fixturedefs.values() if defs else ()) for d in ds}
        if scopes & {"module", "package", "class"} or "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


class Dockyard:
    """Runs the real CLI (`python -m dockyard`) against one store root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "DOCKYARD_ROOT": str(root)}

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 120, stdout=subprocess.PIPE, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Result:
        # a subclass that wraps the command (its own argv: another boot ID's namespace) runs it so
        server = ForkServer.get() if type(self).argv is Dockyard.argv else None
        if server is None:
            proc = subprocess.run(
                self.argv(*args), input=input, stdout=stdout,
                stderr=subprocess.PIPE, env={**self.env, **(env or {})}, timeout=timeout, cwd=cwd or REPO,
            )
        else:
            proc = server.run(list(args), input=input, stdout=stdout, env={**self.env, **(env or {})},
                              cwd=cwd or REPO, timeout=timeout)
        out = proc.stdout or b""
        result = Result(proc.returncode, out.decode(errors="replace"),
                        proc.stderr.decode(errors="replace"), out)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"dockyard {' '.join(args)} failed ({proc.returncode}):\n{result.stderr}{result.stdout}")
        return result

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dockyard", *args]

    def __call__(self, *args: str, **kwargs) -> Result:  # noqa: ANN003
        return self.run(*args, **kwargs)

    @property
    def store(self) -> Store:
        return Store(self.root)


def kill_as_a_reboot(root: Path) -> None:
    """What a crash or a reboot leaves of a store's running containers: every monitor and
    container killed, the store's records as they were."""
    import json
    import signal

    for cdir in (root / "containers").iterdir():
        state = json.loads((cdir / "state.json").read_text())
        if state["status"] == "running":
            os.kill(state["monitor_pid"], signal.SIGKILL)
            subprocess.run(["runc", "--root", str(root / "runc"), "kill", cdir.name, "KILL"],
                           capture_output=True)


def at_once(*calls: Callable[[], T]) -> tuple[T, ...]:
    """Each call in a thread of its own, side by side (two engines' builds of the same input:
    a reference daemon's and dockyard's share no store, process or state), their results in
    order; the first call's error is raised once all have ended."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    return tuple(f.result() for f in futures)


def mount_points_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


@pytest.fixture(autouse=True)
def _nothing_left_mounted(request: pytest.FixtureRequest):  # noqa: ANN201
    """Nothing leaked: after a test and all its fixtures are torn down, nothing stays mounted in
    its temporary folder (a container's rootfs, a build step's overlay, a netns). Set up before
    any other fixture of the test, so it is torn down after all of them."""
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is None:
        return
    left = mount_points_under(str(tmp))
    for point in sorted(left, key=len, reverse=True):   # leave the host clean for the next test
        subprocess.run(["umount", "-l", point], capture_output=True)
    if left:
        pytest.fail(f"the test left mounted: {left}", pytrace=False)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    Store(root)  # lay out the empty store, so snapshots compare content, not skeleton
    return root


@pytest.fixture
def store(store_root: Path) -> Store:
    return Store(store_root)


@pytest.fixture
def dockyard(store_root: Path) -> Dockyard:
    return Dockyard(store_root)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rootfs tar of Debian's busybox-static with one symlink per applet."""
    path = tmp_path_factory.mktemp("busybox") / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(path)], check=True)
    return path


class Imported:
    """Stores in which `dockyard import` has run, to be copied into a test's store (`into`): the
    same files the import makes, without its CLI start, hashing and fsyncs in the test.

    The base store has busybox_tar imported as busybox:latest (the `busybox` fixture's); a
    derived one (`into(root, (TAR, NAME), ...)`) is a copy of the base with more imports made
    after it, in that order. Each is remade once it is TTL seconds old (a derived one whenever
    its base was remade), so an image a test finds is as recent, to the minute, as one it
    imported itself: an age shown as "N minutes ago" stays so."""

    TTL = 300.0

    def __init__(self, folder: Path, busybox_tar: Path) -> None:
        self.folder, self.busybox_tar = folder, busybox_tar
        self.made: dict[tuple, tuple[float, int, Path, str]] = {}  # imports: (when, base, store, ID)
        self.count = 0

    def _new_store(self) -> Path:
        self.count += 1
        return self.folder / f"store{self.count}"

    def _store(self, imports: tuple[tuple[Path, str], ...]) -> tuple[Path, str]:
        import time

        base = self.made.get(())
        if not imports:
            if base is None or time.monotonic() - base[0] >= self.TTL:
                root = self._new_store()
                Store(root)  # the skeleton store_root lays out, then the import, as in a test
                image = Dockyard(root)("import", str(self.busybox_tar), "busybox:latest").stdout.strip()
                self.made[()] = base = (time.monotonic(), self.count, root, image)
            return base[2], base[3]
        assert base is not None, "the base store is copied first (the busybox fixture)"
        made = self.made.get(imports)
        if made is None or made[1] != base[1] or time.monotonic() - made[0] >= self.TTL:
            root = self._new_store()
            subprocess.run(["cp", "-a", "--sparse=never", str(base[2]), str(root)], check=True)
            image = ""
            for tar, name in imports:
                image = Dockyard(root)("import", str(tar), name).stdout.strip()
            self.made[imports] = made = (time.monotonic(), base[1], root, image)
        return made[2], made[3]

    def into(self, root: Path, *imports: tuple[Path, str]) -> str:
        """Copy the store with these imports (cp -a: every file, link, mode, time and allocated
        block, the space reserve's too) into `root`, a test's store: empty, or a copy of the
        base, which a derived store holds; returns the ID of the image imported last."""
        template, image = self._store(tuple(imports))
        subprocess.run(["cp", "-a", "--sparse=never", f"{template}/.", str(root)], check=True)
        return image


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Imported:
    return Imported(tmp_path_factory.mktemp("imported"), busybox_tar)


@pytest.fixture
def busybox(dockyard: Dockyard, imported: Imported) -> str:
    """`busybox:latest` imported into this test's store; returns the image ID. The store is a
    copy of a store the import was run in (Imported): the import's ~0.1 s of CPU (0.6 s wall
    at load 10) was paid in each of the 387 tests that take this fixture. Every test's store is
    still its own."""
    return imported.into(dockyard.root)


def _reference_dockerd(busybox_tar: Path):  # noqa: ANN202
    from tests.dockerd import start_dockerd

    daemon = start_dockerd()
    if isinstance(daemon, str):
        pytest.skip(daemon)
    try:
        daemon("import", str(busybox_tar), "busybox:latest")
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def dockerd(busybox_tar: Path):
    """The reference dockerd 20.10 (tests/dockerd.py) with `busybox:latest` imported from the same
    rootfs tar as dockyard's `busybox` fixture; the test is skipped (one line) where it cannot run."""
    yield from _reference_dockerd(busybox_tar)


@pytest.fixture
def own_dockerd(busybox_tar: Path):
    """A reference dockerd of the test's own, as `dockerd` is but with nothing but busybox in it,
    for a test that stops or restarts the daemon: the session's daemon is every other test's
    too, and its start removes a stale network sandbox for each container the session ran (101
    in 28 s, a restart in a whole-suite run); one of the test's own starts in ~0.5 s."""
    yield from _reference_dockerd(busybox_tar)
