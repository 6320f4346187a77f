"""Which endpoints to try for a registry host, and with which TLS settings, as Docker decides.

- A *secure* registry is reached over HTTPS only, verified against the system CAs plus every
  `*.crt` in `<certs dir>/<host[:port]>/`; a `*.cert`/`*.key` pair there is the client certificate.
- An *insecure* registry is tried over HTTPS without verification, then over plain HTTP.
- Insecure are: the hosts listed in `insecure-registries`, and every host whose address falls in an
  insecure CIDR; like Docker, 127.0.0.0/8 is insecure by default.

Settings come from a daemon.json-like file (`$DOCKYARD_DAEMON_CONFIG`, default
/etc/dockyard/daemon.json): `insecure-registries` (host[:port] or CIDR entries, added to the
default), `certs-dir` (default /etc/dockyard/certs.d, then /etc/docker/certs.d so a machine set up
for docker works unchanged), and dockyard's own `loopback-insecure` (default true; false makes
127.0.0.0/8 secure, which is how tests check CA handling on loopback).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
from dockyard.dataclass import dataclass, field
from pathlib import Path
from typing import Mapping

from dockyard.errors import InvalidParameter

DEFAULT_CONFIG = Path("/etc/dockyard/daemon.json")
DEFAULT_CERTS_DIRS = (Path("/etc/dockyard/certs.d"), Path("/etc/docker/certs.d"))
LOOPBACK = "127.0.0.0/8"


@dataclass(frozen=True)
class Endpoint:
    """One way to reach a registry: a base URL and the TLS settings that go with it."""

    url: str                               # "https://host:port"
    verify: ssl.SSLContext | bool = True   # False: TLS without verification (insecure registry)

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://") and self.verify is not False


@dataclass(frozen=True)
class RegistrySettings:
    """Which registries are insecure, and where their certificates are."""

    insecure: tuple[str, ...] = (LOOPBACK,)
    certs_dirs: tuple[Path, ...] = DEFAULT_CERTS_DIRS
    _contexts: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, env: Mapping[str, str]) -> "RegistrySettings":
        path = Path(env.get("DOCKYARD_DAEMON_CONFIG") or DEFAULT_CONFIG)
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"invalid daemon configuration {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidParameter(f"invalid daemon configuration {path}: not a JSON object")
        extra = doc.get("insecure-registries", [])
        if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
            raise InvalidParameter(f"invalid daemon configuration {path}: insecure-registries must be a list of strings")
        base = (LOOPBACK,) if doc.get("loopback-insecure", True) else ()
        certs = doc.get("certs-dir")
        dirs = (Path(certs),) if isinstance(certs, str) and certs else DEFAULT_CERTS_DIRS
        return cls(insecure=base + tuple(extra), certs_dirs=dirs)

    # -- decisions ----------------------------------------------------------------------------
    def is_insecure(self, host: str) -> bool:
        """Docker's isSecureIndex, inverted: listed by name, or an address in an insecure CIDR."""
        names = {e.lower() for e in self.insecure if "/" not in e}
        if host.lower() in names:
            return True
        nets = []
        for entry in self.insecure:
            if "/" in entry:
                try:
                    nets.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise InvalidParameter(f"invalid insecure registry CIDR: {entry}") from None
        if not nets:
            return False
        return any(addr in net for addr in _addresses(_hostname(host)) for net in nets)

    def endpoints(self, host: str) -> list[Endpoint]:
        if self.is_insecure(host):
            return [Endpoint(f"https://{host}", False), Endpoint(f"http://{host}", False)]
        return [Endpoint(f"https://{host}", self.tls_context(host))]

    def tls_context(self, host: str) -> ssl.SSLContext:
        """System CAs, plus the host's CAs and client certificate from the certs directories."""
        if host in self._contexts:
            return self._contexts[host]
        ctx = ssl.create_default_context()
        for base in self.certs_dirs:
            folder = base / host
            if not folder.is_dir():
                continue
            for crt in sorted(folder.glob("*.crt")):
                try:
                    ctx.load_verify_locations(cafile=str(crt))
                except (OSError, ssl.SSLError) as exc:
                    raise InvalidParameter(f"invalid CA certificate {crt}: {exc}") from None
            for cert in sorted(folder.glob("*.cert")):
                key = cert.with_suffix(".key")
                if not key.is_file():
                    raise InvalidParameter(f"missing key {key.name} for client certificate {cert}")
                try:
                    ctx.load_cert_chain(str(cert), str(key))
                except (OSError, ssl.SSLError) as exc:
                    raise InvalidParameter(f"invalid client certificate {cert}: {exc}") from None
            for key in sorted(folder.glob("*.key")):
                if not key.with_suffix(".cert").is_file():
                    raise InvalidParameter(f"missing client certificate {key.stem}.cert for key {key}")
        self._contexts[host] = ctx
        return ctx


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _addresses(name: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    try:
        return (ipaddress.ip_address(name),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return ()
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0].split("%")[0]))
        except ValueError:
            continue
    return tuple(out)
