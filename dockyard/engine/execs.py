"""Exec instances (`docker exec`, the SDK's exec_run): created, started once (attached to the
caller's streams or detached), inspected, resized, as the Engine API's /exec endpoints.

An instance is `<container dir>/execs/<id>.json` (so any process sees it, and it goes with its
container); while it runs, this process knows its terminal for resizes, and holds an flock on
`<id>.runner`: a record that says running while nobody holds that lock lost its runner (a
serve stopped or killed while the exec ran, which then never recorded its end), and shows as
not running, as dockerd forgets its execs when it stops.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

from dockyard.atomic import atomic_write
from dockyard.dataclass import asdict, dataclass, field
from dockyard.detach import parse_for_exec
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, RuntimeFailure
from dockyard.runtime.console import Console
from dockyard.runtime.containers import all_containers, current_state, lookup
from dockyard.runtime.exec import ExecOptions, check_exec, command_text, exec_in
from dockyard.store.events import Journal
from dockyard.store.store import Store


@dataclass
class ExecInstance:
    """An exec instance (POST /containers/ID/exec), until it is started and ends."""

    id: str
    container_id: str
    cmd: list[str]
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    detach_keys: str = ""
    privileged: bool = False
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0

    def to_docker(self) -> dict[str, Any]:
        """dockerd 20.10's ExecInspect: DetachKeys are the bytes the keys are (a Go []byte: its
        base64), "" without any; ProcessConfig's user is omitted when empty."""
        keys = base64.b64encode(parse_for_exec(self.detach_keys)).decode() if self.detach_keys else ""
        return {
            "CanRemove": False, "ContainerID": self.container_id, "DetachKeys": keys,
            "ExitCode": self.exit_code, "ID": self.id, "OpenStderr": self.attach_stderr,
            "OpenStdin": self.attach_stdin, "OpenStdout": self.attach_stdout,
            "ProcessConfig": {"arguments": self.cmd[1:], "entrypoint": self.cmd[0] if self.cmd else "",
                              "privileged": self.privileged, "tty": self.tty,
                              **({"user": self.user} if self.user else {})},
            "Running": self.running, "Pid": self.pid,
        }


_LIVE: dict[str, Console] = {}    # exec ID -> its terminal, while it runs in this process
SIZE_WAIT = 0.3    # seconds an interactive TTY exec waits for its client's first resize


class _Size:
    """The size of an exec's terminal asked for before the terminal is made."""

    def __init__(self) -> None:
        self.value: tuple[int, int] | None = None
        self.given = threading.Event()


_SIZES: dict[str, _Size] = {}     # exec ID -> its size, until its runtime starts
_LIVE_LOCK = threading.Lock()


def _path(container_dir: Path, exec_id: str) -> Path:
    return container_dir / "execs" / f"{exec_id}.json"


_HELD: dict[str, tuple[int, Path]] = {}     # exec ID -> its runner lock (fd, path), this process


def _runner(container_dir: Path, exec_id: str) -> Path:
    return container_dir / "execs" / f"{exec_id}.runner"


def _hold(container_dir: Path, exec_id: str) -> None:
    path = _runner(container_dir, exec_id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    with _LIVE_LOCK:
        _HELD[exec_id] = (fd, path)


def _release(exec_id: str) -> None:
    with _LIVE_LOCK:
        held = _HELD.pop(exec_id, None)
    if held is not None:
        held[1].unlink(missing_ok=True)
        os.close(held[0])


def _runs(container_dir: Path, exec_id: str, data: dict[str, Any]) -> bool:
    """Whether an instance runs: its record says so and its runner is alive (holds its lock)."""
    if not data.get("running"):
        return False
    with _LIVE_LOCK:
        if exec_id in _HELD:
            return True
    try:
        fd = os.open(_runner(container_dir, exec_id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _write(store: Store, inst: ExecInstance) -> None:
    atomic_write(_path(lookup(store, inst.container_id).path, inst.id), json.dumps(asdict(inst)).encode())


def pending_ids(container_dir: Path) -> list[str] | None:
    """The IDs of a container's execs that have not ended (created or running), as inspect's
    ExecIDs lists them (null for none, as dockerd's)."""
    ids = []
    for path in sorted((container_dir / "execs").glob("*.json")):
        try:
            data = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            continue
        if data.get("exit_code") is None and (not data.get("started") or _runs(container_dir, path.stem, data)):
            ids.append(path.stem)
    return ids or None


def get(store: Store, exec_id: str) -> ExecInstance:
    if exec_id and all(c in "0123456789abcdef" for c in exec_id):
        for cdir in all_containers(store):
            try:
                data = json.loads(_path(cdir.path, exec_id).read_bytes())
                return ExecInstance(**{**data, "running": _runs(cdir.path, exec_id, data)})
            except (FileNotFoundError, ValueError, TypeError):
                continue
    raise NotFound(f"No such exec instance: {exec_id}")


def _strs(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid {what}: want a list of strings")
    return list(value)


def create(store: Store, container: str, body: dict[str, Any]) -> ExecInstance:
    """POST /containers/{id}/exec"""
    cdir = lookup(store, container)
    check_exec(cdir.id, current_state(cdir))
    if "DetachKeys" not in body:   # Go's decoding takes a key in any case: the SDK sends detachKeys
        body = {**body, "DetachKeys": next((v for k, v in body.items() if k.lower() == "detachkeys"), None)}
    cmd = _strs(body.get("Cmd"), "Cmd")
    if not cmd:
        raise InvalidParameter("No exec command specified")
    for key in ("User", "WorkingDir", "DetachKeys"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidParameter(f"invalid {key}: want a string")
    parse_for_exec(body.get("DetachKeys") or "")
    inst = ExecInstance(
        id=os.urandom(32).hex(), container_id=cdir.id, cmd=cmd, tty=bool(body.get("Tty")),
        attach_stdin=bool(body.get("AttachStdin")), attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")), env=_strs(body.get("Env"), "Env"),
        user=body.get("User") or "", workdir=body.get("WorkingDir") or "",
        detach_keys=body.get("DetachKeys") or "", privileged=bool(body.get("Privileged")))
    _write(store, inst)
    Journal(store.root).emit("container", f"exec_create: {command_text(cmd)}", cdir.id,
                             {"execID": inst.id})
    return inst


def claim(store: Store, exec_id: str) -> ExecInstance:
    """Mark the instance started (it starts once); Conflict when it already was."""
    inst = get(store, exec_id)
    cdir = lookup(store, inst.container_id)
    with cdir.locked():
        inst = get(store, exec_id)
        if inst.started:
            raise Conflict(f"Error: Exec command {exec_id} is already running" if inst.running
                           else f"Error: Exec command {exec_id} has already run")
        check_exec(inst.container_id, current_state(cdir))
        inst.started = inst.running = True
        _hold(cdir.path, inst.id)    # before the record says running
        _write(store, inst)
    return inst


def run(store: Store, inst: ExecInstance, *, stdin: int | None, stdout: int | None,
        stderr: int | None, size: tuple[int, int] | None = None, detached: bool = False,
        on_start: Callable[[], None] | None = None) -> int:
    """Run a claimed instance to its end with these fds (None: /dev/null); its exit code.
    `size`: a TTY's (rows, cols) as the start asked. `detached`: nobody reads its output,
    `on_start` is called once the process runs.

    The size of an interactive TTY (`exec -it`) is given to the runtime, which sizes the pty
    before the command runs: a terminal sized after the command started (the docker CLI sends
    the size once the exec is started) showed 0x0 to a quick command (`stty size` failed with
    `stty: standard input`). A size the client sent already is used; else its first resize is
    waited for, briefly."""
    console = None
    if inst.tty:
        with _LIVE_LOCK:
            waiting = _SIZES.setdefault(inst.id, _Size())
        if inst.attach_stdin:
            waiting.given.wait(SIZE_WAIT)
        console = Console()
        with _LIVE_LOCK:
            _LIVE[inst.id] = console
            size = _SIZES.pop(inst.id).value or size
        if size is not None:
            console.resize(*size)

    def started(pid: int) -> None:
        inst.pid = pid
        _write(store, inst)
        if on_start is not None:
            on_start()

    devnull = os.open(os.devnull, os.O_RDWR)
    Journal(store.root).emit("container", f"exec_start: {command_text(inst.cmd)}", inst.container_id,
                             {"execID": inst.id})
    code = 126
    try:
        code = exec_in(store, inst.container_id, ExecOptions(
            cmd=inst.cmd, interactive=stdin is not None, tty=inst.tty, env=inst.env,
            workdir=inst.workdir or None, user=inst.user or None, privileged=inst.privileged,
            console_size=size, detached=detached),
            stdin=stdin, stdout=stdout if stdout is not None else devnull,
            stderr=stderr if stderr is not None else devnull, started=started, console=console)
        return code
    finally:
        os.close(devnull)
        with _LIVE_LOCK:
            _LIVE.pop(inst.id, None)
        inst.running, inst.exit_code = False, code
        try:
            _write(store, inst)
        except NotFound:
            pass   # the container was removed meanwhile
        _release(inst.id)
        Journal(store.root).emit("container", "exec_die", inst.container_id,
                                 {"execID": inst.id, "exitCode": str(code)})


def start_detached(store: Store, inst: ExecInstance) -> None:
    """A claimed instance started with Detach: it runs on in a thread of this process; this
    returns once its process runs (its Pid known, as dockerd answers), or raises why it could
    not start (dockerd's 400 for the runtime's refusal)."""
    ready = threading.Event()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            run(store, inst, stdin=None, stdout=None, stderr=None, detached=True, on_start=ready.set)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            failed.append(exc)
        finally:
            ready.set()
    threading.Thread(target=work, daemon=True, name=f"exec {inst.id[:12]}").start()
    ready.wait()
    if failed:
        raise failed[0]


def start_in_child(store: Store, inst: ExecInstance) -> None:
    """A claimed instance started with Detach by a process about to leave (the CLI's `exec -d`
    in process): a forked child of its own session runs it as a daemon's thread would (it
    waits for it and records its end); this returns once its process runs, or raises why it
    could not start."""
    report_r, report_w = os.pipe()
    child = os.fork()
    if child == 0:   # pragma: no cover - the child's lines; its report is what the tests see
        status = 0
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            keep = sorted({2, report_w, _HELD[inst.id][0]})   # none of the caller's other files
            for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
                os.closerange(low + 1, high)
            os.chdir("/")

            def started() -> None:
                os.write(report_w, b"{}")
                os.close(report_w)
            run(store, inst, stdin=None, stdout=None, stderr=None, detached=True, on_start=started)
        except DockyardError as exc:
            os.write(report_w, json.dumps({"error": str(exc)}).encode())
        except BaseException:  # noqa: BLE001 - a child never returns into its parent's code
            status = 1
        finally:
            os._exit(status)
    os.close(report_w)
    with _LIVE_LOCK:     # the child holds the runner's lock from now on
        held = _HELD.pop(inst.id, None)
    if held is not None:
        os.close(held[0])
    with os.fdopen(report_r, "rb") as f:
        report = json.loads(f.read() or b'{"error": "exec failed to start"}')
    if "error" in report:
        os.waitpid(child, 0)
        raise RuntimeFailure(report["error"])


def resize(store: Store, exec_id: str, rows: int, cols: int) -> None:
    inst = get(store, exec_id)
    with _LIVE_LOCK:
        live = _LIVE.get(inst.id)
        if live is None and inst.running and inst.tty:
            waiting = _SIZES.setdefault(inst.id, _Size())   # its terminal is about to be made
            waiting.value = (rows, cols)
            waiting.given.set()
    if live is None:
        if not inst.running:
            raise Conflict(f"Exec {exec_id} is not running")
        return
    live.resize(rows, cols)   # the kernel signals the container's terminal (SIGWINCH)
