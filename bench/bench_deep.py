"""Unpacking deeply nested layers (issue 16.7): dockyard's apply_layer next to GNU tar -x.

Run: .venv/bin/python bench/bench_deep.py [--depths 250,500,1000,2000] [--timeout 600]
Each layer is D nested directories `d/d/d/...` with one file at the bottom (2,000 levels: a tar of
~8 MB that gzip makes ~40 KB). A row per depth: seconds for dockyard (in a child process, killed
after --timeout) and for `tar -xf` of the same tar, and dockyard's time per entry, which stays flat
when unpacking is linear in the tar. `--python` runs another checkout's dockyard for before/after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, print_table  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.archive.test_deep import nested_tar  # noqa: E402

CHILD = """
import sys, time
from pathlib import Path
from dockyard.archive.apply import apply_layer
t = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    apply_layer(f, Path(sys.argv[2]))
print(time.perf_counter() - t)
"""


def remove(path: Path) -> None:
    subprocess.run(["rm", "-rf", str(path)], check=True)  # GNU rm: no recursion limit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="250,500,1000,2000")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--python", default=sys.executable, help="interpreter whose dockyard is measured")
    ap.add_argument("--pythonpath", default="", help="PYTHONPATH for it (another checkout)")
    args = ap.parse_args()
    env = {**os.environ, **({"PYTHONPATH": args.pythonpath} if args.pythonpath else {})}
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-deep-"))
    try:
        for depth in (int(d) for d in args.depths.split(",")):
            layer = work / "layer.tar"
            layer.write_bytes(nested_tar(depth))
            dest = work / "dest"
            dest.mkdir()
            try:
                out = subprocess.run([args.python, "-c", CHILD, str(layer), str(dest)], env=env,
                                     capture_output=True, text=True, timeout=args.timeout, check=True)
                ours = float(out.stdout.strip())
                ours_text, per_entry = f"{ours:.2f}", f"{ours / (depth + 1) * 1e6:.0f}"
            except subprocess.TimeoutExpired:
                ours_text, per_entry = f"> {args.timeout:.0f}", "-"
            except subprocess.CalledProcessError as exc:
                ours_text, per_entry = "failed: " + exc.stderr.strip().splitlines()[-1][:60], "-"
            remove(dest)
            dest.mkdir()
            t = time.perf_counter()
            tar = subprocess.run(["tar", "-xf", str(layer), "-C", str(dest)], capture_output=True)
            peer = f"{time.perf_counter() - t:.2f}" if tar.returncode == 0 else "failed"
            remove(dest)
            rows.append([str(depth), f"{layer.stat().st_size / 1e6:.1f}", ours_text, per_entry, peer])
    finally:
        remove(work)
    print_table("Unpacking D nested directories (apply_layer vs GNU tar -x)",
                ["depth", "tar MB", "dockyard s", "us/entry", "tar -x s"], rows)


if __name__ == "__main__":
    main()
