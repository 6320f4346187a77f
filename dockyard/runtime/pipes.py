"""The output pipes of a process run in the foreground for a build step (the OCI runtime's
`run`), read to their end on the calling thread.

A pump thread per pipe had to be started, scheduled, handed the GIL and joined at every step,
for pipes that mostly carry nothing (a `RUN true`): one poll loop on the thread that waits for
the step anyway does the same reads.

What the caller looks for while it waits (the runtime's pid file) is looked for again when a
name appears in the folder it is in (`new_names`: inotify) rather than every few milliseconds:
the waiting thread then wakes two or three times a step instead of every 5 ms of the runtime's
run, on cores the runtime needs.
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
          interval: float = POLL_INTERVAL, wake: int | None = None) -> None:
    """Read each pipe of `outputs` (its read end -> where its data goes, as it comes) until
    every writer has closed it, then close the read ends. `until`: asked at the start, after
    each read and every `interval` seconds, until it returns True (the caller looks for
    something the process makes meanwhile, such as the runtime's pid file); with `wake` (a
    `new_names` descriptor made before the process could make it, left to the caller to
    close), when that descriptor has news instead of every `interval`. Once an output raises
    (the client of a build went away), that pipe is read and its data dropped: the process
    must never block on a full pipe."""
    give = dict(outputs)
    poller = select.poll()
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    open_fds = set(outputs)
    waiting = until is not None and not until()
    if waiting and wake is not None:
        poller.register(wake, select.POLLIN)
    else:
        wake = None
    try:
        while open_fds:
            for fd, _event in poller.poll(interval * 1000 if waiting and wake is None else None):
                if fd == wake:
                    _empty(fd)
                    continue
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
                if not waiting and wake is not None:
                    poller.unregister(wake)
                    wake = None
    finally:
        for fd in outputs:
            os.close(fd)


_IN_MOVED_TO, _IN_CREATE = 0x80, 0x100
_inotify: list = []   # [libc's inotify functions, or None where there are none], made on first use


def new_names(folder: str | os.PathLike[str]) -> int | None:
    """A descriptor (non-blocking, close-on-exec; the caller closes it) that becomes readable
    when a name is created or renamed into `folder`, for drain's `wake`; None where inotify
    cannot be had (no such call, or the user's limit of instances reached): drain then looks
    every `interval`."""
    if not _inotify:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        init = getattr(libc, "inotify_init1", None)
        _inotify.append((init, libc.inotify_add_watch) if init is not None else None)
    if _inotify[0] is None:
        return None
    init, add_watch = _inotify[0]
    fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        return None
    if add_watch(fd, os.fsencode(folder), _IN_CREATE | _IN_MOVED_TO) < 0:
        os.close(fd)
        return None
    return fd


def _empty(fd: int) -> None:
    """Read what a non-blocking descriptor has (inotify's events: only that there were some
    matters)."""
    try:
        while os.read(fd, READ):
            pass
    except BlockingIOError:
        pass


def _drop(data: bytes) -> None:
    pass
