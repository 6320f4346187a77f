"""`docker run --rm busybox true` on `--network none` and on the default bridge, through
`dockyard serve` and dockerd 20.10 (the docker 20.10 CLI for both), interleaved; optionally a
second checkout's serve too (`--base CHECKOUT`: A/B of a change).

Run (as root): .venv/bin/python bench/bench_run.py [--runs 15] [--base /path/to/checkout]
    [--no-dockerd]

Each round runs every column once, in turn (dockyard, base, dockerd; none then bridge), so all
see the same load; printed: the median and min wall time of the CLI's run over the rounds.
Each serve has a store of its own under a temp dir (the same busybox imported); dockerd is the
tests' reference daemon (tests/dockerd.py: a bridge of its own, no iptables, so its bridge
column has no NAT rules to make: dockyard's netavark makes them). serve keeps its default
bridge up while it runs, as dockerd keeps its own (runtime/network/endpoints.BridgeHold): the
first run of each column, not counted, makes it, so the bridge column is a container's own cost
(a `--base` from before the hold made and removed the bridge in every run). Say the load when
you quote it: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, print_table  # noqa: E402

from bench_build import Serve  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.dockerd import DOCKER_CLI, Bridge, start_dockerd  # noqa: E402


def serve(checkout: Path, work: Path, busybox: Path) -> Serve:
    """`dockyard serve` of `checkout` on a store of its own, holding busybox."""
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["DOCKYARD_ROOT"] = str(work / "root")
    python = str(checkout / ".venv" / "bin" / "python")
    subprocess.run([python, "-m", "compileall", "-q", "dockyard"], cwd=checkout, check=True)
    subprocess.run([python, "-m", "dockyard", "import", str(busybox), "busybox:latest"],
                   env=env, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    return Serve(work, env, checkout)


def timed_run(host: str, network: str) -> float:
    args = [DOCKER_CLI, "-H", host, "run", "--rm", *(["--network", "none"] if network == "none" else []),
            "busybox", "true"]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--base", type=Path, help="another checkout whose serve alternates with this one")
    parser.add_argument("--no-dockerd", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    busybox = work / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(busybox)], check=True,
                   stdout=subprocess.DEVNULL)
    engines: dict[str, str] = {}
    serves: list[Serve] = []
    bridge = daemon = None
    try:
        serves.append(serve(REPO, work / "this", busybox))
        engines["dockyard"] = serves[-1].host
        if args.base is not None:
            serves.append(serve(args.base.resolve(), work / "base", busybox))
            engines["dockyard base"] = serves[-1].host
        if not args.no_dockerd:
            bridge = Bridge.claim().create()
            daemon = start_dockerd(bridge)
            if isinstance(daemon, str):
                raise SystemExit(daemon)
            daemon.docker("import", str(busybox), "busybox:latest")
            engines["dockerd"] = f"unix://{daemon.base / 'sock'}"
        times: dict[tuple[str, str], list[float]] = {(e, n): [] for e in engines for n in ("none", "bridge")}
        for name, host in engines.items():   # a first run of each warms caches, not counted
            timed_run(host, "bridge")
        for _ in range(args.runs):
            for name, host in engines.items():
                for network in ("none", "bridge"):
                    times[(name, network)].append(timed_run(host, network))
        rows = [[name, network, f"{statistics.median(t):.3f}", f"{min(t):.3f}"]
                for (name, network), t in times.items()]
        print_table(f"docker run --rm busybox true, {args.runs} interleaved rounds "
                    f"(load {os.getloadavg()[0]:.1f})", ["engine", "network", "median s", "min s"], rows)
    finally:
        for each in serves:
            each.stop()
        if daemon is not None and not isinstance(daemon, str):
            daemon.stop()
        if bridge is not None:
            bridge.release()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
