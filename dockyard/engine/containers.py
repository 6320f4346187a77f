"""Container operations: the facade the CLI and the API server both call.

create/start/run/stop/kill/rm/ps/logs/exec/wait/pause/unpause/inspect/diff/export/commit.
Containers live under `<store root>/containers/<id>/` (see runtime/state.py).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal as signal_mod
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from dockyard.digest import Digest
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, RuntimeFailure
from dockyard.image.config import ContainerConfig, History, now_rfc3339, parse_time
from dockyard.image.mutate import append
from dockyard.runtime import bundle
from dockyard.runtime.monitor import Attach, Monitor, StartError, spawn_detached
from dockyard.runtime.names import random_name, validate_name
from dockyard.runtime.oci import OciRuntime, choose_runtime, for_store, logged_error
from dockyard.runtime.spec import Bind
from dockyard.runtime.state import (
    EXITED, RUNNING, ContainerDir, ContainerRecord, ContainerState, HostConfig, pid_alive,
)
from dockyard.store.layer_writer import layer_from_directory
from dockyard.store.locks import flock
from dockyard.store.store import Store

_HEX = set("0123456789abcdef")
ConfigChanger = Callable[[ContainerConfig, list[str]], ContainerConfig]


@dataclass
class CreateOptions:
    image: str
    cmd: list[str] = field(default_factory=list)
    entrypoint: str | None = None         # None: the image's; "": none
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    name: str | None = None
    tty: bool = False
    interactive: bool = False
    binds: list[str] = field(default_factory=list)
    network: str = "host"
    auto_remove: bool = False
    runtime: str = ""


@dataclass
class ContainerSummary:
    id: str
    name: str
    image: str
    command: str
    created: datetime | None
    state: ContainerState


def _containers_dir(store: Store) -> Path:
    d = store.root / "containers"
    d.mkdir(exist_ok=True)
    return d


def _runtime(store: Store, record: ContainerRecord) -> OciRuntime:
    return for_store(store.root, record.host.runtime)


def all_containers(store: Store) -> list[ContainerDir]:
    out = []
    for entry in _containers_dir(store).iterdir():
        if (entry / "container.json").is_file():
            out.append(ContainerDir(entry))
    return out


def resolve(store: Store, name: str) -> ContainerDir:
    """A container by full ID, name, or unique ID prefix (as Docker looks containers up)."""
    key = name.lstrip("/")
    if not key:
        raise NotFound(f"No such container: {name}")
    cdirs = all_containers(store)
    for c in cdirs:
        if c.id == key:
            return c
    for c in cdirs:
        try:
            if c.read_record().name == key:
                return c
        except FileNotFoundError:
            continue
    if set(key) <= _HEX:
        matches = [c for c in cdirs if c.id.startswith(key)]
        if len(matches) > 1:
            raise InvalidParameter(f"multiple IDs found with provided prefix: {key}")
        if matches:
            return matches[0]
    raise NotFound(f"No such container: {name}")


def current_state(cdir: ContainerDir) -> ContainerState:
    """The state, corrected when a monitor died without recording the exit (killed -9)."""
    state = cdir.read_state()
    if state.status == RUNNING and not pid_alive(state.monitor_pid):
        with cdir.update() as st:
            if st.status == RUNNING and not pid_alive(st.monitor_pid):
                st.status, st.paused, st.pid = EXITED, False, 0
                st.exit_code = 255
                st.error = "container monitor exited unexpectedly"
                st.finished_at = now_rfc3339()
            state = replace(st)
    return state


# -- create / start / run ------------------------------------------------------------------------
def _merge_env(base: list[str] | None, extra: list[str]) -> list[str] | None:
    env = list(base or [])
    for item in extra:
        key, eq, _ = item.partition("=")
        if not eq:
            if key not in os.environ:
                continue  # docker -e NAME takes the client's value, or nothing
            item = f"{key}={os.environ[key]}"
        idx = [i for i, e in enumerate(env) if e.partition("=")[0] == key]
        if idx:
            env[idx[0]] = item
        else:
            env.append(item)
    return env or None


def create(store: Store, opts: CreateOptions) -> ContainerRecord:
    if opts.network not in ("host", "none"):
        raise InvalidParameter(f"network {opts.network} not found")
    for b in opts.binds:
        Bind.parse(b)
    choose_runtime(store.root, opts.runtime)
    image_id = store.resolve(opts.image)
    image = store.image(image_id)
    cfg = replace(image.config.config)
    if opts.entrypoint is not None:
        cfg.entrypoint = [opts.entrypoint] if opts.entrypoint else None
        cfg.cmd = None
    if opts.cmd:
        cfg.cmd = list(opts.cmd)
    cfg.env = _merge_env(cfg.env, opts.env)
    if opts.workdir is not None:
        if opts.workdir and not opts.workdir.startswith("/"):
            raise InvalidParameter(
                f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path")
        cfg.working_dir = opts.workdir
    if opts.user is not None:
        cfg.user = opts.user
    if not (cfg.entrypoint or cfg.cmd):
        raise InvalidParameter("No command specified")
    container_id = secrets.token_hex(32)
    with flock(store.lock_dir / "containers.lock"):
        names = {c.read_record().name: c.id for c in all_containers(store)}
        if opts.name:
            name = validate_name(opts.name)
            if name in names:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{names[name]}". You have to remove (or rename) that container to be able '
                    "to reuse that name.")
        else:
            name = random_name()
            while name in names:
                name = random_name()
        record = ContainerRecord(
            id=container_id, name=name, image_id=str(image_id), image_name=opts.image,
            created=now_rfc3339(), config=cfg,
            host=HostConfig(binds=list(opts.binds), network_mode=opts.network,
                            auto_remove=opts.auto_remove, runtime=opts.runtime),
            tty=opts.tty, open_stdin=opts.interactive, hostname=container_id[:12])
        cdir = ContainerDir(_containers_dir(store) / container_id)
        cdir.path.mkdir(mode=0o710)
        for d in (cdir.upper, cdir.work, cdir.merged):
            d.mkdir(mode=0o755)
        from dockyard.runtime.rootfs import make_init_layer

        make_init_layer(cdir.init)
        store.hold(container_id, image_id)
        # not fsynced: the record's directory sync below commits its entry, and a missing
        # state.json reads as "created" anyway
        cdir.write_state(ContainerState(), durable=False)
        cdir.write_record(record)  # last: a container is visible only when whole
    return record


def start(store: Store, name: str) -> ContainerRecord:
    """Start a container detached (its own monitor process). Raises StartError."""
    cdir = resolve(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    if state.status == RUNNING:
        return record  # docker start of a running container is a no-op
    if (cdir.path / "init.pid").exists():
        _runtime(store, record).delete(record.id)  # leftovers of a previous run
    spawn_detached(store, record.id)
    return record


def run_attached(store: Store, name: str, attach: Attach) -> int:
    """Start a container in this process with the caller's stdio; returns its exit code."""
    cdir = resolve(store, name)
    monitor = Monitor(store, cdir.id)
    try:
        monitor.start(attach)
    except StartError:
        if monitor.record.host.auto_remove:
            bundle.destroy(store, cdir)
        raise
    return monitor.serve()


# -- stop / kill / pause ---------------------------------------------------------------------------
def _signal_name(sig: str) -> str:
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


def kill(store: Store, name: str, sig: str = "KILL") -> None:
    cdir = resolve(store, name)
    record = cdir.read_record()
    signame = _signal_name(sig)
    state = current_state(cdir)
    if state.status != RUNNING:
        raise Conflict(f"Cannot kill container: {name}: Container {record.id} is not running")
    runtime = _runtime(store, record)
    runtime.kill(record.id, signame)
    if state.paused and signame == "SIGKILL":
        _resume_quietly(runtime, cdir)


def _resume_quietly(runtime: OciRuntime, cdir: ContainerDir) -> None:
    try:
        runtime.resume(cdir.id)
    except DockyardError:
        pass
    with cdir.update(durable=False) as st:
        st.paused = False


def _sleep_or_exit(pid: int, delay: float) -> None:
    """Sleep `delay` seconds, or less when process `pid` exits first (a container's monitor
    records the exit and then ends: waking on its end saves the rest of a poll interval)."""
    try:
        fd = os.pidfd_open(pid) if pid > 0 else -1
    except OSError:  # gone already, or no pidfd on this kernel
        fd = -1
    if fd < 0:
        time.sleep(delay)
        return
    try:
        select.select([fd], [], [], delay)
    finally:
        os.close(fd)


def wait_exit(cdir: ContainerDir, timeout: float | None = None) -> ContainerState | None:
    """Poll until the container is no longer running; None on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = ContainerState(status=EXITED)
    delay = 0.005
    while True:
        if not (cdir.path / "state.json").exists():
            return last  # removed (--rm): its last known state
        state = current_state(cdir)
        last = state
        if state.status != RUNNING:
            return state
        if deadline is not None and time.monotonic() >= deadline:
            return None
        _sleep_or_exit(state.monitor_pid, delay)
        delay = min(delay * 2, 0.05)


def stop(store: Store, name: str, timeout: int | None = None) -> None:
    cdir = resolve(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    if state.status != RUNNING:
        return
    runtime = _runtime(store, record)
    wait = 10 if timeout is None else timeout
    sig = _signal_name(record.config.stop_signal or "SIGTERM")
    try:
        runtime.kill(record.id, sig)
    except DockyardError:
        pass
    if state.paused:
        _resume_quietly(runtime, cdir)
    if wait >= 0 and wait_exit(cdir, wait) is not None:
        return
    try:
        runtime.kill(record.id, "SIGKILL")
    except DockyardError:
        pass
    wait_exit(cdir)


def pause(store: Store, name: str) -> None:
    cdir = resolve(store, name)
    record = cdir.read_record()
    current_state(cdir)
    with cdir.locked():
        state = cdir.read_state()
        if state.status != RUNNING:
            raise Conflict(f"Container {record.id} is not running")
        if state.paused:
            raise Conflict(f"Container {record.id} is already paused")
        _runtime(store, record).pause(record.id)
        state.paused = True
        cdir.write_state(state, durable=False)  # a crash ends the run anyway


def unpause(store: Store, name: str) -> None:
    cdir = resolve(store, name)
    record = cdir.read_record()
    with cdir.locked():
        state = cdir.read_state()
        if state.status != RUNNING or not state.paused:
            raise Conflict(f"Container {record.id} is not paused")
        _runtime(store, record).resume(record.id)
        state.paused = False
        cdir.write_state(state, durable=False)  # a crash ends the run anyway


# -- remove ----------------------------------------------------------------------------------------
def remove(store: Store, name: str, force: bool = False) -> None:
    cdir = resolve(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    runtime = _runtime(store, record)
    if state.status == RUNNING:
        if not force:
            raise Conflict(
                f'cannot remove container "/{record.name}": container is running: stop the '
                "container before removing or force remove")
        try:
            runtime.kill(record.id, "SIGKILL")
        except DockyardError:
            pass
        if state.paused:
            _resume_quietly(runtime, cdir)
        if wait_exit(cdir, 10) is None:
            raise RuntimeFailure(f"could not kill container {record.id}")
        while pid_alive(monitor := cdir.read_state().monitor_pid) and \
                (cdir.path / "state.json").exists():
            _sleep_or_exit(monitor, 0.01)  # let the monitor finish its cleanup
    if (cdir.path / "init.pid").exists():
        # the monitor deletes the runtime's state and this marker when the container exits;
        # a marker left means a monitor that died before it could (killed -9)
        runtime.delete(record.id)
    bundle.destroy(store, cdir)


# -- list / inspect --------------------------------------------------------------------------------
def command_string(args: list[str]) -> str:
    """The COMMAND column as Docker shows it: arguments with spaces in single quotes."""
    out = []
    for a in args:
        out.append(f"'{a}'" if (not a or any(c.isspace() for c in a)) else a)
    return " ".join(out)


def list_containers(store: Store, all_containers_: bool = False) -> list[ContainerSummary]:
    out = []
    for cdir in all_containers(store):
        try:
            record = cdir.read_record()
            state = current_state(cdir)
        except FileNotFoundError:
            continue
        if not all_containers_ and state.status != RUNNING:
            continue
        out.append(ContainerSummary(record.id, record.name, record.image_name,
                                    command_string(record.command), parse_time(record.created),
                                    state))
    out.sort(key=lambda s: s.created.timestamp() if s.created else 0, reverse=True)
    return out


def docker_status(state: ContainerState) -> str:
    if state.status == RUNNING:
        return "paused" if state.paused else "running"
    return state.status


def inspect(store: Store, name: str) -> dict[str, Any]:
    cdir = resolve(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    cmd = record.command
    cfg = record.config.to_docker_api()
    cfg.update({"Hostname": record.hostname, "Image": record.image_name, "Tty": record.tty,
                "OpenStdin": record.open_stdin, "StdinOnce": record.open_stdin,
                "AttachStdin": record.open_stdin})
    lower = cdir.lower_file.read_text() if cdir.lower_file.exists() else ""
    return {
        "Id": record.id,
        "Created": record.created,
        "Path": cmd[0] if cmd else "",
        "Args": cmd[1:],
        "State": {
            "Status": docker_status(state), "Running": state.status == RUNNING,
            "Paused": state.paused, "Restarting": False, "OOMKilled": False, "Dead": False,
            "Pid": state.pid, "ExitCode": state.exit_code, "Error": state.error,
            "StartedAt": state.started_at or "0001-01-01T00:00:00Z",
            "FinishedAt": state.finished_at or "0001-01-01T00:00:00Z",
        },
        "Image": record.image_id,
        "ResolvConfPath": str(cdir.path / "resolv.conf"),
        "HostnamePath": str(cdir.path / "hostname"),
        "HostsPath": str(cdir.path / "hosts"),
        "LogPath": str(cdir.log),
        "Name": "/" + record.name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": {"Binds": record.host.binds or None, "NetworkMode": record.host.network_mode,
                       "AutoRemove": record.host.auto_remove,
                       "Runtime": choose_runtime(store.root, record.host.runtime)},
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(str(store.root / p) for p in lower.split(":")) if lower else "",
            "MergedDir": str(cdir.merged), "UpperDir": str(cdir.upper), "WorkDir": str(cdir.work)}},
        "Mounts": [{"Type": "bind", "Source": b.source, "Destination": b.destination,
                    "Mode": "ro" if b.readonly else "", "RW": not b.readonly,
                    "Propagation": "rprivate"} for b in map(Bind.parse, record.host.binds)],
        "Config": cfg,
    }


# -- logs / wait -----------------------------------------------------------------------------------
@dataclass
class LogEntry:
    stream: str
    data: bytes
    time: str


def logs(store: Store, name: str, follow: bool = False) -> Iterator[LogEntry]:
    cdir = resolve(store, name)
    path = cdir.log
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if not follow:
            return
        f = None
    pending = b""
    while True:
        if f is None and path.exists():
            f = open(path, "rb")
        chunk = f.read(65536) if f is not None else b""
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    entry = json.loads(line)
                    yield LogEntry(entry.get("stream", "stdout"),
                                   entry.get("log", "").encode("utf-8", "surrogateescape"),
                                   entry.get("time", ""))
            continue
        if not follow:
            break
        if not (cdir.path / "state.json").exists() or current_state(cdir).status != RUNNING:
            if f is not None:
                rest = f.read()
                if rest:
                    pending += rest
                    continue
            break
        time.sleep(0.05)
    if f is not None:
        f.close()


def wait(store: Store, name: str) -> int:
    cdir = resolve(store, name)
    state = wait_exit(cdir)
    return state.exit_code if state else 0


# -- exec ------------------------------------------------------------------------------------------
@dataclass
class ExecOptions:
    cmd: list[str]
    interactive: bool = False
    tty: bool = False
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None


def exec_in(store: Store, name: str, opts: ExecOptions) -> int:
    cdir = resolve(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    if state.status != RUNNING:
        raise Conflict(f"Container {record.id} is not running")
    if state.paused:
        raise Conflict(f"Container {record.id} is paused, unpause the container before exec")
    if not opts.cmd:
        raise InvalidParameter("No exec command specified")
    env = list(record.config.env or [])
    merged_env = _merge_env(env, opts.env) or []
    proc = bundle.process_spec(cdir, replace(record, config=replace(record.config, env=merged_env)),
                               args=list(opts.cmd), workdir=opts.workdir, user=opts.user,
                               tty=opts.tty)
    spec = proc.to_dict()
    fd, path = tempfile.mkstemp(prefix="exec-", suffix=".json", dir=cdir.path)
    log_file = Path(path[:-5] + ".log")
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)
    try:
        runtime = _runtime(store, record)
        result = subprocess.run(runtime.exec_command(record.id, Path(path), log_file),
                                stdin=None if opts.interactive else subprocess.DEVNULL)
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
        try:
            log_file.unlink()
        except FileNotFoundError:
            pass


# -- diff / export / commit ------------------------------------------------------------------------
def diff(store: Store, name: str) -> list[str]:
    from dockyard.archive.changes import overlay_changes

    cdir = resolve(store, name)
    record = cdir.read_record()
    lowers = [cdir.init] + bundle.layer_dirs(store, record.image_id)
    return [str(c) for c in overlay_changes(cdir.upper, lowers)]


def export(store: Store, name: str, out: BinaryIO) -> None:
    """The container's whole filesystem, flattened, as a tar (`docker export`)."""
    from dockyard.archive.diff import write_tree
    from dockyard.runtime import rootfs

    cdir = resolve(store, name)
    record = cdir.read_record()
    with cdir.locked():
        mounted_here = False
        if not rootfs.is_mounted(cdir.merged):
            bundle.mount(store, cdir, record)
            mounted_here = True
    try:
        write_tree(cdir.merged, out)
    finally:
        if mounted_here:
            with cdir.locked():
                if cdir.read_state().status != RUNNING:
                    bundle.unmount(cdir)


def commit(store: Store, name: str, repository: str | None = None, *, pause_container: bool = True,
           message: str = "", author: str = "", changes: list[str] | None = None,
           apply_changes: ConfigChanger | None = None) -> Digest:
    """`docker commit`: the container's storage layer on top of its image, as a new image.

    Works for stopped containers too (as Docker does). An empty diff adds no layer, only a
    history entry with `empty_layer` (as Docker does).
    """
    from dockyard.engine.images import parse_target

    target = parse_target(repository)
    cdir = resolve(store, name)
    record = cdir.read_record()
    config = record.config
    if changes:
        if apply_changes is None:
            from dockyard.builder.changes import apply_changes as default_changer

            apply_changes = default_changer
        config = apply_changes(config, changes)
    base_id = Digest.parse(record.image_id)
    base = store.image(base_id)
    runtime = _runtime(store, record)
    paused_here = False
    current_state(cdir)
    with cdir.locked():
        state = cdir.read_state()
        if pause_container and state.status == RUNNING and not state.paused:
            runtime.pause(record.id)
            state.paused = paused_here = True
            cdir.write_state(state, durable=False)  # a crash ends the run anyway
    try:
        with store.ingesting():
            layer = layer_from_directory(store.layers, cdir.upper)
            new = append(
                base.config, base.layers, layer,
                History(created_by=" ".join(record.command), author=author or None, comment=message or None),
                config=config, author=author or None, drop=("container", "container_config"))
            layers = list(base.layers) + ([layer] if layer is not None else [])
            image = store.add_image(new.raw_config, layers, parent=base_id)
            if target is not None:
                store.tag(image.id, target)
    finally:
        if paused_here:
            with cdir.locked():
                try:
                    runtime.resume(record.id)
                except DockyardError:
                    pass
                st = cdir.read_state()
                st.paused = False
                cdir.write_state(st, durable=False)
    return image.id


__all__ = [
    "CreateOptions", "ExecOptions", "ContainerSummary", "LogEntry", "Attach", "StartError",
    "create", "start", "run_attached", "stop", "kill", "pause", "unpause", "remove",
    "list_containers", "inspect", "logs", "wait", "exec_in", "diff", "export", "commit", "resolve",
]
