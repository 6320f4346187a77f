"""An extra process in a running container (`docker exec`): its OCI process spec is the
container's own (env, user, working directory) with the caller's changes, run by `runtime exec`
with the caller's stdio, or with a TTY on a pty whose master the runtime hands us (see
runtime/console): we copy it to and from the caller's stdio and wait for the process ourselves."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from dockyard.atomic import write_all
from dockyard.dataclass import dataclass, field, replace
from dockyard.errors import Conflict, DockyardError, InvalidParameter, RuntimeFailure
from dockyard.runtime import bundle
from dockyard.runtime.console import Console, ConsoleSocket
from dockyard.runtime.containers import current_state, lookup, merge_env, oci_runtime
from dockyard.runtime.oci import OciRuntime, as_containerd_says, logged_error
from dockyard.runtime.state import RUNNING, ContainerDir, ContainerRecord, ContainerState
from dockyard.runtime.subreaper import SUBREAPER
from dockyard.store.store import Store


@dataclass
class ExecOptions:
    """A process to run in a running container."""

    cmd: list[str]
    interactive: bool = False      # stdin connected (else /dev/null)
    tty: bool = False
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    privileged: bool = False       # every capability (docker exec --privileged)
    console_size: tuple[int, int] | None = None   # a TTY's (rows, cols) before the command runs
    detached: bool = False         # nobody attached (docker exec -d): started() once it runs


class ExecTimeout(DockyardError):
    """The process ran past its timeout and was killed (a health check's probe)."""


def command_text(cmd: list[str]) -> str:
    """An exec's command in its events, as dockerd writes it: the program, a space, the
    arguments joined by spaces (`exec_create: true ` for a command without arguments)."""
    return f"{cmd[0]} {' '.join(cmd[1:])}"


def check_exec(container_id: str, state: ContainerState) -> None:
    """A process can be added only to a container that runs: not stopped, paused, or between
    two runs of its restart policy (Docker's wording for each)."""
    if state.status != RUNNING:
        raise Conflict(f"Container {container_id} is not running")
    if state.restarting:
        raise Conflict(f"Container {container_id} is restarting, wait until the container is running")
    if state.paused:
        raise Conflict(f"Container {container_id} is paused, unpause the container before exec")


def exec_in(store: Store, name: str, opts: ExecOptions, *, stdin: int | None = None,
            stdout: int | None = None, stderr: int | None = None,
            started: Callable[[int], None] | None = None, timeout: float | None = None,
            console: Console | None = None) -> int:
    """Run `opts.cmd` in the container until it exits; its exit code. The stdio fds default to
    this process's own. `started` is told the pid of the runtime's process (with a TTY: of the
    process itself). A TTY exec's terminal is `console` while it runs (its resizes). After
    `timeout` seconds the process is killed (SIGKILL, not through the runtime, which cannot
    forward it) and ExecTimeout raised."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    check_exec(record.id, current_state(cdir))
    if not opts.cmd:
        raise InvalidParameter("No exec command specified")
    try:
        return _exec(store, cdir, record, opts, stdin=stdin, stdout=stdout, stderr=stderr, started=started,
                     timeout=timeout, console=console)
    except ExecTimeout:
        raise
    except DockyardError as exc:   # the process could not start (its user, the runtime's refusal)
        exc.exit_code = 126        # dockerd's status of such an exec, whose stream carries the words
        raise


def _exec(store: Store, cdir: ContainerDir, record: ContainerRecord, opts: ExecOptions, *,
          stdin: int | None, stdout: int | None, stderr: int | None, started: Callable[[int], None] | None,
          timeout: float | None, console: Console | None) -> int:
    merged_env = merge_env(list(record.config.env or []), opts.env) or []
    linked: list[str] = []
    if record.host.links:    # its links' variables, as at its start (dockerd's exec has them)
        from dockyard.runtime.links import environment

        linked = environment(store, record)
    proc = bundle.process_spec(cdir, replace(record, config=replace(record.config, env=merged_env)),
                               args=list(opts.cmd), workdir=opts.workdir, user=opts.user,
                               tty=opts.tty, privileged=opts.privileged,
                               linked=linked)
    proc.console_size = opts.console_size   # the runtime sizes the pty before the command runs
    fd, path = tempfile.mkstemp(prefix="exec-", suffix=".json", dir=cdir.path)
    log_file = Path(path[:-5] + ".log")
    pid_file = Path(path[:-5] + ".pid")
    with os.fdopen(fd, "w") as f:
        json.dump(proc.to_dict(), f)
    try:
        return _exec_own(oci_runtime(store, record), record.id, Path(path), log_file, pid_file,
                         stdin=(0 if stdin is None else stdin) if opts.interactive else None,
                         stdout=stdout if stdout is not None else 1,
                         stderr=stderr if stderr is not None else 2, started=started,
                         timeout=timeout, console=(console or Console()) if opts.tty else None,
                         attached=not opts.detached)
    finally:
        os.unlink(path)
        for leftover in (log_file, pid_file):
            leftover.unlink(missing_ok=True)


def _exec_failed(message: str) -> RuntimeFailure:
    """docker exec's (20.10) words for a process the runtime could not start, exit code 126."""
    error = RuntimeFailure(f"OCI runtime exec failed: {as_containerd_says(message)}")
    error.exit_code = 126
    error.http_status = 400    # dockerd's answer to a detached start of it
    return error


def _exec_own(runtime: OciRuntime, container_id: str, process_file: Path, log_file: Path,
              pid_file: Path, *, stdin: int | None, stdout: int, stderr: int,
              started: Callable[[int], None] | None, timeout: float | None,
              console: Console | None, attached: bool) -> int:
    """An exec as containerd's shim runs it: `exec --detach` (with a TTY, `--console-socket`
    and the pty's master received), the process (ours once the runtime returns: a subreaper's
    orphan) waited for by its pid, `started` told once it runs. A terminal is copied to
    `stdout`, and `stdin` to it. Without one, an `attached` process's stderr is a pipe of ours,
    copied to `stderr` once the runtime started it: the runtime writes its refusal there too
    (`exec failed: ...`), which dockerd never shows (containerd reads an exec's pipes once it
    started); its stdin and stdout are the caller's fds, or pipes of ours where those are
    terminals (a process without -t has none, as dockerd's: `ls` in columns, or not)."""
    SUBREAPER.acquire()
    try:
        master = None
        outputs: dict[int, int] = {}         # our end of a pipe the process writes -> where it goes
        feed: tuple[int, int] | None = None  # the caller's stdin -> our end of the process's
        command = runtime.exec_command(container_id, process_file, log_file, pid_file, detach=True)
        if console is not None:
            with ConsoleSocket() as sock:
                proc = subprocess.Popen(command[:-1] + ["--console-socket", sock.path, container_id],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                master = sock.receive(proc)
                rc = proc.wait()
        else:
            given = [stdin, stdout, stderr]        # the process's stdio
            if attached:
                for i, fd in enumerate(given):
                    if fd is not None and (i == 2 or os.isatty(fd)):
                        read_end, write_end = os.pipe()
                        if i == 0:
                            feed, given[0] = (fd, write_end), read_end
                        else:
                            outputs[read_end], given[i] = fd, write_end
            theirs = [fd for fd, was in zip(given, (stdin, stdout, stderr)) if fd != was]
            try:
                rc = subprocess.run(command, stdin=given[0] if given[0] is not None else subprocess.DEVNULL,
                                    stdout=given[1], stderr=given[2]).returncode
            finally:
                for fd in theirs:
                    os.close(fd)
            if rc != 0:     # its refusal's words come from its log; its own line is dropped
                _close([*outputs, feed[1] if feed else None])
        if rc != 0 or (console is not None and master is None):
            _close([master])
            raise _exec_failed(logged_error(log_file) or f"{runtime.name} exec failed")
        try:
            pid = int(pid_file.read_text())
            if started is not None:
                started(pid)
        except BaseException:
            _close([master, *outputs, feed[1] if feed else None])
            raise
        if master is None:
            return _copy_pipes(pid, outputs, feed, timeout)
        try:
            console.hold(master, pid)
            return _copy_until_exit(master, pid, stdin, stdout, timeout)
        finally:
            console.hold(None)
            os.close(master)
    finally:
        SUBREAPER.release()


def _close(fds: list[int | None]) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _copy_pipes(pid: int, outputs: dict[int, int], feed: tuple[int, int] | None,
                timeout: float | None) -> int:
    """Until the process exits and every pipe it writes is closed (by it, and by a child it
    left: as the runtime's own copy waited), copy each of `outputs` (read end -> destination)
    and, while it runs, `feed` (the caller's stdin -> the process's); its exit code. After
    `timeout` seconds the process is killed and ExecTimeout raised. Output nobody can take any
    more is dropped."""
    pidfd = os.pidfd_open(pid)
    deadline = None if timeout is None else time.monotonic() + timeout
    code: int | None = None
    pending = b""
    if feed is not None:
        os.set_blocking(feed[1], False)
    try:
        while outputs or code is None:
            readers = list(outputs) + ([] if code is not None else [pidfd])
            if feed is not None and code is None and not pending:
                readers.append(feed[0])
            writers = [feed[1]] if feed is not None and pending else []
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, writable, _ = select.select(readers, writers, [], wait)
            if not ready and not writable:
                os.kill(pid, signal.SIGKILL)
                if code is None:
                    _wait_pid(pid)
                raise ExecTimeout(f"exec ran past {timeout} s")
            for fd in ready:
                if fd == pidfd:
                    code = _wait_pid(pid)
                elif fd in outputs:
                    data = os.read(fd, 65536)
                    if not data:
                        os.close(fd)
                        del outputs[fd]
                        continue
                    try:
                        write_all(outputs[fd], data)
                    except OSError:
                        pass
                elif feed is not None:
                    pending = os.read(feed[0], 65536)
                    if not pending:
                        os.close(feed[1])
                        feed = None
            if feed is not None and pending and writable:
                try:
                    pending = pending[os.write(feed[1], pending):]
                except BlockingIOError:
                    pass
                except OSError:     # it closed its stdin: input goes nowhere
                    os.close(feed[1])
                    feed, pending = None, b""
        assert code is not None
        return code
    finally:
        os.close(pidfd)
        _close([*outputs, feed[1] if feed is not None else None])


def _copy_until_exit(master: int | None, pid: int, stdin: int | None, stdout: int,
                     timeout: float | None) -> int:
    """Copy the terminal's output to `stdout` and `stdin` into it until the process exits
    (what it wrote before is read too); its exit code. Input is taken only once the last is
    written, so a process that reads none cannot block its output. Output nobody can take any
    more (the reader left) is read and dropped."""
    if master is not None:
        os.set_blocking(master, False)
    pidfd = os.pidfd_open(pid)
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = b""
    reading = master
    try:
        while True:
            readers = [pidfd] + ([reading] if reading is not None else [])
            if stdin is not None and not pending:
                readers.append(stdin)
            writers = [master] if pending else []
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, writable, _ = select.select(readers, writers, [], wait)
            if not ready and not writable:
                os.kill(pid, signal.SIGKILL)
                _wait_pid(pid)
                raise ExecTimeout(f"exec ran past {timeout} s")
            if reading is not None and reading in ready and not _copy_out(reading, stdout):
                reading = None      # every slave closed: nothing more to read
            if stdin is not None and stdin in ready:
                pending = os.read(stdin, 65536)
                if not pending:
                    stdin = None
            if pending and master is not None and master in writable:
                try:
                    pending = pending[os.write(master, pending):]
                except BlockingIOError:
                    pass
                except OSError:
                    pending, stdin = b"", None    # the terminal is gone: input goes nowhere
            if pidfd in ready:
                code = _wait_pid(pid)
                if reading is not None:
                    _copy_out(reading, stdout)
                return code
    finally:
        os.close(pidfd)


def _copy_out(master: int, stdout: int) -> bool:
    """What the terminal has now, to `stdout`; False once it has no writer left (EIO)."""
    while True:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        try:
            write_all(stdout, data)
        except OSError:
            pass


def _wait_pid(pid: int) -> int:
    """The exit code of our child `pid` (128 + N for a signal N, as a shell reports it)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code
