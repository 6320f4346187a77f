"""The OCI hooks that put a container on its networks: `createRuntime` joins (the runtime has
made the container's namespaces, its process has not started), `poststop` leaves (at the
runtime's `delete`, whoever calls it: the monitor at exit, `rm` after a killed monitor).

    python -m dockyard.runtime.network.hook join|leave STORE_ROOT    (the state JSON on stdin)
    python -m dockyard.runtime.network.hook unhold STORE_ROOT        (endpoints.BridgeHold's end)

A container's monitor does both itself (`Starting`): it makes the namespace before the runtime
runs and sets it up while the runtime creates the container, whose `createRuntime` hook only
waits for it (a shell reading a FIFO); it leaves before the runtime's `delete`, whose
`poststop` hook then finds nothing to undo and ends at once. Each hook in Python was an
interpreter's start and dockyard's imports (~0.1-0.2 s wall at load 5) before netavark ran; the
hook of a run whose monitor was killed still leaves in Python (network.json is there).

The container's network request is kept in its record (`extensions.network`: written at create,
changed by `network connect/disconnect`); the container dir is the bundle. The
join also rewrites /etc/hosts and /etc/resolv.conf of the container in place (the runtime has
bind-mounted them already): the container's addresses, aardvark-dns as its name server.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import dockyard
from dockyard.errors import DockyardError
from dockyard.runtime.hostconfig import HOST_GATEWAY
from dockyard.runtime.network import endpoints, netavark
from dockyard.runtime.network.endpoints import NetworkRequest
from dockyard.runtime.resolvconf import resolv_conf
from dockyard.runtime.state import ContainerDir
from dockyard.store.events import Journal

EXTENSION = "network"   # the key of the network request in the container record's extensions
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def hooks_for(root: Path) -> dict[str, list[dict[str, Any]]]:
    """The OCI hooks of a container on bridge networks (HostConfig.hooks)."""
    package_parent = str(Path(dockyard.__file__).resolve().parent.parent)
    env = [f"PATH={_PATH}", f"PYTHONPATH={package_parent}"]
    if "DOCKYARD_RUN_DIR" in os.environ:
        env.append(f"DOCKYARD_RUN_DIR={os.environ['DOCKYARD_RUN_DIR']}")

    def hook(action: str) -> dict[str, Any]:
        return {"path": sys.executable, "args": [sys.executable, "-m", __name__, action, str(root)],
                "env": env, "timeout": 60}

    return {"createRuntime": [hook("join")], "poststop": [hook("leave")]}


# createRuntime of a monitor's start: one line from the FIFO $1, "ok" or the join's error
_WAIT = ('read -r line < "$1"; [ "$line" = ok ] && exit 0; '
         'printf "%s\\n" "${line:-the container monitor ended before its network was set up}" >&2; exit 1')
# poststop: the Python leave only when something is left to undo (a killed monitor's)
_LEAVE_LEFT = 'if [ -e "$1" ] || [ -e "$2" ]; then shift 2; exec "$@"; fi'


def is_network_hooks(hooks: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether `hooks` (a container record's) are hooks_for's: the container is on bridge networks."""
    return any(__name__ in h.get("args", ()) for h in hooks.get("createRuntime", ()))


class Starting:
    """A container's networks, joined by its monitor while the runtime creates the container.

    `begin` makes the namespace (the spec names it: `netns`), then sets it up in a thread; the
    runtime's createRuntime hook (`hooks`) waits for the thread's word on the FIFO `ready`, so
    the container's process starts on its networks, or the runtime fails with the join's error.
    The monitor opens the FIFO read-write: its line waits there for the hook, and the hook sees
    an end of file if the monitor dies. `end` waits for the thread; a start that failed leaves."""

    def __init__(self, root: Path, cdir: Path, container_id: str) -> None:
        self.root, self.cdir, self.container_id = root, cdir, container_id
        self.netns = endpoints.netns_path(cdir)
        self.ready = cdir / "network.ready"
        self._fd: int | None = None
        self._thread: threading.Thread | None = None

    def hooks(self) -> dict[str, list[dict[str, Any]]]:
        leave_hook = hooks_for(self.root)["poststop"][0]
        return {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", _WAIT, "sh", str(self.ready)],
                                   "timeout": 60}],
                "poststop": [{**leave_hook, "path": "/bin/sh",
                              "args": ["sh", "-c", _LEAVE_LEFT, "sh", str(endpoints.state_path(self.cdir)),
                                       str(self.netns), *leave_hook["args"]]}]}

    def begin(self) -> None:
        self.ready.unlink(missing_ok=True)
        os.mkfifo(self.ready, 0o600)
        self._fd = os.open(self.ready, os.O_RDWR | os.O_CLOEXEC)
        try:
            netavark.make_netns(self.netns)
        except BaseException:
            self._close()
            raise
        self._thread = threading.Thread(target=self._join, name=f"network {self.container_id[:12]}",
                                        daemon=True)
        self._thread.start()

    def _join(self) -> None:
        try:
            join(self.root, self.cdir, self.container_id)
            word = "ok"
        except BaseException as exc:  # noqa: BLE001 - the runtime's hook says it, as its own did
            word = " ".join(str(exc).split()) or type(exc).__name__
        assert self._fd is not None
        os.write(self._fd, f"{word}\n".encode())

    def end(self, started: bool) -> None:
        """The runtime returned: the join is over; `started` false, what it set up goes."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()
        if not started:
            leave(self.root, self.cdir, self.container_id)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.ready.unlink(missing_ok=True)


def write_request(cdir: Path, request: NetworkRequest) -> None:
    """A container's network request changed (network connect/disconnect): its record keeps it."""
    container = ContainerDir(cdir)
    with container.locked():
        record = container.read_record()
        record.extensions[EXTENSION] = request.to_dict()
        container.write_record(record)


def read_request(cdir: Path) -> NetworkRequest:
    try:
        raw = json.loads((cdir / "container.json").read_bytes())
    except FileNotFoundError:
        return NetworkRequest(mode="host")
    data = (raw.get("extensions") or {}).get(EXTENSION)
    if data is None:   # a container made before networks: the host's, as then
        return NetworkRequest(mode=(raw.get("host") or {}).get("network_mode") or "host")
    return NetworkRequest.from_dict(data)


def _alive(root: Path):  # noqa: ANN202
    return lambda cid: (root / "containers" / cid / "container.json").is_file()


def _rewrite(path: Path, data: bytes) -> None:
    """In place: the runtime bind-mounted this inode into the container."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def join(root: Path, cdir: Path, container_id: str, pid: int | None = None) -> None:
    """Join the container's networks: the namespace of its process `pid` (the runtime's hook),
    else the one Starting made at endpoints.netns_path (its to remove)."""
    record = json.loads((cdir / "container.json").read_bytes())
    request = read_request(cdir)
    exposed = list((record.get("config") or {}).get("ExposedPorts") or {})
    host = record.get("host") or {}
    state = endpoints.join(root, cdir, container_id, record["name"], request, exposed,
                           _alive(root), pid=pid, made=pid is None, links=host.get("links") or [],
                           dns=host.get("dns") or [])
    _events(root, container_id, state, "connect")
    hostname = record.get("hostname") or container_id[:12]
    if request.mode != "none":
        write_resolv_conf(cdir, host, state)
    if (cdir / "hosts").exists():
        links = [_link_names(root, link)
                 for link in [*(host.get("links") or []), *(l for cfg in request.networks.values() for l in cfg.links)]]
        gateway_names = [name for name, _, ip in (e.partition(":") for e in host.get("extra_hosts") or [])
                         if ip == HOST_GATEWAY]
        _rewrite(cdir / "hosts", endpoints.hosts_file((cdir / "hosts").read_bytes(), state, hostname, links,
                                                      gateway_names))


def _link_names(root: Path, link: str) -> tuple[str, endpoints.NetworkState | None]:
    """A link's names on its /etc/hosts line as dockerd writes them (its buildSandboxOptions):
    the alias, the linked container's hostname, its name unless that is the alias; with the
    linked container's network state (None when it is gone)."""
    target, _, alias = link.partition(":")
    alias = alias or target
    other = endpoints.container_dir(root, target)
    try:
        child = json.loads((other / "container.json").read_bytes()) if other is not None else None
    except (FileNotFoundError, ValueError):
        child = None
    if other is None or child is None:
        return alias, None
    names = [alias, child.get("hostname") or other.name[:12]]
    if child.get("name") != alias:
        names.append(child.get("name") or "")
    return " ".join(names), endpoints.read_state(other)


def forget_link(root: Path, cdir: Path, link: str) -> None:
    """`rm --link` of a running container: the link's /etc/hosts line goes at once, as
    dockerd's sandbox refresh (updateNetwork) drops it."""
    names, _ = _link_names(root, link)
    _edit_hosts(cdir, lambda line: line.partition("\t")[2] == names)


def hosts_address(cdir: Path, hostname: str, ip: str, *, present: bool) -> None:
    """A running container's /etc/hosts line for its address on a network it was connected to
    (`present`: added, as dockerd's sandbox adds it) or disconnected from (removed; dockerd's
    removal takes the container's other lines too, which dockyard keeps)."""
    line = f"{ip}\t{hostname}"
    _edit_hosts(cdir, lambda old: old == line, line if present else "")


def _edit_hosts(cdir: Path, drop: Callable[[str], bool], add: str = "") -> None:
    """A running container's /etc/hosts without the lines `drop` says, with `add` at its end."""
    try:
        current = (cdir / "hosts").read_bytes()
    except FileNotFoundError:
        return
    lines = current.decode(errors="replace").splitlines()
    kept = [line for line in lines if not drop(line)] + ([add] if add else [])
    if kept != lines:
        _rewrite(cdir / "hosts", "".join(f"{line}\n" for line in kept).encode())


def write_resolv_conf(cdir: Path, host: dict[str, Any], state: endpoints.NetworkState | None) -> None:
    """The container's /etc/resolv.conf for the networks it is on now: their DNS servers in
    place of the host's (at its start, and when a running container connects to a network
    with DNS, as dockerd's sandbox then takes its embedded server, 127.0.0.11), the host's
    again once it left the last of them (dockerd keeps 127.0.0.11, which no longer answers the
    names of a network the container left: a gateway kept here still did, reached through the
    host)."""
    if not (cdir / "resolv.conf").exists() or state is None:
        return
    try:
        host_resolv = Path("/etc/resolv.conf").read_bytes()
    except OSError:
        host_resolv = b""
    servers = [j.gateway for j in state.networks.values() if j.network.get("dns_enabled")]
    _rewrite(cdir / "resolv.conf", resolv_conf(
        host_resolv, host.get("dns") or [], host.get("dns_search") or [],
        host.get("dns_options") or [], own_namespace=True, network_servers=servers))


def leave(root: Path, cdir: Path, container_id: str) -> None:
    try:
        name = json.loads((cdir / "container.json").read_bytes())["name"]
    except (FileNotFoundError, ValueError, KeyError):
        name = container_id[:12]
    state = endpoints.read_state(cdir)
    endpoints.leave(root, cdir, container_id, name)
    _events(root, container_id, state, "disconnect")


def _events(root: Path, container_id: str, state: endpoints.NetworkState | None, action: str) -> None:
    """dockerd's `network connect`/`disconnect` events of a container's start and stop."""
    journal = Journal(root)
    for name, joined in (state.networks.items() if state is not None else []):
        journal.emit("network", action, joined.network_id,
                     {"container": container_id, "name": name, "type": "bridge"})


def main(argv: list[str]) -> int:
    action, root = argv[0], Path(argv[1])
    if action == "unhold":   # serve ended without letting its default bridge go (BridgeHold)
        endpoints.settle(root)
        return 0
    state = json.loads(sys.stdin.read() or "{}")
    cdir = Path(state.get("bundle") or root / "containers" / state["id"])
    try:
        if action == "join":
            join(root, cdir, state["id"], int(state["pid"]))
        elif action == "leave":
            leave(root, cdir, state["id"])
        else:
            print(f"unknown hook action {action}", file=sys.stderr)
            return 2
    except DockyardError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
