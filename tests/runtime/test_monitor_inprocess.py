"""The monitor run inside the caller's process (a foreground `run`, a build's RUN step, an API
server thread): it must leave the process as it found it."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from pathlib import Path

from dockyard.runtime import containers, lifecycle
from dockyard.runtime.monitor import Attach
from dockyard.store.store import Store

PR_GET_CHILD_SUBREAPER = 37


def _subreaper() -> int:
    value = ctypes.c_int(-1)
    ctypes.CDLL(None, use_errno=True).prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0)
    return value.value


def _run(store: Store, cmd: list[str]) -> tuple[int, bytes]:
    record = containers.create(store, containers.CreateOptions(image="busybox", cmd=cmd))
    r, w = os.pipe()
    try:
        code = lifecycle.run_attached(store, record.id, Attach(None, w, w))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    lifecycle.remove(store, record.id)
    return code, out


def test_attached_run_restores_handlers_and_subreaper(store_root: Path, busybox: str) -> None:
    store = Store(store_root)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    assert _subreaper() == 0
    code, out = _run(store, ["sh", "-c", "echo hi; exit 3"])
    assert (code, out) == (3, b"hi\n")
    assert {s: signal.getsignal(s) for s in before} == before
    assert _subreaper() == 0
    assert containers.all_containers(store) == []


def test_attached_run_off_the_main_thread(store_root: Path, busybox: str) -> None:
    """An API server runs builds in threads: no signal handler may be set there."""
    store = Store(store_root)
    results: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results.append(_run(store, ["sh", "-c", f"echo {n}; exit {n}"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (4, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(results) == [(4, b"4\n"), (5, b"5\n")]
    assert _subreaper() == 0
