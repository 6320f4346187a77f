"""Where the time of issue #18 row a goes, and which part of it varies: N cold in-process builds
of bench/inputs.py's 8 steps (`build --no-cache`, as bench_all's row a), each with a timeline of
its phases; optionally interleaved with another checkout (A/B).

Run (as root): .venv/bin/python bench/bench_rowa_phases.py [--base /path/to/checkout] [--runs 40]

Each build runs the checkout's dockyard in a fresh interpreter through a small launcher that
records time stamps (time.time(), this process's and the launcher's clocks are the same) at: the
interpreter's first line, the command's modules loaded (dockyard.main._loaded), each step's start
(Builder.begin_step), the RUN's runtime (runc's Popen, the container's start and exit events),
each wait for the writer's images (ClassicBuild.settle), the end of the build and the exit; and
every os.fsync, with its thread and duration. The patches are made as the modules load (an
import hook), so the modules load as in a plain build. The table: each phase's median, min, p90,
max, standard deviation and its correlation with the whole build's time (r near 1 for every
phase: the machine's load moves them all; a phase of its own: it moves alone). Each checkout
builds in a store of its own (under /var/tmp), with the same busybox; with --base the two
alternate, one then the other, so both see the same load. Say the load when you quote it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import make_small  # noqa: E402
from common import REPO  # noqa: E402

# The launcher (python -S -c LAUNCHER CHECKOUT OUT ARGS...): the checkout's .venv/bin/dockyard,
# with the time stamps above written to OUT as JSON when the program exits.
LAUNCHER = r'''
import time
T_PY = time.time()
import sys, os, threading
checkout, out = sys.argv[1], sys.argv[2]
sys.argv = ["dockyard"] + sys.argv[3:]
sys.prefix = sys.exec_prefix = checkout + "/.venv"
sys.path += [checkout + "/.venv/lib/python3.11/site-packages", checkout]
EV = [["py", T_PY]]
FS = []

def ev(name):
    EV.append([name, time.time()])

real_fsync = os.fsync
def fsync(fd):
    t = time.time()
    try:
        return real_fsync(fd)
    finally:
        FS.append([t, time.time(), threading.current_thread() is threading.main_thread()])
os.fsync = fsync

def around(owner, attr, before, after=None):
    real = getattr(owner, attr)
    def wrapped(*a, **k):
        ev(before(*a) if callable(before) else before)
        try:
            return real(*a, **k)
        finally:
            if after:
                ev(after)
    setattr(owner, attr, wrapped)

def p_main(m):
    around(m, "_loaded", "loaded")
    real_exit = m.exit_now
    def exit_now(code):
        ev("exit")
        import json
        with open(out, "w") as f:
            json.dump({"ev": EV, "fsync": FS}, f)
        real_exit(code)
    m.exit_now = exit_now

def p_builder(m):
    around(m.Builder, "begin_step", lambda self, original: f"step{self.step + 1}")
    around(m.Builder, "build", "build", "built")

def p_state(m):
    around(m.ClassicBuild, "settle", "settle", "settled")

def p_oneshot(m):
    around(m.OneShot, "run", "run", "ran")
    around(m.OneShot, "_event", lambda self, action, **k: "container " + action)

def p_subprocess(m):
    around(m.Popen, "__init__", "popen", "popened")

PATCHES = {"dockyard.main": p_main, "dockyard.builder.classic.builder": p_builder,
           "dockyard.builder.classic.state": p_state, "dockyard.runtime.oneshot": p_oneshot,
           "subprocess": p_subprocess}

class Hook:
    @staticmethod
    def find_spec(name, path, target=None):
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is not Hook and (spec := finder.find_spec(name, path, target)) is not None:
                break
        else:
            return None
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            PATCHES[name](module)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook)
from dockyard.main import run
run()
'''


def phases(start: float, end: float, data: dict) -> dict[str, float]:
    """Milliseconds of each phase of one build."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for name, t in data["ev"]:
        first.setdefault(name, t)
        last[name] = t
    started = first["container start"]
    popen = max(t for name, t in data["ev"] if name == "popen" and t < started)  # runc's
    popened = max(t for name, t in data["ev"] if name == "popened" and t < started)
    out = {
        "interpreter start": first["py"] - start,
        "imports": first["loaded"] - first["py"],
        "to step 1": first["step1"] - first["loaded"],
    }
    for n in range(1, 8):
        out[f"step {n}"] = first[f"step{n + 1}"] - first[f"step{n}"]
    out.update({
        "RUN: to runc": popen - first["step6"],
        "RUN: runc": started - popened,
        "RUN: after runc": first["step7"] - started,
        "step 8 to built": first["built"] - first["step8"],
        "final settle wait": last["settled"] - last["settle"],
        "built to exit": first["exit"] - first["built"],
        "exit to reaped": end - first["exit"],
        "fsync: main thread": sum(b - a for a, b, main in data["fsync"] if main),
        "fsync: writer": sum(b - a for a, b, main in data["fsync"] if not main),
        "total": end - start,
    })
    return {k: v * 1000 for k, v in out.items()}


class Side:
    def __init__(self, name: str, checkout: Path, work: Path, busybox: Path) -> None:
        self.name, self.checkout = name, checkout
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["DOCKYARD_ROOT"] = str(work / f"store-{name}")
        python = str(checkout / ".venv" / "bin" / "python")
        subprocess.run([python, "-m", "compileall", "-q", str(checkout / "dockyard")], env=self.env, check=True)
        subprocess.run([str(checkout / ".venv" / "bin" / "dockyard"), "import", str(busybox), "busybox:latest"],
                       env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.python = python
        self.runs: list[dict[str, float]] = []

    def build(self, ctx: Path, out: Path) -> None:
        cmd = [self.python, "-S", "-c", LAUNCHER, str(self.checkout), str(out),
               "build", "--network=host", "--no-cache", "-t", "bench-a", str(ctx)]
        start = time.time()
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, _ = os.wait4(proc.pid, 0)
        end = time.time()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if status != 0:
            raise SystemExit(f"{self.name}: the build failed: {err[-2000:]}")
        self.runs.append(phases(start, end, json.loads(out.read_text())))


def table(side: Side) -> None:
    names = list(side.runs[0])
    total = [r["total"] for r in side.runs]
    print(f"{side.name} ({side.checkout}), {len(side.runs)} builds, ms")
    print(f"  {'phase':20s} {'median':>7s} {'min':>7s} {'p90':>7s} {'max':>7s} {'stdev':>6s} {'r':>5s}")
    for name in names:
        v = [r[name] for r in side.runs]
        p90 = statistics.quantiles(v, n=10, method="inclusive")[-1] if len(v) > 1 else v[0]
        try:
            r = statistics.correlation(v, total)
        except statistics.StatisticsError:  # a constant phase
            r = 0.0
        print(f"  {name:20s} {statistics.median(v):7.1f} {min(v):7.1f} {p90:7.1f} {max(v):7.1f} "
              f"{statistics.pstdev(v):6.1f} {r:+5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, default=None, help="another checkout (with its .venv) to alternate with")
    parser.add_argument("--runs", type=int, default=40)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rowa-", dir="/var/tmp"))
    try:
        busybox = work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(busybox)], check=True,
                       stdout=subprocess.DEVNULL)
        ctx = work / "small"
        make_small(ctx)
        sides = [Side("this", REPO, work, busybox)]
        if opts.base is not None:
            sides.insert(0, Side("base", opts.base.resolve(), work, busybox))
        print(f"row a, 8 steps, --no-cache, in process; load {os.getloadavg()[0]:.1f}")
        for i in range(opts.runs):
            for side in (sides if i % 2 == 0 else sides[::-1]):
                side.build(ctx, work / "timeline.json")
        for side in sides:
            table(side)
        print(f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
