"""A fork server for the suite's `python -m dockyard` commands.

The suite starts thousands of dockyard commands (tests/conftest.py's Dockyard.run), and each one
paid the interpreter's start and the import of the modules it needs: 50-100 ms of CPU, most of a
short command's cost (`images`: 87 ms as a new interpreter, 33 ms forked from one that has the
modules loaded). This server is that interpreter: started once per pytest process, it imports
every dockyard module, then forks a child per command. The child is the command as `python -m
dockyard ARGS` would run it: the caller's stdin, stdout and stderr (passed over the socket), its
environment and working directory, `dockyard/__main__.py` run as `__main__` with `sys.argv` set,
exit handlers run at the end, and the exit status (negative for a signal, as subprocess reports
it) sent back to the caller. What differs from a new interpreter: the child's parent is this
server (not pytest), its /proc/PID/cmdline is this server's, and what a module read from the
environment at its import was read from pytest's (tests set none of those: DOCKYARD_RUN_DIR).

The server ends when the pytest process that started it does (a pipe's end closes). Commands
that the suite starts with subprocess itself (Popen of Dockyard.argv, timed start-up checks,
import budgets) are not run through it.

Protocol, one connection per command: the caller sends a JSON line (argv, env, cwd) with three
descriptors (SCM_RIGHTS); the server answers `{"pid": N}` once forked, then `{"status": S}`.
"""

from __future__ import annotations

import array
import json
import os
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent


# --- the server ---------------------------------------------------------------------------

def _preload() -> None:
    import importlib
    import pkgutil

    import dockyard

    for info in pkgutil.walk_packages(dockyard.__path__, "dockyard."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def _child(conn: socket.socket, fds: list[int], request: dict) -> None:
    """In the forked child: become the command, never return."""
    import atexit
    import runpy

    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 65536)      # the server's sockets and pipes are not the command's
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["dockyard", *request["argv"]]
        try:
            runpy.run_module("dockyard", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:      # noqa: BLE001 (as the interpreter would: a traceback, status 1)
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    finally:
        os._exit(code & 0xFF)


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    fds = array.array("i")
    data = b""
    while not data.endswith(b"\n"):
        msg, ancdata, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * fds.itemsize))
        if not msg:
            raise ConnectionError("the caller went away")
        data += msg
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), list(fds)


def serve(path: str, parent_fd: int) -> None:
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(parent_fd, selectors.EVENT_READ, "parent")
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            what = key.data
            if what == "parent":      # the pytest process ended
                return
            if what == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = _recv_request(conn)
                except (OSError, ValueError):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(conn, fds, request)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                sel.register(pidfd, selectors.EVENT_READ, (conn, pid))
                try:
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                except OSError:
                    pass
                continue
            conn, pid = what              # a command ended
            sel.unregister(key.fd)
            os.close(key.fd)
            _, status = os.waitpid(pid, 0)
            try:
                conn.sendall(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            except OSError:
                pass
            conn.close()


# --- the caller ---------------------------------------------------------------------------

class ForkServer:
    """This pytest process's server, started at its first use; `run` is subprocess.run's answer
    for a dockyard command (stdout/stderr bytes, return code), TimeoutExpired after `timeout`."""

    _lock = threading.Lock()
    _instance: "ForkServer | None" = None

    def __init__(self) -> None:
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="dy-forkserver-")
        self.path = os.path.join(self.dir, "sock")
        read_end, self._keep = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.forkserver", self.path, str(read_end)],
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     pass_fds=[read_end])
        os.close(read_end)
        line = self.proc.stdout.readline()
        if line != b"ready\n":
            raise RuntimeError(f"the fork server did not start: {line!r}")

    @classmethod
    def get(cls) -> "ForkServer | None":
        if os.environ.get("DOCKYARD_TESTS_FORKSERVER", "1") == "0":
            return None
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def run(self, argv: list[str], *, input: bytes | None, stdout, env: dict[str, str], cwd: Path,
            timeout: float) -> subprocess.CompletedProcess:
        deadline = time.monotonic() + timeout
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mine: list[int] = []      # descriptors opened here, closed here

        def pipe() -> tuple[int, int]:
            r, w = os.pipe()
            mine.extend((r, w))
            return r, w

        try:
            conn.connect(self.path)
            stdin_r = stdin_w = out_r = None
            if input is not None:
                stdin_r, stdin_w = pipe()
            if stdout == subprocess.PIPE:
                out_r, out_w = pipe()
            elif stdout == subprocess.DEVNULL:
                out_w = os.open(os.devnull, os.O_WRONLY)
                mine.append(out_w)
            elif stdout is None:
                out_w = 1
            else:
                out_w = stdout if isinstance(stdout, int) else stdout.fileno()
            err_r, err_w = pipe()
            request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
            fds = [stdin_r if stdin_r is not None else 0, out_w, err_w]
            conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            for fd in (stdin_r, out_w, err_w):     # the child has its own copies now
                if fd in mine:
                    os.close(fd)
                    mine.remove(fd)
            return self._collect(conn, argv, input, stdin_w, out_r, err_r, mine, deadline, timeout)
        finally:
            conn.close()
            for fd in mine:
                os.close(fd)

    def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, stdout: int,
              stderr: int) -> "Forked":
        """`dockyard ARGV` started in the background (a server: `dockyard serve`), its stdin
        /dev/null, its stdout and stderr these descriptors; its handle once it is forked."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            conn.connect(self.path)
            request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
            conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [null, stdout, stderr]))])
        except BaseException:
            conn.close()
            raise
        finally:
            os.close(null)
        forked = Forked(conn, argv)
        forked._read(60, lambda: forked.pid is not None)
        if forked.pid is None:
            forked._conn.close()
            raise RuntimeError(f"the fork server did not start {argv}")
        return forked

    def _collect(self, conn: socket.socket, argv: list[str], input: bytes | None, stdin_w: int | None,
                 out_r: int | None, err_r: int, mine: list[int], deadline: float,
                 timeout: float) -> subprocess.CompletedProcess:
        chunks: dict[int, list[bytes]] = {err_r: []}
        if out_r is not None:
            chunks[out_r] = []
        writer = None
        if stdin_w is not None:
            from dockyard.atomic import write_all
            mine.remove(stdin_w)     # the writer's own from here: it closes it when done

            def feed() -> None:
                try:
                    write_all(stdin_w, input)
                except OSError:      # the command ended without reading it all
                    pass
                finally:
                    os.close(stdin_w)
            writer = threading.Thread(target=feed, daemon=True)
            writer.start()
        sel = selectors.DefaultSelector()
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(conn, selectors.EVENT_READ)
        answer = b""
        pid = status = None
        open_fds = set(chunks)
        while open_fds or status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                if pid is not None:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                raise subprocess.TimeoutExpired(argv, timeout)
            for key, _ in sel.select(left):
                if key.fileobj is conn:
                    data = conn.recv(4096)
                    if not data:
                        sel.unregister(conn)
                        if status is None:
                            raise RuntimeError("the fork server went away")
                        continue
                    answer += data
                    while b"\n" in answer:
                        line, answer = answer.split(b"\n", 1)
                        message = json.loads(line)
                        pid = message.get("pid", pid)
                        status = message.get("status", status)
                    continue
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
        sel.close()
        if writer is not None:
            writer.join()
        out = b"".join(chunks[out_r]) if out_r is not None else None
        return subprocess.CompletedProcess(argv, status, out, b"".join(chunks[err_r]))


class Forked:
    """A command the fork server started in the background (ForkServer.spawn), with what the
    suite uses of a subprocess.Popen: pid, returncode, poll, wait, send_signal, terminate, kill.
    Its exit status comes from the server, which waits for it (the process is the server's child,
    not this one's)."""

    def __init__(self, conn: socket.socket, args: list[str]) -> None:
        self._conn, self.args = conn, args
        self._answer = b""
        self.pid: int | None = None
        self.returncode: int | None = None

    def _read(self, timeout: float | None, until: Callable[[], bool]) -> None:
        """Read the server's answers until `until()` holds or `timeout` seconds have passed
        (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not until():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._conn], [], [], left)[0]:
                return
            data = self._conn.recv(4096)
            if not data:
                self._conn.close()
                raise RuntimeError("the fork server went away")
            self._answer += data
            while b"\n" in self._answer:
                line, self._answer = self._answer.split(b"\n", 1)
                message = json.loads(line)
                self.pid = message.get("pid", self.pid)
                if "status" in message:
                    self.returncode = message["status"]
                    self._conn.close()

    def _ended(self) -> bool:
        return self.returncode is not None

    def poll(self) -> int | None:
        self._read(0, self._ended)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read(timeout, self._ended)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:      # (its pid is not another's yet: the server has not waited for it)
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)


if __name__ == "__main__":
    try:
        serve(sys.argv[1], int(sys.argv[2]))
    finally:      # its folder (ForkServer made it for the socket) goes with it
        import shutil

        shutil.rmtree(os.path.dirname(sys.argv[1]), ignore_errors=True)
