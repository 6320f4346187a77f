"""Namespaces joined from another container: `--network container:NAME` (compose's
`network_mode: service:NAME`, which compose 1.29 sends as container:<id>), `--pid container:NAME`
and `--ipc container:NAME`, as dockerd 20.10 does them.

The mode names the other container by its full ID from the create on (`resolve`; a network's
target may not exist yet at create, as dockerd allows: the start then fails). At every start
(`at_start`) the target must be running: the runtime joins its namespaces by their
/proc/PID/ns/ files. Joining its network also takes its /etc/hosts, /etc/hostname and
/etc/resolv.conf (bound from its directory: no files of the joiner's own) and its hostname and
domain name, which the joiner's config keeps (dockerd writes them into Config at the start).
Joining its IPC takes its /dev/shm: a shareable container's is a tmpfs on the host (its
ContainerDir.shm, mounted at its start, unmounted when it stops or is removed, as dockerd's
mounts/shm), which the joiner binds too; the target must be `--ipc shareable` (or host: the
host's /dev/shm), dockerd 20.10's default IPC mode being private.
Nothing of the joiner's own is made on the host (no namespace file, no veth, no address): its
stop, its removal and a kill -9 of either monitor leave nothing to undo. When the target stops
the joiner keeps running in what it joined (a network namespace with only its loopback left, as
dockerd's).
"""

from __future__ import annotations

from pathlib import Path

from dockyard.dataclass import dataclass, field
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.runtime.containers import current_state, lookup
from dockyard.runtime.hostconfig import CONTAINER_MODE, HostConfig
from dockyard.runtime.hostconfig import joined_container as target
from dockyard.runtime.state import RUNNING, ContainerDir, ContainerRecord
from dockyard.store.store import Store

def resolve(store: Store, host: HostConfig, network_mode: str) -> tuple[HostConfig, str]:
    """At create: each container: mode with the target's full ID (dockerd's inspect shows
    container:<full id>). The pid and IPC targets must exist (No such container); the network's
    may not, then the mode is kept as given and the start fails."""
    for attr in ("pid_mode", "ipc_mode"):
        name = target(getattr(host, attr))
        if name:
            try:
                setattr(host, attr, CONTAINER_MODE + lookup(store, name).id)
            except NotFound as exc:   # dockerd's 400: the docker CLI must not pull the image
                raise InvalidParameter(str(exc)) from None
    name = target(network_mode)
    if name:
        try:
            network_mode = CONTAINER_MODE + lookup(store, name).id
        except NotFound:
            pass
    return host, network_mode


@dataclass
class Joined:
    """What a starting container takes from the containers it joins."""

    namespaces: dict[str, str] = field(default_factory=dict)   # OCI type -> /proc/PID/ns/...
    files_dir: str = ""      # the directory of the hosts, hostname, resolv.conf it binds
    hostname: str = ""       # the network target's hostname and domain name
    domainname: str = ""
    shm: str = ""            # the /dev/shm it binds (the IPC target's)


def _running(store: Store, name: str, not_running: str) -> tuple[ContainerDir, int]:
    """The target and its init's pid; `not_running` (dockerd's words, {id} its full ID) when it
    does not run."""
    cdir = lookup(store, name)
    state = current_state(cdir)
    if state.status != RUNNING or state.restarting or not state.pid:
        raise Conflict(not_running.format(id=cdir.id))
    return cdir, state.pid


def at_start(store: Store, record: ContainerRecord) -> Joined | None:
    """The namespaces of the running targets, or dockerd's error for the start; None for a
    container that joins nothing."""
    host = record.host
    modes = {"network": target(host.network_mode), "pid": target(host.pid_mode),
             "ipc": target(host.ipc_mode)}
    if not any(modes.values()):
        return None
    joined = Joined()
    if modes["network"]:
        cdir, pid = _running(store, modes["network"], "cannot join network of a non running container: {id}")
        joined.namespaces["network"] = f"/proc/{pid}/ns/net"
        joined.files_dir = str(files_dir(store, cdir))
        other = cdir.read_record()
        joined.hostname = other.hostname
        joined.domainname = other.config.extra.get("Domainname") or ""
    if modes["pid"]:
        _, pid = _running(store, modes["pid"], "container {id} is not running")
        joined.namespaces["pid"] = f"/proc/{pid}/ns/pid"
    if modes["ipc"]:
        what = f"can't join IPC of container {modes['ipc']}"
        try:
            cdir, pid = _running(store, modes["ipc"], what + ": Container {id} is not running")
        except NotFound as exc:
            raise NotFound(f"{what}: {exc}") from None
        mode = cdir.read_record().host.ipc_mode
        if mode not in ("shareable", "host"):
            raise InvalidParameter(f"{what}: non-shareable IPC (hint: use IpcMode:shareable for the "
                                   "donor container)")
        joined.namespaces["ipc"] = f"/proc/{pid}/ns/ipc"
        joined.shm = "/dev/shm" if mode == "host" else str(cdir.shm)
    return joined


def files_dir(store: Store, cdir: ContainerDir, depth: int = 0) -> Path:
    """Where a container's /etc/hosts, hostname and resolv.conf are: its own directory, or that of
    the container whose network it joins (a chain of joiners ends at the network's owner)."""
    name = target(cdir.read_record().host.network_mode)
    if not name or depth > 16:
        return cdir.path
    return files_dir(store, lookup(store, name), depth + 1)
