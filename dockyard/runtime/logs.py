"""A container's log in Docker's json-file format: written by the container's monitor, read by
`logs` and `attach`, here and nowhere else.

One JSON object per line: `{"log": "text\\n", "stream": "stdout", "time": "...Z"}` with the time
in RFC 3339 and nanoseconds. A line of output is one entry; a partial line waits for its end, or
is written as it is once it reaches 16 KiB (as Docker splits long lines).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.dataclass import dataclass

PARTIAL_FLUSH = 16 * 1024
READ_SIZE = 64 * 1024
FOLLOW_POLL = 0.02


@dataclass(compiled_init=True)  # one per line
class LogEntry:
    """One line (or partial line) of a container's log."""

    stream: str      # stdout | stderr
    data: bytes
    time: str        # RFC 3339 with nanoseconds


def log_time() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


class LogWriter:
    """json-file: one entry per line of output; a partial line waits for its end (or 16 KiB)."""

    def __init__(self, path: Path) -> None:
        self._f: BinaryIO = open(path, "ab")
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial[stream] + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            self._entry(stream, buf[: nl + 1])
            buf = buf[nl + 1:]
        if len(buf) >= PARTIAL_FLUSH:
            self._entry(stream, buf)
            buf = b""
        self._partial[stream] = buf
        self._f.flush()

    def _entry(self, stream: str, data: bytes) -> None:
        line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                           "time": log_time()}, ensure_ascii=False)
        self._f.write(line.encode() + b"\n")

    def close(self) -> None:
        for stream, buf in self._partial.items():
            if buf:
                self._entry(stream, buf)
        self._f.close()


def _parse(line: bytes) -> LogEntry:
    entry = json.loads(line)
    return LogEntry(entry.get("stream", "stdout"),
                    entry.get("log", "").encode("utf-8", "surrogateescape"),
                    entry.get("time", ""))


def read_entries(log: BinaryIO, *, more: Callable[[], bool] | None = None,
                 cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """The entries of an open log. With `more` (true while the writer may still write, i.e. the
    container runs), new entries are waited for; once `more()` is false what is left is read and
    the iteration ends. `cancel` ends it at once (a server that stops). Holding the open file
    keeps the entries readable after the container is removed."""
    pending = b""
    while True:
        data = log.read(READ_SIZE)
        if data:
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield _parse(line)
            continue
        if more is None or (cancel is not None and cancel.is_set()):
            return
        if not more():
            data = log.read()
            if data:
                pending += data
                continue
            return
        time.sleep(FOLLOW_POLL)
