"""`dockyard run`/`create` flags, turned into the Engine API's create body as the docker CLI
does (cli/command/container/opts.go): the engine then reads one shape whether the command runs
in process or as a client of `dockyard serve`. Values are parsed here as the docker CLI parses
them (sizes, ports, ulimits, env files); whether an option is supported is the engine's call."""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.units import parse_ulimit, ram_in_bytes


def add_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("--name", help="Assign a name to the container")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-w", "--workdir", default=None, help="Working directory inside the container")
    a("-u", "--user", default=None, help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    a("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    a("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    a("--volumes-from", action="append", default=[], help="Mount volumes from the specified container(s)")
    a("--network", "--net", default="default", help="Connect a container to a network")
    a("--network-alias", action="append", default=[], help="Add network-scoped alias for the container")
    a("--ip", default=None, help="IPv4 address (e.g., 172.30.100.104)")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port(s) to the host")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--runtime", default="", help="Runtime to use for this container (crun|runc)")
    a("-l", "--label", action="append", default=[], help="Set meta data on a container")
    a("--annotation", action="append", default=[],
      help="Add an annotation to the container (passed through to the OCI runtime)")
    a("--hostname", default=None, help="Container host name")
    a("--domainname", default=None, help="Container NIS domain name")
    a("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    a("-m", "--memory", default=None, help="Memory limit")
    a("--memory-swap", default=None, help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    a("--memory-swappiness", type=int, default=-1, help="Tune container memory swappiness (0 to 100)")
    a("--device-cgroup-rule", action="append", default=[], help="Add a rule to the cgroup allowed devices list")
    a("--mac-address", default="", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    a("--cpus", default=None, help="Number of CPUs")
    a("--cpu-period", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) period")
    a("--cpu-quota", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) quota")
    a("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
    a("--memory-reservation", default=None, help="Memory soft limit")
    a("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)")
    a("--pids-limit", type=int, default=None, help="Tune container pids limit (set -1 for unlimited)")
    a("--restart", default="no", help="Restart policy to apply when a container exits")
    a("--init", action="store_true", help="Run an init inside the container")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("--cap-add", action="append", default=[], help="Add Linux capabilities")
    a("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("--ulimit", action="append", default=[], help="Ulimit options")
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    a("--link", action="append", default=[], help="Add link to another container (NAME[:ALIAS])")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--dns-option", action="append", default=[], help="Set DNS options")
    a("--stop-signal", default=None, help="Signal to stop the container")
    a("--shm-size", default=None, help="Size of /dev/shm")
    a("--oom-score-adj", type=int, default=0, help="Tune host's OOM preferences (-1000 to 1000)")
    a("--sysctl", action="append", default=[], help="Sysctl options")
    a("--group-add", action="append", default=[], help="Add additional groups to join")
    a("--device", action="append", default=[], help="Add a host device to the container")
    a("--pid", default="", help="PID namespace to use")
    a("--ipc", default="", help="IPC mode to use")
    a("--uts", default="", help="UTS namespace to use")
    a("--stop-timeout", type=int, default=None, help="Timeout (in seconds) to stop a container")
    a("--health-cmd", default="", help="Command to run to check health")
    a("--health-interval", default="", help="Time between running the check (ms|s|m|h) (default 0s)")
    a("--health-timeout", default="", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    a("--health-start-period", default="",
      help="Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
    a("--health-retries", type=int, default=0, help="Consecutive failures needed to report unhealthy")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("--log-driver", default="", help="Logging driver for the container")
    a("--log-opt", action="append", default=[], help="Log driver options")
    a("--cidfile", default="", help="Write the container ID to the file")
    a("--pull", default="missing", choices=("always", "missing", "never"),
      help='Pull image before running ("always", "missing", "never")')
    a("--userns", default="", help="User namespace to use")
    a("--blkio-weight", type=int, default=0, help="Block IO (relative weight), between 10 and 1000, or 0 to disable")
    a("image", metavar="IMAGE")
    a("command", nargs=argparse.REMAINDER, metavar="COMMAND")


def key_values(pairs: list[str], what: str = "label") -> dict[str, str]:
    """`KEY=VALUE` flags (labels, options) as a map; a value may be empty, a key may not."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not key:
            raise InvalidParameter(f"invalid {what}: {pair}")
        out[key] = value
    return out


class FilterFlag(argparse.Action):
    """`-f, --filter NAME=VALUE` (`action=FilterFlag`, appending), refused as the docker CLI's
    flag parser refuses it (opts.FilterOpt): status 125, the flag named with its shorthand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", [])
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option_string: str | None = None) -> None:
        if "=" not in value:
            parser.error(f'invalid argument "{value}" for "{", ".join(self.option_strings)}" flag: '
                         "bad format of filter (expected name=value)")
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), value])


def filters_query(pairs: list[str]) -> list[tuple[str, str]]:
    """`--filter k=v` flags as the `filters` query (checked by the engine, as the daemon does)."""
    values: dict[str, dict[str, bool]] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise InvalidParameter(f"bad format of filter (expected name=value): {pair}")
        values.setdefault(key.strip().lower(), {})[value.strip()] = True
    return [("filters", json.dumps(values))] if values else []


def _env_files(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise InvalidParameter(f"open {path}: {exc.strerror or exc}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """`-p [ip:][hostPort:]containerPort[/proto]` (ranges too) -> (container port key, binding)."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    parts = rest.rsplit(":", 2)
    if len(parts) == 3:
        ip, host, container = parts
    elif len(parts) == 2:
        ip, (host, container) = "", parts
    else:
        ip, host, container = "", "", parts[0]
    ip = ip.strip("[]")
    if not container:
        raise InvalidParameter(f"No port specified: {spec}<empty>")
    c_lo, _, c_hi = container.partition("-")
    h_lo, _, h_hi = host.partition("-")
    try:
        c_range = range(int(c_lo), int(c_hi or c_lo) + 1)
    except ValueError:
        raise InvalidParameter(f"Invalid containerPort: {container}") from None
    try:
        h_start = int(h_lo) if h_lo else None
        if h_hi:
            int(h_hi)
    except ValueError:
        raise InvalidParameter(f"Invalid hostPort: {host}") from None
    if h_hi and h_start is not None and int(h_hi) - h_start != len(c_range) - 1 and len(c_range) > 1:
        raise InvalidParameter(f"Invalid ranges specified for container and host Ports: {container} and {host}")
    out = []
    for i, port in enumerate(c_range):
        host_port = "" if h_start is None else str(h_start + i if len(c_range) > 1 else h_start)
        if h_hi and len(c_range) == 1:
            host_port = f"{h_lo}-{h_hi}"
        out.append((f"{port}/{proto}", {"HostIp": ip, "HostPort": host_port}))
    return out


def _security_opts(items: list[str]) -> list[str]:
    """--security-opt as the docker CLI sends it: `seccomp=FILE` becomes `seccomp=` and the
    file's JSON (compacted), `seccomp=unconfined` and the other options go as given."""
    out = []
    for opt in items:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key == "seccomp" and sep and value and value != "unconfined":
            try:
                with open(value, "rb") as f:
                    text = f.read()
            except OSError as e:
                raise InvalidParameter(f"opening seccomp profile ({value}) failed: {e.strerror}") from None
            try:
                profile = json.loads(text)
            except ValueError as e:
                raise InvalidParameter(f"compacting json for seccomp profile ({value}) failed: {e}") from None
            opt = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        out.append(opt)
    return out


def ulimits(items: list[str]) -> list[dict[str, Any]]:
    """`--ulimit NAME=SOFT[:HARD]` flags as the docker CLI's opts.UlimitOpt reads them (go-units
    ParseUlimit): the last of a name wins."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        try:
            limit = parse_ulimit(item)
        except ValueError as e:
            raise InvalidParameter(f'invalid argument "{item}" for "--ulimit" flag: {e}') from None
        out[limit["Name"]] = limit  # type: ignore[index]
    return list(out.values())


def restart_policy(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    try:
        return {"Name": name, "MaximumRetryCount": int(count) if count else 0}
    except ValueError:
        raise InvalidParameter(f"invalid restart policy format: maximum retry count must be an integer") from None


def flag_size(flag: str, text: str) -> int:
    """A size flag's value (go-units RAMInBytes), refused in the docker CLI's words."""
    try:
        return ram_in_bytes(text)
    except ValueError as e:
        raise InvalidParameter(f'invalid argument "{text}" for "{flag}" flag: {e}') from None


# the docker CLI's check of a search domain (opts/opts.go ValidateDNSSearch, its regular
# expression as written there, `(:?` groups included); dockerd takes any value
_DOMAIN = re.compile(r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
                     r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$")


def _dns_search(text: str) -> str:
    """--dns-search as the docker CLI takes it: spaces trimmed, "." (no search) as it is, else a
    domain with a letter, sent without its final dot."""
    value = text.strip(" ")
    if value == ".":
        return value
    match = _DOMAIN.match(value) if re.search(r"[a-zA-Z]", value) else None
    if match is None or len(match.group(1)) >= 255:
        raise InvalidParameter(f'invalid argument "{text}" for "--dns-search" flag: '
                               f"{value} is not a valid domain")
    return match.group(1)


def _dns(text: str) -> str:
    """--dns as the docker CLI takes it (opts.ValidateIPAddress): an IP address, sent in its
    canonical form."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InvalidParameter(f'invalid argument "{text}" for "--dns" flag: {text} is not an ip address') from None


# the docker CLI's list (opts/opts.go ValidateSysctl): what a container's own namespaces hold
_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")


def _sysctls(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not (key in _SYSCTLS or key.startswith(_SYSCTL_PREFIXES)):
            raise InvalidParameter(f'invalid argument "{item}" for "--sysctl" flag: '
                                   f"sysctl '{item}' is not whitelisted")
        out[key] = value
    return out


def _log_config(driver: str, options: list[str]) -> dict[str, Any]:
    """--log-driver and --log-opt KEY=VALUE (a KEY alone has an empty value), as the CLI sends them."""
    config = {key: value for key, _, value in (o.partition("=") for o in options)}
    if driver == "none" and config:
        raise InvalidParameter("invalid logging opts for driver none")
    return {"Type": driver, "Config": config}


def _device(text: str) -> dict[str, str]:
    """`--device HOST[:CONTAINER][:PERMISSIONS]` as the docker CLI reads it (parseDevice)."""
    parts = text.split(":")
    on_host, in_container, perms = parts[0], parts[0], "rwm"
    if len(parts) == 3:
        in_container, perms = parts[1], parts[2]
        if not perms or not set(perms) <= set("rwm"):
            raise InvalidParameter(f"bad mode specified: {perms}")
    elif len(parts) == 2:
        if parts[1] and set(parts[1]) <= set("rwm"):
            perms = parts[1]
        else:
            in_container = parts[1]
    elif len(parts) > 3:
        raise InvalidParameter(f"invalid device specification: {text}")
    return {"PathOnHost": on_host, "PathInContainer": in_container, "CgroupPermissions": perms}


def nano_cpus(text: str) -> int:
    try:
        cpus = float(text)
    except ValueError:
        cpus = float("nan")
    if cpus != cpus or cpus in (float("inf"), float("-inf")):
        raise InvalidParameter(f'invalid argument "{text}" for "--cpus" flag: '
                               f"failed to parse {text} as a rational number")
    return int(round(cpus * 1e9))


def _annotations(items: list[str]) -> dict[str, str]:
    """`--annotation KEY=VALUE` as the docker CLI reads it (a map option: `KEY` alone is an empty
    value, the last of a key wins)."""
    return {k: v for k, _, v in (item.partition("=") for item in items)}


def _mount(text: str) -> dict[str, Any]:
    """`--mount type=volume,source=v,target=/p,readonly,volume-nocopy,volume-opt=o=bind,tmpfs-size=...`"""
    out: dict[str, Any] = {"Type": "volume"}
    for field in text.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            out["Type"] = value
        elif key in ("source", "src"):
            out["Source"] = value
        elif key in ("target", "destination", "dst"):
            out["Target"] = value
        elif key in ("readonly", "ro"):
            out["ReadOnly"] = value.lower() in ("", "1", "true")
        elif key == "volume-nocopy":
            out.setdefault("VolumeOptions", {})["NoCopy"] = value.lower() in ("", "1", "true")
        elif key == "bind-propagation":
            out.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "tmpfs-size":
            try:
                out.setdefault("TmpfsOptions", {})["SizeBytes"] = ram_in_bytes(value)
            except ValueError:
                raise InvalidParameter(f"invalid value for tmpfs-size: {value}") from None
        elif key == "tmpfs-mode":
            try:
                out.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
            except ValueError:
                raise InvalidParameter(f"invalid value for tmpfs-mode: {value}") from None
        elif key == "volume-subpath":
            out.setdefault("VolumeOptions", {})["Subpath"] = value
        elif key == "volume-label":
            k, _, v = value.partition("=")
            out.setdefault("VolumeOptions", {}).setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            out.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            driver = out.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})
            driver.setdefault("Options", {})[k] = v
        else:
            raise InvalidParameter(f"unexpected key '{key}' in '{field}'")
    return out


def _healthcheck(args: argparse.Namespace) -> dict[str, Any] | None:
    """The docker CLI's HealthConfig from the --health-* flags (cli/command/container/opts.go):
    none when no flag is given, `NONE` for --no-healthcheck."""
    durations = {}
    for key, flag in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period")):
        text = getattr(args, f"health_{flag}")
        if text:
            from dockyard.dockerfile.durations import parse_go_duration

            name = "--health-" + flag.replace("_", "-")
            try:
                durations[key] = parse_go_duration(text)
            except ValueError as exc:
                raise InvalidParameter(f'invalid argument "{text}" for "{name}" flag: {exc}') from None
            if durations[key] < 0:
                raise InvalidParameter(f"{name} cannot be negative")
    given = bool(args.health_cmd or args.health_retries or any(durations.values()))
    if args.no_healthcheck:
        if given:
            raise InvalidParameter("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    if args.health_retries < 0:
        raise InvalidParameter("--health-retries cannot be negative")
    out: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd]} if args.health_cmd else {}
    out.update({k: v for k, v in durations.items() if v})
    if args.health_retries:
        out["Retries"] = args.health_retries
    return out


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    """Docker's create body (Config + HostConfig + NetworkingConfig) for these flags."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    ports: dict[str, list[dict[str, str]]] = {}
    exposed: dict[str, dict] = {}
    for spec in args.publish:
        for key, binding in parse_publish(spec):
            ports.setdefault(key, []).append(binding)
            exposed[key] = {}
    for spec in args.expose:
        port, _, proto = spec.partition("/")
        lo, _, hi = port.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InvalidParameter(f"invalid range format for --expose: {spec}") from None
        for p in range(first, last + 1):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    network = args.network
    endpoint: dict[str, Any] = {}
    if args.network_alias:
        endpoint["Aliases"] = list(args.network_alias)
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    interactive = args.interactive
    attached = not getattr(args, "detach", False)
    host: dict[str, Any] = {
        "Binds": list(args.volume) or None, "NetworkMode": network, "PortBindings": ports,
        "RestartPolicy": restart_policy(args.restart), "AutoRemove": args.rm,
        "VolumesFrom": list(args.volumes_from) or None, "CapAdd": args.cap_add or None,
        "CapDrop": args.cap_drop or None, "Dns": [_dns(v) for v in args.dns],
        "DnsOptions": args.dns_option, "DnsSearch": [_dns_search(v) for v in args.dns_search], "ExtraHosts": args.add_host or None, "Links": args.link or None,
        "Privileged": args.privileged, "PublishAllPorts": args.publish_all,
        "ReadonlyRootfs": args.read_only, "SecurityOpt": _security_opts(args.security_opt) or None,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in args.tmpfs} or None,
        "Runtime": args.runtime or None, "Init": True if args.init else None,
        "Memory": flag_size("--memory", args.memory) if args.memory else 0,
        "MemorySwap": -1 if args.memory_swap == "-1" else flag_size("--memory-swap", args.memory_swap) if args.memory_swap else 0,
        "NanoCpus": nano_cpus(args.cpus) if args.cpus else 0,
        "CpuShares": args.cpu_shares, "PidsLimit": args.pids_limit,
        "Ulimits": ulimits(args.ulimit) or None, "Mounts": [_mount(m) for m in args.mount] or None,
        "ShmSize": flag_size("--shm-size", args.shm_size) if args.shm_size else 0,
        "OomScoreAdj": args.oom_score_adj, "OomKillDisable": args.oom_kill_disable, "CpuPeriod": args.cpu_period, "CpuQuota": args.cpu_quota,
        "CpusetCpus": args.cpuset_cpus, "CpusetMems": args.cpuset_mems,
        "MemoryReservation": flag_size("--memory-reservation", args.memory_reservation) if args.memory_reservation else 0, "Sysctls": _sysctls(args.sysctl) or None,
        "GroupAdd": list(args.group_add) or None, "Devices": [_device(d) for d in args.device] or None,
        "MemorySwappiness": None if args.memory_swappiness == -1 else args.memory_swappiness,
        "DeviceCgroupRules": list(args.device_cgroup_rule) or None,
        "LogConfig": _log_config(args.log_driver, args.log_opt),
        "PidMode": args.pid, "IpcMode": args.ipc, "UTSMode": args.uts, "UsernsMode": args.userns,
        "ContainerIDFile": args.cidfile, "BlkioWeight": args.blkio_weight,
        "Annotations": _annotations(args.annotation) or None,
    }
    entrypoint = None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [""])
    body: dict[str, Any] = {
        "Hostname": args.hostname or "", "Domainname": args.domainname or "", "User": args.user or "", "Tty": args.tty,
        "OpenStdin": interactive, "StdinOnce": interactive and attached,
        "AttachStdin": interactive and attached, "AttachStdout": attached, "AttachStderr": attached,
        "Env": local_env(_env_files(args.env_file) + list(args.env)), "Cmd": command or None,
        "Image": args.image, "WorkingDir": args.workdir or "", "Entrypoint": entrypoint,
        "Labels": key_values(args.label), "ExposedPorts": exposed or None,
        "StopSignal": args.stop_signal or "", "MacAddress": args.mac_address, "HostConfig": host,
        **({"StopTimeout": args.stop_timeout} if args.stop_timeout is not None else {}),
        **({"Healthcheck": health} if (health := _healthcheck(args)) is not None else {}),
        "NetworkingConfig": {"EndpointsConfig": {network: endpoint}} if endpoint else {},
    }
    return body


def local_env(env: list[str]) -> list[str]:
    """`-e NAME` takes this process's value (the docker CLI resolves it, not the daemon); a NAME
    this process lacks is sent bare, as the docker CLI sends it (the container then lacks it)."""
    return [f"{item}={os.environ[item]}" if "=" not in item and item in os.environ else item
            for item in env]
