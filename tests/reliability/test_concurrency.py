"""Many dockyard processes on one store at once, and kill -9 at random moments: afterwards the
store keeps every promise (every listed image whole) and, after the next start, nothing is left
behind. The figures (operations run, kills) are printed with -s; scripts/crash_sweep.sh runs ten
times as many concurrent operations."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import REPO, Dockyard, Result
from tests.reliability.crash import FULL

# Rounds of 26 operations: one in the suite, ten in scripts/crash_sweep.sh (260 operations).
ROUNDS = 10 if FULL else 1

# Exit codes a racing operation may end with: 0, or 1 for a name another removed or a conflict.
# Never a traceback.
_FINE = (0, 1)


def _context(tmp_path: Path, n: int | str) -> Path:
    ctx = tmp_path / f"ctx{n}"
    ctx.mkdir()
    (ctx / "f").write_text(f"build {n}\n")
    (ctx / "Dockerfile").write_text(f"FROM busybox\nCOPY f /f{n}\nLABEL n={n}\n")
    return ctx


def test_mixed_operations_at_once(dockyard: Dockyard, busybox: str, busybox_tar: Path, tmp_path: Path) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    ops: list[tuple[list[str], bytes | None]] = []
    for r in range(ROUNDS):
        for i in range(3):
            n = f"{r}-{i}"
            ops += [(["load"], archive), (["tag", "busybox", f"t{n}:1"], None), (["rmi", f"t{n}:1"], None),
                    (["build", "-q", "-t", f"b{n}:1", str(_context(tmp_path, n))], None),
                    (["rmi", "-f", f"b{n}:1"], None), (["images", "-q"], None)]
        for i in range(2):
            n = f"{r}-{i}"
            ops += [(["import", str(busybox_tar), f"imp{n}:1"], None), (["rmi", f"imp{n}:1"], None),
                    (["save", "-o", str(tmp_path / f"s{n}.tar"), "busybox"], None), (["rmi", "busybox"], None)]
    random.Random(16).shuffle(ops)

    def run(op: tuple[list[str], bytes | None]) -> Result:
        return dockyard(*op[0], input=op[1], check=False, timeout=300)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(run, ops))
    for (args, _), r in zip(ops, results):
        assert r.returncode in _FINE and "Traceback" not in r.stderr, (args, r.stderr)
        if r.returncode == 1:
            lines = r.stderr.splitlines()
            if args[0] == "build":   # -q prints the output it held back first, as docker 20.10
                lines = lines[-1:] if all(not line.startswith("Error") for line in lines[:-1]) else lines
            assert len(lines) == 1 and lines[0].startswith("Error: "), (args, r.stderr)
    dockyard("images")  # a start
    report = check_store(Store(dockyard.root))
    assert report.problems == [] and report.leftovers == [], report.problems + report.leftovers
    print(f"\nconcurrent operations: {len(ops)} (6 at a time), "
          f"{sum(r.returncode == 0 for r in results)} succeeded, "
          f"{sum(r.returncode == 1 for r in results)} refused (a name gone or in use)")


def test_timed_kills(dockyard: Dockyard, busybox: str, busybox_tar: Path, tmp_path: Path) -> None:
    """kill -9 at a random moment of each operation's run (timed on an unkilled run first)."""
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    rng = random.Random(1616)
    operations = [(["load"], archive), (["import", "-", "imp:1"], busybox_tar.read_bytes()),
                  (["build", "-t", "b:1", str(_context(tmp_path, 0))], None)]

    def start(args: list[str], data: bytes | None) -> subprocess.Popen:
        if args[0] == "build":
            dockyard("load", input=archive)  # its base
        proc = subprocess.Popen([sys.executable, "-m", "dockyard", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dockyard.env, cwd=REPO)
        if data is not None:
            try:
                proc.stdin.write(data)  # type: ignore[union-attr]
                proc.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
        return proc

    durations = {}
    for args, data in operations:
        began = time.monotonic()
        assert start(args, data).wait(timeout=120) == 0
        durations[args[0]] = time.monotonic() - began
    kills = runs = 0
    for _ in range(2):
        for args, data in operations:
            began = time.monotonic()
            proc = start(args, data)
            time.sleep(max(0.0, rng.uniform(0.4, 0.95) * durations[args[0]] - (time.monotonic() - began)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            runs += 1
            kills += proc.returncode == -signal.SIGKILL
            report = check_store(Store(dockyard.root))
            assert report.problems == [], (args, report.problems)
            dockyard("images")  # the next start
            report = check_store(Store(dockyard.root))
            assert report.leftovers == [], (args, report.leftovers)
    print(f"\ntimed kill -9: {kills} of {runs} runs killed under way")
