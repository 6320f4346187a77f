"""A container's locks are taken in one order (runtime/state.py): wait.lock, then state.lock.

A thread holding a `--rm` container's state lock could reach its removal: `docker update`
(and a network rename, an exec's claim) reads the current state under the lock, and the
current state of a `--rm` container whose monitor died (killed -9) is its removal
(containers.current_state -> _auto_remove -> removal.destroy), which takes wait.lock
exclusively. A `docker wait` holds wait.lock shared while it looks at the state, and the same
look at a dead monitor's container takes the state lock to record its end. Each then waited
for the other for ever (and every later command on the container with them).

The race is made to happen in that order, for real: a `--rm` container runs, its monitor is
killed; a thread takes the state lock as `update` does and holds it; the real `dockyard wait`
CLI takes wait.lock shared and blocks on the state lock (seen in /proc/locks); then the thread
runs the real `containers.update` under its lock. Before the fix the thread then blocked on
wait.lock while the CLI blocked on the state lock: the cycle, seen in /proc/locks, fails the
test (a watchdog, not a timing: nothing else ends it). Now the removal waits until the state
lock is let go: the wait reports the end (137) and the container is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

import pytest

from dockyard.errors import NotFound
from dockyard.runtime import containers
from dockyard.runtime.hostconfig import RestartPolicy
from dockyard.runtime.state import ContainerDir, pid_alive


def _locks(ino: int) -> tuple[set[int], set[int]]:
    """The pids holding and the pids blocked on a flock of the inode (/proc/locks)."""
    held, blocked = set(), set()
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()   # N: [->] FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END
            waiting = fields[1] == "->"
            fields = fields[2:] if waiting else fields[1:]
            if fields[0] == "FLOCK" and int(fields[4].rsplit(":", 1)[1]) == ino:
                (blocked if waiting else held).add(int(fields[3]))
    return held, blocked


def _until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60   # a hang guard, not a speed check
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_update_of_a_dead_monitors_rm_container_as_it_is_waited_for(dockyard, busybox) -> None:
    cid = dockyard("run", "-d", "--rm", "busybox", "sleep", "600").stdout.strip()
    store = dockyard.store
    cdir = containers.lookup(store, cid)
    monitor = cdir.read_state().monitor_pid
    os.kill(monitor, signal.SIGKILL)
    _until(lambda: not pid_alive(monitor), "the monitor ends")
    with cdir.watching(), cdir.locked():   # both lock files exist from here
        pass
    state_lock, wait_lock = (os.stat(cdir.path / n).st_ino for n in ("state.lock", "wait.lock"))

    out: dict[str, Any] = {}
    holding, go = threading.Event(), threading.Event()

    def updater() -> None:
        try:
            with cdir.locked():        # as `update` holds it (its own lock nests in this one)
                holding.set()
                go.wait()
                containers.update(store, cid, None, RestartPolicy("no"))
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            out["update"] = exc
    thread = threading.Thread(target=updater, daemon=True)
    thread.start()
    holding.wait()
    waiter = subprocess.Popen(dockyard.argv("wait", cid), env=dockyard.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _until(lambda: waiter.pid in _locks(state_lock)[1] and waiter.pid in _locks(wait_lock)[0],
               "the wait holds wait.lock and waits for the state lock")
        go.set()
        me = os.getpid()

        def cycle() -> bool:   # each waits for a lock the other holds: nothing ends it
            return me in _locks(wait_lock)[1] and waiter.pid in _locks(wait_lock)[0] \
                and waiter.pid in _locks(state_lock)[1] and me in _locks(state_lock)[0]

        deadline = time.monotonic() + 60   # a hang guard, not a speed check
        while thread.is_alive() or waiter.poll() is None:
            if cycle():
                time.sleep(0.2)
                assert not cycle(), "deadlock: update waits for wait.lock, wait for the state lock"
            assert time.monotonic() < deadline, "the update or the wait hangs"
            time.sleep(0.005)
    finally:
        if waiter.poll() is None:
            waiter.kill()      # lets a deadlocked updater go on
        stdout, stderr = waiter.communicate()
        go.set()
        thread.join(60)
    assert isinstance(out.get("update"), NotFound), out   # as for any container removed
    assert (waiter.returncode, stdout.decode(), stderr.decode()) == (0, "137\n", "")
    assert not cdir.path.exists()
    assert dockyard("ps", "-aq").stdout == ""
