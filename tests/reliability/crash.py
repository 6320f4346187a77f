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
    syscall's sweep at the first run that completes, as the full sweep does."""
    tally = Tally()
    i = 0
    counted: dict[str, int] = {}
    if not FULL:
        dockyard = fresh(i)
        i += 1
        counted = most_calls(dockyard, args, [s for s, spec in syscalls.items() if spec != 0], stdin)
        check(dockyard, False)
        tally.completed += 1
    for syscall, spec in syscalls.items():
        stride, last = spec if isinstance(spec, tuple) else (spec, limit)
        if FULL:
            stride = 1
        elif stride == 0:
            continue
        else:
            if counted.get(syscall, 0) > limit:
                raise AssertionError(f"{args[0]} makes {counted[syscall]} calls of {syscall} (over {limit})")
            last = min(last, counted.get(syscall, 0))
        for n in range(1, limit + 1, stride):
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
