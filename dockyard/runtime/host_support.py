"""What this host lets containers have, as dockerd's /info reports it (its pkg/sysinfo): which
cgroup limits the kernel offers (the v1 controllers' files, or the v2 root's controllers), the
cgroup version runc uses, IPv4 forwarding and bridge netfilter. Read from /sys and /proc once per
process (the layout does not change while the host runs)."""

from __future__ import annotations

from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
_KNOWN: dict[str, object] = {}


def _v1(controller: str, name: str) -> bool:
    return (CGROUP / controller / name).exists()


def _flag(path: str) -> bool:
    try:
        return Path(path).read_text().strip() == "1"
    except OSError:
        return False


def features() -> dict[str, object]:
    """/info's fields: MemoryLimit, SwapLimit, CpuCfsPeriod, CpuCfsQuota, CPUShares, CPUSet,
    PidsLimit, OomKillDisable, CgroupVersion, IPv4Forwarding, BridgeNfIptables/Ip6tables."""
    if not _KNOWN:
        v1 = (CGROUP / "memory").is_dir()   # v1 controllers mounted (alone, or hybrid beside v2)
        if v1:
            found = {"MemoryLimit": _v1("memory", "memory.limit_in_bytes"),
                     "SwapLimit": _v1("memory", "memory.memsw.limit_in_bytes"),
                     "CpuCfsPeriod": _v1("cpu", "cpu.cfs_period_us"), "CpuCfsQuota": _v1("cpu", "cpu.cfs_quota_us"),
                     "CPUShares": _v1("cpu", "cpu.shares"), "CPUSet": _v1("cpuset", "cpuset.cpus"),
                     "PidsLimit": (CGROUP / "pids").is_dir(), "OomKillDisable": _v1("memory", "memory.oom_control"),
                     "CgroupVersion": "1"}
        else:
            try:
                controllers = set((CGROUP / "cgroup.controllers").read_text().split())
            except OSError:
                controllers = set()
            cpu = "cpu" in controllers
            found = {"MemoryLimit": "memory" in controllers, "SwapLimit": "memory" in controllers,
                     "CpuCfsPeriod": cpu, "CpuCfsQuota": cpu, "CPUShares": cpu, "CPUSet": "cpuset" in controllers,
                     "PidsLimit": "pids" in controllers, "OomKillDisable": False, "CgroupVersion": "2"}
        found.update({"IPv4Forwarding": _flag("/proc/sys/net/ipv4/ip_forward"),
                      "BridgeNfIptables": _flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
                      "BridgeNfIp6tables": _flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables")})
        _KNOWN.update(found)
    return dict(_KNOWN)


def memory_swappiness() -> bool:
    """Whether a container's memory.swappiness can be set: a v1 memory controller's file (v2 has
    none; dockerd then discards the setting with a warning)."""
    return _v1("memory", "memory.swappiness")


def blkio_weight() -> bool:
    """Whether a container's block I/O weight can be set (v1 blkio.weight or blkio.bfq.weight;
    v2 io.weight); where not, dockerd discards the setting with a warning."""
    if (CGROUP / "blkio").is_dir():
        return _v1("blkio", "blkio.weight") or _v1("blkio", "blkio.bfq.weight")
    try:
        return "io" in (CGROUP / "cgroup.controllers").read_text().split()
    except OSError:
        return False


def security_module(kind: str) -> bool:
    """Whether the host runs the Linux security module `kind` ("apparmor" or "selinux"): where it
    does not, dockerd takes a container's apparmor=/label= options and they have no effect."""
    if kind == "apparmor":
        try:
            return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
        except OSError:
            return False
    return Path("/sys/fs/selinux/enforce").exists()
