"""The OCI runtime spec (config.json) of a container, as Docker's daemon writes it by default.

Defaults follow moby's oci/defaults.go and daemon/oci_linux.go: namespaces (mount, pid, ipc, uts,
and network unless the host's), the 14 default capabilities, /proc /dev /dev/pts /sys
/sys/fs/cgroup /dev/mqueue /dev/shm, masked and read-only paths, and a deny-all device rule (the
runtime adds the standard allowed devices). No seccomp profile (not implemented).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.runtime.users import ExecUser

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
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Bind:
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
    args: list[str]
    env: list[str]
    cwd: str
    user: ExecUser
    terminal: bool = False

    def to_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"uid": self.user.uid, "gid": self.user.gid}
        if self.user.additional_gids:
            user["additionalGids"] = list(self.user.additional_gids)
        return {
            "terminal": self.terminal, "user": user, "args": self.args, "env": self.env,
            "cwd": self.cwd or "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False, "oomScoreAdj": 0,
        }


@dataclass
class SpecInput:
    container_id: str
    hostname: str
    process: ProcessSpec
    files_dir: str          # where hosts/hostname/resolv.conf of the container live (absolute)
    binds: list[Bind] = field(default_factory=list)
    network_none: bool = False


def process_env(image_env: list[str] | None, extra: list[str], hostname: str, tty: bool,
                home: str) -> list[str]:
    """Docker's container env: PATH default, HOSTNAME, TERM with a tty, image env, -e, HOME."""
    env: dict[str, str] = {}
    order: list[str] = []

    def put(item: str) -> None:
        key, _, _ = item.partition("=")
        if key not in env:
            order.append(key)
        env[key] = item

    put(DEFAULT_PATH)
    put(f"HOSTNAME={hostname}")
    if tty:
        put("TERM=xterm")
    for item in image_env or []:
        put(item)
    for item in extra:
        put(item)
    if "HOME" not in env:
        put(f"HOME={home or '/'}")
    return [env[k] for k in order]


def build_spec(inp: SpecInput) -> dict[str, Any]:
    namespaces = [{"type": t} for t in ("mount", "pid", "ipc", "uts")]
    if inp.network_none:
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
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ]
    for name in ("resolv.conf", "hostname", "hosts"):
        mounts.append({"destination": f"/etc/{name}", "type": "bind",
                       "source": f"{inp.files_dir}/{name}", "options": ["rbind", "rprivate"]})
    for b in inp.binds:
        opts = ["rbind", "rprivate"] + (["ro"] if b.readonly else [])
        mounts.append({"destination": b.destination, "type": "bind", "source": b.source, "options": opts})
    return {
        "ociVersion": "1.0.2",
        "process": inp.process.to_dict(),
        "root": {"path": "merged", "readonly": False},
        "hostname": inp.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": f"/dockyard/{inp.container_id}",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
