"""Per `RUN true` step, the wall time that is not inside the OCI runtime (issue #18 row e): from
one `runc run`'s exit to the next one's exec, in both builders, in process and through
`dockyard serve`; optionally interleaved with another checkout (A/B).

Run (as root, perf installed): .venv/bin/python bench/bench_runstep.py [--base /path/to/checkout]
    [--pairs 10] [--steps 21] [--modes classic,buildkit,serve-classic,serve-buildkit]

Each build is a `--no-cache` build of FROM busybox and N `RUN true` steps, recorded by
`perf record -e sched:sched_process_{exec,exit,fork}` (kernel timestamps, a few us of overhead
per event): for each runc process of the build (exec'd by the build process, or by serve), its
exec and the exit of its last thread. Printed per mode and checkout: the median over the
builds of the per-build median gap (runc's exit -> the next runc's exec) and of runc's own wall
time. The gap includes ~1 ms of runc's own exit (its address space is torn down after the exit
tracepoint, before its pipes close and the build sees it). Each checkout builds in a store of
its own (under --work), with the same busybox; with --base the two alternate, first one then
the other, so both see the same load. Say the load when you quote it: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import make_runs  # noqa: E402
from common import REPO  # noqa: E402

EVENTS = "sched:sched_process_exec,sched:sched_process_exit,sched:sched_process_fork"
LINE = re.compile(r"\s(\d+\.\d+):\s+sched:sched_process_(\w+): (.*)")


def runc_spans(perf_script: str, build_exe: str | None, roots: set[int] = frozenset()) -> list[tuple[float, float]]:  # type: ignore[assignment]
    """(exec, exit of its last thread) of each runc the build ran: exec'd by a descendant of the
    process that exec'd `build_exe`, or of the threads `roots` (serve's, whose runcs a
    system-wide recording has among everyone else's)."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    group: dict[int, int] = {}   # pid of a runc thread -> the runc process's pid
    ours: set[int] = set(roots)
    for line in perf_script.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        t, kind, rest = float(m.group(1)), m.group(2), m.group(3)
        if kind == "exec":
            pid = int(re.search(r" pid=(\d+)", rest).group(1))
            group.pop(pid, None)
            if build_exe is not None and not ours and build_exe in rest:
                ours.add(pid)
            if re.match(r"filename=\S*/runc ", rest) and pid in ours:
                starts[pid] = t
                group[pid] = pid
        elif kind == "fork":
            f = re.search(r" pid=(\d+) child_comm=.* child_pid=(\d+)", rest)
            parent, child = int(f.group(1)), int(f.group(2))
            if parent in group:
                group[child] = group[parent]
            if parent in ours:
                ours.add(child)
        elif kind == "exit" and "group_dead=true" in rest:
            pid = int(re.search(r" pid=(\d+)", rest).group(1))
            if pid in group:
                ends[group[pid]] = t
    return sorted((starts[p], ends[p]) for p in starts if p in ends)


def per_step(spans: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median gap (ms) from one runc's exit to the next one's exec, median runc wall (ms), and
    the median step (ms) from one runc's exec to the next one's (a step's whole wall, without
    the 1-step build that bench_all's (21 - 1) / 20 subtracts: less noise under load)."""
    gaps = [(spans[i + 1][0] - spans[i][1]) * 1000 for i in range(len(spans) - 1)]
    steps = [(spans[i + 1][0] - spans[i][0]) * 1000 for i in range(len(spans) - 1)]
    return (statistics.median(gaps), statistics.median((b - a) * 1000 for a, b in spans),
            statistics.median(steps))


class Side:
    """A checkout with its own store, and its serve when a mode needs one."""

    def __init__(self, name: str, checkout: Path, work: Path, busybox: Path) -> None:
        self.name, self.exe = name, str(checkout / ".venv" / "bin" / "dockyard")
        self.env = {**os.environ, "DOCKYARD_ROOT": str(work / f"store-{name}")}
        subprocess.run([self.exe, "import", str(busybox), "busybox:latest"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.sock = work / f"serve-{name}.sock"
        self.serve: subprocess.Popen | None = None

    def start_serve(self) -> None:
        if self.serve is None:
            self.serve = subprocess.Popen([self.exe, "serve", "-H", f"unix://{self.sock}"], env=self.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(200):
                if self.sock.exists():
                    return
                time.sleep(0.05)
            raise SystemExit(f"{self.exe} serve did not start")

    def stop(self) -> None:
        if self.serve is not None:
            self.serve.terminate()
            self.serve.wait(timeout=60)

    def measure(self, mode: str, ctx: Path, data: Path) -> tuple[float, float, float]:
        buildkit = "1" if mode.endswith("buildkit") else "0"
        build = ["build", "-q", "--no-cache", "--network=host", "-t", "runstep", str(ctx)]
        env = {**self.env, "DOCKER_BUILDKIT": buildkit}
        if not mode.startswith("serve"):
            subprocess.run(["perf", "record", "-q", "-o", str(data), "-e", EVENTS, "-a", "--", self.exe, *build],
                           env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            build_exe: str | None = self.exe
        else:
            self.start_serve()
            assert self.serve is not None
            # system-wide: `perf record -p` follows none of the threads and children serve makes
            # after it attached (no runc was seen); serve's threads then are the roots
            rec = subprocess.Popen(["perf", "record", "-q", "-o", str(data), "-e", EVENTS, "-a"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)  # perf attached
            roots = {int(t) for t in os.listdir(f"/proc/{self.serve.pid}/task")}
            subprocess.run([self.exe, "-H", f"unix://{self.sock}", *build], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            rec.send_signal(signal.SIGINT)
            rec.wait()
            build_exe = None
        script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True).stdout
        return per_step(runc_spans(script, build_exe, roots if build_exe is None else set()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, default=None, help="another checkout (with its .venv) to alternate with")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=21)
    parser.add_argument("--modes", default="classic,buildkit,serve-classic,serve-buildkit")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-runstep-", dir="/var/tmp"))
    sides: list[Side] = []
    try:
        busybox = work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(busybox)], check=True,
                       stdout=subprocess.DEVNULL)
        ctx = work / "runs"
        make_runs(ctx, opts.steps)
        if opts.base is not None:
            sides.append(Side("base", opts.base.resolve(), work, busybox))
        sides.append(Side("this", REPO, work, busybox))
        print(f"{opts.steps} x RUN true, --no-cache, {opts.pairs} builds each; load {os.getloadavg()[0]:.1f}")
        for mode in opts.modes.split(","):
            results: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in sides}
            for i in range(opts.pairs):
                for side in (sides if i % 2 == 0 else sides[::-1]):
                    results[side.name].append(side.measure(mode, ctx, work / f"{side.name}.data"))
            for name, runs in results.items():
                gaps, runcs, steps = ([r[i] for r in runs] for i in range(3))
                print(f"{mode:15s} {name:5s} gap (runc exit -> next exec) median {statistics.median(gaps):5.2f} ms "
                      f"(min {min(gaps):5.2f}); runc median {statistics.median(runcs):5.1f} ms; "
                      f"step (exec -> next exec) median {statistics.median(steps):5.1f} ms")
        print(f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        for side in sides:
            side.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
