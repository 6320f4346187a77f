"""Killing a dockyard command at exact points: `strace -f -e inject=SYSCALL:signal=KILL:when=N`
kills it (and its threads and children) on the N-th call of SYSCALL, before the call is made.
A sweep runs the command with N = 1, 2, ... until it runs to its end, calling `check` after
every kill: every state a crash at one of those calls can leave is checked."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tests.conftest import REPO, Dockyard


@dataclass
class Tally:
    """What a sweep did: the figures the issue asks for."""

    crash_points: int = 0
    completed: int = 0
    by_syscall: dict[str, int] = field(default_factory=dict)


def run_killed_at(dockyard: Dockyard, args: list[str], syscall: str, n: int,
                  stdin: bytes | None = None, timeout: float = 120) -> bool:
    """Run `dockyard ARGS` killed at the n-th `syscall`; True if it was killed."""
    # (Not --seccomp-bpf: with it, strace 6.1 does not inject.)
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
           "-e", f"inject={syscall}:signal=KILL:when={n}", sys.executable, "-m", "dockyard", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=dockyard.env, cwd=REPO,
                          timeout=timeout)
    return proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)


def most_calls(dockyard: Dockyard, args: list[str], syscalls: list[str], stdin: bytes | None = None,
               timeout: float = 120) -> dict[str, int]:
    """Run `dockyard ARGS` to its end under strace; for each syscall, the most calls of it one
    tracee (process or thread) made: strace counts injections per syscall and per tracee, so
    `when=N` kills the command for N up to that figure and lets it end beyond."""
    with tempfile.NamedTemporaryFile(prefix="strace-", suffix=".txt") as trace:
        cmd = ["strace", "-f", "-qq", "-o", trace.name, "-e", f"trace={','.join(syscalls)}",
               sys.executable, "-m", "dockyard", *args]
        subprocess.run(cmd, input=stdin, capture_output=True, env=dockyard.env, cwd=REPO, timeout=timeout)
        calls = Counter(m.groups() for m in map(re.compile(r"(\d+) +(\w+)\(").match,
                                                   Path(trace.name).read_text().splitlines()) if m)
    most: dict[str, int] = {}
    for (_, name), n in calls.items():
        most[name] = max(most.get(name, 0), n)
    return most


FULL = os.environ.get("DOCKYARD_CRASH_SWEEP") == "full"
# Crash points run at once in the suite's sampled sweep: each on its own store copy.
WORKERS = min(2, os.cpu_count() or 1)


def sweep(fresh: Callable[[int], Dockyard], args: list[str], syscalls: dict[str, int | tuple[int, int]],
          check: Callable[[Dockyard, bool], None], stdin: bytes | None = None,
          limit: int = 200) -> Tally:
    """For each syscall, kill `dockyard ARGS` at its 1st, 1+stride-th, ... call on a fresh
    store (the store `fresh(i)` returns) until it completes; `check(store, killed)` after each
    run. `syscalls` maps each syscall to its stride (1: every call); a stride of 0 leaves the
    syscall out of the suite's run; (stride, last) stops at the call `last` (the calls after it
    are another program's: runc's, which strace -f would kill too). With
    DOCKYARD_CRASH_SWEEP=full (scripts/crash_sweep.sh) every call of every syscall is a crash
    point, and each syscall's sweep goes on until a run completes.

    The suite's run (sampled) first runs the command once to its end, counting the calls
    (most_calls; that run is the one completed run `check` sees), and kills only at the sampled
    calls below the count: the same points as trying 1, 1+stride, ... until a run completes,
    without one completed run per syscall. A count that changed from run to run ends that
    syscall's sweep at the first run that completes, as the full sweep does. The points are
    known before the first kill and each has a store of its own, so they run WORKERS at a time
    (the full sweep, which learns its points as it goes, runs them one after another)."""
    tally = Tally()
    if FULL:
        return _full_sweep(fresh, args, syscalls, check, stdin, limit, tally)
    dockyard = fresh(0)
    counted = most_calls(dockyard, args, [s for s, spec in syscalls.items() if spec != 0], stdin)
    tally.completed += 1
    points: list[tuple[str, int]] = []
    for syscall, spec in syscalls.items():
        stride, last = spec if isinstance(spec, tuple) else (spec, limit)
        if stride == 0:
            continue
        if counted.get(syscall, 0) > limit:
            raise AssertionError(f"{args[0]} makes {counted[syscall]} calls of {syscall} (over {limit})")
        points += [(syscall, n) for n in range(1, min(last, counted.get(syscall, 0)) + 1, stride)]

    def killed_at(i: int) -> bool:
        syscall, n = points[i]
        dockyard = fresh(i + 1)
        killed = run_killed_at(dockyard, args, syscall, n, stdin)
        check(dockyard, killed)
        return killed

    # Each point runs on a fresh store of its own, so points run side by side (one per core):
    # the same points, the same checks, in about half the time on two cores. The completed
    # run's check (its store is its own too) is one of them, not a wait before them.
    with ThreadPoolExecutor(max(1, min(WORKERS, len(points) + 1))) as pool:
        completed = pool.submit(check, dockyard, False)
        outcomes = list(pool.map(killed_at, range(len(points))))
        completed.result()
    done: set[str] = set()
    for (syscall, _), killed in zip(points, outcomes):
        if syscall in done:        # a count that changed between runs: past the first completed run
            continue
        if killed:
            tally.crash_points += 1
            tally.by_syscall[syscall] = tally.by_syscall.get(syscall, 0) + 1
        else:
            tally.completed += 1
            done.add(syscall)
    return tally


def _full_sweep(fresh: Callable[[int], Dockyard], args: list[str], syscalls: dict[str, int | tuple[int, int]],
                check: Callable[[Dockyard, bool], None], stdin: bytes | None, limit: int, tally: Tally) -> Tally:
    """DOCKYARD_CRASH_SWEEP=full: every call of each syscall, one after another, until a run
    completes."""
    i = 0
    for syscall, spec in syscalls.items():
        last = spec[1] if isinstance(spec, tuple) else limit
        for n in range(1, limit + 1):
            if n > last:
                break
            dockyard = fresh(i)
            i += 1
            killed = run_killed_at(dockyard, args, syscall, n, stdin)
            check(dockyard, killed)
            if not killed:
                tally.completed += 1
                break
            tally.crash_points += 1
            tally.by_syscall[syscall] = tally.by_syscall.get(syscall, 0) + 1
        else:
            raise AssertionError(f"{args[0]} still killed at its call {limit} of {syscall}")
    return tally


def copy_store(template: Path, dest: Path) -> Dockyard:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(template, dest, symlinks=True)
    return Dockyard(dest)
