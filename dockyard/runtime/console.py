"""A container process's terminal, taken from the OCI runtime: the runtime makes the pty and
sends its master over a console socket (`--console-socket`), as containerd's shim takes it. The
pty's own line discipline is then the only one between the process and its reader: what the
process sets (`stty -onlcr`, a curses program's raw mode) is what the reader gets, as from
dockerd. A runtime in its foreground mode (`runc exec -t` without a socket) copies the pty to
its own stdio instead, which must be a terminal too: a second line discipline, its ONLCR turned
on and the pty's off, and `\\r\\r\\n` when the process wrote before the runtime switched them.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import threading


def set_size(fd: int, rows: int, cols: int) -> None:
    """A terminal's size (the kernel signals SIGWINCH to its foreground process group)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ConsoleSocket:
    """A listening socket in a directory of its own for the runtime's `--console-socket`."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="dy-")
        self.path = os.path.join(self._dir, "console.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._server.bind(self.path)
            self._server.listen(1)
            self._server.settimeout(0.05)
        except BaseException:
            self.close()
            raise

    def receive(self, runtime: subprocess.Popen) -> int | None:
        """The pty master the runtime sends, or None when it exited without sending one."""
        while True:
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                if runtime.poll() is not None:
                    return None
                continue
            with conn:
                conn.settimeout(10)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                if fds:
                    return fds[0]

    def close(self) -> None:
        self._server.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "ConsoleSocket":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Console:
    """The master of a running process's pty, resized from other threads (an API's resize): a
    size asked for before the master exists, or after it is gone, is kept, never written to an
    fd that may be another's by then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._pending = b""     # input written before the master came
        self._gone = False
        self.size: tuple[int, int] | None = None

    def resize(self, rows: int, cols: int) -> None:
        with self._lock:
            self.size = (rows, cols)
            if self._fd is not None:
                try:
                    set_size(self._fd, rows, cols)
                except OSError:
                    pass

    def hold(self, fd: int | None, pid: int = 0) -> None:
        """The master process `pid` now has, sized as last asked (None: it is about to be
        closed)."""
        with self._lock:
            self._fd, self._pid = fd, pid
            self._gone = fd is None
            if fd is not None and self.size is not None:
                try:
                    set_size(fd, *self.size)
                except OSError:
                    pass
            if fd is not None and self._pending:
                _write_input(fd, self._pending)
                self._pending = b""

    def write(self, data: bytes) -> None:
        """Input typed into the terminal, at once (kept until the master comes, dropped once it
        is gone): what was typed before a detach reaches the process before this process
        leaves."""
        with self._lock:
            if self._fd is not None:
                _write_input(self._fd, data)
            elif not self._gone:
                self._pending += data

    def leave(self) -> None:
        """Its reader leaves this process for good (the detach keys in process): a process of
        its own holds the terminal until the process exits (its output dropped), as a daemon
        would. Else this process's exit would hang the terminal up, and a shell on it end."""
        with self._lock:
            if self._fd is not None:
                _hold_in_own_process(self._fd, self._pid)


def _write_input(fd: int, data: bytes) -> None:
    """All of `data` into a (non-blocking) master; nothing once its terminal is gone."""
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])
        except OSError:
            return


def _hold_in_own_process(master: int, pid: int) -> None:
    """Returns once the holder is in a session of its own: a caller that leads a session (a
    CLI in a terminal window, a test's pty) and exits before the holder's setsid() had the
    kernel hang up its process group, the holder with it, and the exec's shell with the master
    (a CI run: the shell gone at once)."""
    pidfd = os.pidfd_open(pid)
    ready, done = os.pipe()
    if os.fork():
        os.close(pidfd)
        os.close(done)
        os.read(ready, 1)    # end of file: the holder's setsid() is done (or it died)
        os.close(ready)
        return
    try:   # the child: nothing of the parent's but these two fds, in a session of its own
        os.setsid()
        os.close(done)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, min(master, pidfd))
        os.closerange(min(master, pidfd) + 1, max(master, pidfd))
        os.closerange(max(master, pidfd) + 1, os.sysconf("SC_OPEN_MAX"))
        watch = [master, pidfd]
        while pidfd not in select.select(watch, [], [])[0]:
            try:
                if not os.read(master, 65536):
                    watch.remove(master)
            except BlockingIOError:
                pass
            except OSError:      # EIO: no writer left, the exit is all there is to wait for
                watch.remove(master)
    finally:
        os._exit(0)
