"""A container on disk: its record (fixed at create) and its state (changed by start/monitor/pause).

    <root>/containers/<id>/container.json   ContainerRecord (what `create` decided)
    <root>/containers/<id>/state.json       ContainerState (status, pids, times, exit code)
    <root>/containers/<id>/config.json      the OCI runtime spec (the directory is the bundle)
    <root>/containers/<id>/upper/ work/     the container's storage layer (overlay upper) + workdir
    <root>/containers/<id>/init/            mount points for /proc, /etc/hosts... (Docker's -init layer)
    <root>/containers/<id>/merged/          the rootfs mount point
    <root>/containers/<id>/hosts, hostname, resolv.conf
    <root>/containers/<id>/shm/             /dev/shm of a shareable IPC, mounted while it runs
    <root>/containers/<id>/<id>-json.log    the logs, Docker's json-file format
    <root>/containers/<id>/state.lock       flock guarding read-modify-write of state.json
    <root>/containers/<id>/wait.lock        flock: waiters (shared) hold off the removal (exclusive)
    <root>/containers/<id>/rootfs.lock      flock: each user of a stopped container's rootfs
                                            mounted for it holds a share (bundle.mounted)

The container's locks are taken in one order: wait.lock, then state.lock, then rootfs.lock (and
the store's own locks, the gc lock of a removal, after them). A waiter holds wait.lock shared
while it reads the state, and may take the state lock to record a dead monitor's end; a
removal takes wait.lock exclusively, then the state lock. So a thread that holds the state lock
never takes wait.lock (`watching` and `removal` refuse to): a removal it comes to (the current
state of a --rm container whose monitor died, read under the lock by `update`) runs once it
lets the state lock go (`when_unlocked`). Taken the other way round, the two waited for each
other for ever (tests/runtime/test_lock_order.py).

Every write is atomic (temp file + rename), so a reader sees the old or the new state, never
half. Only what a crash of the host must not falsify is also made durable (fsync of the file and
its directory): the record (a container that exists is whole), the state a stopped container
keeps (its exit code, a start error). Intermediate states of a run (running, paused) are not: a
crash ends the container anyway, and a "running" state whose monitor is gone reads as exited.
The files regenerated at every start (spec, hosts, hostname, resolv.conf) are never fsynced.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from dockyard.atomic import atomic_write, replace_file
from dockyard.dataclass import asdict, dataclass, field, fields
from dockyard.errors import NotFound
from dockyard.image.config import ContainerConfig, parse_time
from dockyard.runtime.hostconfig import HostConfig
from dockyard.units import human_duration, since

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Callable, Iterator

CREATED, RUNNING, EXITED = "created", "running", "exited"


_HELD = threading.local()   # the state locks this thread holds (ContainerDir.locked)

@dataclass
class ContainerRecord:
    """A container as created: what `inspect` shows of its configuration."""

    id: str
    name: str
    image_id: str                 # sha256:...
    image_name: str               # as the user gave it (ps IMAGE column)
    created: str                  # RFC 3339
    config: ContainerConfig       # the image's config with the run options applied
    host: HostConfig
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False      # stdin closes when the first attached client ends its input
    # what the layers above keep with the container, opaque here (the network request): written
    # with the record, as durable as it
    extensions: dict[str, Any] = field(default_factory=dict)
    hostname: str = ""

    def event_attributes(self, **extra: str) -> dict[str, str]:
        """A container event's Actor.Attributes as Docker sends them: its labels, image, name."""
        return {**(self.config.labels or {}), "image": self.image_name, "name": self.name, **extra}

    @property
    def command(self) -> list[str]:
        return list(self.config.entrypoint or []) + list(self.config.cmd or [])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "image_id": self.image_id,
                "image_name": self.image_name, "created": self.created,
                "config": self.config.to_dict(), "host": self.host.to_dict(), "tty": self.tty,
                "open_stdin": self.open_stdin, "stdin_once": self.stdin_once,
                "hostname": self.hostname, "extensions": self.extensions}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContainerRecord":
        return cls(id=data["id"], name=data["name"], image_id=data["image_id"],
                   image_name=data["image_name"], created=data["created"],
                   config=ContainerConfig.from_dict(data["config"]),
                   host=HostConfig.from_dict(data["host"]), tty=data.get("tty", False),
                   open_stdin=data.get("open_stdin", False),
                   stdin_once=data.get("stdin_once", False), hostname=data.get("hostname", ""),
                   extensions=dict(data.get("extensions") or {}))


@dataclass
class ContainerState:
    """A container's changing state: running or exited, its pids, times, exit code."""

    status: str = CREATED          # created | running | exited
    paused: bool = False
    pid: int = 0                   # the container's init, host pid namespace
    monitor_pid: int = 0
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    error: str = ""
    restarting: bool = False       # exited, its restart policy restarts it after a delay
    restart_count: int = 0         # restarts by the policy since the last start by the user
    manually_stopped: bool = False  # stopped or killed by the user (unless-stopped keeps it so)
    exit_on_next: bool = False     # the next exit is the last: the user stopped or killed it
    removing: bool = False         # being removed: waiters take note of the state and let go
    # A pause made by `commit` (so the files hold still while read) names the committing
    # process's lock (store.workspace): killed before it could unpause, the next command does.
    pause_owner: str = ""
    # Docker's State.Health ({Status, FailingStreak, Log}) while a health check runs, and as it
    # was left after the run (runtime/health.py); None for a container without one
    health: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContainerState":
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known)


def health_after_exit(health: dict[str, Any] | None) -> dict[str, Any] | None:
    """State.Health once the container exited: unhealthy, its log kept (dockerd 20.10's
    SetStopped); None stays None (no health check)."""
    return None if health is None else {**health, "Status": "unhealthy"}


def docker_status(state: ContainerState) -> str:
    """Docker's State.Status: created, running, paused, restarting, exited."""
    if state.status == RUNNING:
        if state.restarting:
            return "restarting"
        return "paused" if state.paused else "running"
    return state.status


def status_text(state: ContainerState, now: datetime | None = None) -> str:
    """Docker's STATUS: `Up 3 seconds`, `Up 3 seconds (Paused)`, `Exited (0) 2 seconds ago`,
    `Restarting (1) Less than a second ago`."""
    if now is None:
        from datetime import datetime, timezone  # a time shown: not a build's (tests/test_start_up.py)

        now = datetime.now(timezone.utc)
    if state.status == RUNNING and state.restarting:
        return f"Restarting ({state.exit_code}) {since(parse_time(state.finished_at), now)}"
    if state.status == RUNNING:
        started = parse_time(state.started_at) or now
        text = "Up " + human_duration(max(0.0, (now - started).total_seconds()))
        if state.paused:
            return text + " (Paused)"
        status = (state.health or {}).get("Status")
        if status:
            return text + (" (health: starting)" if status == "starting" else f" ({status})")
        return text
    if state.status == EXITED:
        return f"Exited ({state.exit_code}) {since(parse_time(state.finished_at), now)}"
    return "Created"


class ContainerDir:
    """Paths and state files of one container."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name

    upper = property(lambda self: self.path / "upper")
    work = property(lambda self: self.path / "work")
    init = property(lambda self: self.path / "init")
    merged = property(lambda self: self.path / "merged")
    spec = property(lambda self: self.path / "config.json")
    log = property(lambda self: self.path / f"{self.id}-json.log")
    lower_file = property(lambda self: self.path / "lower")
    # the /dev/shm of a container with a shareable IPC (--ipc shareable): a tmpfs on the host
    # while it runs, which containers joining its IPC bind too (runtime/joined.py)
    shm = property(lambda self: self.path / "shm")
    # its volume subpaths (API 1.45), each bound here from its checked descriptor while it runs,
    # which the runtime binds in turn (runtime/volumes.subpath_source)
    subpaths = property(lambda self: self.path / "subpaths")

    def exists(self) -> bool:
        """Whether the container exists: its record appears last at create, goes first at
        removal."""
        return (self.path / "container.json").is_file()

    def read_record(self) -> ContainerRecord:
        return ContainerRecord.from_dict(json.loads((self.path / "container.json").read_bytes()))

    def write_record(self, record: ContainerRecord, *, durable: bool = True) -> None:
        write_file(self.path / "container.json", json.dumps(record.to_dict()).encode(), durable=durable)

    def read_state(self) -> ContainerState:
        try:
            return ContainerState.from_dict(json.loads((self.path / "state.json").read_bytes()))
        except FileNotFoundError:
            return ContainerState()
        except ValueError:  # a non-durable write torn by a crash of the host
            return ContainerState(status=EXITED, exit_code=255,
                                  error="container state lost when the host stopped")

    def write_state(self, state: ContainerState, *, durable: bool = True) -> None:
        """NotFound, never a new folder, for a container removed meanwhile."""
        try:
            write_file(self.path / "state.json", json.dumps(asdict(state)).encode(), durable=durable)
        except FileNotFoundError:
            raise NotFound(f"No such container: {self.id}") from None

    @contextmanager
    def _flock(self, name: str, shared: bool = False) -> Iterator[None]:
        """A lock file of the container's; NotFound once it is removed (its directory is never
        made again by a late locker)."""
        try:
            fd = os.open(self.path / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(f"No such container: {self.id}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Guards read-modify-write of the state. Re-entrant within a thread: a caller under it
        may read the current state (current_state records a dead monitor's end under it), which
        took a second flock of the same file and waited for itself: `docker rename` or `update`
        of a container whose monitor was killed hung, holding the lock, and every later `ps`
        with it. NotFound once the container is removed, whenever the locker came."""
        held = _HELD.__dict__.setdefault("paths", set())
        if self.path in held:
            yield
            return
        try:
            with self._flock("state.lock"):
                # A removal takes the folder away under this lock (runtime/removal.destroy): a
                # locker that opened the lock file before it and got the lock after finds no
                # record, and the container stays whole while the lock is held.
                if not self.exists():
                    raise NotFound(f"No such container: {self.id}")
                held.add(self.path)
                try:
                    yield
                finally:
                    held.discard(self.path)
        finally:
            for action in _HELD.__dict__.get("after", {}).pop(self.path, ()):
                action()

    def held_here(self) -> bool:
        """Whether this thread holds the container's state lock (`locked`)."""
        return self.path in _HELD.__dict__.get("paths", ())

    def when_unlocked(self, action: Callable[[], None]) -> None:
        """`action` once this thread has let the state lock go, at once when it does not hold
        it: what takes a lock that comes before the state lock (a removal takes wait.lock),
        reached by a caller under it."""
        if not self.held_here():
            action()
            return
        _HELD.__dict__.setdefault("after", {}).setdefault(self.path, []).append(action)

    def _before_state_lock(self, name: str) -> None:
        if self.held_here():   # a bug of ours: it would wait for a waiter that waits for us
            raise RuntimeError(f"lock order: {name} taken under the state lock of {self.id}")

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Held (shared) by whoever waits for the container: its removal waits until every
        waiter has seen the final state (see `removal`)."""
        self._before_state_lock("wait.lock")
        watched = _HELD.__dict__.setdefault("watched", [])
        with self._flock("wait.lock", shared=True):
            watched.append(self.path)
            try:
                yield
            finally:
                watched.remove(self.path)

    def watched_here(self) -> bool:
        """Whether this thread waits for the container (`watching`): a removal by this thread
        would wait for itself."""
        return self.path in _HELD.__dict__.get("watched", ())

    @contextmanager
    def removal(self) -> Iterator[None]:
        """Held (exclusive) to take the container away, after its state says `removing`:
        waiters read that state and let go first, so they can report the exit code of a
        container that is gone (as Docker's daemon does from memory)."""
        self._before_state_lock("wait.lock")
        with self._flock("wait.lock"):
            yield

    def share_rootfs(self) -> int:
        """A share of rootfs.lock (a shared flock on the fd returned), held by a user of the
        container's rootfs mounted for it while it does not run (a cp, an export): taken
        under `locked()`, given back with `last_rootfs_user`. A process that dies gives its
        share back with it."""
        fd = os.open(self.path / "rootfs.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        return fd

    @staticmethod
    def last_rootfs_user(fd: int) -> bool:
        """Give the share back (under `locked()`, so that no user comes meanwhile); True when
        no other user held one: the rootfs is the last user's to unmount."""
        alone = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # our share made exclusive: no other
        except BlockingIOError:
            alone = False
        finally:
            os.close(fd)
        return alone

    @contextmanager
    def update(self, *, durable: bool = True) -> Iterator[ContainerState]:
        """Read-modify-write of the state under the container's lock; NotFound (nothing yielded,
        nothing written) for a container removed before the lock was had. A missing state.json
        of a container that exists is its default state (`create` writes it without an fsync)."""
        with self.locked():
            state = self.read_state()
            yield state
            self.write_state(state, durable=durable)


def write_file(path: Path, data: bytes, *, durable: bool, mode: int = 0o644) -> None:
    """Replace `path` atomically; `durable` also fsyncs the file and its directory. The
    directory must exist (FileNotFoundError): a write never makes a removed container's
    folder again."""
    if durable:
        atomic_write(path, data, mode=mode, parents=False)
    else:
        replace_file(path, data, mode=mode)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not). A process gone at any point is not alive:
    one reaped between the open of /proc/PID/stat and its read makes the read answer ESRCH
    (a monitor that `dockyard serve` reaps while `rm -f` waits for it to end)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
