"""The OCI runtime spec (config.json) of a container, as Docker's daemon writes it by default.

Defaults follow moby's oci/defaults.go and daemon/oci_linux.go: namespaces (mount, pid, ipc, uts,
and network unless the host's), the 14 default capabilities, /proc /dev /dev/pts /sys
/sys/fs/cgroup /dev/mqueue /dev/shm, masked and read-only paths, and a deny-all device rule (the
runtime adds the standard allowed devices), and Docker's default seccomp profile (runtime/seccomp.py).

The container's HostConfig is applied on top (daemon/oci_linux.go's WithMounts, WithResources,
WithCapabilities...): its mounts (bind, volume directories, tmpfs), a read-only root, cgroup
limits (memory and swap, a CFS quota for --cpus, shares, pids), rlimits, capabilities added and
dropped, no-new-privileges, a seccomp profile or none (`seccomp=unconfined`), the OCI hooks a network stack asked for, and a network namespace of
its own unless the host's (or the one at `netns_path`); `--init` (docker-init as pid 1, mounted at
/sbin/docker-init) and `--privileged` (every capability, the host's devices, nothing masked, /sys
and cgroups writable, no seccomp filter).
"""

from __future__ import annotations

from dockyard.dataclass import dataclass, field
from dockyard.errors import InvalidParameter
from dockyard.image.config import DEFAULT_PATH
from dockyard.runtime import cgroups
from dockyard.runtime.hostconfig import HostConfig, Mount
from dockyard.runtime.seccomp import oci_seccomp
from dockyard.runtime.users import ExecUser

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# Every capability of Linux 6.x, for `--cap-add ALL`.
ALL_CAPS = DEFAULT_CAPS + [
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
# Their numbers in the kernel (linux/capability.h), for reading a capability mask.
CAP_NUMBERS = {name: number for number, name in enumerate([
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
])}
CFS_PERIOD = 100_000   # microseconds, as Docker's --cpus
INIT_PATH = "/sbin/docker-init"   # where --init's binary is mounted, as Docker mounts it
INIT_BINARY = "docker-init"       # looked up in PATH (Debian's docker.io: tini-static)


@dataclass
class Bind:
    """A bind mount given as `-v HOST:CTR[:ro]`."""

    source: str
    destination: str
    readonly: bool = False

    @classmethod
    def parse(cls, text: str) -> "Bind":
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise InvalidParameter(f"invalid volume specification: '{text}'")
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise InvalidParameter(f"invalid mode: {mode}")
        if not parts[0].startswith("/"):
            raise InvalidParameter(
                f"invalid volume specification: '{text}': named volumes are not supported")
        if not parts[1].startswith("/"):
            raise InvalidParameter(
                f"invalid volume specification: '{text}': invalid mount config for type \"bind\": "
                "invalid mount path: '" + parts[1] + "' mount path must be absolute")
        return cls(parts[0], parts[1], mode == "ro")


@dataclass
class ProcessSpec:
    """The OCI spec's `process`: what runs, as whom, where, with which capabilities."""

    args: list[str]
    env: list[str]
    cwd: str
    user: ExecUser
    terminal: bool = False
    capabilities: list[str] = field(default_factory=lambda: list(DEFAULT_CAPS))
    no_new_privileges: bool = False
    rlimits: list[dict[str, Any]] = field(default_factory=list)
    console_size: tuple[int, int] | None = None   # (rows, cols) of the terminal from its start

    def to_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"uid": self.user.uid, "gid": self.user.gid}
        if self.user.additional_gids:
            user["additionalGids"] = list(self.user.additional_gids)
        return {
            "terminal": self.terminal, "user": user, "args": self.args, "env": self.env,
            "cwd": self.cwd or "/",
            "capabilities": {k: list(self.capabilities) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": self.no_new_privileges, "oomScoreAdj": 0,
            **({"rlimits": self.rlimits} if self.rlimits else {}),
            **({"consoleSize": {"height": self.console_size[0], "width": self.console_size[1]}}
               if self.terminal and self.console_size else {}),
        }


@dataclass
class SpecInput:
    """What the container's OCI spec is made from."""

    container_id: str
    hostname: str
    process: ProcessSpec
    files_dir: str          # where hosts/hostname/resolv.conf of the container live (absolute)
    binds: list[Bind] = field(default_factory=list)
    host: HostConfig = field(default_factory=HostConfig)
    domainname: str = ""    # Config.Domainname (--domainname)
    # namespaces joined from another container (runtime/joined.py): OCI type -> /proc/PID/ns/...
    joined: dict[str, str] = field(default_factory=dict)
    shm_source: str = ""    # a host tmpfs bound at /dev/shm: a shareable or a joined IPC's


def process_env(image_env: list[str] | None, extra: list[str], hostname: str, tty: bool,
                home: str, linked: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """Docker's container env: PATH default, HOSTNAME, TERM with a tty, its links' variables
    (`linked`: runtime/links.py), image env, -e, HOME.
    A bare NAME (no `=`) unsets NAME, as dockerd's ReplaceOrAppendEnvValues does."""
    env: dict[str, str] = {}
    order: list[str] = []

    def put(item: str) -> None:
        key, eq, _ = item.partition("=")
        if not eq:
            if env.pop(key, None) is not None:
                order.remove(key)
            return
        if key not in env:
            order.append(key)
        env[key] = item

    put(DEFAULT_PATH)
    put(f"HOSTNAME={hostname}")
    if tty:
        put("TERM=xterm")
    for item in linked:
        put(item)
    for item in image_env or []:
        put(item)
    for item in extra:
        put(item)
    if "HOME" not in env:
        put(f"HOME={home or '/'}")
    return [env[k] for k in order]


def build_spec(inp: SpecInput) -> dict[str, Any]:
    host = inp.host
    # --pid/--ipc/--uts host: the host's namespace, not one of its own
    shared = {"pid": host.pid_mode == "host", "ipc": host.ipc_mode == "host", "uts": host.uts_mode == "host"}
    namespaces: list[dict[str, str]] = [
        {"type": t, **({"path": inp.joined[t]} if t in inp.joined else {})}
        for t in ("mount", "pid", "ipc", "uts") if not shared.get(t)]
    if host.cgroupns_mode == "private":     # (dockerd 20.10's default on cgroup v1 is the host's)
        namespaces.append({"type": "cgroup"})
    if "network" in inp.joined:
        namespaces.append({"type": "network", "path": inp.joined["network"]})
    elif host.netns_path:
        namespaces.append({"type": "network", "path": host.netns_path})
    elif host.network_mode != "host":
        namespaces.append({"type": "network"})
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={host.shm_size // 1024}k"]}
        if not (shared["ipc"] or inp.shm_source) else   # the host's IPC, a shareable or joined one
        {"destination": "/dev/shm", "type": "bind", "source": inp.shm_source or "/dev/shm",
         "options": ["rbind", "rprivate"]},
    ]
    for name in ("resolv.conf", "hostname", "hosts"):
        mounts.append({"destination": f"/etc/{name}", "type": "bind",
                       "source": f"{inp.files_dir}/{name}", "options": ["rbind", "rprivate"]})
    for b in inp.binds:
        opts = ["rbind", "rprivate"] + (["ro"] if b.readonly else [])
        mounts.append({"destination": b.destination, "type": "bind", "source": b.source, "options": opts})
    taken = {m["destination"] for m in mounts}
    for m in host.mounts:
        if m.target in taken and m.target not in ("/dev/shm",):
            mounts = [x for x in mounts if x["destination"] != m.target]   # the user's wins
        mounts.append(oci_mount(m))
    process = inp.process.to_dict()
    process["oomScoreAdj"] = host.oom_score_adj
    if host.init:
        process["args"] = [INIT_PATH, "--", *process["args"]]
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": init_binary(),
                       "options": ["bind", "ro"]})
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups.path_of(inp.container_id),
        "resources": resources(host),
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    sysctl: dict[str, str] = {}
    if any(ns["type"] == "network" for ns in namespaces) and "network" not in inp.joined:
        # dockerd 20.10's defaults in a network namespace of the container's own: a process of any
        # user may bind a port under 1024 and ping (not in one joined from another container)
        sysctl.update({"net.ipv4.ip_unprivileged_port_start": "0",
                       "net.ipv4.ping_group_range": "0 2147483647"})
    if inp.domainname and not shared["uts"]:
        sysctl["kernel.domainname"] = inp.domainname   # as dockerd sets it (runc 1.1 has no field)
    sysctl.update(host.sysctls)   # the user's win; runc refuses one that is not namespaced, at start
    if sysctl:
        linux["sysctl"] = sysctl
    if host.privileged:
        # daemon/oci_linux.go: the host's devices, any device allowed, /sys and the cgroup
        # hierarchy writable, nothing masked or read-only, no seccomp filter
        from dockyard.runtime.devices import host_devices

        linux["devices"] = host_devices()
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        del linux["maskedPaths"], linux["readonlyPaths"]
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    if host.devices:
        from dockyard.runtime.devices import mapped_devices

        for d in host.devices:
            for dev in mapped_devices(d["PathOnHost"], d["PathInContainer"]):
                linux.setdefault("devices", []).append(dev)
                linux["resources"]["devices"].append(
                    {"allow": True, "type": dev["type"], "major": dev["major"], "minor": dev["minor"],
                     "access": d["CgroupPermissions"]})
    for rule in host.device_cgroup_rules:     # after the devices': dockerd's order
        linux["resources"]["devices"].append(device_rule(rule))
    if not host.privileged:
        seccomp = oci_seccomp(host.seccomp, inp.process.capabilities)
        if seccomp is not None:
            linux["seccomp"] = seccomp
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "merged", "readonly": host.read_only},
        **({} if shared["uts"] else {"hostname": inp.hostname}),   # runc: no hostname without its own UTS
        "mounts": mounts,
        "linux": linux,
    }
    if host.annotations:   # HostConfig.Annotations (API 1.43): "provided to the runtime"
        spec["annotations"] = dict(host.annotations)
    if host.hooks:
        spec["hooks"] = {stage: list(hooks) for stage, hooks in host.hooks.items()}
    return spec


def init_binary() -> str:
    """The host's docker-init (`--init`), found as Docker's daemon finds it: in PATH."""
    import shutil

    path = shutil.which(INIT_BINARY)
    if path is None:
        raise InvalidParameter(f'exec: "{INIT_BINARY}": executable file not found in $PATH')
    return path


def oci_mount(m: Mount) -> dict[str, Any]:
    """A HostConfig mount as an OCI mount (Docker's defaults: binds rbind + rprivate, tmpfs
    noexec, nosuid, nodev)."""
    if m.type == "tmpfs":
        opts = ["noexec", "nosuid", "nodev"] + [o for o in m.options if o not in ("ro", "rw")]
        if m.read_only:
            opts.append("ro")
        return {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
    propagation = next((o for o in m.options if o.endswith(("private", "shared", "slave"))), "rprivate")
    opts = ["rbind", propagation] + (["ro"] if m.read_only else [])
    return {"destination": m.target, "type": "bind", "source": m.source, "options": opts}


def bounding_set() -> list[str]:
    """The capabilities this process may give (its bounding set), in ALL_CAPS's order."""
    try:
        with open("/proc/self/status") as f:
            bits = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [cap for cap in ALL_CAPS if bits >> CAP_NUMBERS[cap] & 1]


def capabilities(host: HostConfig, privileged: bool = False) -> list[str]:
    """Docker's default set with --cap-drop then --cap-add applied (`ALL` either way); a
    privileged container or exec gets every capability there is to give (Docker asks for all it
    knows and fails where the host's bounding set lacks one; podman gives its bounding set, as
    here)."""
    if host.privileged or privileged:
        return bounding_set()
    add, drop = set(host.cap_add), set(host.cap_drop)
    for cap in add | drop:
        if cap != "ALL" and cap not in ALL_CAPS:
            raise InvalidParameter(f"unknown capability: {cap!r}")
    caps = [] if "ALL" in drop else [c for c in DEFAULT_CAPS if c not in drop]
    for cap in (ALL_CAPS if "ALL" in add else sorted(add)):
        if cap not in caps:
            caps.append(cap)
    return caps


def rlimits(host: HostConfig) -> list[dict[str, Any]]:
    out = []
    for u in host.resources.ulimits:
        out.append({"type": f"RLIMIT_{u.name.upper()}", "hard": u.hard, "soft": u.soft})
    return out


def _device_number(text: str) -> int | None:
    return None if text == "*" else int(text)


def device_rule(rule: str) -> dict[str, Any]:
    """One --device-cgroup-rule (`c 42:* rmw`: type, major:minor, access) as an OCI device
    rule; refused in dockerd's words when it is not one (its `^([acb]) ([0-9]+|[*]):([0-9]+|[*])
    ([rwm]{1,3})$`)."""
    parts = rule.split(" ")
    numbers = parts[1].split(":") if len(parts) == 3 else []
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or len(numbers) != 2 \
            or not all(n == "*" or (n.isascii() and n.isdigit()) for n in numbers) \
            or not 1 <= len(parts[2]) <= 3 or not set(parts[2]) <= set("rwm"):
        raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
    out: dict[str, Any] = {"allow": True, "type": parts[0]}
    major, minor = _device_number(numbers[0]), _device_number(numbers[1])
    if major is not None:
        out["major"] = major
    if minor is not None:
        out["minor"] = minor
    out["access"] = parts[2]
    return out


def resources(host: HostConfig) -> dict[str, Any]:
    """linux.resources: the device rule, and the limits HostConfig asks for."""
    r = host.resources
    out: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
        if r.memory_swap:
            memory["swap"] = r.memory_swap
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if r.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if r.memory_swappiness is not None:
        memory["swappiness"] = r.memory_swappiness
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.nano_cpus:
        cpu.update(period=CFS_PERIOD, quota=r.nano_cpus * CFS_PERIOD // 1_000_000_000)
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit:
        out["pids"] = {"limit": r.pids_limit}
    return out
