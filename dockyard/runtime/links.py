"""Legacy links' environment (`--link NAME:ALIAS` on the default bridge): what dockerd 20.10 gives
a container about each container it links to, computed at each start from the linked
container as it runs then.

For alias `db` of container `web` linking to a container at 10.0.0.3 exposing 80/tcp:
`DB_PORT=tcp://10.0.0.3:80`, `DB_PORT_80_TCP=tcp://10.0.0.3:80`, `..._ADDR`, `..._PORT`,
`..._PROTO`, a `_START`/`_END` set for each run of three or more consecutive port numbers,
`DB_NAME=/web/db`, and `DB_ENV_<NAME>=<value>` for the linked container's environment (but PATH and
HOME). On a user network links are names its DNS answers: no variables, as dockerd's.
"""

from __future__ import annotations

from dockyard.errors import Conflict
from dockyard.runtime.containers import current_state, lookup
from dockyard.runtime.network.endpoints import read_state
from dockyard.runtime.state import RUNNING, ContainerRecord
from dockyard.store.store import Store

DEFAULT_BRIDGE = "bridge"


def environment(store: Store, record: ContainerRecord) -> list[str]:
    """The variables of the container's links, in their order; refused in dockerd's words when a
    linked container does not run or is not on the default bridge."""
    if record.host.network_mode != DEFAULT_BRIDGE:
        return []
    out: list[str] = []
    for link in record.host.links:
        name, _, alias = link.partition(":")
        alias = alias or name
        cdir = lookup(store, name)
        child = cdir.read_record()
        state = current_state(cdir)
        if state.status != RUNNING or state.restarting:
            raise Conflict(f"Cannot link to a non running container: /{child.name} AS /{record.name}/{alias}")
        network = read_state(cdir.path)
        joined = network.networks.get(DEFAULT_BRIDGE) if network is not None else None
        if joined is None:
            raise Conflict(f"container {child.id} not attached to default bridge network")
        out += link_variables(alias, f"/{record.name}/{alias}", joined.ip,
                              list(child.config.exposed_ports or {}), child.config.env or [])
    return out


def _ports(keys: list[str]) -> list[tuple[int, str]]:
    """`80/tcp` keys as (number, protocol), by number, tcp before another protocol's same number."""
    ports = []
    for key in keys:
        number, _, proto = key.partition("/")
        ports.append((int(number), (proto or "tcp").lower()))
    return sorted(ports, key=lambda p: (p[0], p[1] != "tcp"))


def _run_end(ports: list[tuple[int, str]], index: int) -> int:
    """The index of the last port of the run of consecutive numbers starting at `index` (each
    further entry may be at most one past the count so far: a number twice counts twice)."""
    value = ports[index][0]
    for k in range(index + 1, len(ports)):
        if ports[k][0] > value + 1:
            return k - 1
        value += 1
    return len(ports) - 1


def link_variables(alias: str, link_name: str, ip: str, exposed: list[str], env: list[str]) -> list[str]:
    prefix = alias.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = _ports(exposed)
    out = []
    if ports:
        out.append(f"{prefix}_PORT={ports[0][1]}://{ip}:{ports[0][0]}")
    i = 0
    while i < len(ports):
        j = _run_end(ports, i)
        if j > i + 1:
            (p, proto), (q, qproto) = ports[i], ports[j]
            head = f"{prefix}_PORT_{p}_{proto.upper()}"
            out += [f"{head}_START={proto}://{ip}:{p}", f"{head}_ADDR={ip}", f"{head}_PROTO={proto}",
                    f"{head}_PORT_START={p}",
                    f"{prefix}_PORT_{p}_{qproto.upper()}_END={qproto}://{ip}:{q}",
                    f"{prefix}_PORT_{p}_{qproto.upper()}_PORT_END={q}"]
            i = j + 1
        else:
            i += 1
    for p, proto in ports:
        head = f"{prefix}_PORT_{p}_{proto.upper()}"
        out += [f"{head}={proto}://{ip}:{p}", f"{head}_ADDR={ip}", f"{head}_PORT={p}", f"{head}_PROTO={proto}"]
    out.append(f"{prefix}_NAME={link_name}")
    for item in env:
        key, eq, value = item.partition("=")
        if eq and key not in ("HOME", "PATH"):
            out.append(f"{prefix}_ENV_{key}={value}")
    return out
