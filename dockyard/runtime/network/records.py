"""The networks of a store.

    <root>/networks/<id>/network.json          NetworkRecord (fixed at create)
    <root>/networks/<id>/ips/<address>         an address and the container that holds it
    <root>/networks/<id>/endpoints/<cid>.json  a running container attached to the network
    <root>/networks/<id>/held/<pid>            a process keeping the default bridge up (serve)

Three networks always exist, as in Docker: `bridge` (the default network of containers, a bridge
without DNS), `host` and `none`; they are made on first use and cannot be removed. Names are
unique (created under `locks/networks.lock`); a network is found by ID, name or unique ID prefix.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from dockyard.dataclass import asdict, dataclass, field, fields
from dockyard.errors import Conflict, Forbidden, InvalidParameter, NotFound
from dockyard.image.config import now_rfc3339
from dockyard.runtime.network import subnets
from dockyard.atomic import atomic_write
from dockyard.store import workspace
from dockyard.store.layers import boot_id
from dockyard.store.locks import flock

BUILTIN = ("bridge", "host", "none")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
# Docker's bridge options dockyard honours; `true` is the only value of the two flags it has.
_KNOWN_OPTIONS = {BRIDGE_NAME_OPTION, MTU_OPTION, "com.docker.network.bridge.default_bridge",
                  "com.docker.network.bridge.host_binding_ipv4"}
_TRUE_ONLY = ("com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade")
_HEX = set("0123456789abcdef")
AliveCheck = Callable[[str], bool]   # does the container with this ID exist (and run)
Sweep = Callable[[ipaddress.IPv4Network], None]   # removes what a network left on the host


@dataclass
class NetworkRecord:
    """A network's record (networks/ID.json)."""

    id: str
    name: str
    driver: str                    # bridge | host | null
    created: str
    subnet: str = ""               # CIDR (bridge networks)
    gateway: str = ""
    interface: str = ""            # the bridge's name on the host
    internal: bool = False
    attachable: bool = False
    dns_enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    mtu: int = 0
    ip_range: str = ""             # CIDR in the subnet containers' addresses come from ("" all of it)
    aux_addresses: dict[str, str] = field(default_factory=dict)   # name -> address never given out

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def ipv4_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkRecord":
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known)


@dataclass
class CreateRequest:
    """What a network's create asks for."""

    name: str
    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipv6: bool = False
    ip_range: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass
class Endpoint:
    """A container's endpoint on a network (its record in the network's folder)."""

    container_id: str
    container_name: str
    endpoint_id: str
    mac: str
    ipv4: str           # address/prefix
    # the host's boot it was made in (store.layers.boot_id; "" by older versions): a reboot
    # ends every container, and leaves their endpoints in the store
    boot: str = ""

    def of_this_boot(self) -> bool:
        """Whether its container may run: it joined in this boot of the host (or when unknown)."""
        return not self.boot or boot_id() in (None, self.boot)


class Networks:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "networks"
        self._lock = root / "locks" / "networks.lock"

    # -- records ----------------------------------------------------------------------------
    def _path(self, network_id: str) -> Path:
        return self.dir / network_id / "network.json"

    def _read(self, network_id: str) -> NetworkRecord | None:
        try:
            return NetworkRecord.from_dict(json.loads(self._path(network_id).read_bytes()))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    def _write(self, record: NetworkRecord) -> None:
        atomic_write(self._path(record.id), json.dumps(asdict(record)).encode())

    def _all_raw(self) -> list[NetworkRecord]:
        out = []
        try:
            entries = list(self.dir.iterdir())
        except FileNotFoundError:
            return out
        for entry in entries:
            record = self._read(entry.name)
            if record is not None:
                out.append(record)
        return out

    def exists(self, network_id: str) -> bool:
        return self._path(network_id).is_file()

    def all(self) -> list[NetworkRecord]:
        self.ensure_builtins()
        return sorted(self._all_raw(), key=lambda r: r.created)

    def ensure_builtins(self) -> None:
        if all(any(r.name == n for r in self._all_raw()) for n in BUILTIN):
            return
        with flock(self._lock):
            have = {r.name for r in self._all_raw()}
            for name in BUILTIN:
                if name in have:
                    continue
                if name == "bridge":
                    record = self._create_locked(CreateRequest(
                        "bridge", options={"com.docker.network.bridge.default_bridge": "true"}),
                        dns=False)
                    # reserved only while in use: every store has one (see activate)
                    subnets.release(self.root, record.id, record.ipv4_network)
                else:
                    record = NetworkRecord(os.urandom(32).hex(), name,
                                           "host" if name == "host" else "null", now_rfc3339())
                    self._write(record)

    def get(self, ref: str) -> NetworkRecord:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        records = self.all()
        for r in records:
            if r.id == ref:
                return r
        for r in records:
            if r.name == ref:
                return r
        if ref and set(ref) <= _HEX:
            matches = [r for r in records if r.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidParameter(
                    f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    # -- create / remove --------------------------------------------------------------------
    def create(self, req: CreateRequest) -> NetworkRecord:
        self.ensure_builtins()
        _validate_create(req)
        with flock(self._lock):
            return self._create_locked(req, dns=True)

    def _create_locked(self, req: CreateRequest, *, dns: bool) -> NetworkRecord:
        self._remove_unrecorded()
        records = self._all_raw()
        if any(r.name == req.name for r in records):
            raise Conflict(f"network with name {req.name} already exists")
        network_id = os.urandom(32).hex()
        interface = req.options.get(BRIDGE_NAME_OPTION) or f"dy-{network_id[:12]}"
        if any(r.interface == interface for r in records):
            raise Conflict(f"bridge name {interface} is used by another network")
        taken = [r.ipv4_network for r in records if r.subnet]
        made: list[NetworkRecord] = []

        def record_on(subnet: ipaddress.IPv4Network) -> None:
            """The record, written while the reservation is fresh: see subnets.reserve."""
            ip_range = _ip_range(subnet, req.ip_range)
            gateway = _gateway(subnet, req.gateway, ip_range)
            aux = _aux_addresses(subnet, gateway, req.aux_addresses)
            record = NetworkRecord(
                id=network_id, name=req.name, driver="bridge", created=now_rfc3339(),
                subnet=str(subnet), gateway=str(gateway), interface=interface,
                internal=req.internal, attachable=req.attachable, dns_enabled=dns,
                labels=dict(req.labels), options=dict(req.options),
                mtu=int(req.options.get(MTU_OPTION) or 0),
                ip_range=str(ip_range) if ip_range else "", aux_addresses=aux)
            self._write(record)
            made.append(record)

        subnets.reserve(self.root, network_id, network_exists, req.subnet, taken, then=record_on)
        return made[0]

    def _remove_unrecorded(self) -> None:
        """Under the lock: the folders without a record go. A create killed between its folder
        and its record left one for ever (listed by nothing, removed by nothing; its
        reservation names a network that does not exist: sweep_stale's); a join racing a
        network's removal may make one again (its ips/, endpoints/). Creates and removals
        hold the lock: none is half done now."""
        try:
            entries = list(self.dir.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir() and not (entry / "network.json").exists():
                shutil.rmtree(entry, ignore_errors=True)

    def remove(self, ref: str, alive: AliveCheck, sweep: Sweep | None = None) -> NetworkRecord:
        """`sweep(subnet)`: what the network left on the host goes with its reservation."""
        record = self.get(ref)
        if record.builtin:
            raise Forbidden(f"{record.name} is a pre-defined network and cannot be removed")
        with flock(self._lock):
            if self.active_endpoints(record, alive):
                raise Conflict(f"error while removing network: network {record.name} id "
                               f"{record.id} has active endpoints")
            shutil.rmtree(self.dir / record.id, ignore_errors=True)
            if record.subnet:
                subnets.release(self.root, record.id, record.ipv4_network, sweep)
        return record

    # -- use --------------------------------------------------------------------------------
    @contextmanager
    def joining(self) -> Iterator[Callable[[NetworkRecord], NetworkRecord]]:
        """A container's join, under one hold of the lock: each network activated (the callable
        given), its address taken and its endpoint added before the lock goes. A leave's
        `deactivate` looks for endpoints under the same lock, so it never lets the default
        bridge's subnet go (and sweeps its bridge) between a join's reservation and its
        endpoint: the joiner found its subnet unreserved, its bridge swept under its setup."""
        with flock(self._lock):
            yield self._activate_locked

    def _activate_locked(self, record: NetworkRecord) -> NetworkRecord:
        """Before a container joins: the network's subnet is reserved host-wide. The default
        `bridge` of a store holds its subnet only while containers use it (every store, every
        test's too, has one): if another network took it meanwhile, it moves to a free one. The
        endpoints of another boot (`live_endpoints`) do not hold it on its subnet: a container
        running at a reboot kept its endpoint, and every join failed 'Pool overlaps'. A network
        removed since the join looked it up is not found, as at dockerd's start: activated, it
        re-reserved its subnet for a network that no longer exists, which the next sweep of any
        process on the host (sweep_stale) took for a deleted store's and swept under the
        running container (its bridge, rules and namespace)."""
        current = self._read(record.id)
        if current is None:
            raise NotFound(f"network {record.name} not found")
        record = current
        try:
            subnets.ensure_reserved(self.root, record.id, record.ipv4_network, network_exists,
                                    record.interface)
            return record
        except Conflict:
            if record.name != "bridge" or self.live_endpoints(record):
                raise
        subnet = subnets.reserve(self.root, record.id, network_exists, None,
                                 [r.ipv4_network for r in self._all_raw()
                                  if r.subnet and r.id != record.id])
        record.subnet, record.gateway = str(subnet), str(subnet.network_address + 1)
        self._write(record)
        return record

    def deactivate(self, record: NetworkRecord, sweep: Sweep | None = None, *,
                   unhold: Path | None = None, unanchor: Callable[[], None] | None = None) -> bool:
        """After a container left, or its hold `unhold` went: whether the network is now unused
        (no endpoint, no live hold). The default bridge then lets its subnet go (`sweep(subnet)`:
        with what it left on the host); `unanchor()` first, once no live process holds it."""
        if record.name != "bridge":
            return not self.live_endpoints(record)
        with flock(self._lock):
            if unhold is not None:
                unhold.unlink(missing_ok=True)
            if self._held(record):
                return False
            if unanchor is not None:
                unanchor()
            if self.live_endpoints(record):
                return False
            subnets.release(self.root, record.id, record.ipv4_network, sweep)
            return True

    # -- holds: the default bridge kept up while a process (serve) runs -------------------------
    def hold(self, record: NetworkRecord, owner_lock: str) -> Path:
        """This process keeps the network up until `deactivate(unhold=...)` or its end;
        `owner_lock`: the lock that says it lives (store.workspace.owner_lock)."""
        directory = self.dir / record.id / "held"
        with flock(self._lock):
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / str(os.getpid())
            path.write_text(owner_lock)
        return path

    def anchor_if_held(self, record: NetworkRecord, anchor: Callable[[], None]) -> None:
        """After a join: `anchor()` (what keeps the bridge up) while a live process holds it."""
        if record.name == "bridge" and (self.dir / record.id / "held").is_dir():
            with flock(self._lock):
                if self._held(record):
                    anchor()

    def _held(self, record: NetworkRecord) -> bool:
        """(Under the lock) whether a live process holds the network; the holds of dead ones go."""
        live = False
        try:
            entries = list((self.dir / record.id / "held").iterdir())
        except FileNotFoundError:
            return False
        for entry in entries:
            try:
                lock = entry.read_text()
            except OSError:
                continue
            if lock and workspace.alive(lock):
                live = True
            else:
                entry.unlink(missing_ok=True)
        return live

    # -- endpoints --------------------------------------------------------------------------
    def ips_dir(self, record: NetworkRecord) -> Path:
        return self.dir / record.id / "ips"

    def endpoints_dir(self, record: NetworkRecord) -> Path:
        return self.dir / record.id / "endpoints"

    def add_endpoint(self, record: NetworkRecord, endpoint: Endpoint) -> None:
        directory = self.endpoints_dir(record)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{endpoint.container_id}.{os.getpid()}"
        tmp.write_text(json.dumps(asdict(endpoint)))
        os.replace(tmp, directory / f"{endpoint.container_id}.json")

    def remove_endpoint(self, record: NetworkRecord, container_id: str) -> None:
        (self.endpoints_dir(record) / f"{container_id}.json").unlink(missing_ok=True)

    def endpoints(self, record: NetworkRecord) -> list[Endpoint]:
        out = []
        try:
            entries = sorted(self.endpoints_dir(record).glob("*.json"))
        except FileNotFoundError:
            return out
        for entry in entries:
            try:
                out.append(Endpoint(**json.loads(entry.read_bytes())))
            except (FileNotFoundError, ValueError, TypeError):
                continue
        return out

    def live_endpoints(self, record: NetworkRecord) -> list[Endpoint]:
        """The endpoints made in this boot of the host (Endpoint.of_this_boot)."""
        return [ep for ep in self.endpoints(record) if ep.of_this_boot()]

    def active_endpoints(self, record: NetworkRecord, alive: AliveCheck) -> list[Endpoint]:
        """Endpoints of containers that exist and joined in this boot; the others (a killed
        monitor's, a reboot's) are dropped."""
        out = []
        for ep in self.endpoints(record):
            if ep.of_this_boot() and alive(ep.container_id):
                out.append(ep)
            else:
                self.remove_endpoint(record, ep.container_id)
        return out


def network_exists(root: str, network_id: str) -> bool:
    """Whether the network of a subnet reservation (its store root and ID) still exists."""
    return (Path(root) / "networks" / network_id / "network.json").is_file()


def _ip_range(subnet: ipaddress.IPv4Network, wanted: str | None) -> ipaddress.IPv4Network | None:
    """IPAM's IPRange (--ip-range): a CIDR within the subnet (host bits allowed, as Go's)."""
    if not wanted:
        return None
    try:
        pool = ipaddress.IPv4Network(wanted, strict=False)
    except ValueError:
        raise InvalidParameter(f'failed to parse pool request for address space "LocalDefault" pool '
                               f'"{subnet}" subpool "{wanted}": Invalid Address SubPool') from None
    if not pool.subnet_of(subnet):
        raise InvalidParameter(f"no matching subnet for range {wanted}")
    return pool


def _aux_addresses(subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address,
                   wanted: dict[str, str]) -> dict[str, str]:
    """IPAM's AuxiliaryAddresses (--aux-address NAME=IP): addresses of the subnet no container
    gets, checked in dockerd's words."""
    taken = {subnet.network_address, subnet.broadcast_address, gateway}
    for name, text in wanted.items():
        try:
            ip = ipaddress.IPv4Address(text)
        except ValueError:
            raise InvalidParameter(f"invalid auxiliary address {name}={text}") from None
        if ip not in subnet:
            raise InvalidParameter(f"auxiliary address: ({name}:{text}) must belong to the master pool: {subnet}")
        if ip in taken:
            raise InvalidParameter(f"failed to allocate secondary ip address ({name}:{text}): Address already in use")
        taken.add(ip)
    return dict(wanted)


def _gateway(subnet: ipaddress.IPv4Network, wanted: str | None,
             ip_range: ipaddress.IPv4Network | None = None) -> ipaddress.IPv4Address:
    """The given gateway, else the first address containers could get (of the IP range when
    there is one, as dockerd's IPAM gives it out first)."""
    if wanted:
        try:
            gw = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise InvalidParameter(f"invalid gateway address {wanted}") from None
        if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
            raise InvalidParameter(f"gateway address {gw} is not in subnet {subnet}")
        return gw
    first = (ip_range or subnet).network_address
    return first + 1 if first == subnet.network_address else first


def _validate_create(req: CreateRequest) -> None:
    if not req.name:
        raise InvalidParameter("network name is required")
    if req.name in BUILTIN:
        raise Forbidden(f"{req.name} is a pre-defined network and cannot be created")
    if req.driver not in ("bridge", ""):
        raise NotFound(f'plugin "{req.driver}" not found')
    if req.ipv6:
        raise InvalidParameter("IPv6 networks are not supported by dockyard")
    for key, value in req.options.items():
        if key in _TRUE_ONLY:
            if value.lower() != "true":
                raise InvalidParameter(f"network option {key}={value} is not supported")
        elif key not in _KNOWN_OPTIONS:
            raise InvalidParameter(f"network option {key} is not supported")
    name = req.options.get(BRIDGE_NAME_OPTION)
    if name is not None and not (0 < len(name) <= 15 and all(c.isalnum() or c in "-_." for c in name)):
        raise InvalidParameter(f"invalid bridge name {name!r}")
    mtu = req.options.get(MTU_OPTION)
    if mtu is not None and not (mtu.isdigit() and 68 <= int(mtu) <= 65535):
        raise InvalidParameter(f"invalid MTU {mtu!r}")
