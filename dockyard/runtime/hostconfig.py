"""What `create` decides about a container's place on the host (Docker's HostConfig): mounts,
network, resources, security, restart policy. It is kept in the container's record and turned
into the OCI spec at every start (runtime/spec.py); a field at its default changes nothing.

The shapes follow the Engine API's HostConfig, so the API server and the CLI map their flags onto
it one to one (`--mount`, `--tmpfs`, `-v`, `--read-only`, `--memory`, `--cpus`, `--pids-limit`,
`--ulimit`, `--shm-size`, `--oom-score-adj`, `--sysctl`, `--cap-add/--cap-drop`, `--privileged`, `--security-opt no-new-privileges` and `seccomp=`, `--dns`,
`--add-host`, `--restart`, `--init`). What a network stack or a volume driver decides before the start
(a network namespace to join, a volume's directory) arrives here as plain host facts: a namespace
path, OCI hooks, a mount's source directory; the runtime knows nothing of networks or volumes.
"""

from __future__ import annotations


from dockyard.dataclass import asdict, dataclass, field, fields
from dockyard.errors import InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

MOUNT_TYPES = ("bind", "volume", "tmpfs")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
DEFAULT_SHM_SIZE = 64 << 20   # dockerd's default /dev/shm size
CONTAINER_MODE = "container:"   # a network, pid or IPC mode naming another container's namespace
# --add-host NAME:host-gateway: the host's address as the container reaches it (the network hook's
# gateway of its first network; 127.0.0.1 with the host's network)
HOST_GATEWAY = "host-gateway"


def joined_container(mode: str) -> str:
    """The container a `container:NAME` mode names ("" for any other mode): runtime/joined.py."""
    return mode[len(CONTAINER_MODE):] if mode.startswith(CONTAINER_MODE) else ""


@dataclass
class Mount:
    """One mount of the container. `source` is a host path (bind; a volume's directory, with the
    volume's `name` kept for inspect), empty for tmpfs. `options` are OCI mount options
    (`size=64m`, `mode=1777`, a propagation such as `rshared`)."""

    type: str
    target: str
    source: str = ""
    name: str = ""
    read_only: bool = False
    options: list[str] = field(default_factory=list)
    subpath: str = ""    # a volume's: the path inside it mounted instead (API 1.45's Subpath)

    def __post_init__(self) -> None:
        if self.type not in MOUNT_TYPES:
            raise InvalidParameter(f"mount type unknown: {self.type!r}")
        if not self.target.startswith("/"):
            raise InvalidParameter(f"invalid mount path: '{self.target}' mount path must be absolute")
        if self.type != "tmpfs" and not self.source.startswith("/"):
            raise InvalidParameter(f"invalid mount source: '{self.source}' must be an absolute path")


@dataclass
class Ulimit:
    """One --ulimit: a resource limit's soft and hard values."""

    name: str      # nofile, nproc, core... (RLIMIT_ + upper case in the OCI spec)
    soft: int
    hard: int


@dataclass
class Resources:
    """cgroup limits; 0 is "no limit" for each."""

    memory: int = 0              # bytes (--memory)
    memory_swap: int = 0         # bytes of memory + swap (--memory-swap); -1 unlimited swap
    nano_cpus: int = 0           # CPUs x 10^9 (--cpus): a CFS quota over a 100 ms period
    cpu_shares: int = 0          # relative weight (--cpu-shares)
    pids_limit: int = 0          # --pids-limit
    cpu_period: int = 0          # µs of a CFS period (--cpu-period; not with --cpus)
    cpu_quota: int = 0           # µs of CPU per period (--cpu-quota; -1 unlimited)
    cpuset_cpus: str = ""        # CPUs the container may use (--cpuset-cpus: "0-1,3")
    cpuset_mems: str = ""        # memory nodes (--cpuset-mems)
    memory_reservation: int = 0  # bytes: the soft limit (--memory-reservation)
    oom_kill_disable: bool = False   # --oom-kill-disable: the OOM killer spares the container
    memory_swappiness: int | None = None   # 0-100 (--memory-swappiness); None: the kernel's
    ulimits: list[Ulimit] = field(default_factory=list)


@dataclass
class RestartPolicy:
    """--restart: when the container is started again after it exits."""

    name: str = "no"             # no | always | unless-stopped | on-failure
    maximum_retry_count: int = 0  # on-failure only; 0 = no limit

    def __post_init__(self) -> None:
        if self.name == "":
            self.name = "no"
        if self.name not in RESTART_POLICIES:
            raise InvalidParameter(f"invalid restart policy: {self.name}")
        if self.maximum_retry_count and self.name != "on-failure":
            raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{self.name}'")


@dataclass
class HostConfig:
    """How the host runs the container (docker's HostConfig): mounts, network, limits, privileges."""

    binds: list[str] = field(default_factory=list)      # -v HOST:CTR[:ro], as the user gave them
    mounts: list[Mount] = field(default_factory=list)   # --mount, --tmpfs, resolved volumes
    network_mode: str = "host"                          # host | none | a network's name | container:<id>
    netns_path: str = ""                                # join this network namespace ("" = per mode)
    auto_remove: bool = False
    runtime: str = ""                                   # crun | runc ("" = default)
    read_only: bool = False                             # --read-only: the rootfs mounted read-only
    resources: Resources = field(default_factory=Resources)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False     # every capability, the host's devices, no masked paths
    init: bool = False           # docker-init (tini) as the container's pid 1 (--init)
    no_new_privileges: bool = False
    seccomp: str = ""            # "" Docker's default profile, "unconfined", or a profile's JSON
    dns: list[str] = field(default_factory=list)          # resolv.conf nameservers (none: host's)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)  # NAME:IP lines added to /etc/hosts
    links: list[str] = field(default_factory=list)  # --link: "NAME[:ALIAS]" as given (create resolves NAME)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # OCI hooks by stage
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    shm_size: int = DEFAULT_SHM_SIZE   # bytes of the /dev/shm tmpfs (--shm-size)
    oom_score_adj: int = 0             # the process's oom_score_adj (--oom-score-adj)
    group_add: list[str] = field(default_factory=list)   # supplementary groups (--group-add)
    pid_mode: str = ""           # "" (its own pid namespace), "host" (--pid host) or container:<id>
    ipc_mode: str = ""           # "", private, shareable (its own), host (--ipc host) or container:<id>
    uts_mode: str = ""           # "" (its own hostname) or "host" (--uts host)
    cgroupns_mode: str = ""      # "" or "host" (the host's cgroup namespace), "private" (its own)
    isolation: str = ""          # "" or "default", as the request gave it (shown by inspect)
    # label=/apparmor= security options as given: no confinement (label=disable,
    # apparmor=unconfined), or a profile on a host without that module (shown by inspect)
    security_labels: list[str] = field(default_factory=list)
    container_id_file: str = ""  # --cidfile: the client writes it; shown by inspect
    userns_mode: str = ""        # "" or "host": no user namespace either way (shown by inspect)
    volumes_from: list[str] = field(default_factory=list)   # --volumes-from ID[:ro|rw], as given
    # --device: {"PathOnHost", "PathInContainer", "CgroupPermissions"} as the Engine API has them
    devices: list[dict[str, str]] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)   # `c 42:* rmw` (--device-cgroup-rule)
    sysctls: dict[str, str] = field(default_factory=dict)   # namespaced kernel settings (--sysctl)
    log_driver: str = "json-file"   # or "none": no log kept (runtime/logs.limits)
    log_opts: dict[str, str] = field(default_factory=dict)  # json-file's options (--log-opt)
    annotations: dict[str, str] = field(default_factory=dict)  # the OCI spec's (--annotation, API 1.43)
    # what inspect shows as the request gave it, as dockerd echoes its HostConfig: "Binds" (the
    # strings, or None), "Mounts" (each given mount's target and source), "NetworkMode"; {} in
    # a record made before it (inspect rebuilds them from the mounts)
    shown: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostConfig":
        """Records written before a field existed read it as its default."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "mounts" in values:
            values["mounts"] = [Mount(**m) for m in values["mounts"]]
        if "resources" in values:
            res = dict(values["resources"])
            res["ulimits"] = [Ulimit(**u) for u in res.get("ulimits", [])]
            values["resources"] = Resources(**res)
        if "restart" in values:
            values["restart"] = RestartPolicy(**values["restart"])
        return cls(**values)
