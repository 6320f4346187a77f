"""An extra process in a running container (`docker exec`): its OCI process spec is the
container's own (env, user, working directory) with the caller's changes, run by `runtime exec`
with the caller's stdio."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from dockyard.dataclass import dataclass, field, replace
from dockyard.errors import Conflict, DockyardError, InvalidParameter, RuntimeFailure
from dockyard.runtime import bundle
from dockyard.runtime.containers import current_state, lookup, merge_env, oci_runtime
from dockyard.runtime.oci import logged_error
from dockyard.runtime.state import RUNNING, ContainerState
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
            started: Callable[[int], None] | None = None, timeout: float | None = None) -> int:
    """Run `opts.cmd` in the container until it exits; its exit code. The stdio fds default to
    this process's own. `started` is told the pid of the runtime's process (which forwards
    SIGWINCH to a terminal's size: a TTY exec is resized through it). After `timeout` seconds
    the process is killed (SIGKILL, not through the runtime, which cannot forward it) and
    ExecTimeout raised."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    check_exec(record.id, current_state(cdir))
    if not opts.cmd:
        raise InvalidParameter("No exec command specified")
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
    pid_file = Path(path[:-5] + ".pid") if timeout is not None else None
    with os.fdopen(fd, "w") as f:
        json.dump(proc.to_dict(), f)
    try:
        runtime = oci_runtime(store, record)
        result = subprocess.Popen(runtime.exec_command(record.id, Path(path), log_file, pid_file),
                                  stdin=stdin if opts.interactive else subprocess.DEVNULL,
                                  stdout=stdout, stderr=stderr)
        if started is not None:
            started(result.pid)
        try:
            result.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_exec(result, pid_file)
            raise ExecTimeout(f"exec ran past {timeout} s") from None
        if result.returncode == 255:
            message = logged_error(log_file)
            if message:
                # docker exec (20.10): "OCI runtime exec failed: ...: unknown", exit code 126
                error = RuntimeFailure(f"OCI runtime exec failed: {message}: unknown")
                error.exit_code = 126
                raise error
        return result.returncode
    finally:
        os.unlink(path)
        for leftover in (log_file, pid_file):
            if leftover is not None:
                leftover.unlink(missing_ok=True)


def _kill_exec(runtime_proc: subprocess.Popen, pid_file: Path | None) -> None:
    """Kill an exec'd process by the pid its runtime wrote (the runtime then exits with its
    status); the runtime itself when it has written none yet."""
    try:
        pid = int(pid_file.read_text()) if pid_file is not None else 0
    except (OSError, ValueError):
        pid = 0
    try:
        os.kill(pid or runtime_proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    runtime_proc.wait()

