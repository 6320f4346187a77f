"""Throughput of dockyard.archive vs GNU tar on a ~200 MB tree (page cache warm).

Run: .venv/bin/python bench/bench_archive.py [--size-mb 200]
Prints MB/s for write_tree (to a file and to a hashing pipe-like sink), apply_layer, gzip
compression and decompression, next to `tar -c` / `tar -x`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dockyard.archive.apply import apply_layer
from dockyard.archive.compression import compressing_writer, open_decompressed
from dockyard.archive.diff import write_tree


class HashSink(io.RawIOBase):
    """A sink without fileno (like a digest writer or an HTTP upload): no sendfile."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001
        self.h.update(data)
        return len(memoryview(data))


def make_tree(root: Path, size_mb: int) -> None:
    big = size_mb * 3 // 4
    rnd = os.urandom(1 << 20)
    for i in range(big // 3):
        d = root / "big" / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"blob{i}").write_bytes(rnd[i:] + rnd[:i] + rnd * 2)
    small_total = (size_mb - big) << 20
    n = small_total // 10_000
    for i in range(n):
        d = root / "small" / f"{i % 97:02d}" / f"{i % 13}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes((b"line %d of a small text file\n" % i) * 330)


def timed(label: str, nbytes: int, fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    print(f"{label:<40} {dt:6.2f} s  {nbytes / dt / 1e6:8.1f} MB/s")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=200)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-archive-", dir="/var/tmp"))
    try:
        src = work / "src"
        src.mkdir()
        make_tree(src, args.size_mb)
        tar_path = work / "t.tar"
        subprocess.run(["tar", "-cf", str(tar_path), "-C", str(src), "."], check=True)  # warm cache
        nbytes = tar_path.stat().st_size
        nfiles = sum(len(f) for _, _, f in os.walk(src))
        print(f"tree: {nbytes / 1e6:.0f} MB tar, {nfiles} files")

        def our_write() -> None:
            with open(work / "ours.tar", "wb") as f:
                write_tree(src, f)

        timed("write_tree -> file (sendfile)", nbytes, our_write)
        timed("write_tree -> hashing sink", nbytes, lambda: write_tree(src, HashSink()))  # type: ignore[arg-type]
        timed("tar -c -> file", nbytes, lambda: subprocess.run(
            ["tar", "-cf", str(work / "gnu.tar"), "-C", str(src), "."], check=True))

        def our_apply() -> None:
            dest = work / "dest"
            dest.mkdir()
            with open(work / "ours.tar", "rb") as f:
                apply_layer(f, dest)  # type: ignore[arg-type]

        def tar_x() -> None:
            dest = work / "dest-tar"
            dest.mkdir()
            subprocess.run(["tar", "-xpf", str(work / "ours.tar"), "-C", str(dest)], check=True)

        timed("apply_layer <- file", nbytes, our_apply)
        timed("tar -x <- file", nbytes, tar_x)

        def gz() -> None:
            with open(work / "ours.tar", "rb") as f, open(work / "ours.tar.gz", "wb") as out:
                w = compressing_writer(out, "gzip")
                shutil.copyfileobj(f, w, 1 << 20)
                w.close()

        timed("gzip (isal level 2) compress", nbytes, gz)

        def gunzip_apply() -> None:
            dest = work / "dest-gz"
            dest.mkdir()
            with open(work / "ours.tar.gz", "rb") as f:
                apply_layer(open_decompressed(f), dest)  # type: ignore[arg-type]

        timed("gunzip + apply_layer", nbytes, gunzip_apply)
        print(f"gzip ratio {os.path.getsize(work / 'ours.tar.gz') / nbytes:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
