"""Container operations for the CLI and the API server: a facade over dockyard.runtime, plus what
both servers show of a container in Docker's shapes (list rows, inspect, logs with tail).

Containers themselves (create, start, attach, wait, remove, logs, exec) live in runtime/;
`commit` is in engine/commit.py.
"""

from __future__ import annotations

import itertools
import sys
import threading
from datetime import datetime
from typing import Any, BinaryIO, Iterator

from dockyard import filters as filters_mod
from dockyard.archive.diff import write_tree
from dockyard.dataclass import dataclass
from dockyard.engine import container_views as views
from dockyard.engine.container_config import docker_config
from dockyard.engine import networks
from dockyard.engine.container_create import create as create_from_api
from dockyard.engine.create_config import read_update
from dockyard.engine.events import prune_cutoff
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, NotImplementedFeature
from dockyard.gotypes import go_atoi
from dockyard.image.config import parse_time
from dockyard.runtime import attach as attach_input
from dockyard.runtime import bundle
from dockyard.runtime import stats as usage
from dockyard.runtime.containers import remove_link
from dockyard.runtime.containers import rename as rename_container
from dockyard.runtime.containers import update as update_container
from dockyard.runtime.containers import CreateOptions, all_containers, create, current_state, lookup
from dockyard.runtime.exec import ExecOptions, exec_in
from dockyard.runtime.hostconfig import HostConfig, Mount, Resources, RestartPolicy, Ulimit, joined_container
from dockyard.runtime.lifecycle import (
    WAIT_CONDITIONS, check_wait_condition, kill, pause, remove, restart, restore, revive, run_attached, start, stop,
    unpause,
)
from dockyard.runtime.lifecycle import wait as wait_condition
from dockyard.runtime.logs import NO_LOG, LogEntry, since_time
from dockyard.store.events import Journal
from dockyard.runtime.monitor import Attach, StartError
from dockyard.runtime.oci import choose_runtime
from dockyard.runtime.output import attach_entries, log_entries, new_entries, next_run_entries
from dockyard.runtime.spec import Bind
from dockyard.runtime.state import RUNNING, ContainerState, docker_status, status_text
from dockyard.store.store import Store


def commit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - engine/commit.commit's
    """engine/commit.py's commit, imported when a commit runs: with it the Dockerfile frontend
    and the builder's config rules (--change) were loaded by every container command's start
    (tests/test_start_up.py)."""
    from dockyard.engine.commit import commit as run

    return run(*args, **kwargs)


@dataclass
class ContainerSummary:
    """A row of `ps` / `GET /containers/json`."""

    id: str
    name: str
    image: str               # as the user named it
    image_id: str
    command: str
    created: datetime | None
    state: ContainerState
    labels: dict[str, str]
    network_mode: str

    @property
    def status(self) -> str:
        """Docker's State: created, running, paused, exited."""
        return docker_status(self.state)

    def status_text(self, now: datetime | None = None) -> str:
        return status_text(self.state, now)


def command_string(args: list[str]) -> str:
    """The COMMAND column as Docker shows it: arguments with spaces in single quotes."""
    out = []
    for a in args:
        out.append(f"'{a}'" if (not a or any(c.isspace() for c in a)) else a)
    return " ".join(out)


def list_containers(store: Store, all_containers_: bool = False,
                    statuses: list[str] | None = None) -> list[ContainerSummary]:
    """Newest first; running ones only unless `all_containers_` or `statuses` (Docker's
    State values) are given."""
    out = []
    for cdir in all_containers(store):
        try:
            record = cdir.read_record()
            state = current_state(cdir)
        except (FileNotFoundError, NotFound):   # removed meanwhile, or now (--rm)
            continue
        if statuses:
            if docker_status(state) not in statuses:
                continue
        elif not all_containers_ and state.status != RUNNING:
            continue
        out.append(ContainerSummary(
            record.id, record.name, record.image_name, record.image_id,
            command_string(record.command), parse_time(record.created), state,
            dict(record.config.labels or {}), record.host.network_mode))
    out.sort(key=lambda s: s.created.timestamp() if s.created else 0, reverse=True)
    return out


def counts(store: Store) -> tuple[int, int, int, int]:
    """(total, running, paused, stopped), as /info reports them."""
    items = list_containers(store, True)
    running = sum(1 for s in items if s.status == "running")
    paused = sum(1 for s in items if s.status == "paused")
    return len(items), running, paused, len(items) - running - paused


def inspect(store: Store, name: str, size: bool = False) -> dict[str, Any]:
    """`docker inspect` of a container; with `size`, its SizeRw and SizeRootFs too."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    state = current_state(cdir)
    request, net_state = views.network_view(cdir, state)
    cmd = record.command
    cfg = docker_config(record)
    lower = cdir.lower_file.read_text() if cdir.lower_file.exists() else ""
    from dockyard.engine.execs import pending_ids   # inspect's only (the exec machinery's imports)

    return {
        "Id": record.id,
        "Created": record.created,
        "Path": cmd[0] if cmd else "",
        "Args": cmd[1:],
        "State": {
            "Status": docker_status(state), "Running": state.status == RUNNING,
            "Paused": state.paused, "Restarting": state.restarting, "OOMKilled": False, "Dead": False,
            "Pid": state.pid, "ExitCode": state.exit_code, "Error": state.error,
            "StartedAt": state.started_at or "0001-01-01T00:00:00Z",
            "FinishedAt": state.finished_at or "0001-01-01T00:00:00Z",
            **({"Health": state.health} if state.health is not None else {}),
        },
        "Image": record.image_id,
        **_files_paths(store, record, state, cdir),
        "LogPath": "" if record.host.log_driver == NO_LOG else str(cdir.log),
        "Name": "/" + record.name,
        "RestartCount": state.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": pending_ids(cdir.path),
        "HostConfig": views.host_config(store, record, request),
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(str(store.root / p) for p in lower.split(":")) if lower else "",
            "MergedDir": str(cdir.merged), "UpperDir": str(cdir.upper), "WorkDir": str(cdir.work)}},
        "Mounts": views.mounts(record),
        "Config": cfg,
        "NetworkSettings": networks.settings(store.root, record.id, request, net_state, record.host.links,
                                             container_name=record.name, hostname=cfg.get("Hostname") or ""),
        **(views.sizes(store, cdir, record.image_id) if size else {}),
    }


def _files_paths(store: Store, record: Any, state: Any, cdir: Any) -> dict[str, str]:
    """ResolvConfPath, HostnamePath, HostsPath: the container's own files, or for one joining
    another's network (container:<id>) the other's, from its first start on (dockerd's: none
    before it)."""
    other = joined_container(record.host.network_mode)
    if other and not state.started_at:
        return {"ResolvConfPath": "", "HostnamePath": "", "HostsPath": ""}
    folder = store.root / "containers" / other if other else cdir.path
    return {"ResolvConfPath": str(folder / "resolv.conf"), "HostnamePath": str(folder / "hostname"),
            "HostsPath": str(folder / "hosts")}


def rows(store: Store, all_: bool = False, filters: str | None = None,
         limit: int | None = None, size: bool = False) -> list[dict[str, Any]]:
    """`GET /containers/json`: Docker's rows, newest first, filtered (with `size`, each
    container's SizeRw and SizeRootFs)."""
    return views.rows(store, all_=all_, raw_filters=filters, limit=limit, size=size)


def container_id(store: Store, name: str) -> str:
    """The full ID of a container named by name, ID or ID prefix; NotFound if none."""
    return lookup(store, name).id


# -- output ----------------------------------------------------------------------------------------
def is_tty(store: Store, name: str) -> bool:
    """Whether the container's output is a terminal's (one raw stream) or stdout + stderr."""
    return lookup(store, name).read_record().tty


def logs(store: Store, name: str, follow: bool = False, tail: str | None = None,
         cancel: threading.Event | None = None, since: str | None = None,
         until: str | None = None) -> Iterator[LogEntry]:
    """The container's log; `tail` keeps the last N entries ("all" or None: every one), `since`
    those written at or after it, `until` those written at or before it (the API's
    SECONDS[.NANOSECONDS]; "" or 0: every one)."""
    if until not in (None, "", "0"):
        # following ends at the first entry written after `until` (or at the container's exit),
        # as dockerd's does: no timer ends it before
        before = since_time(until, "until")
        return itertools.takewhile(lambda e: e.time <= before,
                                   logs(store, name, follow=follow, tail=tail, cancel=cancel, since=since))
    cdir = lookup(store, name)
    if cdir.read_record().host.log_driver == NO_LOG:
        raise NotImplementedFeature("configured logging driver does not support reading")
    if since not in (None, "", "0"):
        after = since_time(since)
        entries = logs(store, name, follow=follow, tail=tail, cancel=cancel)
        return (e for e in entries if e.time >= after)
    if tail in (None, "", "all"):
        return log_entries(cdir, follow=follow, cancel=cancel)
    try:
        n = go_atoi(tail)
    except DockyardError:   # dockerd takes a tail it cannot parse ("1_0", " 5") for "all" (strconv.Atoi's error: -1)
        n = -1
    # a tail past any log's length (beyond what a deque can hold) is every entry, as "all"
    return log_entries(cdir, follow=follow, cancel=cancel, tail=n if 0 <= n < sys.maxsize else None)


def attach(store: Store, name: str, *, stream: bool = True, logs: bool = True,
           cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """The container's output from its start (it may not have started yet); with `stream`,
    until it stops. Without `stream`, its past output: none for the none driver's (dockerd's
    attach then fails in its stream: nothing of it is kept). Without `logs` (the API's attach
    without logs=1, as `docker attach` and `docker start -a` ask), a running container's output
    from now on, a stopped one's from its next start, as dockerd's attach gives them."""
    cdir = lookup(store, name)
    if not stream and cdir.read_record().host.log_driver == NO_LOG:
        return iter(())
    if stream and not logs:
        if current_state(cdir).status == RUNNING:
            return new_entries(cdir, cancel=cancel)
        if cdir.log.exists():     # it ran before: its next run's (`docker start -a`)
            return next_run_entries(cdir, cancel=cancel)
    return attach_entries(cdir, follow=stream, cancel=cancel)


def attached(store: Store, name: str) -> None:
    """dockerd's `attach` event of a client's attach (`docker run` without -d before its start,
    `docker attach`, `start -a`)."""
    record = lookup(store, name).read_record()
    Journal(store.root).emit("container", "attach", record.id, record.event_attributes())


def attach_running(store: Store, name: str, cancel: threading.Event | None = None) -> Iterator[LogEntry]:
    """What a running container writes from now on, until it stops (none of its past output)."""
    return new_entries(lookup(store, name), cancel=cancel)


def input_channel(store: Store, name: str, cancel: threading.Event | None = None):  # noqa: ANN201
    """A socket to the container's input (runtime/attach.py frames) once it runs with its stdin
    open, or None when it ends first; the caller attached before the start, as Docker's do."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    if not (record.open_stdin or record.tty):
        return None
    first = current_state(cdir)
    seen_running = [first.status == RUNNING]

    def ended() -> bool:
        try:
            state = current_state(cdir)
        except (FileNotFoundError, NotFound):
            return True
        if state.status == RUNNING:
            seen_running[0] = True
            return False
        return seen_running[0] or state.started_at != first.started_at
    return attach_input.wait_connect(record.id, ended, cancel)


def resize(store: Store, name: str, rows: int, cols: int) -> None:
    """A TTY container's terminal size (docker run -t, docker attach)."""
    cdir = lookup(store, name)
    if current_state(cdir).status != RUNNING:
        raise Conflict(f"Container {cdir.id} is not running")
    if cdir.read_record().tty:
        attach_input.resize(cdir.id, rows, cols)


def stats(store: Store, name: str, *, stream: bool = True, one_shot: bool = False,
          cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """Docker's stats messages: one a second while streaming (each with the previous reading as
    precpu_stats), else one (after a second's reading for precpu, unless one_shot)."""
    cdir = lookup(store, name)
    record = cdir.read_record()
    previous: dict[str, Any] | None = None
    while True:
        state = current_state(cdir)
        if state.status != RUNNING or not state.pid:
            sample = usage.empty_sample()
        else:
            sample = usage.sample(state.pid)
        if previous is None and not stream and not one_shot and state.status == RUNNING:
            previous = sample
            if not usage.wait_interval(1.0, lambda: cancel is not None and cancel.is_set()):
                return
            continue
        message = {**sample, "precpu_stats": (previous or {}).get("cpu_stats", usage.NO_CPU), "preread": (previous or {}).get("read", "0001-01-01T00:00:00Z"),
            "name": "/" + record.name, "id": record.id}
        yield message
        if not stream or state.status != RUNNING:
            return
        previous = sample
        if not usage.wait_interval(1.0, lambda: cancel is not None and cancel.is_set()):
            return


def top(store: Store, name: str, ps_args: str = "-ef") -> dict[str, Any]:
    cdir = lookup(store, name)
    state = current_state(cdir)
    if state.status != RUNNING or not state.pid:
        raise Conflict(f"Container {cdir.id} is not running")
    return usage.top(state.pid, ps_args)


def rename(store: Store, name: str, new_name: str) -> None:
    if not new_name:
        raise InvalidParameter("Neither old nor new names may be empty")
    old = lookup(store, name).read_record().name
    record = rename_container(store, name, new_name)
    networks.renamed(store, record.id, old, record.name)


def update(store: Store, name: str, body: dict[str, Any]) -> None:
    record = lookup(store, name).read_record()
    resources, restart = read_update(body, record.host.resources)
    # what dockerd's update itself refuses, in its words (the settings' checks above are not)
    if restart is not None and restart.name != "no" and record.host.auto_remove:
        raise InvalidParameter(f"Cannot update container {record.id}: Restart policy cannot be updated because "
                               "AutoRemove is enabled for the container")
    update_container(store, name, resources, restart)


def wait(store: Store, name: str, condition: str = "not-running",
         cancel: threading.Event | None = None) -> ContainerState | None:
    """Docker's wait conditions (not-running, next-exit, removed); the state the container
    ended with; None when cancelled."""
    return wait_condition(lookup(store, name), condition, cancel=cancel)


# -- files -----------------------------------------------------------------------------------------
def diff(store: Store, name: str) -> list[str]:
    cdir = lookup(store, name)
    record = cdir.read_record()
    lowers = [cdir.init] + bundle.layer_dirs(store, record.image_id)
    from dockyard.archive.changes import overlay_changes  # here: its dataclasses (inspect, ast) for diff only

    return [str(c) for c in overlay_changes(cdir.upper, lowers)]


def export(store: Store, name: str, out: BinaryIO) -> None:
    """The container's whole filesystem, flattened, as a tar (`docker export`)."""
    with bundle.mounted(store, lookup(store, name)) as rootfs:
        write_tree(rootfs, out)


def prune(store: Store, raw_filters: str | None = None) -> tuple[list[str], int]:
    """`docker container prune`: every container that is not running (`until`, `label`,
    `label!` filters as Docker's); their IDs and the bytes of their writable layers."""
    f = filters_mod.parse(raw_filters, filters_mod.CONTAINER_PRUNE)
    until = prune_cutoff(f.get("until"))
    from dockyard.archive.changes import diff_size as overlay_diff_size

    deleted, freed = [], 0
    for s in list_containers(store, True):
        if s.state.status == RUNNING or not f.match_labels(s.labels):
            continue
        if until is not None and (s.created is None or s.created.timestamp() > until):
            continue
        try:
            size = overlay_diff_size(lookup(store, s.id).upper)
            remove(store, s.id)
        except (NotFound, Conflict):
            continue
        deleted.append(s.id)
        freed += size
    return deleted, freed


__all__ = [
    "CreateOptions", "ExecOptions", "HostConfig", "Mount", "Resources", "RestartPolicy", "Ulimit",
    "ContainerSummary", "ContainerState", "LogEntry", "Attach", "StartError", "WAIT_CONDITIONS", "check_wait_condition",
    "create", "start", "run_attached", "stop", "restart", "kill", "pause", "unpause", "remove",
    "list_containers", "counts", "inspect", "logs", "attach", "attached", "attach_running", "wait", "exec_in", "diff", "export",
    "prune", "commit", "is_tty", "container_id", "create_from_api", "rows",
    "input_channel", "resize", "stats", "top", "rename", "update", "restore", "revive",
]
