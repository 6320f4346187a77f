"""Helpers for the benchmark scripts: timing a command with its peak RSS, printing a table."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKYARD = [str(REPO / ".venv" / "bin" / "python"), "-m", "dockyard"]


@dataclass
class Timing:
    seconds: float
    peak_rss_mb: float
    cpu: float = 0.0  # user + system seconds of the process (its threads and waited children)


def run_timed(cmd: list[str] | str, *, env: dict | None = None, stdin=None, stdout=None,
              shell: bool = False) -> Timing:
    """Wall time and peak RSS (of the process itself, via wait4) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=stdin, stdout=stdout or subprocess.DEVNULL,
                            stderr=subprocess.PIPE, shell=shell, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {cmd}\n{err}")
    return Timing(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def cpu_of(pid: int) -> float:
    """User + system seconds a running process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drop_caches() -> None:
    subprocess.run(["sync"])
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
