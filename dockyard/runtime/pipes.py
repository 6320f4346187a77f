"""The output pipes of a process run in the foreground for a build step (the OCI runtime's
`run`), read to their end on the calling thread.

A pump thread per pipe had to be started, scheduled, handed the GIL and joined at every step,
for pipes that mostly carry nothing (a `RUN true`): one poll loop on the thread that waits for
the step anyway does the same reads.
"""

from __future__ import annotations

import os
import select

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Callable

POLL_INTERVAL = 0.005  # seconds between looks while the caller waits for something (`until`)
READ = 65536           # a pipe's default capacity: more is never there at once (and a larger
                       # buffer is mmap'ed and unmapped by malloc at every read)


def drain(outputs: dict[int, Callable[[bytes], None]], until: Callable[[], bool] | None = None,
          interval: float = POLL_INTERVAL) -> None:
    """Read each pipe of `outputs` (its read end -> where its data goes, as it comes) until
    every writer has closed it, then close the read ends. `until`: asked at the start, after
    each read and every `interval` seconds, until it returns True (the caller looks for
    something the process makes meanwhile, such as the runtime's pid file). Once an output
    raises (the client of a build went away), that pipe is read and its data dropped: the
    process must never block on a full pipe."""
    give = dict(outputs)
    poller = select.poll()
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    open_fds = set(outputs)
    waiting = until is not None and not until()
    try:
        while open_fds:
            for fd, _event in poller.poll(interval * 1000 if waiting else None):
                data = os.read(fd, READ)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                try:
                    give[fd](data)
                except Exception:  # noqa: BLE001 - the caller learns at its own next write
                    give[fd] = _drop
            if waiting:
                waiting = not until()  # type: ignore[misc]
    finally:
        for fd in outputs:
            os.close(fd)


def _drop(data: bytes) -> None:
    pass
