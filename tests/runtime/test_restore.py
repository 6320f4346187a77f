"""serve's start restarts the containers a crash stopped (lifecycle.restore), as dockerd's
restore does: every container in a goroutine of its own, one that needs another running after
that one's start has ended (tests/interop/test_restart.py compares the outcome with dockerd)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from dockyard.runtime import lifecycle
from dockyard.store.store import Store
from tests.conftest import kill_as_a_reboot


def test_restore_starts_the_containers_at_once_and_a_dependent_after_its_target(
        dockyard, busybox, monkeypatch: pytest.MonkeyPatch) -> None:
    """One by one, serve's start took 0.3-0.7 s a container before the last one ran. Each
    start's span is recorded around the real start: the three independent ones overlap, and
    `side` (network_mode container:web) begins only after web's start has ended."""
    for name in ("web", "one", "two"):
        dockyard("run", "-d", "--name", name, "--network", "none", "--restart", "always",
                 "busybox", "sleep", "1000")
    dockyard("run", "-d", "--name", "side", "--network", "container:web", "--restart", "always",
             "busybox", "sleep", "1000")
    kill_as_a_reboot(dockyard.root)
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()
    real_start = lifecycle.start
    store = Store(dockyard.root)
    names = {cid: json.loads(dockyard("inspect", cid).stdout)[0]["Name"].lstrip("/")
             for cid in dockyard("ps", "-aq", "--no-trunc").stdout.split()}

    def timed(store_: Store, cid: str, **kw: bool) -> bool:
        began = time.monotonic()
        try:
            return real_start(store_, cid, **kw)
        finally:
            with lock:
                spans[names[cid]] = (began, time.monotonic())
    monkeypatch.setattr(lifecycle, "start", timed)
    started = lifecycle.restore(store)
    assert sorted(names[cid] for cid in started) == ["one", "side", "two", "web"]
    assert started.index(next(c for c in started if names[c] == "web")) < \
        started.index(next(c for c in started if names[c] == "side"))
    assert spans["side"][0] >= spans["web"][1]
    independent = [spans[n] for n in ("web", "one", "two")]
    assert max(begin for begin, _ in independent) < min(end for _, end in independent), spans
    running = dockyard("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(running) == ["one", "side", "two", "web"]
