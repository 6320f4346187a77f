"""Choosing the subnet of a new network.

A subnet must not overlap a route of the host (what `ip route` shows, the default route aside:
Docker's rule) nor a subnet another network of any store on this host took. Stores are many
(every test has its own), so subnets are reserved host-wide: one file per subnet under
`/run/dockyard/subnets/` naming the store and network that own it, made with O_EXCL under a
host-wide lock. /run is a tmpfs: reservations go with a reboot, as the bridges do; a network
re-reserves its subnet when it is next used. A reservation whose owner no longer exists is stale
and taken over; sweep_stale removes what its network left on the host.

The default pool is 10.213.0.0/16 in /24s: apart from Docker's (172.17-31.0.0/16, 192.168.0.0/16)
and podman's (10.88.0.0/16, 10.89.0.0/16) defaults, so networks of a dockerd or podman on the same
host do not take each other's subnets. `default-address-pools` in the store's daemon.json (Docker's
setting) replaces it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from dockyard.dataclass import dataclass
from dockyard.errors import Conflict, InvalidParameter
from dockyard.store.locks import flock

RUN_DIR = Path(os.environ.get("DOCKYARD_RUN_DIR", "/run/dockyard"))
DEFAULT_POOLS = (("10.213.0.0/16", 24),)

Owned = Callable[[str, str], bool]   # (store root, network id) -> does that network still exist


@dataclass(frozen=True)
class Pool:
    """A pool of subnets: `base` cut into subnets of prefix length `size`."""

    base: ipaddress.IPv4Network
    size: int

    def subnets(self) -> Iterator[ipaddress.IPv4Network]:
        if self.size < self.base.prefixlen:
            yield self.base
            return
        yield from self.base.subnets(new_prefix=self.size)


def pools(store_root: Path) -> list[Pool]:
    """The address pools: daemon.json's `default-address-pools`, else dockyard's default."""
    raw: object = None
    try:
        raw = json.loads((store_root / "daemon.json").read_text()).get("default-address-pools")
    except (FileNotFoundError, ValueError, AttributeError):
        raw = None
    entries = raw if isinstance(raw, list) and raw else [{"base": b, "size": s} for b, s in DEFAULT_POOLS]
    out = []
    for entry in entries:
        try:
            out.append(Pool(ipaddress.IPv4Network(entry["base"]), int(entry["size"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameter(f"invalid default-address-pools entry {entry!r}: {exc}") from None
    return out


def host_routes(but: str = "") -> list[ipaddress.IPv4Network]:
    """The IPv4 routes of the host (from /proc/net/route), the default route left out, and those
    of the interface `but` (a network's own bridge: its route is not another's)."""
    out = []
    try:
        with open("/proc/net/route", encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) < 8 or (but and fields[0] == but):
                    continue
                dest = int(fields[1], 16).to_bytes(4, "little")
                mask = int(fields[7], 16).to_bytes(4, "little")
                prefix = bin(int.from_bytes(mask, "big")).count("1")
                if prefix == 0:
                    continue
                out.append(ipaddress.IPv4Network((int.from_bytes(dest, "big"), prefix), strict=False))
    except FileNotFoundError:
        pass
    return out


def _file_name(subnet: ipaddress.IPv4Network) -> str:
    return str(subnet).replace("/", "_")


def _reservations() -> dict[ipaddress.IPv4Network, tuple[str, str]]:
    out = {}
    try:
        entries = list((RUN_DIR / "subnets").iterdir())
    except FileNotFoundError:
        return out
    for entry in entries:
        try:
            owner = json.loads(entry.read_text())
            out[ipaddress.IPv4Network(entry.name.replace("_", "/"))] = (owner["root"], owner["id"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _write_reservation(subnet: ipaddress.IPv4Network, store_root: Path, network_id: str) -> None:
    """Written in place, under the lock: a temp file renamed in was left by every kill between
    (35 `.SUBNET.PID` files of other runs in /run/dockyard/subnets on this host). A write a kill
    tears is no reservation to a reader (_reservations, ensure_reserved: unreadable is free,
    and the next reservation of the subnet writes it whole); /run does not outlive a crash."""
    directory = RUN_DIR / "subnets"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _file_name(subnet)).write_text(json.dumps({"root": str(store_root), "id": network_id}))


def reserve(store_root: Path, network_id: str, owned: Owned, wanted: str | None = None,
            taken_here: list[ipaddress.IPv4Network] | None = None,
            interface: str = "",
            then: Callable[[ipaddress.IPv4Network], None] | None = None) -> ipaddress.IPv4Network:
    """Reserve `wanted` (a CIDR) or the first free subnet of the pools for a network
    (`interface`: its bridge, whose own route does not make its subnet busy). `then(subnet)`
    runs before the host-wide lock goes, the reservation undone if it raises: a new network
    writes its record there. Written after the lock went, its reservation named a network that
    did not exist yet, stale to another process's sweep_stale, which freed the subnet for a
    third network (two networks on one subnet: "Pool overlaps" at a join, one's rules left
    behind as the other's)."""
    with flock(RUN_DIR / "subnets.lock"):
        subnet = _choose(store_root, network_id, owned, wanted, taken_here, interface)
        _write_reservation(subnet, store_root, network_id)
        if then is not None:
            try:
                then(subnet)
            except BaseException:
                (RUN_DIR / "subnets" / _file_name(subnet)).unlink(missing_ok=True)
                raise
        return subnet


def _choose(store_root: Path, network_id: str, owned: Owned, wanted: str | None,
            taken_here: list[ipaddress.IPv4Network] | None, interface: str) -> ipaddress.IPv4Network:
    """(Under the lock) the subnet `reserve` takes."""
    busy = host_routes(interface) + list(taken_here or [])
    for subnet, (root, nid) in _reservations().items():
        if (root, nid) == (str(store_root), network_id):
            continue
        if owned(root, nid):
            busy.append(subnet)
        # else stale: free to take (sweep_stale removes what its network left)
    if wanted is not None:
        try:
            subnet = ipaddress.IPv4Network(wanted, strict=False)
        except ValueError:
            raise InvalidParameter(f"invalid CIDR address: {wanted}") from None
        if subnet.prefixlen > 30:
            raise InvalidParameter(f"subnet {subnet} is too small for a network")
        if any(subnet.overlaps(b) for b in busy):
            raise Conflict("Pool overlaps with other one on this address space")
        return subnet
    for pool in pools(store_root):
        for subnet in pool.subnets():
            if not any(subnet.overlaps(b) for b in busy):
                return subnet
    raise InvalidParameter("could not find an available, non-overlapping IPv4 address pool "
                           "among the defaults to assign to the network")


def ensure_reserved(store_root: Path, network_id: str, subnet: ipaddress.IPv4Network,
                    owned: Owned, interface: str = "") -> None:
    """Before a network is used: its reservation is there (a reboot clears /run; the default
    bridge's goes while no container uses it, and may have gone while one was joining it, its
    bridge up: `interface`'s route is its own), or a clear error when another network took its
    subnet meanwhile."""
    path = RUN_DIR / "subnets" / _file_name(subnet)
    try:
        owner = json.loads(path.read_text())
        if (owner.get("root"), owner.get("id")) == (str(store_root), network_id):
            return
    except (FileNotFoundError, ValueError, AttributeError):
        pass
    reserve(store_root, network_id, owned, str(subnet), interface=interface)


def sweep_stale(owned: Owned, sweep: Callable[[ipaddress.IPv4Network], None]) -> bool:
    """Each reservation whose network no longer exists (its store was deleted with containers
    still joined: a killed run) is swept: `sweep(subnet)` removes what that network left on the
    host, then the reservation goes. Under the host-wide lock: no network takes the subnet
    meanwhile (a new owner's reservation replaces a stale one, which is then not swept).
    Whether any was."""
    swept = False
    with flock(RUN_DIR / "subnets.lock"):
        for subnet, (root, nid) in _reservations().items():
            if not owned(root, nid):
                sweep(subnet)
                (RUN_DIR / "subnets" / _file_name(subnet)).unlink(missing_ok=True)
                swept = True
    return swept


def sweep_unclaimed(store_root: Path, found: Callable[[], Iterable[ipaddress.IPv4Network]],
                    sweep: Callable[[ipaddress.IPv4Network], None]) -> None:
    """dockerd reconciles its iptables when it starts: here each subnet of this store's pools
    that netavark's rules on the host are for (`found()`) and no reservation holds is swept
    (`sweep(subnet)`: what a network that is gone left there). Under the host-wide lock: a
    network reserves its subnet before netavark sets it up and lets it go after its teardown,
    so a subnet without a reservation is no network's, of any store. Subnets of other pools
    (podman's, another store's daemon.json) are never touched."""
    bases = [p.base for p in pools(store_root)]
    with flock(RUN_DIR / "subnets.lock"):
        held = list(_reservations())
        for subnet in found():
            if any(subnet.subnet_of(b) for b in bases) and not any(subnet.overlaps(h) for h in held):
                sweep(subnet)


def release(store_root: Path, network_id: str, subnet: ipaddress.IPv4Network,
            sweep: Callable[[ipaddress.IPv4Network], None] | None = None) -> None:
    """The network lets its subnet go; `sweep(subnet)` first removes what it left on the host
    (under the lock: no network can have taken the subnet meanwhile)."""
    with flock(RUN_DIR / "subnets.lock"):
        path = RUN_DIR / "subnets" / _file_name(subnet)
        try:
            owner = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return
        if (owner.get("root"), owner.get("id")) == (str(store_root), network_id):
            if sweep is not None:
                sweep(subnet)
            path.unlink(missing_ok=True)
