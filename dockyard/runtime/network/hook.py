"""The OCI hooks that put a container on its networks: `createRuntime` joins (the runtime has
made the container's namespaces, its process has not started), `poststop` leaves (at the
runtime's `delete`, whoever calls it: the monitor at exit, `rm` after a killed monitor).

    python -m dockyard.runtime.network.hook join|leave STORE_ROOT    (the state JSON on stdin)

The container's network request is kept in its record (`extensions.network`: written at create,
changed by `network connect/disconnect`); the container dir is the bundle. The
join also rewrites /etc/hosts and /etc/resolv.conf of the container in place (the runtime has
bind-mounted them already): the container's addresses, aardvark-dns as its name server.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import dockyard
from dockyard.errors import DockyardError
from dockyard.runtime.hostconfig import HOST_GATEWAY
from dockyard.runtime.network import endpoints
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


def join(root: Path, cdir: Path, container_id: str, pid: int) -> None:
    record = json.loads((cdir / "container.json").read_bytes())
    request = read_request(cdir)
    exposed = list((record.get("config") or {}).get("ExposedPorts") or {})
    state = endpoints.join(root, cdir, container_id, record["name"], request, exposed,
                           _alive(root), pid=pid)
    _events(root, container_id, state, "connect")
    host = record.get("host") or {}
    hostname = record.get("hostname") or container_id[:12]
    try:
        host_resolv = Path("/etc/resolv.conf").read_bytes()
    except OSError:
        host_resolv = b""
    if (cdir / "resolv.conf").exists() and request.mode != "none" and state is not None:
        servers = [j.gateway for j in state.networks.values() if j.network.get("dns_enabled")]
        _rewrite(cdir / "resolv.conf", resolv_conf(
            host_resolv, host.get("dns") or [], host.get("dns_search") or [],
            host.get("dns_options") or [], own_namespace=True, network_servers=servers))
    if (cdir / "hosts").exists():
        links = []
        for link in [*(host.get("links") or []), *(l for cfg in request.networks.values() for l in cfg.links)]:
            target, _, alias = link.partition(":")
            other = endpoints.container_dir(root, target)
            links.append((alias or target, endpoints.read_state(other) if other is not None else None))
        gateway_names = [name for name, _, ip in (e.partition(":") for e in host.get("extra_hosts") or [])
                         if ip == HOST_GATEWAY]
        _rewrite(cdir / "hosts", endpoints.hosts_file((cdir / "hosts").read_bytes(), state, hostname, links,
                                                      gateway_names))


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
