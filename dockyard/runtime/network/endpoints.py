"""A container joins its networks when it starts and leaves them when it stops.

What a container asks for (`NetworkRequest`, kept in its record) becomes, at start: a network
namespace file, one address per network (ipam), host ports for its published ports, one
`netavark setup`, and `<container dir>/network.json` (`NetworkState`: what inspect shows while it
runs, and what leaving undoes). Leaving is idempotent: the monitor does it when the container
exits, `rm` again for a monitor that was killed.

Network modes, as Docker's: `bridge` (the default network), a network's name or ID, `host` (the
host's namespace), `none` (a namespace with only loopback), `container:<id>` (the namespace of a
running container, joined by the runtime: runtime/joined.py; nothing of its own here).
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from dockyard.dataclass import asdict, dataclass, field
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.runtime.hostconfig import CONTAINER_MODE
from dockyard.runtime.network import host_ports, ipam, netavark, subnets
from dockyard.runtime.network.netavark import Attachment, PortMapping
from dockyard.runtime.network.records import Endpoint, NetworkRecord, Networks, network_exists
from dockyard.store.layers import boot_id

SPECIAL_MODES = ("host", "none")
PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass
class EndpointConfig:
    """A network's endpoint settings a create asks for (aliases, a fixed address)."""

    aliases: list[str] = field(default_factory=list)
    ipv4_address: str = ""
    mac_address: str = ""       # the interface's; "" Docker's 02:42 + the IPv4 address
    driver_opts: dict[str, str] = field(default_factory=dict)   # kept and shown, as dockerd's bridge
    links: list[str] = field(default_factory=list)   # NAME:ALIAS a connect gave (--link): answered by DNS


def parse_mac(text: str) -> str:
    """A MAC address as given (`02:42:ac:11:00:02`, or with dashes), lower case with colons;
    refused in Go's words (net.ParseMAC) when it is not one."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise InvalidParameter(f"address {text}: invalid MAC address")
    return ":".join(parts).lower()


@dataclass
class PortBinding:
    """Where a published port is bound on the host."""

    host_ip: str = ""
    host_port: str = ""


@dataclass
class NetworkRequest:
    """The network part of a container's record (Docker's HostConfig + NetworkingConfig)."""

    mode: str = "bridge"
    networks: dict[str, EndpointConfig] = field(default_factory=dict)  # name -> endpoint config
    ports: dict[str, list[PortBinding]] = field(default_factory=dict)  # "80/tcp" -> bindings
    publish_all: bool = False

    @property
    def uses_bridge(self) -> bool:
        return self.mode not in SPECIAL_MODES and not self.mode.startswith(CONTAINER_MODE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "NetworkRequest":
        if not data:
            return cls()
        return cls(mode=data.get("mode", "bridge"),
                   networks={k: EndpointConfig(**v) for k, v in (data.get("networks") or {}).items()},
                   ports={k: [PortBinding(**b) for b in v] for k, v in (data.get("ports") or {}).items()},
                   publish_all=bool(data.get("publish_all")))


@dataclass
class JoinedNetwork:
    """A network the container joined: its endpoint and addresses."""

    network_id: str
    endpoint_id: str
    interface: str
    ip: str
    prefix: int
    gateway: str
    mac: str
    aliases: list[str] = field(default_factory=list)
    network: dict[str, Any] = field(default_factory=dict)   # the record as joined: leaving
                                                             # works after the network is gone
    by_id: bool = False      # netavark knows the network by its ID (netavark_name); False: a
                             # state written before, set up under the network's name


@dataclass
class NetworkState:
    """A running container's networks: its namespace, the networks it joined, its published ports."""

    netns: str
    networks: dict[str, JoinedNetwork] = field(default_factory=dict)   # by network name
    ports: list[dict[str, Any]] = field(default_factory=list)          # PortMapping JSON

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "NetworkState":
        data = json.loads(raw)
        return cls(netns=data["netns"],
                   networks={k: JoinedNetwork(**v) for k, v in data.get("networks", {}).items()},
                   ports=list(data.get("ports") or []))


Alive = Callable[[str], bool]


def config_dir(root: Path) -> Path:
    return root / "netavark"


def state_path(cdir: Path) -> Path:
    return cdir / "network.json"


def netns_path(cdir: Path) -> Path:
    return cdir / "netns"


def read_state(cdir: Path) -> NetworkState | None:
    try:
        return NetworkState.from_json(state_path(cdir).read_bytes())
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def validate(root: Path, request: NetworkRequest) -> NetworkRequest:
    """At create: the mode and networks exist, ports are well formed; the request with the
    networks named as the store names them."""
    mode = request.mode or "bridge"
    if mode == "default":
        mode = "bridge"
    networks = Networks(root)
    if mode in SPECIAL_MODES or mode.startswith(CONTAINER_MODE):
        if request.ports and mode == "host":
            pass  # Docker: published ports are discarded in host mode (with a warning)
        extra = [n for n in request.networks if n not in (mode,)]
        if extra:
            raise InvalidParameter(f"container cannot be connected to network {extra[0]} "
                                   f"with network mode {mode}")
        if mode.startswith(CONTAINER_MODE):
            # the docker CLI refuses these itself; dockerd would take them and not use them
            if any(cfg.aliases for cfg in request.networks.values()):
                raise InvalidParameter("network-scoped aliases are only supported for "
                                       "user-defined networks")
            if any(cfg.ipv4_address for cfg in request.networks.values()):
                raise InvalidParameter("an IP address needs a network of the container's own, "
                                       f"not network mode {mode}")
            return NetworkRequest(mode=mode)
        return NetworkRequest(mode=mode, ports={} if mode == "host" else request.ports,
                              publish_all=request.publish_all and mode != "host")
    # a network that does not exist (yet) is the start's error, as dockerd's: its create takes
    # it, and a 404 at create sent the docker CLI to pull the image ("Unable to find image")
    primary = _known(networks, mode)
    if primary is not None and primary.driver != "bridge":
        raise InvalidParameter(f"container cannot be connected to network {primary.name}")
    out: dict[str, EndpointConfig] = {}
    for name, cfg in request.networks.items():
        record = _known(networks, name)
        if record is not None and record.driver != "bridge":
            raise InvalidParameter(f"container cannot be connected to network {record.name} "
                                   "and to a bridge network")
        if record is not None and record.name == "bridge" and cfg.aliases:
            raise InvalidParameter("network-scoped alias is supported only for containers in "
                                   "user defined networks")
        out[name if record is None else record.name] = cfg
    primary_name = mode if primary is None else primary.name
    out.setdefault(primary_name, EndpointConfig())
    for key, bindings in request.ports.items():
        parse_port_key(key)
        for b in bindings:
            if b.host_ip:
                try:
                    ipaddress.IPv4Address(b.host_ip)
                except ValueError:
                    raise InvalidParameter(f"invalid IP address: {b.host_ip}") from None
            if b.host_port and not _port_or_range(b.host_port):
                raise InvalidParameter(f"invalid port specification: {b.host_port!r}")
    return NetworkRequest(mode=primary_name, networks=out, ports=request.ports,
                          publish_all=request.publish_all)


def _known(networks: Networks, name: str) -> NetworkRecord | None:
    try:
        return networks.get(name)
    except NotFound:
        return None


def _port_or_range(text: str) -> bool:
    lo, _, hi = text.partition("-")
    try:
        return 0 <= int(lo) <= 65535 and (not hi or int(lo) <= int(hi) <= 65535)
    except ValueError:
        return False


def parse_port_key(key: str) -> tuple[int, str]:
    """`80/tcp` -> (80, "tcp")"""
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    try:
        number = int(port)
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {port}") from None
    if not 0 < number <= 65535:
        raise InvalidParameter(f"invalid containerPort: {port}")
    return number, proto


def port_mappings(request: NetworkRequest, exposed: list[str]) -> list[tuple[PortMapping, int]]:
    """The host ports a container about to start asks for, each with the last port of its range
    (host_ports.reserve chooses): bound ones, and an ephemeral port (0) for each binding
    without one (and for every exposed port with publish-all)."""
    wanted = {k: list(v) for k, v in request.ports.items()}
    if request.publish_all:
        for key in exposed:
            wanted.setdefault(key, [PortBinding()])
    out = []
    for key, bindings in wanted.items():
        port, proto = parse_port_key(key)
        for b in bindings or [PortBinding()]:
            host_ip = b.host_ip if b.host_ip not in ("0.0.0.0",) else ""
            first, _, last = (b.host_port if b.host_port != "0" else "").partition("-")
            host_port = int(first) if first else 0
            out.append((PortMapping(port, proto, host_ip, host_port), int(last) if last else host_port))
    return out


def _mac(ip: str) -> str:
    """Docker's MAC address for an address: 02:42 and the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def join(root: Path, cdir: Path, container_id: str, container_name: str,
         request: NetworkRequest, exposed: list[str], alive: Alive,
         pid: int | None = None, made: bool = False, links: Sequence[str] = (),
         dns: Sequence[str] = ()) -> NetworkState | None:
    """Keep the namespace of process `pid` (else a new one; `made`: the caller's, at
    netns_path, which it removes) and attach it to the container's networks; None for host
    mode. On failure nothing stays (addresses released, namespace file removed). `links`: the
    container's own (`run --link`), on the network of its mode (dockerd moves them to that
    endpoint; on the default bridge they are legacy links, never another network's). `dns`:
    its --dns servers, where aardvark-dns forwards its queries for other names."""
    left = read_state(cdir)
    if left is not None:
        # a run that never left (a reboot ended it): its addresses and endpoints go first, else
        # held by an existing container for ever. No teardown: its namespace is of another boot,
        # or the one at netns_path now is this start's, still empty.
        _release_all(root, container_id, left)
        state_path(cdir).unlink(missing_ok=True)
    if request.mode == "host":
        return None
    netns = netns_path(cdir)
    if pid is not None:
        netavark.bind_netns(f"/proc/{pid}/ns/net", netns)
    elif not made:
        netavark.make_netns(netns)
    state = NetworkState(netns=str(netns))
    if request.mode == "none":
        state_path(cdir).write_bytes(state.to_json())
        return state
    try:
        ports = host_ports.reserve(root, container_id, container_name, port_mappings(request, exposed))
        state.ports = [p.to_json() for p in ports]
        _attach(root, cdir, container_id, container_name, request.networks, state, ports, alive,
                links={name: [*(links if name == request.mode else ()), *cfg.links]
                       for name, cfg in request.networks.items()}, dns=dns)
    except BaseException:
        _release_all(root, container_id, state)
        if not made:   # the runtime may not have opened it yet
            netavark.remove_netns(netns)
        state_path(cdir).unlink(missing_ok=True)
        raise
    return state


def _attach(root: Path, cdir: Path, container_id: str, container_name: str,
            wanted: dict[str, EndpointConfig], state: NetworkState, ports: list[PortMapping],
            alive: Alive, links: dict[str, list[str]] | None = None, dns: Sequence[str] = ()) -> None:
    """`links`: by network, the container's links (`NAME[:ALIAS]`) there (_link_views); `dns`:
    its --dns servers (aardvark-dns's upstream for it)."""
    sweep_deleted_stores()   # first: what a killed run left on the host
    networks = Networks(root)
    records = {name: networks.get(name) for name in wanted}   # get may make the built-ins, locked
    attachments = []
    # Each network activated, its address taken and its endpoint written under one hold of the
    # networks' lock (Networks.joining): a leave then never lets a subnet go between the two.
    # The endpoints are written before netavark sets anything up: a kill from here on (of the
    # hook, of the runtime) leaves a state that `leave` undoes (teardown, addresses, the
    # reservation's sweep); written after, a kill between left netavark's rules and veth to nobody.
    with networks.joining() as activate:
        for name, cfg in wanted.items():
            record = activate(records[name])
            ip = ipam.allocate(networks.ips_dir(record), record.ipv4_network,
                               ipaddress.IPv4Address(record.gateway), container_id, alive,
                               cfg.ipv4_address or None,
                               ipaddress.IPv4Network(record.ip_range) if record.ip_range else None,
                               frozenset(map(ipaddress.IPv4Address, record.aux_addresses.values())))
            interface = f"eth{_next_interface(state)}"
            aliases = []
            if record.dns_enabled:
                aliases = list(dict.fromkeys([*cfg.aliases, container_id[:12]]))
            joined = JoinedNetwork(record.id, os.urandom(32).hex(), interface, str(ip),
                                   record.ipv4_network.prefixlen, record.gateway, cfg.mac_address or _mac(str(ip)),
                                   list(cfg.aliases), asdict(record), by_id=True)
            state.networks[record.name] = joined
            attachments.append(Attachment(record, interface, str(ip), aliases, joined.mac))
            networks.add_endpoint(record, Endpoint(container_id, container_name, joined.endpoint_id,
                                                   joined.mac, f"{joined.ip}/{joined.prefix}",
                                                   boot_id() or ""))
    state_path(cdir).write_bytes(state.to_json())
    payload = netavark.options_json(container_id, container_name, attachments, ports, list(dns) or None)
    try:
        netavark.setup(config_dir(root), Path(state.netns), payload,
                       _link_views(root, container_id, container_name, attachments, links or {}))
    except BaseException:
        _undo(root, cdir, container_id, container_name, state, [a.network.name for a in attachments])
        raise
    for a in attachments:   # its names (and its link views) answered before its process starts
        if a.network.dns_enabled:
            netavark.wait_dns(a.network.gateway, container_id[:12], a.ip)
    for a in attachments:   # serve keeps its default bridge up (BridgeHold)
        networks.anchor_if_held(a.network, lambda bridge=a.network.interface: netavark.add_anchor(bridge))


def _undo(root: Path, cdir: Path, container_id: str, container_name: str, state: NetworkState,
          names: list[str], strict: bool = False) -> None:
    """Networks `names` of a running container go (a disconnect; `strict`: a teardown that
    fails is the caller's error), or their setup failed: what netavark made of them is torn
    down, their addresses and endpoints released, the state written without them."""
    attachments = [a for a in _attachments(state) if a.network.name in names]
    try:
        if attachments:
            netavark.teardown(config_dir(root), Path(state.netns),
                              netavark.options_json(container_id, container_name, attachments, []))
    except Exception:  # noqa: BLE001 - a failed setup may have made nothing: release the rest
        if strict:
            raise
    networks = Networks(root)
    for name in names:
        _release(networks, container_id, state.networks.pop(name))
    state_path(cdir).write_bytes(state.to_json())


def _release(networks: Networks, container_id: str, joined: JoinedNetwork) -> bool:
    """The container's address and endpoint on a network it left; the default bridge's
    reservation with its last container (with what it left on the host) unless serve holds it.
    Whether the network is now unused."""
    if not joined.network:
        return False
    record = NetworkRecord.from_dict(joined.network)
    ipam.release(networks.ips_dir(record), joined.ip, container_id)
    networks.remove_endpoint(record, container_id)
    return networks.deactivate(record, sweep_subnet, unanchor=lambda: netavark.remove_anchor(record.interface))


def _next_interface(state: NetworkState) -> int:
    used = {int(j.interface[3:]) for j in state.networks.values() if j.interface[3:].isdigit()}
    n = 0
    while n in used:
        n += 1
    return n


def _attachments(state: NetworkState, only: str | None = None) -> list[Attachment]:
    out = []
    for name, joined in state.networks.items():
        if (only is None or name == only) and joined.network:
            out.append(Attachment(NetworkRecord.from_dict(joined.network), joined.interface,
                                  joined.ip, list(joined.aliases), joined.mac,
                                  legacy_name=not joined.by_id))
    return out


def sweep_subnet(subnet: ipaddress.IPv4Network) -> None:
    """What a network that lets `subnet` go left on the host (subnets.release's sweep)."""
    netavark.sweep_leftovers(str(subnet))


def sweep_deleted_stores() -> None:
    """What the networks of deleted stores (a killed run's) left on the host goes: each one's
    namespace, bridge, rules and DNS server (subnets.sweep_stale), and once one was found, the
    port reservations of containers that are gone with it (their rules went with the network;
    the reservation files stayed until the next published port on the host)."""
    if subnets.sweep_stale(network_exists, lambda subnet: netavark.sweep_network(str(subnet))):
        host_ports.drop_stale()


def reconcile(root: Path) -> None:
    """What networks left on the host that no network holds any more goes, as dockerd
    reconciles its iptables when it starts: the subnets of deleted stores' networks
    (sweep_deleted_stores), then netavark's rules of this store's pools that no reservation
    holds (subnets.sweep_unclaimed). At serve's start and at `network rm`."""
    sweep_deleted_stores()
    settle(root)    # a killed serve's hold of the default bridge
    subnets.sweep_unclaimed(root, netavark.listed_subnets, sweep_subnet)
    netavark.drop_unused_chains()


def _release_all(root: Path, container_id: str, state: NetworkState) -> None:
    host_ports.release(root, container_id, [PortMapping(**p) for p in state.ports])
    networks = Networks(root)
    unused = [_release(networks, container_id, joined) for joined in state.networks.values()]
    if any(unused) or (state.ports and state.networks):
        # a network still in use keeps its chains; a port's chain netavark may have left
        netavark.drop_unused_chains()


class BridgeHold:
    """`dockyard serve` keeps its store's default bridge up while it runs, as dockerd keeps
    docker0: netavark made the bridge and its network's rules at each first container's setup
    and tore them down at each last one's teardown, ~20 iptables runs of a `docker run --rm`'s
    ~35 on the default bridge. A hold (Networks.hold) keeps the subnet reserved; a join then
    puts the anchor on the bridge (netavark.add_anchor), so no teardown removes it.

    The hold ends with `release` (serve's stop), or with serve itself: its hold names serve's
    live-process lock, and a watcher (a shell reading a pipe serve holds) runs `hook unhold`
    when serve dies without releasing. Each later leave, serve's next start and the sweeps of a
    deleted store's subnet (sweep_leftovers) also end a dead process's hold. Then, as after a
    last container: no anchor, and without containers the subnet goes with its bridge and
    rules."""

    def __init__(self, root: Path) -> None:
        import subprocess
        import sys

        from dockyard.store.workspace import owner_lock

        self.root = root
        networks = Networks(root)
        self.record = networks.get("bridge")
        self.path = networks.hold(self.record, owner_lock(root / "tmp"))   # the store's tmp_root
        package_parent = str(Path(__file__).resolve().parents[3])
        self._watcher = subprocess.Popen(
            ["/bin/sh", "-c", _WATCH, "sh", sys.executable, "-m", "dockyard.runtime.network.hook",
             "unhold", str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONPATH": package_parent})

    def release(self) -> None:
        settle(self.root, self.path)
        assert self._watcher.stdin is not None
        try:
            self._watcher.stdin.write(b"done\n")
            self._watcher.stdin.close()
        except OSError:
            pass
        self._watcher.wait()


# the watcher: nothing when serve says it is done; else (its end) the Python settle
_WATCH = 'read -r word; [ "$word" = done ] && exit 0; exec "$@"'


def settle(root: Path, unhold: Path | None = None) -> None:
    """The default bridge without the hold `unhold` (and those of dead processes): unused, its
    anchor goes, and its subnet with what it left on the host when no container is on it."""
    if not (root / "networks").is_dir():
        return   # a store deleted meanwhile: its subnet is a stale reservation (sweep_stale)
    networks = Networks(root)
    record = networks.get("bridge")
    if networks.deactivate(record, sweep_subnet, unhold=unhold,
                           unanchor=lambda: netavark.remove_anchor(record.interface)):
        netavark.drop_unused_chains()


def leave(root: Path, cdir: Path, container_id: str, container_name: str) -> None:
    """Undo `join`: netavark teardown, addresses and endpoints released, namespace removed."""
    state = read_state(cdir)
    netns = netns_path(cdir)
    if state is not None:
        attachments = _attachments(state)
        if attachments:
            ports = [PortMapping(**p) for p in state.ports]
            payload = netavark.options_json(container_id, container_name, attachments, ports)
            try:
                netavark.teardown(config_dir(root), Path(state.netns), payload)
            except Exception:  # noqa: BLE001 - a namespace already gone: release the rest
                pass
        _release_all(root, container_id, state)
    netavark.remove_netns(netns)
    state_path(cdir).unlink(missing_ok=True)


def connect(root: Path, cdir: Path, container_id: str, container_name: str, network: NetworkRecord,
            cfg: EndpointConfig, alive: Alive, dns: Sequence[str] = ()) -> None:
    """Attach a running container to one more network (`dns`: its --dns servers)."""
    state = read_state(cdir)
    if state is None:
        raise Conflict(f"container {container_id} has no network namespace to connect")
    if network.name in state.networks:
        raise Conflict(f"endpoint with name {container_name} already exists in network {network.name}")
    _attach(root, cdir, container_id, container_name, {network.name: cfg}, state, [], alive,
            links={network.name: cfg.links}, dns=dns)
    if network.dns_enabled:
        return
    lines = []
    for link in cfg.links:   # `network connect --link`: the alias on the linked container's address
        target, _, alias = link.partition(":")
        other = container_dir(root, target)
        joined = (read_state(other) or NetworkState("")).networks.get(network.name) if other else None
        if joined is not None:
            lines.append(f"{joined.ip}\t{alias}\n")
    if lines and (cdir / "hosts").exists():
        with open(cdir / "hosts", "a") as f:   # in place: the runtime bind-mounted this inode
            f.write("".join(lines))


def _link_views(root: Path, container_id: str, container_name: str, attachments: list[Attachment],
                links: dict[str, list[str]]) -> list[netavark.LinkView]:
    """Links (`NAME[:ALIAS]`, by network) on the networks with DNS the container joins: their
    aliases answered by aardvark-dns to it alone, as dockerd's DNS does (netavark.LinkView; an
    alias that is NAME itself the network answers already), never an /etc/hosts line. NAME is
    the container that has that name or ID at the setup (kept by its ID)."""
    views = []
    for a in attachments:
        if not a.network.dns_enabled:
            continue
        targets: dict[str, list[str]] = {}
        for link in links.get(a.network.name) or ():
            target, _, alias = link.partition(":")
            other = container_dir(root, target) if (alias or target) != target else None
            if other is not None:
                targets.setdefault(other.name, []).append(alias)
        if targets:
            views.append(netavark.LinkView(container_id, netavark.netavark_name(a.network, a.legacy_name),
                                           a.ip, ",".join([container_name, *a.aliases]), targets))
    return views


def disconnect(root: Path, cdir: Path, container_id: str, container_name: str,
               network: NetworkRecord) -> None:
    state = read_state(cdir)
    if state is None or network.name not in state.networks:
        return
    _undo(root, cdir, container_id, container_name, state, [network.name], strict=True)
    netavark.drop_unused_chains()


def rename(root: Path, cdir: Path, container_id: str, old_name: str, new_name: str) -> None:
    """A running container's new name in its networks: what their DNS answers, and the name
    their endpoints show (network inspect), as Docker's rename of a running container does."""
    state = read_state(cdir)
    if state is None or not state.networks:
        return
    networks = Networks(root)
    for joined in state.networks.values():
        if not joined.network:
            continue
        record = NetworkRecord.from_dict(joined.network)
        for endpoint in networks.endpoints(record):
            if endpoint.container_id == container_id:
                endpoint.container_name = new_name
                networks.add_endpoint(record, endpoint)
    netavark.rename_dns(config_dir(root), container_id, old_name, new_name)


# -- the files the container reads ---------------------------------------------------------
def hosts_file(current: bytes, state: NetworkState | None, hostname: str,
               links: list[tuple[str, NetworkState | None]] = (),  # type: ignore[assignment]
               gateway_names: list[str] = ()) -> bytes:  # type: ignore[assignment]
    """/etc/hosts with the container's name on its addresses (in place of 127.0.0.1), each
    link's alias on its container's address in a network the two share (`links`: alias and that
    container's network state; dockerd resolves a link's alias by its DNS on a user network, as
    an /etc/hosts line on the default bridge), and `--add-host NAME:host-gateway`'s names on the
    gateway of its first network: the host's address on the bridge the container is on (dockerd
    names docker0's, which its routes reach from any of its networks; a bridge of dockyard's
    is up only while in use)."""
    if state is None or not state.networks:
        return current
    lines = [line for line in current.decode(errors="replace").splitlines()
             if line.split() != ["127.0.0.1", hostname]]
    first = next(iter(state.networks.values()))
    lines += [f"{first.gateway}\t{name}" for name in gateway_names]
    lines += [f"{j.ip}\t{hostname}" for j in state.networks.values()]
    for alias, other in links:   # (on a network with DNS, aardvark-dns answers it: _link_views)
        shared = [j.ip for name, j in (other.networks.items() if other else [])
                  if name in state.networks and not state.networks[name].network.get("dns_enabled")]
        if shared:
            lines.append(f"{shared[0]}\t{alias}")
    return ("\n".join(lines) + "\n").encode()


def container_dir(root: Path, name: str) -> Path | None:
    """The folder of the container with that name or full ID (a hook has no store to look it up)."""
    for entry in (root / "containers").iterdir():
        try:
            if entry.name == name or json.loads((entry / "container.json").read_bytes()).get("name") == name:
                return entry
        except (FileNotFoundError, NotADirectoryError, ValueError):
            continue
    return None

