"""The host ports of published container ports: one container per (protocol, port, address).

dockerd's docker-proxy binds each published port on the host, so a second container asking for
a port another holds is refused (`Bind for 0.0.0.0:8080 failed: port is already allocated`), a
port a host process listens on is refused (`Error starting userland proxy: listen tcp4
0.0.0.0:8080: bind: address already in use`), and an ephemeral port (`-p 80`, `-P`) is never
one already given out. dockyard forwards with netavark's DNAT rules, which bind nothing: without
this, two containers publishing 8080 both got rules and one silently took the other's traffic,
and two `-P` containers could be given the same port (bind(0) then close hands a port back).

Reservations are host-wide, as subnets are (stores are many: every test has its own): one file
per (protocol, port, address) under `/run/dockyard/ports/` naming the store and container, made
under a host-wide lock at join and removed at leave. A reservation whose container no longer
exists (its store deleted, a killed run) is stale: taken over and removed. A host process's
socket is found by binding the port as docker-proxy would (SO_REUSEADDR, listen), then closing.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path
from typing import Iterable

from dockyard.errors import RuntimeFailure
from dockyard.runtime.network.netavark import PortMapping
from dockyard.runtime.network.subnets import RUN_DIR
from dockyard.store.locks import flock

_DIR = RUN_DIR / "ports"
_LOCK = RUN_DIR / "ports.lock"
_EPHEMERAL_TRIES = 64


def _file_name(proto: str, port: int, host_ip: str) -> str:
    return f"{proto}_{port}_{host_ip or 'any'}"


def _owner_exists(root: str, container_id: str) -> bool:
    return (Path(root) / "containers" / container_id / "container.json").is_file()


def _reservations() -> dict[tuple[str, int], list[tuple[str, str, str, Path]]]:
    """(protocol, port) -> [(address or "", store root, container ID, file)] of live owners;
    stale files are removed on the way (called under the lock)."""
    out: dict[tuple[str, int], list[tuple[str, str, str, Path]]] = {}
    try:
        entries = list(_DIR.iterdir())
    except FileNotFoundError:
        return out
    for entry in entries:
        try:
            proto, port, ip = entry.name.split("_", 2)
            owner = json.loads(entry.read_text())
            root, cid = owner["root"], owner["id"]
        except (OSError, ValueError, KeyError, TypeError):
            continue   # another's temporary file, or not ours
        if not _owner_exists(root, cid):
            entry.unlink(missing_ok=True)
            continue
        out.setdefault((proto, int(port)), []).append(("" if ip == "any" else ip, root, cid, entry))
    return out


def _overlaps(a: str, b: str) -> bool:
    return not a or not b or a == b


def _host_busy(proto: str, host_ip: str, port: int) -> OSError | None:
    """The error of binding the port as docker-proxy does, or None when the host has it free."""
    if proto not in ("tcp", "udp"):
        return None   # sctp: the kernel may lack it; the reservations alone decide
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", port))
            if proto == "tcp":
                s.listen(1)
        except OSError as exc:
            return exc
    return None


def _ephemeral(proto: str, host_ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return s.getsockname()[1]


def reserve(store_root: Path, container_id: str, endpoint: str,
            wanted: Iterable[tuple[PortMapping, int]]) -> list[PortMapping]:
    """Reserve each mapping's host port for the container: (mapping, last port of its range;
    host_port 0 for an ephemeral one). Returns the mappings with their ports; on a conflict
    nothing stays reserved and the error says what dockerd's says (`endpoint`: the container's
    name)."""
    wanted = list(wanted)
    if not wanted:
        return []   # no lock, no listing on a start that publishes nothing (most of them)
    done: list[PortMapping] = []
    with flock(_LOCK):
        _DIR.mkdir(parents=True, exist_ok=True)
        taken = _reservations()
        try:
            for mapping, last in wanted:
                port = _choose(mapping, last, taken, store_root, container_id, endpoint)
                chosen = PortMapping(mapping.container_port, mapping.protocol, mapping.host_ip, port,
                                     mapping.range)
                path = _DIR / _file_name(chosen.protocol, port, chosen.host_ip)
                tmp = _DIR / f".{path.name}.{os.getpid()}"
                tmp.write_text(json.dumps({"root": str(store_root), "id": container_id}))
                os.replace(tmp, path)
                taken.setdefault((chosen.protocol, port), []).append(
                    (chosen.host_ip, str(store_root), container_id, path))
                done.append(chosen)
        except BaseException:
            _remove(done, store_root, container_id)
            raise
    return done


def _choose(mapping: PortMapping, last: int, taken: dict, store_root: Path, container_id: str,
            endpoint: str) -> int:
    proto, ip = mapping.protocol, mapping.host_ip

    def holders(port: int) -> list[str]:
        """The addresses other containers hold this port on, where they overlap `ip`."""
        return [other for other, root, cid, _ in taken.get((proto, port), [])
                if _overlaps(ip, other) and (root, cid) != (str(store_root), container_id)]

    if mapping.host_port == 0:
        for _ in range(_EPHEMERAL_TRIES):
            port = _ephemeral(proto, ip)
            if not holders(port):
                return port
        raise RuntimeFailure(f"driver failed programming external connectivity on endpoint {endpoint}: "
                             f"no free ephemeral {proto} port")
    error: str = ""
    for port in range(mapping.host_port, max(last, mapping.host_port) + 1):
        held = holders(port)
        if ip in held:   # dockerd's allocator: the same address and port
            error = f"Bind for {ip or '0.0.0.0'}:{port} failed: port is already allocated"
            continue
        # another address overlapping it: dockerd's proxy then fails to bind, as a host
        # process's socket makes it fail
        busy = OSError(errno.EADDRINUSE, "") if held else _host_busy(proto, ip, port)
        if busy is not None:
            reason = "bind: address already in use" if busy.errno == errno.EADDRINUSE else \
                f"bind: {os.strerror(busy.errno or 0).lower()}"
            error = f"Error starting userland proxy: listen {proto}4 {ip or '0.0.0.0'}:{port}: {reason}"
            continue
        return port
    raise RuntimeFailure(f"driver failed programming external connectivity on endpoint {endpoint}: {error}")


def drop_stale() -> None:
    """The reservations of containers that no longer exist go (a deleted store's: the sweep of
    its networks, endpoints.sweep_deleted_stores), not only at the next reservation."""
    with flock(_LOCK):
        _reservations()


def release(store_root: Path, container_id: str, mappings: Iterable[PortMapping]) -> None:
    """The container's reservations go (its leave; idempotent)."""
    with flock(_LOCK):
        _remove(list(mappings), store_root, container_id)


def _remove(mappings: list[PortMapping], store_root: Path, container_id: str) -> None:
    for m in mappings:
        path = _DIR / _file_name(m.protocol, m.host_port, m.host_ip)
        try:
            owner = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            continue
        if (owner.get("root"), owner.get("id")) == (str(store_root), container_id):
            path.unlink(missing_ok=True)
