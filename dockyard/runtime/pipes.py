"""The output pipes of a process run in the foreground for a build step (the OCI runtime's
`run`), read to their end on the calling thread.

A pump thread per pipe had to be started, scheduled, handed the GIL and joined at every step,
for pipes that mostly carry nothing (a `RUN true`): one poll loop on the thread that waits for
the step anyway does the same reads.

What the caller looks for while it waits (the runtime's pid file) is looked for again when a
name appears in the folder it is in (`new_names`: inotify) rather than every few milliseconds:
the waiting thread then wakes two or three times a step instead of every 5 ms of the runtime's
run, on cores the runtime needs. The inotify instance is kept for the next watch (the watch is
removed, the instance is not closed): closing one waits for the kernel to retire its marks (an
SRCU grace period, fsnotify_destroy_group), 14 ms (median) of every classic step's wall between
the runtime's exit and the next one's start, when a step's own work is ~7 ms.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
from contextlib import contextmanager

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Callable, Iterator

POLL_INTERVAL = 0.005  # seconds between looks while the caller waits for something (`until`)
READ = 65536           # a pipe's default capacity: more is never there at once (and a larger
                       # buffer is mmap'ed and unmapped by malloc at every read)


def spawn(args: list[str]) -> tuple[subprocess.Popen[bytes], int, int]:
    """`args` started with no stdin and a pipe each for stdout and stderr: the process and the
    read ends (for `drain`, which closes them); nothing is left open if it cannot start."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w)
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return proc, out_r, err_r


def drain(outputs: dict[int, Callable[[bytes], None]], until: Callable[[], bool] | None = None,
          interval: float = POLL_INTERVAL, wake: int | None = None) -> None:
    """Read each pipe of `outputs` (its read end -> where its data goes, as it comes) until
    every writer has closed it, then close the read ends. `until`: asked at the start, after
    each read and every `interval` seconds, until it returns True (the caller looks for
    something the process makes meanwhile, such as the runtime's pid file); with `wake` (a
    `new_names` descriptor, watching since before the process could make it), when that
    descriptor has news instead of every `interval`. Once an output raises
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
_idle: list[int] = []  # inotify instances with no watch, for the next `new_names` (any thread's)
_idle_lock = threading.Lock()
IDLE_MAX = 4   # kept at most (the user's 128 instances are everyone's): one per build step at once


@contextmanager
def new_names(folder: str | os.PathLike[str]) -> Iterator[int | None]:
    """For the block: a descriptor (non-blocking, close-on-exec; not to be closed) that becomes
    readable when a name is created or renamed into `folder`, for drain's `wake`; None where
    inotify cannot be had (no such call, or the user's limit of instances reached): drain then
    looks every `interval`. After the block the folder is no longer watched and the instance,
    emptied, waits for the next block (see the module's doc: a close costs a grace period)."""
    fd = _instance()
    wd = -1 if fd is None else _inotify[0][1](fd, os.fsencode(folder), _IN_CREATE | _IN_MOVED_TO)
    if wd < 0:
        if fd is not None:
            _give_back(fd, None)
        yield None
        return
    try:
        yield fd
    finally:
        _give_back(fd, wd)


def _instance() -> int | None:
    with _idle_lock:
        if _idle:
            return _idle.pop()
    if not _inotify:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        init = getattr(libc, "inotify_init1", None)
        _inotify.append((init, libc.inotify_add_watch, libc.inotify_rm_watch) if init is not None else None)
    if _inotify[0] is None:
        return None
    fd = _inotify[0][0](os.O_NONBLOCK | os.O_CLOEXEC)
    return fd if fd >= 0 else None


def _give_back(fd: int, wd: int | None) -> None:
    """The instance `fd`, its watch `wd` removed (the removal's IN_IGNORED, and what came before
    it, read), to the idle ones."""
    if wd is not None:
        _inotify[0][2](fd, wd)   # fails only if the folder went meanwhile: the kernel removed it
    _empty(fd)
    with _idle_lock:
        if len(_idle) < IDLE_MAX:
            _idle.append(fd)
            return
    os.close(fd)   # more steps ran at once than are kept: this one pays the grace period


def _forget_idle() -> None:
    """In a forked child: the idle instances are the parent's (closing the child's copies is
    cheap: the parent keeps them; a child that closes its files itself would otherwise be
    handed a number that is something else by then), and the lock maybe held by a thread that
    is not there."""
    global _idle_lock
    _idle_lock = threading.Lock()
    for fd in _idle:
        try:
            os.close(fd)
        except OSError:
            pass
    del _idle[:]


os.register_at_fork(after_in_child=_forget_idle)


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
