"""A container's state written by whoever holds its lock (the monitor recording an exit, a
health probe's result, `current_state` recording a dead monitor's end for serve's revive
thread, a start resetting the restarts) while `rm -f` takes the container away.

CI once found containers/ID/state.json (all defaults) left after a removal: a caller had opened
the lock file before the folder was renamed away and got the lock after; it read the missing
state.json as the default state and wrote it back, and the durable write made the folder again
(e3c2a11 patched one caller). Now the removal renames the folder under the same lock, and a
locker that finds no record is told NotFound: nothing is ever written into a removed container.

The race is made to happen, in that order, for real (threads against one store, blocked on the
real flocks, each wait seen in /proc/locks): a waiter holds off the removal after it marked the
container `removing`; a holder takes the state lock; the caller opens the lock file and blocks
on it; the waiter lets go (the removal renamed the folder here before the fix); the holder lets
go. The container's folder must be gone afterwards, and the caller must end as it should for a
container that is gone (no exception in a background caller, NotFound in a user's command)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from dockyard.errors import NotFound
from dockyard.runtime import containers, health, lifecycle, removal
from dockyard.runtime.state import RUNNING, ContainerDir, ContainerState
from dockyard.store.store import Store


def _blocked_on(ino: int) -> int:
    """How many flock waiters /proc/locks shows on the inode (a lock file's, wherever the file
    went since)."""
    count = 0
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()   # N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END
            if fields[1] == "->" and int(fields[6].rsplit(":", 1)[1]) == ino:
                count += 1
    return count


def _until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60   # a hang guard, not a speed check
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.002)


def _thread(target: Callable[[], Any], out: dict[str, Any], key: str) -> threading.Thread:
    def run() -> None:
        try:
            out[key] = target()
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            out[key] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _race(store: Store, cdir: ContainerDir, caller: Callable[[], Any]) -> Any:
    """Removal of `cdir` racing `caller` (see the module's docstring); the caller's outcome
    (its result or its exception)."""
    with cdir.watching(), cdir.locked():   # the lock files exist from here (in the lock order)
        pass
    state_lock, wait_lock = (os.stat(cdir.path / name).st_ino for name in ("state.lock", "wait.lock"))
    out: dict[str, Any] = {}
    watching, holding = threading.Event(), threading.Event()
    let_watcher_go, let_holder_go = threading.Event(), threading.Event()

    def watcher() -> None:
        with cdir.watching():
            watching.set()
            let_watcher_go.wait()

    def holder() -> None:
        with cdir.locked():
            holding.set()
            let_holder_go.wait()

    threads = [_thread(watcher, out, "watcher")]
    watching.wait()
    remover = _thread(lambda: removal.destroy(store, cdir), out, "removal")
    _until(lambda: _blocked_on(wait_lock) == 1, "the removal waits for the waiter")
    threads += [remover, _thread(holder, out, "holder")]
    holding.wait()
    threads.append(_thread(caller, out, "caller"))
    _until(lambda: _blocked_on(state_lock) == 1, "the caller waits for the state lock")
    let_watcher_go.set()
    # the removal now renames the folder away (as before the fix), or waits for the state lock
    _until(lambda: not remover.is_alive() or _blocked_on(state_lock) == 2,
           "the removal renamed the folder or waits for the state lock")
    let_holder_go.set()
    for t in threads:
        t.join(60)
    assert out.get("removal") is None, out
    assert not cdir.path.exists(), sorted(p.name for p in cdir.path.iterdir())
    assert not any((store.root / "containers").iterdir())
    return out.get("caller")


@pytest.fixture
def cdir(store: Store, busybox: str) -> ContainerDir:
    record = containers.create(store, containers.CreateOptions(image="busybox", cmd=["true"]))
    return containers.lookup(store, record.id)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_durable_update_as_the_monitor_records_an_exit(store: Store, cdir: ContainerDir) -> None:
    def record_exit() -> None:
        with cdir.update() as state:   # durable: the exit of a kept container
            state.status, state.exit_code = "exited", 3
    outcome = _race(store, cdir, record_exit)
    assert outcome is None or isinstance(outcome, NotFound), outcome


def test_a_health_probe_ending_as_the_container_is_removed(store: Store, cdir: ContainerDir) -> None:
    record = cdir.read_record()
    check = health.check_of({"Test": ["CMD", "true"], "Interval": 1_000_000_000})
    checker = health.Checker(store, cdir, record, check, init_pid=0)
    result = {"Start": "", "End": "", "ExitCode": 0, "Output": ""}
    # a thread of the monitor: it must end quietly, its result dropped
    assert _race(store, cdir, lambda: checker._record(result, counts=True)) is None


def test_serve_revive_thread_looks_as_the_container_is_removed(store: Store, cdir: ContainerDir) -> None:
    # a run whose monitor died: current_state records its end under the lock
    cdir.write_state(ContainerState(status=RUNNING, monitor_pid=_dead_pid(), started_at="2026-01-01T00:00:00Z"))
    assert _race(store, cdir, lambda: lifecycle.revive(store)) == []


def test_current_state_of_a_dead_monitor_as_the_container_is_removed(store: Store,
                                                                      cdir: ContainerDir) -> None:
    cdir.write_state(ContainerState(status=RUNNING, monitor_pid=_dead_pid(), started_at="2026-01-01T00:00:00Z"))
    outcome = _race(store, cdir, lambda: containers.current_state(cdir))
    assert isinstance(outcome, (NotFound, ContainerState)), outcome


def test_a_start_resetting_restarts_as_the_container_is_removed(store: Store, cdir: ContainerDir) -> None:
    outcome = _race(store, cdir, lambda: lifecycle._reset_restarts(cdir))
    assert outcome is None or isinstance(outcome, NotFound), outcome
