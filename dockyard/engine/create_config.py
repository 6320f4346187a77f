"""What `docker create` asks for, read from the Engine API's JSON (Config + HostConfig +
NetworkingConfig): every field is honoured or refused, never ignored.

The API server passes the body it received; dockyard's CLI builds the same body from its flags
(as the docker CLI does), so both go through this one reader. A field at its zero value (what
clients send for options the user did not give) is accepted whatever it is; a field dockyard
cannot honour is an InvalidParameter naming it.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from dockyard.dataclass import dataclass, field
from dockyard.errors import InvalidParameter, go_quote
from dockyard.runtime.containers import CreateOptions
from dockyard.runtime.health import validate as validate_healthcheck
from dockyard.runtime.hostconfig import (
    CONTAINER_MODE, DEFAULT_SHM_SIZE, HOST_GATEWAY, HostConfig, Mount, Resources, RestartPolicy, Ulimit,
    joined_container,
)
from dockyard.runtime import host_support
from dockyard.runtime.logs import NO_LOG, rotation
from dockyard.runtime.network.endpoints import EndpointConfig, NetworkRequest, PortBinding, parse_mac, parse_port_key
from dockyard.runtime.seccomp import UNCONFINED, parse_profile
from dockyard.runtime.spec import ALL_CAPS, device_rule
from dockyard.runtime.volumes import validate_name

# Fields dockyard does not implement: accepted only at their zero value.
_UNSUPPORTED_HOST = (
    "DeviceRequests", "CgroupParent", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "KernelMemory", "KernelMemoryTCP",
    "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "MaskedPaths",
    "ReadonlyPaths", "StorageOpt", "Cgroup",
)
_UNSUPPORTED_CONFIG = ("Shell", "OnBuild")
_MODES_PRIVATE = {"IpcMode": ("", "private", "shareable", "host"), "PidMode": ("", "private", "host"),
                  "UTSMode": ("", "private", "host"), "UsernsMode": ("", "private", "host"),
                  "CgroupnsMode": ("", "private", "host"), "Isolation": ("", "default")}
# the logging drivers dockerd 20.10 has on Linux (daemon/logdrivers_linux.go)
_LOG_DRIVERS = ("none", "local", "json-file", "syslog", "journald", "gelf", "fluentd", "awslogs",
                "splunk", "gcplogs", "logentries")
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


@dataclass
class VolumeUse:
    """A volume a new container mounts: created if missing (anonymous when `name` is empty)."""

    name: str
    target: str
    read_only: bool = False
    nocopy: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    subpath: str = ""     # the path inside the volume mounted (API 1.45's VolumeOptions.Subpath)
    options: dict[str, str] = field(default_factory=dict)   # the local driver's, for a new volume


@dataclass
class ContainerRequest:
    """A container create's request, read: its options, networks and volumes."""

    options: CreateOptions
    network: NetworkRequest
    volumes: list[VolumeUse] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)    # "ID[:ro|rw]"
    stdin_once: bool = False


def _zero(value: Any) -> bool:
    return value in (None, "", 0, False, [], {}) or value == [0, 0]


def _strs(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidParameter(f"invalid {what}: want a list of strings")


def _int(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"invalid {what}: want an integer")
    return value


def _bool(value: Any, what: str) -> bool:
    if value is None:
        return False     # Init: null is the daemon's default, no init
    if not isinstance(value, bool):
        raise InvalidParameter(f"invalid {what}: want a boolean")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameter(f"invalid {what}: want a list")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid {what}: want an object")
    return value


def _stop_timeout(value: Any) -> int | None:
    """Config.StopTimeout: seconds (a Go *int: absent or null is the daemon's default, 10)."""
    return None if value is None else _int(value, "StopTimeout")


def _shm_size(value: Any) -> int:
    """HostConfig.ShmSize in bytes; 0 or absent is dockerd's default (64 MiB)."""
    size = _int(value, "ShmSize")
    if size < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    return size or DEFAULT_SHM_SIZE


def _oom_score_adj(value: Any) -> int:
    adj = _int(value, "OomScoreAdj")
    if not -1000 <= adj <= 1000:
        raise InvalidParameter(f"Invalid value {adj}, range for oom score adj is [-1000, 1000]")
    return adj


def _string_map(value: Any, what: str) -> dict[str, str]:
    out = _dict(value, what)
    if not all(isinstance(v, str) for v in out.values()):
        raise InvalidParameter(f"invalid {what}: want strings")
    return dict(out)


def _annotations(value: Any) -> dict[str, str]:
    """HostConfig.Annotations (API 1.43), the OCI spec's at each start; moby refuses an empty
    key (daemon/container.go, beside its restart policy and capability checks), in its words."""
    out = _string_map(value, "Annotations")
    if "" in out:
        raise InvalidParameter("invalid Annotations: the empty string is not permitted as an annotation key")
    return out


def _healthcheck(value: Any) -> dict[str, Any] | None:
    """Config.Healthcheck, checked as dockerd checks it; its zero fields dropped (they come from
    the image's at the merge, and Docker's HealthConfig omits them)."""
    if value is None:
        return None
    value = _dict(value, "Healthcheck")
    validate_healthcheck(value)
    return {key: value[key] for key in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
            if value.get(key)}


def _devices(value: Any) -> list[dict[str, str]]:
    """HostConfig.Devices. dockerd takes any permissions and path here and leaves them to runc
    (a relative path or `zz` even start); dockyard refuses them at create, as the docker CLI does."""
    out = []
    for d in _list(value, "Devices"):
        d = _dict(d, "Devices")
        on_host = d.get("PathOnHost")
        if not isinstance(on_host, str) or not on_host.startswith("/"):
            raise InvalidParameter(f"invalid device: PathOnHost {on_host!r} is not an absolute path")
        in_container = d.get("PathInContainer") or on_host
        perms = d.get("CgroupPermissions") or "rwm"
        if not isinstance(in_container, str) or not in_container.startswith("/"):
            raise InvalidParameter(f"{in_container} is not an absolute path")
        if not isinstance(perms, str) or not set(perms) <= set("rwm"):
            raise InvalidParameter(f"bad mode specified: {perms}")
        out.append({"PathOnHost": on_host, "PathInContainer": in_container, "CgroupPermissions": perms})
    return out


def _device_cgroup_rules(value: Any) -> list[str]:
    """HostConfig.DeviceCgroupRules, each checked at create (dockerd finds a bad one at start,
    in the same words)."""
    rules = _strs(value, "DeviceCgroupRules")
    for rule in rules:
        device_rule(rule)
    return rules


def _memory_swappiness(value: Any) -> int | None:
    """HostConfig.MemorySwappiness: 0-100, or -1 / null for the kernel's; dropped where the host
    cannot set it (cgroup v2: dockerd warns, see `warnings`)."""
    if value is None or value == -1:
        return None
    swappiness = _int(value, "MemorySwappiness")
    if not 0 <= swappiness <= 100:
        raise InvalidParameter(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    return swappiness if host_support.memory_swappiness() else None


def _unsupported(section: str, key: str) -> InvalidParameter:
    return InvalidParameter(f"{section}.{key} is not supported by dockyard")


def read(body: dict[str, Any], name: str | None) -> ContainerRequest:
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidParameter("config.Image is required")
    host = _dict(body.get("HostConfig"), "HostConfig")
    _container_network(body, host)
    for key in _UNSUPPORTED_CONFIG:
        if not _zero(body.get(key)):
            raise _unsupported("Config", key)
    for key in _UNSUPPORTED_HOST:
        if not _zero(host.get(key)):
            raise _unsupported("HostConfig", key)
    if not _zero(host.get("BlkioWeight")) and host_support.blkio_weight():
        raise _unsupported("HostConfig", "BlkioWeight")   # else discarded with dockerd's warning
    for key, allowed in _MODES_PRIVATE.items():
        if key in ("IpcMode", "PidMode") and isinstance(host.get(key), str) and joined_container(host[key]):
            continue   # container:NAME, resolved by the create (runtime/joined.py)
        if (host.get(key) or "") not in allowed:
            raise InvalidParameter(f"HostConfig.{key}={host[key]} is not supported by dockyard")
    log = _dict(host.get("LogConfig"), "LogConfig")
    driver = log.get("Type") or "json-file"
    if driver not in _LOG_DRIVERS:     # dockerd looks a name it lacks up as a plugin
        raise InvalidParameter(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    if driver not in ("json-file", NO_LOG):
        raise InvalidParameter(f"logging driver {driver} is not supported by dockyard (json-file and none only)")
    log_opts = _dict(log.get("Config"), "LogConfig.Config")
    if driver == NO_LOG and log_opts:
        raise InvalidParameter("invalid logging opts for driver none")
    rotation(log_opts)
    if host.get("VolumeDriver") not in (None, "", "local"):
        raise InvalidParameter(f"volume driver {host['VolumeDriver']} is not supported")
    for key in ("WorkingDir", "User", "Hostname", "StopSignal"):
        if body.get(key) is not None and not isinstance(body.get(key), str):
            raise InvalidParameter(f"invalid {key}: want a string")
    hostname = body.get("Hostname") or None
    if hostname is not None and host.get("UTSMode") == "host":
        raise InvalidParameter("conflicting options: hostname and the UTS mode")
    if hostname is not None and (len(hostname) > 63 or not all(c.isalnum() or c in "-." for c in hostname)):
        raise InvalidParameter(f"invalid hostname format: {hostname}")
    labels = _dict(body.get("Labels"), "Labels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise InvalidParameter("invalid Labels: want string values")
    entrypoint = None if body.get("Entrypoint") is None else _strs(body["Entrypoint"], "Entrypoint")
    if entrypoint == [""]:
        entrypoint = []          # --entrypoint "": none, the image's reset
    mounts, volumes = _mounts(host)
    network = _network(body, host)
    options = CreateOptions(
        image=image, cmd=_strs(body.get("Cmd"), "Cmd"), entrypoint=entrypoint,
        env=_strs(body.get("Env"), "Env"), workdir=body.get("WorkingDir") or None,
        user=body.get("User") or None, labels=dict(labels),
        stop_signal=body.get("StopSignal") or None, stop_timeout=_stop_timeout(body.get("StopTimeout")),
        healthcheck=_healthcheck(body.get("Healthcheck")),
        name=name or None, hostname=hostname, domainname=body.get("Domainname") or "",
        mac_address=body.get("MacAddress") or "",
        tty=bool(body.get("Tty")), open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")), attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")), attach_stderr=bool(body.get("AttachStderr")),
        exposed_ports=list(_dict(body.get("ExposedPorts"), "ExposedPorts")),
        volumes=list(_dict(body.get("Volumes"), "Volumes")),
        host=HostConfig(
            mounts=mounts, network_mode=network.mode, auto_remove=bool(host.get("AutoRemove")),
            runtime=host.get("Runtime") or "", read_only=bool(host.get("ReadonlyRootfs")),
            resources=_resources(host), cap_add=_caps(host.get("CapAdd"), "CapAdd"),
            cap_drop=_caps(host.get("CapDrop"), "CapDrop"),
            **_security(host.get("SecurityOpt")),
            dns=_ips(host.get("Dns"), "Dns"), dns_search=_strs(host.get("DnsSearch"), "DnsSearch"),
            dns_options=_strs(host.get("DnsOptions"), "DnsOptions"),
            extra_hosts=_extra_hosts(host.get("ExtraHosts")), links=_links(host.get("Links"), body),
            restart=_restart(host),
            privileged=_bool(host.get("Privileged"), "Privileged"), init=_bool(host.get("Init"), "Init"),
            shm_size=_shm_size(host.get("ShmSize")), oom_score_adj=_oom_score_adj(host.get("OomScoreAdj")),
            sysctls=_string_map(host.get("Sysctls"), "Sysctls"),
            annotations=_annotations(host.get("Annotations")),
            group_add=_strs(host.get("GroupAdd"), "GroupAdd"), devices=_devices(host.get("Devices")),
            device_cgroup_rules=_device_cgroup_rules(host.get("DeviceCgroupRules")),
            log_driver=driver, log_opts=dict(log_opts), pid_mode=host.get("PidMode") or "",
            ipc_mode=host.get("IpcMode") or "", uts_mode=host.get("UTSMode") or "",
            cgroupns_mode=host.get("CgroupnsMode") or "", isolation=host.get("Isolation") or "",
            container_id_file="".join(_strs(host.get("ContainerIDFile"), "ContainerIDFile")[:1]),
            userns_mode=host.get("UsernsMode") or "",
            volumes_from=_strs(host.get("VolumesFrom"), "VolumesFrom"), shown=_shown(host)))
    for key in options.exposed_ports:
        parse_port_key(key)
    for path in options.volumes:
        if not path.startswith("/"):
            raise InvalidParameter(f"invalid volume specification: '{path}'")
    return ContainerRequest(options, network, volumes,
                            volumes_from=_strs(host.get("VolumesFrom"), "VolumesFrom"),
                            stdin_once=bool(body.get("StdinOnce")))


# -- network -----------------------------------------------------------------------------------
def _container_network(body: dict[str, Any], host: dict[str, Any]) -> None:
    """What dockerd 20.10 refuses with a container:NAME network mode (runconfig's
    validateNetContainerMode, in its order and words): what the other container's network
    decides (hostname, links, DNS, hosts, MAC address, ports)."""
    mode = host.get("NetworkMode")
    if not isinstance(mode, str) or not mode.startswith(CONTAINER_MODE):
        if mode == "host" and body.get("MacAddress"):
            raise InvalidParameter("conflicting options: mac-address and the network mode")
        if mode == "host" and host.get("Links"):
            raise InvalidParameter("conflicting options: host type networking can't be used with links. "
                                   "This would result in undefined behavior")
        return
    if mode == CONTAINER_MODE:
        raise InvalidParameter("Invalid network mode: invalid container format container:<name|id>")
    if body.get("Hostname"):
        raise InvalidParameter("conflicting options: hostname and the network mode")
    if host.get("Links"):
        raise InvalidParameter("conflicting options: container type network can't be used with "
                               "links. This would result in undefined behavior")
    if host.get("Dns"):
        raise InvalidParameter("conflicting options: dns and the network mode")
    if host.get("ExtraHosts"):
        raise InvalidParameter("conflicting options: custom host-to-IP mapping and the network mode")
    if body.get("MacAddress"):
        raise InvalidParameter("conflicting options: mac-address and the network mode")
    if host.get("PortBindings") or host.get("PublishAllPorts"):
        raise InvalidParameter("conflicting options: port publishing and the container type "
                               "network mode")
    if body.get("ExposedPorts"):
        raise InvalidParameter("conflicting options: port exposing and the container type "
                               "network mode")


def _network(body: dict[str, Any], host: dict[str, Any]) -> NetworkRequest:
    mode = host.get("NetworkMode") or "default"
    if body.get("NetworkDisabled"):
        mode = "none"
    if not isinstance(mode, str):
        raise InvalidParameter("invalid NetworkMode: want a string")
    if mode == "default":
        mode = "bridge"
    endpoints: dict[str, EndpointConfig] = {}
    networking = _dict(body.get("NetworkingConfig"), "NetworkingConfig")
    for net, cfg in _dict(networking.get("EndpointsConfig"), "EndpointsConfig").items():
        cfg = _dict(cfg, f"EndpointsConfig.{net}")
        # (links given here are the container's: `read` takes them into HostConfig's)
        endpoint = endpoint_config(cfg)
        endpoint.links = []
        endpoints["bridge" if net == "default" else net] = endpoint
    mac = body.get("MacAddress") or ""
    if not isinstance(mac, str):
        raise InvalidParameter("invalid MacAddress: want a string")
    if mac:   # the container's MAC is its endpoint's on the network of its mode (dockerd 20.10)
        primary = endpoints.setdefault(mode if mode in endpoints or len(endpoints) != 1 else next(iter(endpoints)),
                                       EndpointConfig())
        primary.mac_address = primary.mac_address or parse_mac(mac)
    if len(endpoints) > 1:
        # Docker's error: a container is created on one network, the others are connected later
        raise InvalidParameter("Container cannot be connected to network endpoints: "
                               + ", ".join(endpoints))
    ports: dict[str, list[PortBinding]] = {}
    for key, bindings in _dict(host.get("PortBindings"), "PortBindings").items():
        out = []
        for b in _list(bindings, "PortBindings"):
            b = _dict(b, "PortBindings")
            out.append(PortBinding(b.get("HostIp") or "", str(b.get("HostPort") or "")))
        ports[key] = out
    return NetworkRequest(mode=mode, networks=endpoints, ports=ports,
                          publish_all=bool(host.get("PublishAllPorts")))


def endpoint_config(cfg: dict[str, Any]) -> EndpointConfig:
    """An EndpointSettings object (create's NetworkingConfig, network connect's body). Links
    (the docker CLI sends --link there on a user network) are the container's at create; a
    connect's are that network's (`docker network connect --link`)."""
    ipam = _dict(cfg.get("IPAMConfig"), "IPAMConfig")
    if ipam.get("IPv6Address") or ipam.get("LinkLocalIPs"):
        raise InvalidParameter("IPv6 and link-local addresses are not supported by dockyard")
    mac = cfg.get("MacAddress") or ""
    if not isinstance(mac, str):
        raise InvalidParameter("invalid MacAddress: want a string")
    return EndpointConfig(aliases=_strs(cfg.get("Aliases"), "Aliases"),
                          ipv4_address=ipam.get("IPv4Address") or "",
                          mac_address=parse_mac(mac) if mac else "",
                          driver_opts=_string_map(cfg.get("DriverOpts"), "DriverOpts"),
                          links=_link_list(_strs(cfg.get("Links"), "Links")))


def _ips(value: Any, what: str) -> list[str]:
    out = _strs(value, what)
    for ip in out:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidParameter(f"{ip} is not an ip address") from None
    return out


def _extra_hosts(value: Any) -> list[str]:
    out = []
    for item in _strs(value, "ExtraHosts"):
        name, sep, ip = item.partition(":")
        if not sep or not name:
            raise InvalidParameter(f"bad format for add-host: {go_quote(item)}")   # opts.ValidateExtraHost's %q
        if ip != HOST_GATEWAY:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise InvalidParameter(f"invalid IP address in add-host: {go_quote(ip)}") from None
        out.append(item)
    return out


def _links(value: Any, body: dict[str, Any]) -> list[str]:
    """Links (`--link NAME[:ALIAS]`, compose's links and the one-off containers of `compose run`),
    HostConfig's and the endpoints' (where the docker CLI puts them on a user network), as
    `NAME:ALIAS`; a name may come as the API's `/name` (inspect's form)."""
    given = _strs(value, "Links")
    networking = body.get("NetworkingConfig") if isinstance(body.get("NetworkingConfig"), dict) else {}
    for cfg in (networking.get("EndpointsConfig") or {}).values():
        if isinstance(cfg, dict):
            given += _strs(cfg.get("Links"), "Links")
    return _link_list(given)   # the docker CLI sends them in both places


def _link_list(given: list[str]) -> list[str]:
    """Links as `NAME:ALIAS`, once each."""
    out = []
    for item in given:
        name, _, alias = item.partition(":")
        name, alias = name.lstrip("/"), alias.rsplit("/", 1)[-1] or name.lstrip("/")
        if not name:
            raise InvalidParameter(f"invalid link: {item!r} (NAME[:ALIAS])")
        out.append(f"{name}:{alias}")
    return list(dict.fromkeys(out))


# -- security, resources, restart --------------------------------------------------------------
def _caps(value: Any, what: str) -> list[str]:
    """CapAdd/CapDrop normalized (`net_admin` -> CAP_NET_ADMIN) and checked at create, as
    dockerd does: an unknown one is refused before the container exists, not at its start."""
    out = []
    for cap in _strs(value, what):
        c = cap.upper()
        if c != "ALL" and not c.startswith("CAP_"):
            c = "CAP_" + c
        if c != "ALL" and c not in ALL_CAPS:
            raise InvalidParameter(f'invalid {what}: unknown capability: "{c}"')
        out.append(c)
    return out


def _security(value: Any) -> dict[str, Any]:
    """SecurityOpt as HostConfig fields: no-new-privileges, and seccomp= `unconfined` or a
    profile's JSON (the CLI sends a file's content). A profile is checked here, at create, so a
    broken one is refused before anything is made (Docker's daemon finds out at start)."""
    out: dict[str, Any] = {"no_new_privileges": False, "seccomp": "", "security_labels": []}
    for opt in _strs(value, "SecurityOpt"):
        key, sep, val = opt.replace("=", ":", 1).partition(":")
        if key in ("label", "apparmor") and val:
            # no confinement is what dockyard gives; a profile only where the host has no such
            # module (dockerd takes it there, to no effect)
            if (key, val) not in (("label", "disable"), ("apparmor", "unconfined")) \
                    and host_support.security_module("selinux" if key == "label" else "apparmor"):
                raise InvalidParameter(f"security option {opt} is not supported by dockyard")
            out["security_labels"].append(opt)
            continue
        if key == "no-new-privileges" and val in ("", "true"):
            out["no_new_privileges"] = True
        elif key == "no-new-privileges" and val == "false":
            out["no_new_privileges"] = False
        elif key == "seccomp" and val:
            if val != UNCONFINED:
                parse_profile(val)
            out["seccomp"] = val
        else:
            raise InvalidParameter(f"security option {opt} is not supported by dockyard")
    return out


def _resources(host: dict[str, Any]) -> Resources:
    ulimits = []
    for u in _list(host.get("Ulimits"), "Ulimits"):
        u = _dict(u, "Ulimits")
        name = u.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidParameter("invalid ulimit: a name is required")
        soft, hard = _int(u.get("Soft"), "ulimit soft"), _int(u.get("Hard"), "ulimit hard")
        if soft > hard:
            raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        ulimits.append(Ulimit(name, soft, hard))
    memory = _int(host.get("Memory"), "Memory")
    swap = _int(host.get("MemorySwap"), "MemorySwap")
    if memory and memory < 6 * 1024 * 1024:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap > 0 and memory and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap and not memory:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    nano = _int(host.get("NanoCpus"), "NanoCpus")
    if nano and (nano < 10_000_000 or nano > (os.cpu_count() or 1) * 1_000_000_000):
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {float(os.cpu_count() or 1):.2f}, "
                               "as there are only {} CPUs available".format(os.cpu_count() or 1))
    pids = host.get("PidsLimit")
    period, quota = _int(host.get("CpuPeriod"), "CpuPeriod"), _int(host.get("CpuQuota"), "CpuQuota")
    if nano and period:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    reservation = _int(host.get("MemoryReservation"), "MemoryReservation")
    if reservation and reservation < 6 * 1024 * 1024:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory and reservation and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    return Resources(memory=memory, memory_swap=swap, nano_cpus=nano,
                     cpu_shares=_int(host.get("CpuShares"), "CpuShares"),
                     pids_limit=max(0, _int(pids, "PidsLimit")), ulimits=ulimits,
                     cpu_period=period, cpu_quota=quota, memory_reservation=reservation,
                     oom_kill_disable=_bool(host.get("OomKillDisable"), "OomKillDisable"),
                     memory_swappiness=_memory_swappiness(host.get("MemorySwappiness")),
                     cpuset_cpus=_cpuset(host.get("CpusetCpus"), "cpus", "CPUs", "/sys/devices/system/cpu/online"),
                     cpuset_mems=_cpuset(host.get("CpusetMems"), "mems", "memory nodes",
                                         "/sys/devices/system/node/online"))


def _cpuset_ids(text: str) -> set[int] | None:
    """A cpuset list (`0-2,4`) as its numbers; None if it is not one."""
    out: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            return None
        out.update(range(first, last + 1))
    return out


def _cpuset(value: Any, what: str, things: str, online: str) -> str:
    """CpusetCpus / CpusetMems, checked as dockerd checks them: a list, of what the host has."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"invalid Cpuset{what.capitalize()}: want a string")
    wanted = _cpuset_ids(value)
    if wanted is None:
        raise InvalidParameter(f"Invalid value {value} for cpuset {what}: invalid format: {value}")
    try:
        with open(online, encoding="ascii") as f:
            available_text = f.read().strip()
    except OSError:
        available_text = "0"
    if not wanted <= (_cpuset_ids(available_text) or set()):
        raise InvalidParameter(f"Requested {things} are not available - requested {value}, "
                               f"available: {available_text}")
    return value


def _restart(host: dict[str, Any]) -> RestartPolicy:
    policy = _dict(host.get("RestartPolicy"), "RestartPolicy")
    name = policy.get("Name") or "no"
    count = _int(policy.get("MaximumRetryCount"), "MaximumRetryCount")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(f"invalid restart policy '{name}'")
    if count and name != "on-failure":
        raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{name}'")
    if host.get("AutoRemove") and name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    if count < 0:
        raise InvalidParameter("maximum retry count cannot be negative")
    return RestartPolicy(name, count)


# -- mounts ------------------------------------------------------------------------------------
def _shown(host: dict[str, Any]) -> dict[str, Any]:
    """What inspect shows of Binds, Mounts and NetworkMode: the request's (dockerd's HostConfig is
    the one it was given, "default" for no NetworkMode), not the volumes create resolved."""
    given = [_dict(m, "Mounts") for m in _list(host.get("Mounts"), "Mounts")]
    return {"Binds": _strs(host.get("Binds"), "Binds") or None,
            "Mounts": [{"Target": os.path.normpath(m.get("Target") or "/"), "Source": m.get("Source") or ""}
                       for m in given],
            "NetworkMode": host.get("NetworkMode") or "default"}


def _mounts(host: dict[str, Any]) -> tuple[list[Mount], list[VolumeUse]]:
    """Binds, Mounts and Tmpfs: bind and tmpfs mounts, and the volumes to resolve at create."""
    mounts: list[Mount] = []
    volumes: list[VolumeUse] = []
    targets: set[str] = set()

    def claim(target: str) -> None:
        target = os.path.normpath(target)
        if target in targets:
            raise InvalidParameter(f"Duplicate mount point: {target}")
        targets.add(target)

    def place(kind: Mount | VolumeUse) -> None:   # a bind or a volume, from Binds or Mounts
        claim(kind.target)
        (mounts if isinstance(kind, Mount) else volumes).append(kind)

    for spec in _strs(host.get("Binds"), "Binds"):
        place(parse_bind(spec))
    for m in _list(host.get("Mounts"), "Mounts"):
        place(_mount_object(_dict(m, "Mounts")))
    for target, opts in _dict(host.get("Tmpfs"), "Tmpfs").items():
        claim(target)
        mounts.append(Mount("tmpfs", target, options=_tmpfs_options(str(opts or ""))))
    return mounts, volumes


def parse_bind(spec: str) -> Mount | VolumeUse:
    """`-v`: `HOST:CTR[:OPTS]` (bind), `NAME:CTR[:OPTS]` (named volume), `CTR` (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        if not parts[0].startswith("/"):
            raise InvalidParameter(f"invalid volume specification: '{spec}'")
        return VolumeUse("", parts[0])
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    source, target = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if not target.startswith("/"):
        raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mount config for "
                               f"type \"{'bind' if source.startswith('/') else 'volume'}\": invalid "
                               f"mount path: '{target}' mount path must be absolute")
    read_only, nocopy, propagation = False, False, ""
    for opt in opts:
        if opt in ("ro", "rw"):
            read_only = opt == "ro"
        elif opt == "nocopy" and not source.startswith("/"):
            nocopy = True
        elif opt in _PROPAGATIONS and source.startswith("/"):
            propagation = opt
        elif opt in ("z", "Z", "consistent", "cached", "delegated"):
            continue   # SELinux relabelling and macOS consistency: no meaning here (as Docker on Linux without SELinux)
        else:
            raise InvalidParameter(f"invalid mode: {opt}")
    if source.startswith("/"):
        return Mount("bind", target, source=source, read_only=read_only,
                     options=[propagation] if propagation else [])

    validate_name(source)
    return VolumeUse(source, target, read_only, nocopy)


def _mount_object(m: dict[str, Any]) -> Mount | VolumeUse:
    kind = m.get("Type")
    target = m.get("Target") or ""
    if not isinstance(target, str) or not target.startswith("/"):
        raise InvalidParameter(f"invalid mount config for type \"{kind}\": invalid mount path: "
                               f"'{target}' mount path must be absolute")
    source = m.get("Source") or ""
    read_only = bool(m.get("ReadOnly"))
    if m.get("Consistency") not in (None, "", "default", "consistent", "cached", "delegated"):
        raise InvalidParameter(f"invalid consistency {m['Consistency']}")
    if kind == "bind":
        bind = _dict(m.get("BindOptions"), "BindOptions")
        if not source.startswith("/"):
            raise InvalidParameter(f"invalid mount config for type \"bind\": invalid mount path: "
                                   f"'{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise InvalidParameter(f"invalid mount config for type \"bind\": bind source path does "
                                   f"not exist: {source}")
        propagation = bind.get("Propagation") or ""
        if propagation and propagation not in _PROPAGATIONS:
            raise InvalidParameter(f"invalid propagation mode: {propagation}")
        if bind.get("NonRecursive") or bind.get("CreateMountpoint"):
            raise InvalidParameter("non-recursive binds are not supported by dockyard")
        return Mount("bind", target, source=source, read_only=read_only,
                     options=[propagation] if propagation else [])
    if kind == "volume":
        vol = _dict(m.get("VolumeOptions"), "VolumeOptions")
        driver = _dict(vol.get("DriverConfig"), "DriverConfig")
        if driver.get("Name") not in (None, "", "local"):
            raise InvalidParameter("volume drivers other than local are not supported by dockyard")
        subpath = _subpath(vol.get("Subpath"), source)
        if source:
            validate_name(source)
        return VolumeUse(source, target, read_only, bool(vol.get("NoCopy")),
                         dict(vol.get("Labels") or {}), subpath,
                         {str(k): str(v) for k, v in _dict(driver.get("Options"), "Options").items()})
    if kind == "tmpfs":
        if source:
            raise InvalidParameter("invalid mount config for type \"tmpfs\": Source must not be specified")
        tmpfs = _dict(m.get("TmpfsOptions"), "TmpfsOptions")
        opts = []
        if tmpfs.get("SizeBytes"):
            opts.append(f"size={_int(tmpfs['SizeBytes'], 'SizeBytes')}")
        if tmpfs.get("Mode"):
            opts.append(f"mode={_int(tmpfs['Mode'], 'Mode'):o}")
        return Mount("tmpfs", target, read_only=read_only, options=opts)
    raise InvalidParameter(f"mount type unknown: {kind!r}" if kind else "invalid mount config: type is required")


def _subpath(value: Any, source: str) -> str:
    """VolumeOptions.Subpath (API 1.45: "Source path inside the volume. Must be relative without
    any back traversals"), refused at create in moby's words (volume/mounts/linux_parser.go:
    Go's filepath.IsLocal after Clean; a named volume only). Whether it exists, and where its
    links lead, is the start's question (runtime/volumes.subpath_source)."""
    if not value:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter("invalid VolumeOptions.Subpath: want a string")
    if not source:
        raise InvalidParameter('invalid mount config for type "volume": '
                               "must not set Subpath when using anonymous volumes")
    clean = os.path.normpath(value)
    if value.startswith("/") or clean == ".." or clean.startswith("../") or "\x00" in value:
        raise InvalidParameter('invalid mount config for type "volume": '
                               "subpath must be a relative path within the volume")
    return value


_TMPFS_OPTIONS = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"}
_TMPFS_FLAGS = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime",
                "relatime", "strictatime", "diratime", "nodiratime"}


def _tmpfs_options(text: str) -> list[str]:
    out = []
    for opt in filter(None, text.split(",")):
        key = opt.partition("=")[0]
        if key not in _TMPFS_OPTIONS and opt not in _TMPFS_FLAGS:
            raise InvalidParameter(f"invalid tmpfs option [\"{opt}\"]")
        out.append(opt)
    return out


_UPDATABLE = {"Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "RestartPolicy",
              "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "MemoryReservation"}


def warnings(body: dict[str, Any]) -> list[str]:
    """What dockerd 20.10's create warns of (the docker CLI prints each as `WARNING: ...`) for a
    body it accepts: ports published on the host's network, the OOM killer off without a limit."""
    host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
    out = []
    if host.get("NetworkMode") == "host" and (host.get("PortBindings") or host.get("PublishAllPorts")):
        out.append("Published ports are discarded when using host network mode")
    if host.get("MemorySwappiness") not in (None, -1) and not host_support.memory_swappiness():
        out.append("Your kernel does not support memory swappiness capabilities or the cgroup is "
                   "not mounted. Memory swappiness discarded.")
    if not _zero(host.get("BlkioWeight")) and not host_support.blkio_weight():
        out.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                   "Weight discarded.")
    if host.get("OomKillDisable") and not host.get("Memory"):
        out.append("OOM killer is disabled for the container, but no memory limit is set, this can "
                   "result in the system running out of resources.")
    return out


def run_host(host: dict[str, Any]) -> dict[str, Any]:
    """What a classic build gives its RUN containers beyond the network (`docker build --memory,
    --memory-swap, --cpu-*, --cpuset-*, --shm-size, --ulimit, --add-host`), from HostConfig's
    fields as dockerd's builder fills them, checked as at create: HostConfig's keyword arguments."""
    return {"resources": _resources(host), "shm_size": _shm_size(host.get("ShmSize")),
            "extra_hosts": _extra_hosts(host.get("ExtraHosts"))}


def read_update(body: dict[str, Any], current: Resources) -> tuple[Resources, RestartPolicy | None]:
    """POST /containers/{id}/update: the new resources (unchanged fields kept) and policy."""
    for key, value in body.items():
        if key not in _UPDATABLE and not _zero(value):
            raise _unsupported("update", key)
    merged = {"Memory": current.memory, "MemorySwap": current.memory_swap,
              "NanoCpus": current.nano_cpus, "CpuShares": current.cpu_shares,
              "PidsLimit": current.pids_limit or None, "CpuPeriod": current.cpu_period,
              "CpuQuota": current.cpu_quota, "CpusetCpus": current.cpuset_cpus,
              "CpusetMems": current.cpuset_mems, "MemoryReservation": current.memory_reservation,
              "OomKillDisable": current.oom_kill_disable, "MemorySwappiness": current.memory_swappiness,
              "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in current.ulimits]}
    merged.update({k: v for k, v in body.items() if k in _UPDATABLE and k != "RestartPolicy"
                   and not (v in (0, None, "") and k != "PidsLimit")})
    restart = _restart({"RestartPolicy": body["RestartPolicy"]}) if body.get("RestartPolicy") else None
    return _resources(merged), restart
