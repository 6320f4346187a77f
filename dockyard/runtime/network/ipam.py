"""Addresses of containers in one network: `<network dir>/ips/<address>` holds the ID of the
container that has it. An address is taken by creating its file with O_EXCL, so two processes
starting containers at once never get the same one, without a lock. An address whose container
no longer exists (a monitor killed before it could let go) is taken over."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Callable

from dockyard.errors import Conflict, InvalidParameter

Alive = Callable[[str], bool]   # container ID -> does it still exist


def _take(directory: Path, ip: ipaddress.IPv4Address, owner: str, alive: Alive) -> bool:
    path = directory / str(ip)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                holder = path.read_text().strip()
            except FileNotFoundError:
                continue
            if holder == owner:
                return True
            if holder and alive(holder):
                return False
            path.unlink(missing_ok=True)   # stale: its container is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(owner)
        return True
    return False


def allocate(directory: Path, subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address,
             owner: str, alive: Alive, wanted: str | None = None,
             pool: ipaddress.IPv4Network | None = None,
             reserved: frozenset[ipaddress.IPv4Address] = frozenset()) -> ipaddress.IPv4Address:
    """An address of `subnet` for container `owner`: `wanted` (anywhere in the subnet, as
    dockerd's), or the lowest free one of `pool` (the network's IP range; the subnet when
    none). `reserved` (auxiliary addresses) are never given."""
    directory.mkdir(parents=True, exist_ok=True)
    if wanted:
        try:
            ip = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise InvalidParameter(f"invalid IPv4 address: {wanted}") from None
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address, gateway):
            raise InvalidParameter(f"no configured subnet or ip-range contain the IP address {ip}")
        if ip in reserved or not _take(directory, ip, owner, alive):
            raise Conflict("Address already in use")
        return ip
    pool = pool or subnet
    first, last = int(pool.network_address), int(pool.broadcast_address)
    for n in range(first, last + 1):    # a range's own first and last are given out, as dockerd's
        ip = ipaddress.IPv4Address(n)
        if ip in (subnet.network_address, subnet.broadcast_address, gateway) or ip in reserved:
            continue
        if _take(directory, ip, owner, alive):
            return ip
    raise Conflict(f"no available IPv4 addresses on this network's address pools: {subnet}")


def release(directory: Path, ip: str, owner: str) -> None:
    path = directory / ip
    try:
        if path.read_text().strip() == owner:
            path.unlink()
    except FileNotFoundError:
        pass


def holders(directory: Path) -> dict[str, str]:
    """address -> container ID"""
    out = {}
    try:
        for entry in directory.iterdir():
            if not entry.name.startswith("."):
                try:
                    out[entry.name] = entry.read_text().strip()
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        pass
    return out
