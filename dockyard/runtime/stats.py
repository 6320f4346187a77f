"""What a running container uses, read from its cgroup (v1 controllers or the v2 unified
hierarchy, whichever the host has) and its network namespace: Docker's stats JSON; and its
processes, as `docker top` shows them (the host's `ps`, rows of the container's cgroup only).

The cgroup is found from the container's init (`/proc/PID/cgroup`), so it does not matter how
the OCI runtime named it.
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidParameter, RuntimeFailure

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cgroup_dirs(pid: int) -> dict[str, Path]:
    """controller -> directory of process `pid`'s cgroup ("" for the v2 unified one)."""
    out: dict[str, Path] = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            base = CGROUP_ROOT / "unified" if (CGROUP_ROOT / "unified" / "cgroup.controllers").exists() \
                else CGROUP_ROOT
            out[""] = base / rel
        else:
            for c in controllers.split(","):
                c = c.removeprefix("name=")
                for candidate in (CGROUP_ROOT / c, CGROUP_ROOT / controllers):
                    if candidate.is_dir():
                        out[c] = candidate / rel
                        break
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return ""


def _int(path: Path, default: int = 0) -> int:
    text = _read(path)
    try:
        return int(text)
    except ValueError:
        return default


def _kv(path: Path) -> dict[str, int]:
    out = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def pids(pid: int) -> list[int]:
    """Every process of the container (the processes of its cgroup)."""
    dirs = cgroup_dirs(pid)
    for key in ("pids", "memory", "cpu", "devices", ""):
        directory = dirs.get(key)
        if directory is not None and (directory / "cgroup.procs").exists():
            return sorted(int(p) for p in _read(directory / "cgroup.procs").split())
    return [pid] if pid > 0 else []


def _system_cpu() -> int:
    """The host's CPU time in nanoseconds (Docker's system_cpu_usage)."""
    for line in _read(Path("/proc/stat")).splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(v) for v in line.split()[1:8])
            return ticks * 1_000_000_000 // _CLK_TCK
    return 0


def _networks(pid: int) -> dict[str, dict[str, int]]:
    out = {}
    for line in _read(Path(f"/proc/{pid}/net/dev")).splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        v = [int(x) for x in rest.split()]
        if name == "lo" or len(v) < 16:
            continue
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def _now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def sample(pid: int) -> dict[str, Any]:
    """One reading (Docker's stats body without precpu_stats and the names)."""
    dirs = cgroup_dirs(pid)
    v2 = dirs.get("") if "memory" not in dirs else None
    online = os.cpu_count() or 1
    if v2 is not None:
        cpu = _kv(v2 / "cpu.stat")
        cpu_usage = {"total_usage": cpu.get("usage_usec", 0) * 1000,
                     "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                     "usage_in_usermode": cpu.get("user_usec", 0) * 1000}
        mem_stat = _kv(v2 / "memory.stat")
        limit = _read(v2 / "memory.max")
        memory = {"usage": _int(v2 / "memory.current"), "stats": mem_stat,
                  "limit": int(limit) if limit.isdigit() else _host_memory()}
        pids_stats = {"current": _int(v2 / "pids.current")}
        limit_pids = _read(v2 / "pids.max")
        if limit_pids.isdigit():
            pids_stats["limit"] = int(limit_pids)
        throttling = {"periods": cpu.get("nr_periods", 0), "throttled_periods": cpu.get("nr_throttled", 0),
                      "throttled_time": cpu.get("throttled_usec", 0) * 1000}
    else:
        acct = dirs.get("cpuacct") or dirs.get("cpu")
        percpu = [int(x) for x in _read(acct / "cpuacct.usage_percpu").split()] if acct else []
        cpuacct_stat = _kv(acct / "cpuacct.stat") if acct else {}
        tick = 1_000_000_000 // _CLK_TCK
        cpu_usage = {"total_usage": _int(acct / "cpuacct.usage") if acct else 0,
                     "percpu_usage": percpu or None,
                     "usage_in_kernelmode": cpuacct_stat.get("system", 0) * tick,
                     "usage_in_usermode": cpuacct_stat.get("user", 0) * tick}
        mem = dirs.get("memory")
        memory = {}
        if mem is not None:
            limit = _int(mem / "memory.limit_in_bytes")
            memory = {"usage": _int(mem / "memory.usage_in_bytes"),
                      "max_usage": _int(mem / "memory.max_usage_in_bytes"),
                      "failcnt": _int(mem / "memory.failcnt"), "stats": _kv(mem / "memory.stat"),
                      "limit": min(limit, _host_memory()) if limit else _host_memory()}
        pid_dir = dirs.get("pids")
        pids_stats = {"current": _int(pid_dir / "pids.current")} if pid_dir else {}
        if pid_dir is not None and _read(pid_dir / "pids.max").isdigit():
            pids_stats["limit"] = int(_read(pid_dir / "pids.max"))
        cpu_dir = dirs.get("cpu")
        cs = _kv(cpu_dir / "cpu.stat") if cpu_dir else {}
        throttling = {"periods": cs.get("nr_periods", 0), "throttled_periods": cs.get("nr_throttled", 0),
                      "throttled_time": cs.get("throttled_time", 0)}
    return {
        "read": _now(), "pids_stats": pids_stats,
        "blkio_stats": dict(_NO_BLKIO),
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": cpu_usage, "system_cpu_usage": _system_cpu(),
                      "online_cpus": online, "throttling_data": throttling},
        "memory_stats": memory, "networks": _networks(pid) or None,
    }


_NO_BLKIO = {"io_service_bytes_recursive": None, "io_serviced_recursive": None, "io_queue_recursive": None,
             "io_service_time_recursive": None, "io_wait_time_recursive": None, "io_merged_recursive": None,
             "io_time_recursive": None, "sectors_recursive": None}
NO_CPU = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
          "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def empty_sample() -> dict[str, Any]:
    """What Docker reports for a container that is not running: Go's zero values of its stats
    (blkio's lists null, the throttling counts 0; an SDK's `stats["blkio_stats"][...]` reads them)."""
    return {"read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z", "pids_stats": {},
            "blkio_stats": dict(_NO_BLKIO), "num_procs": 0, "storage_stats": {},
            "cpu_stats": copy.deepcopy(NO_CPU), "precpu_stats": copy.deepcopy(NO_CPU), "memory_stats": {}}


def _host_memory() -> int:
    for line in _read(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def top(pid: int, ps_args: str = "-ef") -> dict[str, Any]:
    """`docker top`: the host's `ps ARGS`, the rows of the container's processes."""
    members = set(pids(pid))
    args = ps_args.split() if ps_args else ["-ef"]
    proc = subprocess.run(["ps", *args], stdin=subprocess.DEVNULL, capture_output=True)
    if proc.returncode != 0:
        raise InvalidParameter(f"Error running ps: exit status {proc.returncode}: "
                               + proc.stderr.decode(errors="replace").strip())
    lines = proc.stdout.decode(errors="replace").splitlines()
    if not lines:
        raise RuntimeFailure("ps printed nothing")
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise InvalidParameter(f"Couldn't find PID field in ps output") from None
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in members:
            rows.append(fields)
    return {"Titles": titles, "Processes": rows}


def wait_interval(seconds: float, stopped: Any) -> bool:
    """Sleep between two stats readings; False when the caller stopped meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stopped():
            return False
        time.sleep(min(0.1, deadline - time.monotonic()) if deadline > time.monotonic() else 0)
    return True
