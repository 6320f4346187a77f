"""Networks for both servers: create, list, inspect, remove, prune, in Docker's JSON; and the
`NetworkSettings` of a container, as `docker inspect` and `docker ps` show them.

The networks themselves live in runtime/network/ (records, netavark, aardvark-dns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard import filters as filters_mod
from dockyard.errors import Forbidden, InvalidParameter
from dockyard.runtime.containers import current_state, lookup
from dockyard.runtime.network import endpoints, hook
from dockyard.runtime.network.endpoints import EndpointConfig, NetworkRequest, NetworkState
from dockyard.runtime.network.records import CreateRequest, NetworkRecord, Networks
from dockyard.runtime.state import RUNNING, ContainerDir, pid_alive
from dockyard.store.events import Journal


def running(root: Path):  # noqa: ANN201 - Callable[[str], bool]
    """Is the container with this ID running (an endpoint of a container that is not was left
    by a monitor that died)."""
    def check(container_id: str) -> bool:
        cdir = ContainerDir(root / "containers" / container_id)
        if not (cdir.path / "container.json").is_file():
            return False
        state = cdir.read_state()
        return state.status == RUNNING and pid_alive(state.monitor_pid)
    return check


def to_docker(root: Path, record: NetworkRecord, *, with_containers: bool = True) -> dict[str, Any]:
    networks = Networks(root)
    containers: dict[str, Any] = {}
    if with_containers and record.is_bridge:
        for ep in networks.active_endpoints(record, running(root)):
            containers[ep.container_id] = {"Name": ep.container_name, "EndpointID": ep.endpoint_id,
                                           "MacAddress": ep.mac, "IPv4Address": ep.ipv4,
                                           "IPv6Address": ""}
    options = dict(record.options)
    if record.name == "bridge":
        options.setdefault("com.docker.network.bridge.name", record.interface)
    config = [{"Subnet": record.subnet, **({"IPRange": record.ip_range} if record.ip_range else {}),
               "Gateway": record.gateway,
               **({"AuxiliaryAddresses": dict(record.aux_addresses)} if record.aux_addresses else {})}
              ] if record.subnet else []
    return {
        "Name": record.name, "Id": record.id, "Created": record.created, "Scope": "local",
        "Driver": record.driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": config},
        "Internal": record.internal, "Attachable": record.attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers,
        "Options": options, "Labels": dict(record.labels),
    }


def create(root: Path, body: dict[str, Any]) -> NetworkRecord:
    """POST /networks/create's body (the CLI's flags map onto the same)."""
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidParameter("network name is required")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidParameter("invalid IPAM: want an object")
    if ipam.get("Driver") not in (None, "", "default"):
        raise InvalidParameter(f"IPAM driver {ipam['Driver']!r} is not supported")
    if ipam.get("Options"):
        raise InvalidParameter("IPAM options are not supported")
    configs = ipam.get("Config") or []
    if len(configs) > 1:
        raise InvalidParameter("dockyard networks have one IPv4 subnet")
    subnet = gateway = ip_range = None
    aux: dict[str, str] = {}
    for cfg in configs:
        cfg = cfg or {}   # null: Go's zero IPAMConfig
        subnet, gateway = cfg.get("Subnet") or None, cfg.get("Gateway") or None
        ip_range, aux = cfg.get("IPRange") or None, cfg.get("AuxiliaryAddresses") or {}
        if (gateway or ip_range) and not subnet:
            raise InvalidParameter("every ip-range or gateway must have a corresponding subnet")
        if not isinstance(aux, dict) or not all(isinstance(v, str) for v in aux.values()):
            raise InvalidParameter("invalid AuxiliaryAddresses: want an object of strings")
        if aux and not subnet:
            raise InvalidParameter("no matching subnet for aux-address")
    for flag in ("Ingress", "ConfigOnly"):
        if body.get(flag):
            raise InvalidParameter(f"{flag} networks are not supported")
    if (body.get("ConfigFrom") or {}).get("Network"):
        raise InvalidParameter("config-from networks are not supported")
    if body.get("Scope") not in (None, "", "local"):
        raise InvalidParameter(f"scope {body['Scope']} is not supported")
    record = Networks(root).create(CreateRequest(
        name=name, driver=body.get("Driver") or "bridge", subnet=subnet, gateway=gateway,
        internal=bool(body.get("Internal")), attachable=bool(body.get("Attachable")),
        labels=dict(body.get("Labels") or {}), options=dict(body.get("Options") or {}),
        ipv6=bool(body.get("EnableIPv6")), ip_range=ip_range, aux_addresses=dict(aux)))
    Journal(root).emit("network", "create", record.id, {"name": record.name, "type": "bridge"})
    return record


def _matches(root: Path, record: NetworkRecord, f: filters_mod.Filters) -> bool:
    if not f.match("name", [record.name], "regex") or not f.match("id", [record.id], "prefix"):
        return False
    if not f.match("driver", [record.driver]) or not f.match("scope", ["local"]):
        return False
    if not f.match("type", ["builtin" if record.builtin else "custom"]):
        return False
    if not f.match_labels(record.labels):
        return False
    dangling = f.bool_value("dangling")
    if dangling is not None:
        used = record.builtin or bool(Networks(root).active_endpoints(record, running(root)))
        if dangling == used:
            return False
    return True


def list_networks(root: Path, raw_filters: str | None) -> list[dict[str, Any]]:
    f = filters_mod.parse(raw_filters, filters_mod.NETWORKS)
    return [to_docker(root, r, with_containers=False)
            for r in Networks(root).all() if _matches(root, r, f)]


def inspect(root: Path, ref: str) -> dict[str, Any]:
    return to_docker(root, Networks(root).get(ref))


def remove(root: Path, ref: str) -> None:
    """`network rm`: the network, what it left on the host, and what networks that no longer
    exist left (endpoints.reconcile)."""
    record = Networks(root).remove(ref, running(root), endpoints.sweep_subnet)
    Journal(root).emit("network", "destroy", record.id, {"name": record.name, "type": "bridge"})
    endpoints.reconcile(root)


def reconcile(root: Path) -> None:
    """At serve's start: what networks that are gone left on the host (endpoints.reconcile)."""
    endpoints.reconcile(root)


def hold_default_bridge(root: Path) -> endpoints.BridgeHold:
    """serve keeps the default bridge up while it runs, as dockerd keeps docker0 (release() at its stop)."""
    return endpoints.BridgeHold(root)


def prune(root: Path, raw_filters: str | None) -> list[str]:
    """`docker network prune`: the networks no container uses, matching `label`/`label!` and
    created before `until` when given (daemon/prune.go)."""
    from dockyard.engine.events import prune_cutoff
    from dockyard.image.config import parse_time

    f = filters_mod.parse(raw_filters, filters_mod.NETWORK_PRUNE)
    until = prune_cutoff(f.get("until"))
    networks = Networks(root)
    removed = []
    for record in networks.all():
        if record.builtin or not f.match_labels(record.labels):
            continue
        created = parse_time(record.created)
        if until is not None and (created is None or created.timestamp() > until):
            continue
        if networks.active_endpoints(record, running(root)):
            continue
        try:
            remove(root, record.id)
        except Exception:  # noqa: BLE001 - in use meanwhile: kept, as Docker's prune does
            continue
        removed.append(record.name)
    return removed


# -- a container's view ------------------------------------------------------------------------
def settings(root: Path, container_id: str, request: NetworkRequest,
             state: NetworkState | None, links: list[str] | None = None, *,
             container_name: str = "", hostname: str = "") -> dict[str, Any]:
    """A container's NetworkSettings (inspect): per network its endpoint while it runs, empty
    addresses while it does not; published ports from the running state. An endpoint's
    DNSNames (API 1.44: the container's name, aliases, short ID, hostname on a user network)
    are the API's to drop for older versions (api/containers)."""
    networks = Networks(root)
    out_networks: dict[str, Any] = {}
    links = [link.removesuffix(":" + link.partition(":")[0]) for link in links or []]   # NAME:NAME as NAME
    names = [request.mode] if request.mode in ("host", "none") else list(request.networks)
    for name in names:
        try:
            record = networks.get(name)
        except Exception:  # noqa: BLE001 - removed since: shown without an ID
            record = None
        joined = state.networks.get(name) if state is not None else None
        cfg = request.networks.get(name)
        out_networks[name] = {
            "IPAMConfig": ({"IPv4Address": cfg.ipv4_address} if cfg and cfg.ipv4_address else None),
            # dockerd moves a container's links to its endpoint on the user network of its mode
            "Links": (list(links) if links and name == request.mode and name not in ("bridge", "host", "none")
                      else None)
            if not (cfg and cfg.links) else [link.removesuffix(":" + link.partition(":")[0]) for link in cfg.links],
            "Aliases": (list(cfg.aliases) if cfg and cfg.aliases else None),
            "NetworkID": record.id if record else "",
            "EndpointID": joined.endpoint_id if joined else "",
            "Gateway": joined.gateway if joined else "", "IPAddress": joined.ip if joined else "",
            "IPPrefixLen": joined.prefix if joined else 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            # the MAC given while not joined (docker-py's connect of a created container)
            "MacAddress": joined.mac if joined else (cfg.mac_address if cfg else ""),
            "DriverOpts": dict(cfg.driver_opts) if cfg and cfg.driver_opts else None,
        }
        out_networks[name]["DNSNames"] = None
        if name not in ("bridge", "host", "none"):   # Docker 20.10 adds the short ID on user networks
            given = list(cfg.aliases if cfg else [])
            out_networks[name]["Aliases"] = list(dict.fromkeys([*given, container_id[:12]]))
            out_networks[name]["DNSNames"] = list(dict.fromkeys(
                n for n in (container_name, *given, container_id[:12], hostname) if n))
    primary = out_networks.get("bridge") if request.mode == "bridge" else None
    ports: dict[str, Any] = {}
    if state is not None:
        for key in request.ports:
            ports.setdefault(key, None)
        for p in state.ports:
            key = f"{p['container_port']}/{p['protocol']}"
            ports.setdefault(key, None)
            ports[key] = (ports[key] or []) + [{"HostIp": p["host_ip"] or "0.0.0.0",
                                                "HostPort": str(p["host_port"])}]
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
        "SandboxKey": state.netns if state is not None else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": primary["EndpointID"] if primary else "",
        "Gateway": primary["Gateway"] if primary else "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": primary["IPAddress"] if primary else "",
        "IPPrefixLen": primary["IPPrefixLen"] if primary else 0, "IPv6Gateway": "",
        "MacAddress": primary["MacAddress"] if primary else "", "Networks": out_networks,
    }


def port_list(request: NetworkRequest, state: NetworkState | None, exposed: list[str]) -> list[dict[str, Any]]:
    """`docker ps`'s Ports: published ports with their host side, exposed ones without."""
    out = []
    published = set()
    for p in state.ports if state is not None else []:
        out.append({"IP": p["host_ip"] or "0.0.0.0", "PrivatePort": p["container_port"],
                    "PublicPort": p["host_port"], "Type": p["protocol"]})
        published.add(f"{p['container_port']}/{p['protocol']}")
    for key in list(dict.fromkeys([*exposed, *request.ports])):
        if key not in published:
            port, proto = endpoints.parse_port_key(key)
            out.append({"PrivatePort": port, "Type": proto})
    return out


def renamed(store: Any, container_id: str, old_name: str, new_name: str) -> None:
    """A running container was renamed: its networks' DNS and endpoints take the new name."""
    cdir = lookup(store, container_id)
    with cdir.locked():
        if current_state(cdir).status == RUNNING:
            endpoints.rename(store.root, cdir.path, container_id, old_name, new_name)


# -- connect / disconnect ----------------------------------------------------------------------
def connect(store: Any, container: str, network_ref: str, config: EndpointConfig) -> None:
    """`docker network connect`: kept in the container's network request; a running container
    joins at once."""
    cdir = lookup(store, container)
    record = cdir.read_record()
    network = Networks(store.root).get(network_ref)
    request = hook.read_request(cdir.path)
    if request.mode == "none":
        raise InvalidParameter("container cannot be connected to multiple networks with one of the "
                               "networks in private (none) mode")
    if not request.uses_bridge or not network.is_bridge:
        raise InvalidParameter("container sharing network namespace with another container or "
                               "host cannot be connected to any other network")
    if network.name in request.networks:
        raise Forbidden(f"endpoint with name {record.name} already exists in network {network.name}")
    if network.name == "bridge" and config.aliases:
        raise InvalidParameter("network-scoped alias is supported only for containers in user "
                               "defined networks")
    if network.name == "bridge" and config.links:
        raise InvalidParameter("links of a connect to the default bridge are not supported by dockyard")
    if current_state(cdir).status == RUNNING:
        endpoints.connect(store.root, cdir.path, record.id, record.name, network, config,
                          running(store.root), record.host.dns)
        state = endpoints.read_state(cdir.path)
        if network.dns_enabled:   # its DNS answers the container from now on, as dockerd's
            hook.write_resolv_conf(cdir.path, record.host.to_dict(), state)
        if state is not None and network.name in state.networks:
            hook.hosts_address(cdir.path, record.hostname or record.id[:12], state.networks[network.name].ip,
                               present=True)
    request.networks[network.name] = config
    hook.write_request(cdir.path, request)
    Journal(store.root).emit("network", "connect", network.id,
                             {"container": record.id, "name": network.name, "type": "bridge"})


def disconnect(store: Any, container: str, network_ref: str) -> None:
    cdir = lookup(store, container)
    record = cdir.read_record()
    network = Networks(store.root).get(network_ref)
    request = hook.read_request(cdir.path)
    running = current_state(cdir).status == RUNNING
    if network.name not in request.networks:   # dockerd 20.10's words for each
        the = "" if running else "the "
        raise InvalidParameter(f"container {record.id} is not connected to {the}network {network.name}")
    if running:
        joined = (endpoints.read_state(cdir.path) or NetworkState("")).networks.get(network.name)
        endpoints.disconnect(store.root, cdir.path, record.id, record.name, network)
        if joined is not None:
            hook.hosts_address(cdir.path, record.hostname or record.id[:12], joined.ip, present=False)
        if network.dns_enabled:   # its DNS no longer answers the container, as dockerd's
            hook.write_resolv_conf(cdir.path, record.host.to_dict(), endpoints.read_state(cdir.path))
    del request.networks[network.name]
    if request.mode == network.name and request.networks:
        request.mode = next(iter(request.networks))
    # the last one gone, the mode stays (dockerd's NetworkMode does): the container starts with
    # its loopback alone, and a connect gives it a network again (compose 1.29 disconnects and
    # reconnects a new container's networks when their aliases lack its short ID)
    hook.write_request(cdir.path, request)
    Journal(store.root).emit("network", "disconnect", network.id,
                             {"container": record.id, "name": network.name, "type": "bridge"})
