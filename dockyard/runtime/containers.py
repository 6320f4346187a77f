"""The containers of a store: create one, look one up, list them, read its current state.

Containers live under `<store root>/containers/<id>/` (see runtime/state.py); starting, stopping,
waiting and removing are in runtime/lifecycle.py, extra processes in runtime/exec.py, logs in
runtime/logs.py. The builder's RUN and the engine (for both servers) use these.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import fsync_dir, fsync_file
from dockyard.dataclass import dataclass, field, replace
from dockyard.digest import Digest
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound
from dockyard.image.config import ContainerConfig, merge_config, now_rfc3339
from dockyard.runtime.hostconfig import HostConfig, Resources, RestartPolicy, joined_container
from dockyard.runtime.spec import resources as oci_resources
from dockyard.runtime.names import random_name, validate_name
from dockyard.runtime.oci import OciRuntime, choose_runtime, for_store
from dockyard.runtime import removal
from dockyard.runtime.rootfs import make_init_layer
from dockyard.runtime.spec import Bind
from dockyard.runtime.state import (
    EXITED, RUNNING, ContainerDir, ContainerRecord, ContainerState, health_after_exit, pid_alive,
)
from dockyard.store import workspace
from dockyard.store.locks import flock
from dockyard.store.events import Journal
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

_HEX = set("0123456789abcdef")


@dataclass
class CreateOptions:
    """What a new container runs and how (`docker create`'s flags, Docker's container config).
    The process fields override the image's config; None keeps the image's."""

    image: str                                       # a name or ID in the store
    cmd: list[str] = field(default_factory=list)     # [] keeps the image's (unless entrypoint)
    entrypoint: list[str] | None = None              # None: the image's; []: none
    env: list[str] = field(default_factory=list)     # NAME=VALUE, or NAME (the caller's value)
    workdir: str | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)   # added to the image's labels
    exposed_ports: list[str] = field(default_factory=list)  # "80/tcp", added to the image's
    volumes: list[str] = field(default_factory=list)        # mount points, added to the image's
    stop_signal: str | None = None
    stop_timeout: int | None = None                  # seconds; None: the default (10)
    healthcheck: dict[str, Any] | None = None        # Docker's HealthConfig; None: the image's
    name: str | None = None                          # None: a random adjective_surname
    hostname: str | None = None                      # None: the ID's first 12 characters
    domainname: str = ""                             # the UTS namespace's NIS domain name
    mac_address: str = ""                            # Config.MacAddress, as given (the network's to apply)
    tty: bool = False
    open_stdin: bool = False                         # -i: stdin stays open for attach
    stdin_once: bool = False                         # closed when the first attacher's input ends
    attach_stdin: bool = False                       # what the client meant to attach (recorded
    attach_stdout: bool = False                      # in the config, as Docker's AttachStdin...)
    attach_stderr: bool = False
    extensions: dict[str, Any] = field(default_factory=dict)   # kept in the record, opaque here
    host: HostConfig = field(default_factory=HostConfig)


def _containers_dir(store: Store) -> Path:
    d = store.root / "containers"
    d.mkdir(exist_ok=True)
    return d


def oci_runtime(store: Store, record: ContainerRecord) -> OciRuntime:
    """The OCI runtime (crun or runc) a container was created with."""
    return for_store(store.root, record.host.runtime)


def all_containers(store: Store) -> list[ContainerDir]:
    out = []
    for entry in _containers_dir(store).iterdir():
        if (entry / "container.json").is_file():
            out.append(ContainerDir(entry))
    return out


def lookup(store: Store, name: str) -> ContainerDir:
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


def _end_orphan(cdir: ContainerDir) -> None:
    """What a dead monitor left (killed -9): its container's processes go, as containerd ends a
    task whose shim died, with its network (the runtime's poststop hooks) and its mounts: the
    state says exited, and `stop`/`kill` refuse an exited container, so they would run on with
    its address and its rootfs until a start or rm. `init.pid` marks what the runtime may
    still know (the monitor removes it when it deletes the runtime's state)."""
    if (cdir.path / "init.pid").exists():
        record = cdir.read_record()
        for_store(cdir.path.parent.parent, record.host.runtime).delete(record.id)
        (cdir.path / "init.pid").unlink(missing_ok=True)
    removal.unmount(cdir)
    try:
        mounts = cdir.read_record().host.mounts
    except FileNotFoundError:
        return
    if any(m.type == "volume" for m in mounts):
        from dockyard.runtime.volumes import names_in, release_all

        release_all(cdir.path.parent.parent, cdir.id, names_in(mounts))


ORPHANED = "container monitor exited unexpectedly"   # the error of a run whose monitor died


def _auto_remove(cdir: ContainerDir) -> None:
    """A container with AutoRemove (--rm) whose monitor died is removed, as dockerd's daemon
    removes it whatever happened to its client: an in-process `run --rm` (its monitor is the
    CLI) killed left it Exited (255) for ever. NotFound once removed. Never by a thread that
    waits for it (its removal waits for the waiters): that one's next look after its wait. A
    thread under the container's state lock (`update`) removes it once it lets the lock go: the
    removal takes wait.lock, which comes before (runtime/state.py); NotFound for it at once."""
    try:
        record = cdir.read_record()
    except FileNotFoundError:
        raise NotFound(f"No such container: {cdir.id}") from None
    if not record.host.auto_remove or cdir.watched_here():
        return
    store = Store(cdir.path.parent.parent)
    cdir.when_unlocked(lambda: removal.destroy(store, cdir, volumes=True))
    raise NotFound(f"No such container: {cdir.id}")


def current_state(cdir: ContainerDir) -> ContainerState:
    """The state, corrected when a monitor died without recording the exit (killed -9), and
    unpaused when a commit that paused it was killed before it could unpause. A container
    with AutoRemove whose monitor died is removed then (NotFound)."""
    state = cdir.read_state()
    if state.status == RUNNING and not pid_alive(state.monitor_pid):
        # written only when changed; a removal that went between the two reads makes the lock
        # NotFound (ContainerDir.locked)
        with cdir.locked():
            st = cdir.read_state()
            if st.status == RUNNING and not pid_alive(st.monitor_pid):
                st.status, st.paused, st.pid = EXITED, False, 0
                st.health = health_after_exit(st.health)
                # what dockerd reports for a container whose shim died: its process killed
                # (SIGKILL, 128 + 9; _end_orphan kills it so) (tests/interop/test_restart)
                st.exit_code = 137
                st.error = ORPHANED
                st.finished_at = now_rfc3339()
                _end_orphan(cdir)
                cdir.write_state(st)
            state = replace(st)
    if state.status == EXITED and state.error == ORPHANED:
        _auto_remove(cdir)
    if state.paused and state.pause_owner and not workspace.alive(state.pause_owner):
        with cdir.locked():
            st = cdir.read_state()
            if st.paused and st.pause_owner and not workspace.alive(st.pause_owner):
                record = cdir.read_record()
                try:
                    for_store(cdir.path.parent.parent, record.host.runtime).resume(record.id)
                except DockyardError:
                    pass  # it may have stopped meanwhile
                st.paused, st.pause_owner = False, ""
                cdir.write_state(st, durable=False)
            state = replace(st)
    return state


# -- create ----------------------------------------------------------------------------------------
def merge_env(base: list[str] | None, extra: list[str]) -> list[str] | None:
    """`extra` over `base` by name. A bare NAME stays as it is (Docker's config keeps it; the
    process's environment then lacks NAME: runtime/spec.process_env): the client resolves
    `-e NAME` from its own environment, never the daemon from its own."""
    env = list(base or [])
    for item in extra:
        key = item.partition("=")[0]
        idx = [i for i, e in enumerate(env) if e.partition("=")[0] == key]
        if idx:
            env[idx[0]] = item
        else:
            env.append(item)
    return env or None


def _container_config(image: ContainerConfig, opts: CreateOptions, hostname: str) -> ContainerConfig:
    """The container's config as dockerd 20.10 makes it: the request's, completed from the
    image's by Docker's merge (image.config.merge_config: not the image's OnBuild or Shell).
    Hostname, Domainname, the Attach flags, Tty, OpenStdin, StdinOnce and Image (as the user
    named it) are in it too: what `docker inspect` shows and `commit` writes."""
    if opts.workdir and not opts.workdir.startswith("/"):
        raise InvalidParameter(
            f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path")
    for item in opts.env:
        if item.startswith("="):   # no name: runc refused it at each start (a 500)
            raise InvalidParameter(f"invalid environment variable: {item}")
    own = ContainerConfig(
        user=opts.user or "", working_dir=opts.workdir or "", stop_signal=opts.stop_signal or "",
        env=merge_env(None, opts.env), labels=dict(opts.labels),
        exposed_ports={p: {} for p in opts.exposed_ports} or None,
        volumes={v: {} for v in opts.volumes} or None, cmd=list(opts.cmd) or None,
        healthcheck=dict(opts.healthcheck) if opts.healthcheck is not None else None,
        # an entrypoint given empty (`--entrypoint ""`, Docker's [""]) drops the image's command
        entrypoint=None if opts.entrypoint is None else list(opts.entrypoint) or [""])
    cfg = merge_config(own, image)
    if cfg.entrypoint == [""]:
        cfg.entrypoint = None
    if not (cfg.entrypoint or cfg.cmd):
        raise InvalidParameter("No command specified")
    cfg.extra = {"Hostname": hostname, "Domainname": opts.domainname, "AttachStdin": opts.attach_stdin,
                 "AttachStdout": opts.attach_stdout, "AttachStderr": opts.attach_stderr,
                 "Tty": opts.tty, "OpenStdin": opts.open_stdin, "StdinOnce": opts.stdin_once,
                 "Image": opts.image}
    if opts.mac_address:
        cfg.extra["MacAddress"] = opts.mac_address
    if opts.stop_timeout is not None:
        cfg.extra["StopTimeout"] = opts.stop_timeout   # the container's own, never the image's
    return cfg


def _check_host(store: Store, host: HostConfig) -> None:
    if (host.network_mode not in ("host", "none") and not joined_container(host.network_mode)
            and not (host.netns_path or host.hooks)):
        # a network's namespace is given, set up by the hooks of a network stack, or another
        # container's (runtime/joined.py)
        raise InvalidParameter(f"network {host.network_mode} not found")
    for b in host.binds:
        Bind.parse(b)
    choose_runtime(store.root, host.runtime)


def new_record(store: Store, opts: CreateOptions, name: str = "",
               image_config: ContainerConfig | None = None) -> ContainerRecord:
    """The record of a new container (a fresh ID, Docker's config), made in memory: the
    options are checked, nothing is written. `image_config`: the config of the image
    `opts.image` (its full ID) when the caller has it; the store is then not read (a build
    step's image may still be being written: builder/classic/state.py)."""
    _check_host(store, opts.host)
    if image_config is None:
        image_id = store.resolve(opts.image)
        image_config = store.image(image_id).config.config
    else:
        image_id = Digest.parse(opts.image)
    container_id = os.urandom(32).hex()  # secrets.token_hex(32), without secrets' hmac and OpenSSL
    hostname = opts.hostname or container_id[:12]
    cfg = _container_config(image_config, opts, hostname)
    return ContainerRecord(
        id=container_id, name=name, image_id=str(image_id), image_name=opts.image,
        created=now_rfc3339(), config=cfg, host=replace(opts.host),
        tty=opts.tty, open_stdin=opts.open_stdin, stdin_once=opts.stdin_once,
        extensions=dict(opts.extensions), hostname=hostname)


def create(store: Store, opts: CreateOptions) -> ContainerRecord:
    """A new container, stopped; visible once whole. Bad options change nothing on disk."""
    record = new_record(store, opts)
    container_id, image_id = record.id, Digest.parse(record.image_id)
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
        record.name = name
        # Made whole in this process's temp folder, then moved in by one rename: a kill
        # leaves nothing in containers/ (the temp folder goes at the next start).
        made = ContainerDir(store.tmp / container_id)
        final = _containers_dir(store) / container_id
        made.path.mkdir(mode=0o710)
        try:
            for d in (made.upper, made.work, made.merged):
                d.mkdir(mode=0o755)
            make_init_layer(made.init)
            # not fsynced: a missing state.json reads as "created" anyway
            made.write_state(ContainerState(), durable=False)
            made.write_record(record, durable=False)
            fsync_file(made.path / "container.json")  # the rename below publishes it
            # The hold and the container appear in one hold of the gc lock: the hold is void
            # without its container, and the collector drops it if a kill comes between.
            with store.ingesting():
                store.hold(container_id, image_id, holder=final)
                os.rename(made.path, final)
            fsync_dir(final.parent)
        except BaseException:
            # A full disk (or any failure) leaves no half-made container behind.
            if not final.exists():
                store.release(container_id)
            remove_path(made.path, ignore_errors=True)
            raise
    Journal(store.root).emit("container", "create", record.id, record.event_attributes())
    return record


# -- rename / update -------------------------------------------------------------------------------
def rename(store: Store, name: str, new_name: str) -> ContainerRecord:
    """`docker rename`: a new unique name (the old one is free at once)."""
    cdir = lookup(store, name)
    # dockerd's words: the new name is reserved as "/NAME", its errors said to be the allocation's
    try:
        new = validate_name("/" + new_name.lstrip("/"))
    except InvalidParameter as exc:
        raise InvalidParameter(f"Error when allocating new name: {exc}") from None
    with flock(store.lock_dir / "containers.lock"):
        record = cdir.read_record()
        if new == record.name:
            raise InvalidParameter(f"Renaming a container with the same name as its current name")
        for other in all_containers(store):
            if other.id != record.id and other.read_record().name == new:
                raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new}" is '
                               f'already in use by container '
                               f'"{other.id}". You have to remove (or rename) that container to be '
                               "able to reuse that name.")
        old = record.name
        record.name = new
        cdir.write_record(record)
    Journal(store.root).emit("container", "rename", record.id,
                             record.event_attributes(oldName="/" + old))
    return record


def remove_link(store: Store, link_name: str) -> None:
    """`docker rm --link /PARENT/ALIAS`: the parent no longer links to ALIAS: its /etc/hosts
    line goes from a running container at once (hook.forget_link), as dockerd refreshes its
    sandbox; its variables from its next start on. dockerd's names and words: a link is a
    name of its own, `PARENT/ALIAS`. Only a legacy link has one: dockerd registers no link of a
    container on a user network (its endpoint's, answered by DNS), and refuses its removal as
    a container it cannot find."""
    name = link_name.strip("/")
    parent, slash, alias = name.rpartition("/")
    if not slash:
        lookup(store, name)
        raise Conflict("Conflict, cannot remove the default link name of the container")
    try:
        cdir = lookup(store, parent)
    except NotFound:
        raise NotFound(f"No such container: {name}") from None
    with cdir.locked():
        record = cdir.read_record()
        kept = [link for link in record.host.links if link.partition(":")[2] != alias]
        removed = [link for link in record.host.links if link not in kept]
        if not removed or record.host.network_mode not in ("bridge", "none"):
            raise NotFound(f"No such container: {name}")
        record.host.links = kept
        cdir.write_record(record)
        from dockyard.runtime.network.hook import forget_link   # a bridge run's: its network

        forget_link(store.root, cdir.path, removed[0])


def update(store: Store, name: str, resources: Resources | None, restart: RestartPolicy | None) -> ContainerRecord:
    """`docker update`: new limits (applied at once to a running container) and policy."""
    cdir = lookup(store, name)
    with cdir.locked():
        record = cdir.read_record()
        if resources is not None:
            record.host.resources = resources
        if restart is not None:
            record.host.restart = restart
        if current_state(cdir).status == RUNNING and resources is not None:
            limits = oci_resources(record.host)
            limits.pop("devices", None)
            oci_runtime(store, record).update(record.id, limits)
        cdir.write_record(record)
    Journal(store.root).emit("container", "update", record.id, record.event_attributes())
    return record
