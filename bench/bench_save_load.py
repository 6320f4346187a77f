"""save and load of a large image, against the physical floor (tar + sha256sum of the same bytes)
and, where a reference dockerd answers on $DOCKER_HOST, against `docker save`/`docker load`.

    .venv/bin/python bench/bench_save_load.py [--mb 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, Timing, print_table, run_timed  # noqa: E402


def make_rootfs_tar(work: Path, mb: int) -> Path:
    """A rootfs tar of `mb` MB: 10 MB files of random (incompressible) bytes, plus busybox."""
    root = work / "rootfs"
    root.mkdir()
    subprocess.run([str(Path(__file__).resolve().parent.parent / "scripts" / "busybox-rootfs.sh"),
                    str(root)], check=True)
    data = root / "data"
    data.mkdir()
    chunk = os.urandom(10 << 20)
    for i in range(mb // 10):
        # Vary each file so nothing deduplicates.
        (data / f"blob{i:03d}").write_bytes(i.to_bytes(8, "big") + chunk[8:])
    tar = work / "rootfs.tar"
    subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tar), "."], check=True)
    shutil.rmtree(root)
    return tar


def best(timings: list[Timing]) -> Timing:
    return min(timings, key=lambda t: t.seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-save-load-", dir="/var/tmp"))
    try:
        env = {**os.environ, "DOCKYARD_ROOT": str(work / "store")}
        tar = make_rootfs_tar(work, args.mb)
        size_mb = tar.stat().st_size / 1e6
        run_timed(DOCKYARD + ["import", str(tar), "big:latest"], env=env)
        archive = work / "saved.tar"
        rows: dict[str, list[Timing]] = {k: [] for k in
                                         ("dockyard save -o", "dockyard save | cat", "floor: tar -c | sha256sum",
                                          "dockyard load -i", "floor: sha256sum + tar -x")}
        extract = work / "x"
        for _ in range(args.runs):
            archive.unlink(missing_ok=True)
            rows["dockyard save -o"].append(run_timed(DOCKYARD + ["save", "-o", str(archive), "big"], env=env))
            rows["dockyard save | cat"].append(run_timed(
                f"{' '.join(DOCKYARD)} save big | cat > {work}/piped.tar", env=env, shell=True))
            rows["floor: tar -c | sha256sum"].append(run_timed(
                f"tar -C {tar.parent} -cf - {tar.name} | tee {work}/floor.tar | sha256sum", shell=True))
            run_timed(DOCKYARD + ["rmi", "big"], env=env)
            rows["dockyard load -i"].append(run_timed(DOCKYARD + ["load", "-i", str(archive)], env=env))
            shutil.rmtree(extract, ignore_errors=True)
            extract.mkdir()
            rows["floor: sha256sum + tar -x"].append(run_timed(
                f"sha256sum {archive} && tar -C {extract} -xf {archive}", shell=True))
        floor_save = best(rows["floor: tar -c | sha256sum"]).seconds
        floor_load = best(rows["floor: sha256sum + tar -x"]).seconds
        table = []
        for name, timings in rows.items():
            t = best(timings)
            floor = floor_load if "load" in name else floor_save
            table.append([name, f"{t.seconds:.2f}", f"{size_mb / t.seconds:.0f}",
                          f"{t.seconds / floor:.2f}", f"{t.peak_rss_mb:.0f}"])
        print_table(f"save/load of a {size_mb:.0f} MB image (best of {args.runs})",
                    ["operation", "seconds", "MB/s", "x floor", "peak RSS MB"], table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
