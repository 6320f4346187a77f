"""The store's event journal: what happened to containers, images, networks and volumes, written
by whichever process did it (a CLI command, a container's monitor, `dockyard serve`), read by
`GET /events` and `dockyard events`.

    <root>/events/journal      one event per line, Docker's JSON message
    <root>/events/journal.1    the previous journal, once the current one passed 1 MiB

Each event is one write(2) on a file opened with O_APPEND, so events of concurrent processes
never interleave. Rotation (rename under `locks/events.lock`) keeps the journal bounded; a
reader that follows it reopens the journal when it was renamed. Events are history, not state:
they are not fsynced, and a crash may lose the last ones (Docker keeps them in memory only).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from dockyard.dataclass import dataclass
from dockyard.store.locks import flock

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

MAX_JOURNAL = 1 << 20
POLL = 0.05


@dataclass(frozen=True)
class Event:
    """One entry of the events journal (`docker events`)."""

    type: str                   # container | image | network | volume | daemon
    action: str                 # create, start, die, destroy, pull, tag, connect...
    actor: str                  # the object's ID (an image's name for pull/push/tag)
    attributes: dict[str, str]
    time_ns: int

    def to_docker(self) -> dict[str, Any]:
        """Docker's message: Type/Action/Actor/scope/time/timeNano, plus the old status/id/from
        of container and image events."""
        out: dict[str, Any] = {}
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor
            if self.type == "container" and "image" in self.attributes:
                out["from"] = self.attributes["image"]
        out.update({"Type": self.type, "Action": self.action,
                    "Actor": {"ID": self.actor, "Attributes": dict(self.attributes)},
                    "scope": "local", "time": self.time_ns // 1_000_000_000,
                    "timeNano": self.time_ns})
        return out

    @classmethod
    def from_line(cls, line: bytes) -> "Event | None":
        try:
            d = json.loads(line)
            return cls(d["Type"], d["Action"], d["Actor"]["ID"], d["Actor"].get("Attributes") or {},
                       int(d["timeNano"]))
        except (ValueError, KeyError, TypeError):
            return None


class Journal:
    def __init__(self, root: Path) -> None:
        self.dir = root / "events"
        self.path = self.dir / "journal"
        self._lock = root / "locks" / "events.lock"

    def emit(self, type_: str, action: str, actor: str,
             attributes: dict[str, str] | None = None) -> Event:
        event = Event(type_, action, actor, dict(attributes or {}), time.time_ns())
        line = json.dumps(event.to_docker(), separators=(",", ":")).encode() + b"\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > MAX_JOURNAL:
            self._rotate()
        return event

    def _rotate(self) -> None:
        with flock(self._lock):
            try:
                if self.path.stat().st_size > MAX_JOURNAL:
                    os.replace(self.path, self.dir / "journal.1")
            except FileNotFoundError:
                pass

    def read(self, since_ns: int = 0, until_ns: int | None = None) -> Iterator[Event]:
        """The journal's events in [since, until], oldest first."""
        for path in (self.dir / "journal.1", self.path):
            try:
                with open(path, "rb") as f:
                    yield from _window(f, since_ns, until_ns)
            except FileNotFoundError:
                continue

    def follow(self, since_ns: int | None, until_ns: int | None,
               stopped: Callable[[], bool]) -> Iterator[Event | None]:
        """Past events from `since` (none when None), then new ones as they are written, until
        `until` or `stopped()`. Yields None while idle, so a caller can check its client."""
        start = time.time_ns()
        if since_ns is not None:
            for event in self.read(since_ns, min(start, until_ns) if until_ns else start):
                yield event
        f = None
        inode = None
        try:
            try:
                f = open(self.path, "rb")
                f.seek(0, os.SEEK_END)
                inode = os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                f = None
            pending = b""
            while not stopped():
                if until_ns is not None and time.time_ns() > until_ns:
                    return
                data = f.read() if f is not None else b""
                if data:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    yield from _window(lines, start, until_ns)
                    continue
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if current is not None and current != inode:   # rotated, or created
                    if f is not None:
                        rest = f.read()
                        if rest:
                            pending += rest
                            continue
                        f.close()
                    f = open(self.path, "rb")
                    inode = current
                    continue
                yield None
                time.sleep(POLL)
        finally:
            if f is not None:
                f.close()


def _window(lines: Iterable[bytes], since_ns: int, until_ns: int | None) -> Iterator[Event]:
    for line in lines:
        event = Event.from_line(line)
        if event is not None and event.time_ns >= since_ns and (
                until_ns is None or event.time_ns <= until_ns):
            yield event
