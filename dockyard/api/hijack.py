"""Copying between a hijacked connection and a process's stdio: the client's bytes to the
process's stdin, its output back raw (a TTY) or in Docker's multiplexed frames (stdout, stderr).

The output side runs until the process's output ends (every writer closed: the caller closes its
own copies when the process is done); the input side until the client half-closes or the
connection goes. Then our side is shut down, which the client reads as the end.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Callable

from dockyard.api.framing import STDERR, STDOUT, mux_frame
from dockyard.api.http import ClientGone, Connection
from dockyard.atomic import write_all
from dockyard.detach import Escape

DRAIN_TIMEOUT = 2.0     # seconds a finished stream reads what the client still sends


def copy_in(conn: Connection, fd: int, *, close: bool = True, escape: Escape | None = None,
            detached: Callable[[], None] | None = None) -> threading.Thread:
    """A thread: what the client sends goes to `fd` (closed at the client's EOF with `close`).
    With `escape`, the detach keys end it: what came before them is written, `detached()`
    called, `fd` closed (as at the client's EOF)."""
    def run() -> None:
        try:
            while True:
                data = conn.recv()
                if not data:
                    break
                if escape is not None:
                    data, leave = escape.feed(data)
                    if data:
                        write_all(fd, data)
                    if leave:
                        assert detached is not None
                        detached()
                        break
                    continue
                write_all(fd, data)
        except OSError:
            pass
        finally:
            if close:
                try:
                    os.close(fd)
                except OSError:
                    pass

    t = threading.Thread(target=run, daemon=True, name="hijack stdin")
    t.start()
    return t


def copy_out(conn: Connection, outputs: dict[int, int], *, raw: bool,
             stopping: threading.Event | None = None, wake: int | None = None) -> bool:
    """Send what the fds produce (fd -> STDOUT/STDERR) until each ends; raw or multiplexed.
    False when it stopped early: the server stopping, or `wake` readable (the user detached)."""
    open_fds = dict(outputs)
    watched = list(open_fds) + ([wake] if wake is not None else [])
    try:
        while open_fds:
            if stopping is not None and stopping.is_set():
                return False
            ready, _, _ = select.select(watched, [], [], 0.5)
            if wake is not None and wake in ready:
                return False
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    del open_fds[fd]
                    watched.remove(fd)
                    continue
                conn.send(data if raw else mux_frame(open_fds[fd], data))
    except ClientGone:
        return False
    return True


def finish(conn: Connection) -> None:
    """End of the stream: the client reads EOF. What it sends after that (stdin the process did
    not read, `run -i` of a command that reads none) is read and dropped until it closes its
    side, for DRAIN_TIMEOUT at most: a unix socket closed with unread bytes resets the
    connection, and the docker CLI then says `read: connection reset by peer` and exits 1
    instead of with the process's code (dockerd reads stdin to its end)."""
    try:
        conn.sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    deadline = time.monotonic() + DRAIN_TIMEOUT
    try:
        while (left := deadline - time.monotonic()) > 0:
            conn.sock.settimeout(left)
            if not conn.sock.recv(65536):
                break
    except OSError:     # timed out, or the client is gone
        pass


def run_attached(conn: Connection, *, tty: bool, stdin: bool, run: Callable[[dict], None],
                 stopping: threading.Event | None = None, raw: bool | None = None,
                 escape: Escape | None = None, detach_message: bytes = b"") -> None:
    """Run `run(fds)` (it blocks until the process ends) with pipes or a pty wired to `conn`.
    `fds` has "stdin", "stdout", "stderr": the process's ends (with a TTY, one pipe for both
    outputs). The output goes `raw` or multiplexed (None: raw with a TTY).

    With `escape` (a TTY with stdin: dockerd watches only those), the detach keys typed by the
    client end the stream at once, `detach_message` its last bytes (on stdout), while the
    process runs on (its output, nobody's now, is read and dropped until it ends)."""
    ours: list[int] = []        # our copies of the process's ends, closed when it is done
    raw = tty if raw is None else raw
    left = threading.Event()
    wake_r, wake_w = os.pipe() if escape is not None else (None, None)
    wake_lock = threading.Lock()

    def detached() -> None:
        with wake_lock:
            left.set()
            if wake_w is not None and not ending.is_set():
                os.write(wake_w, b"x")
    ending = threading.Event()     # the pipe is about to be closed
    out_r, out_w = os.pipe()
    if tty:     # the process's terminal is its own (runtime/console): one stream of it comes here
        fds = {"stdin": None, "stdout": out_w, "stderr": out_w}
        ours.append(out_w)
        outputs = {out_r: STDOUT}
    else:
        err_r, err_w = os.pipe()
        fds = {"stdin": None, "stdout": out_w, "stderr": err_w}
        ours += [out_w, err_w]
        outputs = {out_r: STDOUT, err_r: STDERR}
    if stdin:
        in_r, in_w = os.pipe()
        fds["stdin"] = in_r
        ours.append(in_r)
        copy_in(conn, in_w, escape=escape, detached=detached)

    def worker() -> None:
        try:
            run(fds)
        finally:
            for fd in ours:
                try:
                    os.close(fd)
                except OSError:
                    pass

    t = threading.Thread(target=worker, daemon=True, name="hijacked process")
    t.start()
    try:
        copy_out(conn, outputs, raw=raw, stopping=stopping, wake=wake_r)
        with wake_lock:
            ending.set()
        if left.is_set():
            if detach_message:
                try:
                    conn.send(detach_message if raw else mux_frame(STDOUT, detach_message))
                except ClientGone:
                    pass
            finish(conn)
            _discard(outputs, stopping)     # the process runs on, its output read and dropped
    finally:
        with wake_lock:
            ending.set()
        t.join()
        for fd in list(outputs) + [fd for fd in (wake_r, wake_w) if fd is not None]:
            try:
                os.close(fd)
            except OSError:
                pass
        if not left.is_set():
            finish(conn)


def _discard(outputs: dict[int, int], stopping: threading.Event | None) -> None:
    """Read the fds to their end (a detached process's output: nobody is attached any more)."""
    open_fds = list(outputs)
    while open_fds and not (stopping is not None and stopping.is_set()):
        for fd in select.select(open_fds, [], [], 0.5)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                open_fds.remove(fd)
