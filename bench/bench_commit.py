"""`commit` of a container that wrote MB of data, against the floor (`tar -c | sha256sum` of the
same upper dir) and, where a reference dockerd answers on $DOCKER_HOST, `docker commit`; and the
time of `run --rm busybox true` (start to exit).

    .venv/bin/python bench/bench_commit.py [--mb 500] [--runs 3]
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
from common import DOCKYARD, REPO, print_table, run_timed  # noqa: E402

WRITE = ("mkdir /data; i=0; while [ $i -lt {n} ]; do head -c 10485760 /dev/urandom > /data/f$i; "
         "i=$((i+1)); done; echo done; sleep 100000")


def _wait_done(cmd: list[str], env: dict | None) -> None:
    for _ in range(6000):
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        if b"done" in out:
            return
        time.sleep(0.1)
    raise SystemExit("the container did not finish writing")


def bench_dockyard(work: Path, bb_tar: Path, mb: int, runs: int) -> tuple[list[float], list[float], list[float]]:
    env = {**os.environ, "DOCKYARD_ROOT": str(work / "store")}
    subprocess.run([*DOCKYARD, "import", str(bb_tar), "busybox"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    cid = subprocess.run([*DOCKYARD, "run", "-d", "busybox", "sh", "-c", WRITE.format(n=mb // 10)],
                         env=env, check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    _wait_done([*DOCKYARD, "logs", cid], env)
    upper = work / "store" / "containers" / cid / "upper"
    commits, floors = [], []
    for i in range(runs):
        floors.append(run_timed(f"tar -C {upper} -cf - . | sha256sum", shell=True).seconds)
        commits.append(run_timed([*DOCKYARD, "commit", cid, f"big:{i}"], env=env).seconds)
        subprocess.run([*DOCKYARD, "rmi", f"big:{i}"], env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*DOCKYARD, "rm", "-f", cid], env=env, check=True, stdout=subprocess.DEVNULL)
    starts = [run_timed([*DOCKYARD, "run", "--rm", "busybox", "true"], env=env).seconds
              for _ in range(max(5, runs))]
    return commits, floors, starts


def bench_docker(bb_tar: Path, mb: int, runs: int) -> tuple[list[float], list[float]] | None:
    if not shutil.which("docker") or subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL).returncode != 0:
        return None
    subprocess.run(["docker", "import", str(bb_tar), "dybench-busybox"], check=True,
                   stdout=subprocess.DEVNULL)
    cid = subprocess.run(["docker", "run", "-d", "dybench-busybox", "sh", "-c", WRITE.format(n=mb // 10)],
                         check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    try:
        _wait_done(["docker", "logs", cid], None)
        commits = []
        for i in range(runs):
            commits.append(run_timed(["docker", "commit", cid, f"dybench-big:{i}"]).seconds)
            subprocess.run(["docker", "rmi", f"dybench-big:{i}"], stdout=subprocess.DEVNULL)
        starts = [run_timed(["docker", "run", "--rm", "dybench-busybox", "true"]).seconds
                  for _ in range(max(5, runs))]
        return commits, starts
    finally:
        subprocess.run(["docker", "rm", "-f", cid], stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "rmi", "dybench-busybox"], stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-commit-", dir="/var/tmp"))
    try:
        bb_tar = work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(bb_tar)], check=True)
        commits, floors, starts = bench_dockyard(work, bb_tar, args.mb, args.runs)
        docker = bench_docker(bb_tar, args.mb, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [["floor: tar -c upper | sha256sum", f"{min(floors):.2f} s", f"{statistics.median(floors):.2f} s"],
            ["dockyard commit", f"{min(commits):.2f} s", f"{statistics.median(commits):.2f} s"]]
    if docker:
        rows.append(["docker commit", f"{min(docker[0]):.2f} s", f"{statistics.median(docker[0]):.2f} s"])
    rows.append(["dockyard run --rm busybox true", f"{min(starts) * 1000:.0f} ms",
                 f"{statistics.median(starts) * 1000:.0f} ms"])
    if docker:
        rows.append(["docker run --rm busybox true", f"{min(docker[1]) * 1000:.0f} ms",
                     f"{statistics.median(docker[1]) * 1000:.0f} ms"])
    print_table(f"commit of a container that wrote {args.mb} MB; container start to exit",
                ["what", "best", "median"], rows)


if __name__ == "__main__":
    main()
