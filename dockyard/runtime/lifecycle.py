"""A container's life: start (detached under its own monitor, or attached in this process),
signals (kill, stop), pause/unpause, wait for Docker's conditions, restart, remove.

`remove` also serves `--rm` (AutoRemove): the monitor removes its container once the exit is
recorded; waiters hold the removal off until they have seen that state (ContainerDir.watching),
so `wait` with the condition `removed` reports the exit code of a container that is gone.
"""

from __future__ import annotations

import os
import select
import signal as signal_mod
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, RuntimeFailure
from dockyard.runtime import removal
from dockyard.runtime.containers import ORPHANED, all_containers, current_state, lookup, oci_runtime
from dockyard.runtime.hostconfig import joined_container
from dockyard.runtime.monitor import Attach, Monitor, StartError, spawn_detached
from dockyard.runtime.oci import OciRuntime
from dockyard.runtime.restart import should_restart
from dockyard.runtime.state import (
    EXITED, RUNNING, ContainerDir, ContainerRecord, ContainerState, pid_alive,
)
from dockyard.store.events import Journal
from dockyard.store.store import Store

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


# -- start -----------------------------------------------------------------------------------------
def start(store: Store, name: str, *, by_policy: bool = False) -> bool:
    """Start a container detached, under its own monitor process; False when it was running
    already (a no-op, as Docker's). Raises StartError; a container with AutoRemove that cannot
    start is removed (as Docker's daemon does). `by_policy`: a restart of its policy (one more
    of its restarts), not a start by the user (which begins them afresh)."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    if current_state(cdir).status == RUNNING:
        return False
    if (cdir.path / "init.pid").exists():
        oci_runtime(store, record).delete(record.id)  # leftovers of a previous run
    if by_policy:
        with cdir.update(durable=False) as state:
            state.restart_count += 1
    else:
        _reset_restarts(cdir)
    try:
        spawn_detached(store, record.id)
    except StartError:
        if record.host.auto_remove:
            removal.destroy(store, cdir, volumes=True)
        raise
    return True     # (its monitor emitted the start event)


def _reset_restarts(cdir: ContainerDir) -> None:
    """A start by the user begins the restart policy afresh (Docker's ResetRestartManager)."""
    with cdir.update(durable=False) as state:
        state.restart_count = 0
        state.manually_stopped = state.exit_on_next = False


def _stopped_by_user(cdir: ContainerDir, signame: str, stop_signal: str) -> bool:
    """Docker's kill: the user stopped the container (unless-stopped keeps it stopped), and
    with SIGKILL, its stop signal, or any signal when it has none, its restarts end
    (ExitOnNext). True when it is restarting: no process to signal, its monitor records the
    end."""
    with cdir.update(durable=False) as state:
        state.manually_stopped = True
        if signame == "SIGKILL" or not stop_signal or signame == signal_name(stop_signal):
            state.exit_on_next = True
        return state.restarting


def _event(store: Store, record: ContainerRecord, action: str, **extra: str) -> None:
    Journal(store.root).emit("container", action, record.id, record.event_attributes(**extra))


def run_attached(store: Store, name: str, attach: Attach) -> int:
    """Start a container in this process with the caller's stdio; returns its exit code."""
    cdir = lookup(store, name)
    _reset_restarts(cdir)
    monitor = Monitor(store, cdir.id)
    try:
        monitor.start(attach)
    except StartError:
        if monitor.record.host.auto_remove:
            removal.destroy(store, cdir, volumes=True)
        raise
    _event(store, monitor.record, "start")
    return monitor.serve()


RESTORE_AT_ONCE = 16   # containers restore starts at once (dockerd: up to 128 per CPU)


def restore(store: Store) -> list[str]:
    """What Docker's daemon does with restart policies when it starts: every container that a
    crash or a reboot stopped (its monitor gone) or that exited, and whose policy says so, is
    started again (`always`: even one the user stopped; `unless-stopped`: unless the user
    stopped it; `on-failure`: after a non-zero exit, within its retries). They start at once,
    as dockerd's restore starts each in a goroutine of its own; one that needs another running
    (its container:NAME modes, its links) waits for that one's start to end, as dockerd's waits
    for its links (one by one, serve's start took 0.3-0.7 s a container to restart them all).
    The IDs started, in the order of the dependencies."""
    due = []
    for cdir in all_containers(store):
        try:
            record = cdir.read_record()
            state = current_state(cdir)
        except (NotFound, FileNotFoundError):
            continue   # removed meanwhile
        if state.status == EXITED and state.started_at and should_restart(
                record.host.restart, state.exit_code, state.manually_stopped, state.restart_count):
            due.append(record)
    ordered = _dependencies_first(due)
    by_key = {key: r for r in ordered for key in (r.id, r.name)}
    position = {r.id: i for i, r in enumerate(ordered)}
    ended = {r.id: threading.Event() for r in ordered}
    started: set[str] = set()

    def restart(index: int, record: ContainerRecord) -> None:
        try:
            for key in _needs(record):   # those placed before it: a cycle is broken where it is met
                need = by_key.get(key)
                if need is not None and position[need.id] < index:
                    ended[need.id].wait()
            if start(store, record.id):
                started.add(record.id)
        except (NotFound, FileNotFoundError, StartError):
            pass   # removed meanwhile, or it cannot start (its state says why)
        finally:
            ended[record.id].set()
    # FIFO in the dependencies' order: what a start waits for was taken before it, so it ends
    with ThreadPoolExecutor(RESTORE_AT_ONCE, thread_name_prefix="restore") as pool:
        for future in [pool.submit(restart, i, r) for i, r in enumerate(ordered)]:
            future.result()
    return [r.id for r in ordered if r.id in started]


def revive(store: Store) -> list[str]:
    """What dockerd does when a container's shim dies: the exit is recorded (137: killed) and the
    restart policy applied at once. `dockyard serve` calls this every second: a container
    whose monitor was killed under it was restarted only at serve's next start (`restore`).
    Only runs that ended so (ORPHANED), whoever noticed it first (a `ps` may have); never one
    the user stopped. The IDs started."""
    started = []
    for cdir in all_containers(store):
        try:
            state = cdir.read_state()
            if state.status == RUNNING and pid_alive(state.monitor_pid):
                continue
            if state.status == RUNNING:
                state = current_state(cdir)   # records the end, ends what the monitor left
            if state.status != EXITED or state.error != ORPHANED:
                continue
            record = cdir.read_record()
            if should_restart(record.host.restart, state.exit_code, state.manually_stopped,
                              state.restart_count) and start(store, record.id, by_policy=True):
                started.append(record.id)
        except (NotFound, FileNotFoundError, StartError):
            continue   # removed meanwhile (--rm), or it cannot start (its state says why)
    return started


def _needs(record: ContainerRecord) -> list[str]:
    """The names or IDs of the containers `record` needs running: the targets of its
    container:NAME modes, its links' containers."""
    h = record.host
    return [key for key in (joined_container(m) for m in (h.network_mode, h.pid_mode, h.ipc_mode)) if key] + \
        [link.partition(":")[0] for link in h.links]


def _dependencies_first(records: list[ContainerRecord]) -> list[ContainerRecord]:
    """The containers in an order where each comes after those it needs running (the targets of
    its container:NAME modes, its links' containers), as dockerd's start waits for them; else in
    the order given. A cycle is broken where it is met."""
    by_key = {key: r for r in records for key in (r.id, r.name)}
    out: list[ContainerRecord] = []
    placed: set[str] = set()

    def place(record: ContainerRecord, visiting: set[str]) -> None:
        if record.id in placed or record.id in visiting:
            return
        visiting.add(record.id)
        for key in _needs(record):
            if key in by_key:
                place(by_key[key], visiting)
        placed.add(record.id)
        out.append(record)
    for record in records:
        place(record, set())
    return out


# -- signals, pause --------------------------------------------------------------------------------
def signal_number(name: str) -> int:
    return int(signal_mod.Signals[name])


def signal_name(sig: str) -> str:
    """`KILL`, `SIGKILL` or `9` as the runtime names it (`SIGKILL`)."""
    s = sig.upper().strip()
    if s.isdigit():
        try:
            return signal_mod.Signals(int(s)).name
        except ValueError:
            raise InvalidParameter(f"Invalid signal: {sig}") from None
    if not s.startswith("SIG"):
        s = "SIG" + s
    if s not in signal_mod.Signals.__members__:
        raise InvalidParameter(f"Invalid signal: {sig}")
    return s


def _signal(store: Store, record: ContainerRecord, runtime: OciRuntime, signame: str) -> None:
    """Send a signal, journaled as dockerd's `kill` event: first, as the `die` it may cause is
    journaled by the monitor as soon as the process ends."""
    _event(store, record, "kill", signal=str(signal_number(signame)))
    runtime.kill(record.id, signame)


def kill(store: Store, name: str, sig: str = "KILL") -> None:
    cdir = lookup(store, name)
    record = cdir.read_record()
    signame = signal_name(sig)
    state = current_state(cdir)
    if state.status != RUNNING:
        raise Conflict(f"Cannot kill container: {name}: Container {record.id} is not running")
    if _stopped_by_user(cdir, signame, record.config.stop_signal or ""):
        return
    runtime = oci_runtime(store, record)
    try:
        _signal(store, record, runtime, signame)
    except DockyardError:
        # the runtime found no process: one that ended since the check above is not running,
        # as Docker answers (its monitor records the exit at once); anything else is a failure
        if _stopped(cdir, 5):
            raise Conflict(f"Cannot kill container: {name}: Container {record.id} is not running") from None
        raise
    if signame != "SIGKILL":
        return
    if state.paused:
        _resume_quietly(runtime, cdir)
    # dockerd's Kill: a SIGKILL returns once the container is not running (its exit recorded),
    # so an inspect or a start right after it sees the container exited; other signals do not wait
    if not _stopped(cdir, 10):
        raise RuntimeFailure(f"Cannot kill container: {name}: tried to kill container, but did not "
                             "receive an exit event")


def _resume_quietly(runtime: OciRuntime, cdir: ContainerDir) -> None:
    try:
        runtime.resume(cdir.id)
    except DockyardError:
        pass
    with cdir.update(durable=False) as st:
        st.paused = False


def stop_timeout(record: ContainerRecord) -> int:
    """The seconds a stop without `t` waits before its SIGKILL: Config.StopTimeout, else 10."""
    value = record.config.extra.get("StopTimeout")
    return 10 if value is None else value


def stop(store: Store, name: str, timeout: int | None = None) -> bool:
    """The stop signal, then SIGKILL after `timeout` seconds (None: the container's
    StopTimeout, else 10; negative waits forever). False when the container was not running
    (a no-op, as Docker's)."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    if state.status != RUNNING:
        return False
    runtime = oci_runtime(store, record)
    wait_for = stop_timeout(record) if timeout is None else timeout
    sig = signal_name(record.config.stop_signal or "SIGTERM")
    if _stopped_by_user(cdir, sig, record.config.stop_signal or ""):
        _stopped(cdir)        # restarting: its monitor records the exit it had
        _event(store, record, "stop")
        return True
    try:
        _signal(store, record, runtime, sig)
    except DockyardError:
        pass
    if state.paused:
        _resume_quietly(runtime, cdir)
    if not _stopped(cdir, None if wait_for < 0 else wait_for):
        try:
            _signal(store, record, runtime, "SIGKILL")
        except DockyardError:
            pass
        _stopped(cdir)
    _event(store, record, "stop")
    return True


def restart(store: Store, name: str, timeout: int | None = None) -> None:
    """Stop (if running), then start."""
    stop(store, name, timeout)
    start(store, name)
    _event(store, lookup(store, name).read_record(), "restart")


def pause(store: Store, name: str) -> None:
    cdir = lookup(store, name)
    record = cdir.read_record()
    current_state(cdir)
    with cdir.locked():
        state = cdir.read_state()
        if state.status != RUNNING:
            raise Conflict(f"Container {record.id} is not running")
        if state.restarting:
            raise Conflict(f"Container {record.id} is restarting, wait until the container is running")
        if state.paused:
            raise Conflict(f"Container {record.id} is already paused")
        try:
            oci_runtime(store, record).pause(record.id)
        except DockyardError as exc:
            failed: DockyardError | None = exc
        else:
            failed = None
            state.paused = True
            cdir.write_state(state, durable=False)  # a crash ends the run anyway
    if failed is not None:
        # as kill: a process that ended since the check is not running (once the lock is free,
        # its monitor records the exit)
        if _stopped(cdir, 5):
            raise Conflict(f"Container {record.id} is not running") from None
        raise failed
    _event(store, record, "pause")


def unpause(store: Store, name: str) -> None:
    cdir = lookup(store, name)
    record = cdir.read_record()
    with cdir.locked():
        state = cdir.read_state()
        if state.status != RUNNING or not state.paused:
            raise Conflict(f"Container {record.id} is not paused")
        oci_runtime(store, record).resume(record.id)
        state.paused, state.pause_owner = False, ""
        cdir.write_state(state, durable=False)  # a crash ends the run anyway
    _event(store, record, "unpause")


# -- wait ------------------------------------------------------------------------------------------
def _sleep_or_exit(pid: int, delay: float) -> None:
    """Sleep `delay` seconds, or less when process `pid` exits first (a container's monitor
    records the exit and then ends: waking on its end saves the rest of a poll interval)."""
    try:
        fd = os.pidfd_open(pid) if pid > 0 and pid != os.getpid() else -1
    except OSError:  # gone already, or no pidfd on this kernel
        fd = -1
    if fd < 0:
        time.sleep(delay)
        return
    try:
        select.select([fd], [], [], delay)
    finally:
        os.close(fd)


def check_wait_condition(condition: str) -> None:
    if condition not in WAIT_CONDITIONS:
        raise InvalidParameter(f"invalid condition: {condition!r}")


def wait(cdir: ContainerDir, condition: str = "not-running", *, timeout: float | None = None,
         cancel: threading.Event | None = None,
         through_restarts: bool = False) -> ContainerState | None:
    """Docker's wait conditions. `not-running` ends at once for a container that is not
    running; `next-exit` and `removed` wait for an exit after the call (Docker's `run` waits
    before it starts the container), `removed` also for the container to be gone. An exit its
    restart policy follows with a restart counts, as in Docker, unless `through_restarts`. The
    state it ended with; None after `timeout` seconds or when cancelled. While waiting it holds
    off the container's removal until it has seen the final state (ContainerDir.watching), so
    the exit code of a container that removes itself (--rm) is known."""
    check_wait_condition(condition)
    deadline = None if timeout is None else time.monotonic() + timeout

    def stop_waiting() -> bool:
        return (cancel is not None and cancel.is_set()) or \
            (deadline is not None and time.monotonic() >= deadline)

    seen = None
    with cdir.watching():
        if not cdir.exists():
            raise NotFound(f"No such container: {cdir.id}")
        initial = current_state(cdir)
        if condition == "not-running" and initial.status != RUNNING:
            return initial
        status, delay = initial.status, 0.002
        while seen is None:
            if stop_waiting():
                return None
            state = current_state(cdir)
            if state.status == EXITED:
                ended = initial.status == RUNNING or state.finished_at != initial.finished_at
            else:
                ended = state.restarting and not through_restarts \
                    and state.finished_at != initial.finished_at
            if ended:
                if condition != "removed":
                    return state
                seen = state
            elif state.removing:
                seen = state
                break
            if state.status != status:
                status, delay = state.status, 0.002
            if state.status == RUNNING:
                _sleep_or_exit(state.monitor_pid, delay)
            else:
                time.sleep(delay)
            delay = min(delay * 2, 0.05 if state.status == RUNNING else 0.02)
    # condition "removed": the exit is seen; now the removal (no longer held off by us), which
    # a look at the state makes when the monitor that would have made it died (--rm)
    delay = 0.001
    while cdir.exists():
        if stop_waiting():
            return None
        try:
            current_state(cdir)
        except (NotFound, FileNotFoundError):
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return seen


def _stopped(cdir: ContainerDir, timeout: float | None = None) -> bool:
    """Wait until the container is not running (or gone); False on timeout."""
    try:
        return wait(cdir, timeout=timeout, through_restarts=True) is not None
    except NotFound:
        return True


# -- remove ----------------------------------------------------------------------------------------
def remove(store: Store, name: str, force: bool = False, volumes: bool = False) -> None:
    """Remove a container; a running one only with `force` (killed first); with `volumes` its
    anonymous volumes too (`docker rm -v`)."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    runtime = oci_runtime(store, record)
    if state.status == RUNNING:
        if not force:   # dockerd 20.10's words (daemon/delete.go)
            procedure = "Stop the container before attempting removal or force remove"
            if state.paused:
                procedure = "Unpause and then " + procedure.lower()
            raise Conflict(f"You cannot remove a {'paused' if state.paused else 'running'} container "
                           f"{record.id}. {procedure}")
        try:
            if not _stopped_by_user(cdir, "SIGKILL", ""):
                _signal(store, record, runtime, "SIGKILL")
        except DockyardError:
            pass
        if state.paused:
            _resume_quietly(runtime, cdir)
        if not _stopped(cdir, 10):
            raise RuntimeFailure(f"could not kill container {record.id}")
        while pid_alive(monitor := cdir.read_state().monitor_pid) and cdir.exists():
            _sleep_or_exit(monitor, 0.01)  # let the monitor finish its cleanup (or --rm)
    if (cdir.path / "init.pid").exists():
        # the monitor deletes the runtime's state and this marker when the container exits;
        # a marker left means a monitor that died before it could (killed -9)
        runtime.delete(record.id)
    removal.destroy(store, cdir, volumes=volumes)
