"""What both servers show of containers, in Docker's shapes: the rows of `GET /containers/json`
(with every filter Docker documents), and the Config, HostConfig, Mounts and NetworkSettings of
`docker inspect`."""

from __future__ import annotations

import os
from typing import Any

from dockyard import filters as filters_mod
from dockyard.digest import Digest
from dockyard.engine import networks as engine_networks
from dockyard.engine.images import image_size
from dockyard.errors import DockyardError, NotFound
from dockyard.image.config import parse_time
from dockyard.runtime.containers import all_containers, current_state, lookup
from dockyard.runtime.hostconfig import HostConfig, Mount
from dockyard.runtime.network import endpoints, hook
from dockyard.runtime.network.endpoints import NetworkRequest, NetworkState
from dockyard.runtime.oci import choose_runtime
from dockyard.runtime.spec import MASKED_PATHS, READONLY_PATHS
from dockyard.runtime.state import RUNNING, ContainerDir, ContainerRecord, ContainerState, docker_status, status_text
from dockyard.store.store import Store


def command_string(args: list[str]) -> str:
    """The COMMAND column as Docker shows it: arguments with spaces in single quotes."""
    return " ".join(f"'{a}'" if (not a or any(c.isspace() for c in a)) else a for a in args)


def network_view(cdir: ContainerDir, state: ContainerState) -> tuple[NetworkRequest, NetworkState | None]:
    request = hook.read_request(cdir.path)
    return request, endpoints.read_state(cdir.path) if state.status == RUNNING else None


def mounts(record: ContainerRecord) -> list[dict[str, Any]]:
    out = []
    given = _given_mounts(record.host)
    for m in record.host.mounts:
        if m.type == "tmpfs" and given is not None and os.path.normpath(m.target) not in given:
            continue    # a --tmpfs (HostConfig.Tmpfs) is no mount point of dockerd's list
        entry: dict[str, Any] = {"Type": m.type}
        if m.type == "volume":
            entry.update(Name=m.name, Source=m.source, Destination=m.target, Driver="local",
                         Mode="" if not m.read_only else "ro", RW=not m.read_only, Propagation="")
        elif m.type == "bind":
            propagation = next((o for o in m.options if o.endswith(("private", "shared", "slave"))),
                               "rprivate")
            entry.update(Source=m.source, Destination=m.target, Mode="ro" if m.read_only else "",
                         RW=not m.read_only, Propagation=propagation)
        else:
            entry.update(Source="", Destination=m.target, Mode="", RW=not m.read_only, Propagation="")
        out.append(entry)
    for b in record.host.binds:
        source, _, rest = b.partition(":")
        target, _, mode = rest.partition(":")
        out.append({"Type": "bind", "Source": source, "Destination": target,
                    "Mode": mode, "RW": mode != "ro", "Propagation": "rprivate"})
    return out


def _given_mounts(h: HostConfig) -> dict[str, str] | None:
    """The targets of the request's Mounts -> their given sources; None for a record made before
    HostConfig.shown."""
    return {m["Target"]: m["Source"] for m in h.shown["Mounts"]} if h.shown else None


def _api_mounts(h: HostConfig) -> list[dict[str, Any]] | None:
    """HostConfig.Mounts: the request's, each with the source it gave (none for an anonymous
    volume, as dockerd echoes it); every mount in a record made before HostConfig.shown."""
    given = _given_mounts(h)
    if given is None:
        return [_api_mount(m) for m in h.mounts] or None
    made = {os.path.normpath(m.target): m for m in h.mounts}
    out = []
    for target, source in given.items():     # in the request's order
        if target in made:
            entry = _api_mount(made[target])
            if not source:
                entry.pop("Source", None)
            out.append(entry)
    return out or None


def _network_mode(h: HostConfig, mode: str) -> str:
    """A container on the default bridge by asking for none shows "default", as dockerd's."""
    return "default" if h.shown and h.shown["NetworkMode"] == "default" and mode == "bridge" else mode


def _api_mount(m: Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": m.type, "Source": m.name if m.type == "volume" else m.source,
                           "Target": m.target}
    if m.read_only:
        out["ReadOnly"] = True
    if m.subpath:
        out["VolumeOptions"] = {"Subpath": m.subpath}
    return out


def host_config(store: Store, record: ContainerRecord, request: NetworkRequest) -> dict[str, Any]:
    h = record.host
    r = h.resources
    binds = list(h.binds) + [f"{m.name if m.type == 'volume' else m.source}:{m.target}"
                             + (":ro" if m.read_only else "")
                             for m in h.mounts if m.type != "tmpfs"]
    if h.shown:    # as the request gave them (dockerd's)
        binds = h.shown["Binds"] or []
    mounts = _api_mounts(h)
    tmpfs = {m.target: ",".join(m.options) for m in h.mounts if m.type == "tmpfs"
             and os.path.normpath(m.target) not in (_given_mounts(h) or {})}
    return {
        "Binds": binds or None, "ContainerIDFile": h.container_id_file,
        "LogConfig": {"Type": h.log_driver, "Config": dict(h.log_opts)},
        "NetworkMode": _network_mode(h, request.mode if request.mode else h.network_mode),
        "PortBindings": {k: [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in v]
                         for k, v in request.ports.items()},
        "RestartPolicy": {"Name": h.restart.name, "MaximumRetryCount": h.restart.maximum_retry_count},
        "AutoRemove": h.auto_remove, "VolumeDriver": "", "VolumesFrom": list(h.volumes_from) or None,
        "CapAdd": h.cap_add or None, "CapDrop": h.cap_drop or None, "CgroupnsMode": h.cgroupns_mode or "host",
        "Dns": h.dns, "DnsOptions": h.dns_options, "DnsSearch": h.dns_search,
        "ExtraHosts": h.extra_hosts or None, "GroupAdd": list(h.group_add) or None, "IpcMode": h.ipc_mode or "private", "Cgroup": "",
        # legacy links (the default bridge's) as dockerd shows them: /CHILD:/PARENT/ALIAS
        "Links": [f"/{link.partition(':')[0]}:/{record.name}/{link.partition(':')[2]}" for link in h.links]
        if h.links and h.network_mode == "bridge" else None, "OomScoreAdj": h.oom_score_adj, "PidMode": h.pid_mode, "Privileged": h.privileged,
        **({"Init": True} if h.init else {}),     # omitempty, as dockerd's
        "PublishAllPorts": request.publish_all, "ReadonlyRootfs": h.read_only,
        # as dockerd keeps them, with the label=disable it adds for a privileged container
        "SecurityOpt": ((["no-new-privileges"] if h.no_new_privileges else [])
                        + ([f"seccomp={h.seccomp}"] if h.seccomp else [])
                        + (["label=disable"] if h.privileged and "label=disable" not in h.security_labels else [])
                        + list(h.security_labels)) or None,
        "UTSMode": h.uts_mode, "UsernsMode": h.userns_mode, "ShmSize": h.shm_size,
        **({"Sysctls": dict(h.sysctls)} if h.sysctls else {}),   # omitempty, as dockerd's
        **({"Annotations": dict(h.annotations)} if h.annotations else {}),   # (API 1.43's)
        "Runtime": choose_runtime(store.root, h.runtime), "Isolation": h.isolation,
        "CpuShares": r.cpu_shares, "Memory": r.memory, "NanoCpus": r.nano_cpus, "CgroupParent": "",
        "BlkioWeight": 0, "CpuPeriod": r.cpu_period, "CpuQuota": r.cpu_quota,
        "CpusetCpus": r.cpuset_cpus, "CpusetMems": r.cpuset_mems,
        "Devices": [dict(d) for d in h.devices], "MemoryReservation": r.memory_reservation, "MemorySwap": r.memory_swap,
        "MemorySwappiness": r.memory_swappiness, "OomKillDisable": r.oom_kill_disable,
        "PidsLimit": r.pids_limit or None,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in r.ulimits] or None,
        **({"Mounts": mounts} if mounts else {}), **({"Tmpfs": tmpfs} if tmpfs else {}),   # omitempty
        # what dockyard applies (runtime/spec; none when privileged), and the fields it takes only
        # at their zero value (create_config's _UNSUPPORTED_HOST), as dockerd shows them
        "MaskedPaths": None if h.privileged else list(MASKED_PATHS),
        "ReadonlyPaths": None if h.privileged else list(READONLY_PATHS),
        "ConsoleSize": [0, 0], "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuCount": 0, "CpuPercent": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "DeviceCgroupRules": list(h.device_cgroup_rules) or None, "DeviceRequests": None,
        "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "KernelMemory": 0, "KernelMemoryTCP": 0,
    }


# -- the list ----------------------------------------------------------------------------------
def _ancestors(store: Store, refs: list[str]) -> set[str] | None:
    """The image IDs named by `ancestor` values (unknown names match nothing, as Docker)."""
    if not refs:
        return None
    out = set()
    for ref in refs:
        try:
            out.add(str(store.resolve(ref)))
        except Exception:  # noqa: BLE001 - an image that does not exist is no ancestor
            continue
    return out


def _image_chain(store: Store, image_id: str) -> list[str]:
    chain = []
    seen = set()
    current: str | None = image_id
    while current and current not in seen:
        seen.add(current)
        chain.append(current)
        try:
            parent = store.parent(Digest.parse(current))
        except Exception:  # noqa: BLE001 - a missing record ends the chain
            break
        current = str(parent) if parent else None
    return chain


def _created_of(store: Store, ref: str) -> float:
    record = lookup(store, ref).read_record()
    created = parse_time(record.created)
    return created.timestamp() if created else 0.0


def sizes(store: Store, cdir: ContainerDir, image_id: str) -> dict[str, int]:
    """What `size=1` adds to a container's row and inspect (`docker ps -s`, `docker system df`):
    the bytes of its writable layer, and those plus its image's."""
    from dockyard.archive.changes import diff_size  # here: a container command without -s loads no dataclasses

    size_rw = diff_size(cdir.upper)
    try:
        image = image_size(store.image(Digest.parse(image_id)))
    except (DockyardError, ValueError):    # its image went (rmi -f): the layer alone
        image = 0
    return {"SizeRw": size_rw, "SizeRootFs": size_rw + image}


def rows(store: Store, *, all_: bool = False, raw_filters: str | None = None,
         limit: int | None = None, size: bool = False) -> list[dict[str, Any]]:
    f = filters_mod.parse(raw_filters, filters_mod.CONTAINERS)
    ancestors = _ancestors(store, f.get("ancestor"))
    before = min((_created_of(store, r) for r in f.get("before")), default=None)
    since = max((_created_of(store, r) for r in f.get("since")), default=None)
    show_all = all_ or bool(f.get("status")) or bool(f.get("exited")) or before is not None \
        or since is not None or (limit is not None and limit > 0)
    items = []
    for cdir in all_containers(store):
        try:
            record = cdir.read_record()
            state = current_state(cdir)
        except (FileNotFoundError, NotFound):
            continue
        created = parse_time(record.created)
        stamp = created.timestamp() if created else 0.0
        if not show_all and state.status != RUNNING:
            continue
        if before is not None and stamp >= before or since is not None and stamp <= since:
            continue
        request, net_state = network_view(cdir, state)
        if not _matches(store, f, record, state, request, net_state, ancestors):
            continue
        items.append((stamp, cdir, record, state, request, net_state))
    items.sort(key=lambda i: i[0], reverse=True)
    if limit is not None and limit > 0:
        items = items[:limit]
    return [{**_row(store, record, state, request, net_state),
             **(sizes(store, cdir, record.image_id) if size else {})}
            for _, cdir, record, state, request, net_state in items]


def _matches(store: Store, f: filters_mod.Filters, record: ContainerRecord, state: ContainerState,
             request: NetworkRequest, net_state: NetworkState | None, ancestors: set[str] | None) -> bool:
    if not f:
        return True
    if not f.match("id", [record.id], "prefix") or not f.match("name", ["/" + record.name, record.name], "regex"):
        return False
    if not f.match_labels(record.config.labels):
        return False
    if not f.match("status", [docker_status(state)]):
        return False
    if f.get("exited") and not (state.status == "exited" and str(state.exit_code) in f.get("exited")):
        return False
    if ancestors is not None and not ancestors & set(_image_chain(store, record.image_id)):
        return False
    if f.get("volume"):
        names = [m.name or m.source for m in record.host.mounts] + [m.target for m in record.host.mounts]
        if not any(v in names or os.path.normpath(v) in names for v in f.get("volume")):
            return False
    if f.get("network"):
        nets = list(request.networks) or [request.mode]
        ids = [j.network_id for j in (net_state.networks.values() if net_state else [])]
        if not f.match("network", nets + ids, "prefix"):
            return False
    if not f.match("health", [(state.health or {}).get("Status") or "none"]):
        return False
    if f.bool_value("is-task"):
        return False
    published = [(p["host_port"], p["protocol"]) for p in (net_state.ports if net_state else [])]
    if any(not filters_mod.port_matches(v, published) for v in f.get("publish")):
        return False
    exposed = [endpoints.parse_port_key(k) for k in (record.config.exposed_ports or {})]
    if any(not filters_mod.port_matches(v, exposed) for v in f.get("expose")):
        return False
    return True


def _row(store: Store, record: ContainerRecord, state: ContainerState, request: NetworkRequest,
         net_state: NetworkState | None) -> dict[str, Any]:
    created = parse_time(record.created)
    settings = engine_networks.settings(store.root, record.id, request, net_state, container_name=record.name,
                                        hostname=record.hostname)
    return {
        "Id": record.id, "Names": ["/" + record.name], "Image": record.image_name,
        "ImageID": record.image_id, "Command": command_string(record.command),
        "Created": int(created.timestamp()) if created else 0,
        "Ports": engine_networks.port_list(request, net_state, list(record.config.exposed_ports or {})),
        "Labels": dict(record.config.labels or {}), "State": docker_status(state),
        "Status": status_text(state), "HostConfig": {
            "NetworkMode": _network_mode(record.host, request.mode),
            **({"Annotations": dict(record.host.annotations)} if record.host.annotations else {})},
        "NetworkSettings": {"Networks": settings["Networks"]}, "Mounts": mounts(record),
    }
