"""A fully cached `docker build` through `dockyard serve` next to the same through `dockerd`,
one run: the same docker CLI (classic builder, DOCKER_BUILDKIT=0), the same busybox image, the
same context, only DOCKER_HOST differs.

Run (as root): .venv/bin/python bench/bench_api.py [--docker-host unix:///run/x.sock] [--runs 10]
Without --docker-host it starts its own dockerd (Debian's docker.io) on a private socket and
data-root, and stops it at the end. Cases, each after one warm-up build:
  1. an 8-step Dockerfile (COPY, RUN, ENV, WORKDIR...), fully cached;
  2. a 2,000-file, 40 MB context (`COPY . /ctx/`), fully cached (context upload dominates);
and `docker images` (a small JSON request) as the per-request floor. Median and best of N.
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
from bench_build import Docker, make_big, make_small  # noqa: E402
from common import DOCKYARD, REPO, print_table, run_timed  # noqa: E402

class Serve:
    """`dockyard serve` on a private socket."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.sock = work / "dockyard.sock"
        self.proc = subprocess.Popen([*DOCKYARD, "serve", "-H", f"unix://{self.sock}"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "wb"),
                                     cwd=REPO)
        deadline = time.monotonic() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("dockyard serve did not start (see serve.log)")
            time.sleep(0.05)
        self.host = f"unix://{self.sock}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timings(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    run_timed(cmd, env=env)  # warm-up (for builds: fills the cache)
    return [run_timed(cmd, env=env).seconds for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docker-host", default=None)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--work", default=None, help="scratch directory (default: a new temp dir)")
    opts = parser.parse_args()
    work = Path(opts.work or tempfile.mkdtemp(prefix="bench-api-", dir="/tmp"))
    (work / "docker").mkdir(parents=True, exist_ok=True)
    docker = Docker(opts.docker_host, work / "docker")
    env = {**os.environ, "DOCKYARD_ROOT": str(work / "store"), "PYTHONPYCACHEPREFIX": str(work / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    serve = None
    try:
        bb = work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(bb)], check=True)
        subprocess.run([*DOCKYARD, "import", str(bb), "busybox:latest"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(docker.cmd("import", str(bb), "busybox:latest"), check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([DOCKYARD[0], "-m", "compileall", "-q", str(REPO / "dockyard")], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        serve = Serve(work, env)
        small, big = work / "small", work / "big"
        make_small(small)
        make_big(big, files=2000, total_mb=40)
        clients = {
            "dockyard serve": {**os.environ, "DOCKER_HOST": serve.host, "DOCKER_BUILDKIT": "0"},
            "dockerd": {**os.environ, "DOCKER_HOST": docker.host, "DOCKER_BUILDKIT": "0"},
        }
        cases = [
            ("8 steps, fully cached build", ["docker", "build", "-t", "bench-small", str(small)]),
            ("2k files/40 MB, fully cached build", ["docker", "build", "-t", "bench-big", str(big)]),
            ("docker images", ["docker", "images"]),
        ]
        rows = []
        for label, cmd in cases:
            ours = timings(cmd, clients["dockyard serve"], opts.runs)
            theirs = timings(cmd, clients["dockerd"], opts.runs)
            m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
            rows.append([label, f"{m_ours:.3f}", f"{min(ours):.3f}", f"{m_theirs:.3f}",
                         f"{min(theirs):.3f}", f"{m_ours / m_theirs:.2f}"])
        print_table(f"docker CLI through dockyard serve vs dockerd ({opts.runs} runs each, seconds)",
                    ["case", "dockyard median", "best", "dockerd median", "best", "ratio (median)"],
                    rows)
    finally:
        if serve is not None:
            serve.stop()
        docker.stop()
        if opts.work is None:
            subprocess.run(["umount", "-l", str(work / "docker" / "data" / "overlay2")],
                           capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
