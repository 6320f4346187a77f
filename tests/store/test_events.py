"""The event journal: written by any process, read with since/until, followed across rotation."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from dockyard.store import events
from dockyard.store.events import Journal


def test_events_of_other_processes_and_windows(store_root: Path) -> None:
    journal = Journal(store_root)
    first = journal.emit("container", "create", "c1", {"image": "busybox", "name": "one"})
    code = (f"from pathlib import Path; from dockyard.store.events import Journal; "
            f"Journal(Path({str(store_root)!r})).emit('image', 'tag', 'busybox:latest', {{}})")
    subprocess.run([sys.executable, "-c", code], check=True)
    all_events = list(journal.read())
    assert [(e.type, e.action, e.actor) for e in all_events] == [
        ("container", "create", "c1"), ("image", "tag", "busybox:latest")]
    docker = first.to_docker()
    assert docker["status"] == "create" and docker["from"] == "busybox"
    assert docker["Actor"] == {"ID": "c1", "Attributes": {"image": "busybox", "name": "one"}}
    assert docker["time"] == docker["timeNano"] // 10**9 and docker["scope"] == "local"
    later = list(journal.read(since_ns=all_events[1].time_ns))
    assert [e.action for e in later] == ["tag"]
    assert [e.action for e in journal.read(until_ns=first.time_ns)] == ["create"]


def test_follow_sees_new_events_across_rotation(store_root: Path, monkeypatch) -> None:
    monkeypatch.setattr(events, "MAX_JOURNAL", 2000)
    monkeypatch.setattr(events, "POLL", 0.01)
    journal = Journal(store_root)
    journal.emit("container", "create", "old")
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        for event in journal.follow(None, None, stop.is_set):
            if event is not None:
                seen.append(event.actor)

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.monotonic() + 60
    while not seen:           # it follows once it sees what is written after its start
        assert time.monotonic() < deadline
        journal.emit("container", "probe", "probe")
        time.sleep(0.01)
    for i in range(30):                     # ~250 bytes each: rotates every ~8
        journal.emit("container", "start", f"c{i}", {"pad": "x" * 100})
        # each one seen before the next: a follower that sleeps through two rotations (here
        # ~0.16 s of a loaded machine; ~4000 events at the real MAX_JOURNAL) never opens the
        # file between them (dockerd drops events for a subscriber 1024 behind: pkg/pubsub's
        # 100 ms send timeout)
        while f"c{i}" not in seen:
            assert time.monotonic() < deadline, seen
            time.sleep(0.002)
    stop.set()
    t.join()
    assert [actor for actor in seen if actor != "probe"] == [f"c{i}" for i in range(30)]
    assert (store_root / "events" / "journal.1").exists()
