"""A container's output as its log holds it (the monitor owns the container's stdio and writes
everything there): read it, follow it while the container runs, or attach to it before the
container starts. A log the monitor rotated (json-file's max-size) is read through its files, oldest
first (runtime/logs.py walks them)."""

from __future__ import annotations

import os
import threading
import time
from typing import BinaryIO, Callable, Iterator

from dockyard.errors import NotFound
from dockyard.runtime.containers import current_state
from dockyard.runtime.logs import FOLLOW_POLL, LogEntry, LogFiles, limits, read_entries, rotation
from dockyard.runtime.state import RUNNING, ContainerDir

ATTACH_POLL = 0.001


def _same_run(cdir: ContainerDir) -> Callable[[], bool]:
    """True while the run of the container seen running at the first call goes on: following
    ends at its exit, as Docker's does, even when its restart policy starts another run."""
    first: list[str] = []

    def running() -> bool:
        try:
            state = current_state(cdir)
        except (FileNotFoundError, NotFound):
            return False
        if state.status != RUNNING or state.restarting:
            return False
        if not first:
            first.append(state.started_at)
        return state.started_at == first[0]
    return running


def _files(cdir: ContainerDir) -> LogFiles:
    try:
        host = cdir.read_record().host
    except FileNotFoundError:     # removed meanwhile: the open log is read to its end
        return LogFiles(cdir.log, rotation({}))
    return LogFiles(cdir.log, limits(host.log_driver, host.log_opts))


def _entries(cdir: ContainerDir, files: LogFiles, log: BinaryIO, follow: bool,
             cancel: threading.Event | None, tail: int | None = None) -> Iterator[LogEntry]:
    with log:
        yield from read_entries(files, log, more=_same_run(cdir) if follow else None, cancel=cancel,
                                tail=tail)


def log_entries(cdir: ContainerDir, *, follow: bool = False, cancel: threading.Event | None = None,
                tail: int | None = None) -> Iterator[LogEntry]:
    """The container's log so far, its rotated files first (only its last `tail` entries when
    given); with `follow`, then what comes until it stops. A container that never wrote has an
    empty log."""
    files = _files(cdir)
    log = files.open_oldest()
    if log is None:
        return iter(())
    return _entries(cdir, files, log, follow, cancel, tail)


def attach_entries(cdir: ContainerDir, *, follow: bool = True,
                   cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """The output of a container that may not have started yet (Docker's `run` attaches before
    it starts the container): waits for the log to appear and holds it open from then on, so
    nothing is lost when the container exits and is removed (--rm) at once."""
    files = _files(cdir)
    log = None
    while log is None:
        if cancel is not None and cancel.is_set():
            return iter(())
        try:
            log = open(cdir.log, "rb")
        except FileNotFoundError:
            if not cdir.exists():
                return iter(())
            time.sleep(ATTACH_POLL)
    return _entries(cdir, files, log, follow, cancel)


def next_run_entries(cdir: ContainerDir, *, cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """What a stopped container writes in its next run, from that run's start to its end
    (Docker's attach to a stopped container without its logs: `docker start -a` attaches, then
    starts): the log's end and the last run are taken now, the run after it is waited for."""
    try:
        before = current_state(cdir).started_at
        offset = os.path.getsize(cdir.log)
    except (FileNotFoundError, NotFound):
        return iter(())
    return _next_run(cdir, _files(cdir), before, offset, cancel)


def _next_run(cdir: ContainerDir, files: LogFiles, before: str, offset: int,
              cancel: threading.Event | None) -> Iterator[LogEntry]:
    while True:
        if cancel is not None and cancel.is_set():
            return
        try:
            state = current_state(cdir)
        except (FileNotFoundError, NotFound):
            return
        if state.started_at != before:
            break
        time.sleep(FOLLOW_POLL)
    try:
        log = open(cdir.log, "rb")
    except FileNotFoundError:
        return
    with log:
        if os.fstat(log.fileno()).st_size >= offset:   # else rewritten since: all of it is new
            log.seek(offset)
        run = state.started_at

        def same_run() -> bool:
            try:
                now = current_state(cdir)
            except (FileNotFoundError, NotFound):
                return False
            return now.status == RUNNING and not now.restarting and now.started_at == run
        yield from read_entries(files, log, more=same_run, cancel=cancel)


def new_entries(cdir: ContainerDir, *, cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """What a running container writes from now on, until it stops (Docker's attach to a running
    container, without its logs: `docker start -a` of one that runs)."""
    files = _files(cdir)
    try:
        log = open(cdir.log, "rb")
    except FileNotFoundError:
        return iter(())
    # "now" is this call, not the first read: an attach wires the client's input after it,
    # and output its input caused must not come before the point it reads from
    end = log.seek(0, os.SEEK_END)
    return _from_now(cdir, files, log, end, _same_run(cdir), cancel)


def _from_now(cdir: ContainerDir, files: LogFiles, log: BinaryIO, end: int, running: Callable[[], bool],
              cancel: threading.Event | None) -> Iterator[LogEntry]:
    with log:
        if end:
            log.seek(end - 1)
            within = log.read(1) != b"\n"
            while within:  # the writer is inside an entry: the rest of it is not ours
                within = not log.readline().endswith(b"\n")
                if within:
                    if not running() or (cancel is not None and cancel.is_set()):
                        return
                    time.sleep(FOLLOW_POLL)
        yield from read_entries(files, log, more=running, cancel=cancel)
