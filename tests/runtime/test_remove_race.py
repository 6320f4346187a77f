"""Signals to a container whose process ends at that moment. `rm -f`: a process gone is not an
error (Docker's rm -f removes it); `kill`: it is Docker's "is not running" (409), not the
runtime's failure.

`rm -f`: The race, made to happen for real: a process that started the
container's monitor and reaps it when it ends (as `dockyard serve` does, by a thread) runs
`remove(force=True)` under strace, which delays every read of the monitor's /proc/PID/stat by
0.3 s (as a loaded machine may). The monitor ends and is reaped inside that delay, between the
open and the read of the file: the read answers ESRCH (ProcessLookupError), which serve once
answered `docker rm -f` with as an internal error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.runtime import containers, state
from dockyard.store.store import Store

REPO = Path(__file__).resolve().parents[2]

# the remover: starts the container detached (its monitor is this process's child, reaped by a
# thread, as in serve), prints the monitor's pid, waits for a line, then force-removes it
REMOVER = r"""
import sys
from pathlib import Path
from dockyard.runtime import containers, lifecycle
from dockyard.store.store import Store
store = Store(Path(sys.argv[1]))
record = containers.create(store, containers.CreateOptions(image="busybox", cmd=["sleep", "1000"]))
lifecycle.start(store, record.id)
print(record.id, containers.lookup(store, record.id).read_state().monitor_pid, flush=True)
sys.stdin.readline()
try:
    lifecycle.remove(store, record.id, force=True)
except BaseException as exc:
    print("failed:", repr(exc), flush=True)
else:
    print("removed", flush=True)
"""


def _traced(pid: int) -> bool:
    """Every thread of `pid` has a tracer."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/status") as f:
            if not any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f):
                return False
    return True


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_rm_f_of_a_container_whose_monitor_is_reaped_meanwhile(store_root: Path, busybox: str) -> None:
    remover = subprocess.Popen([sys.executable, "-c", REMOVER, str(store_root)], cwd=REPO,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    tracer = None
    try:
        cid, monitor = remover.stdout.readline().split()
        tracer = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(remover.pid),
             "-P", f"/proc/{monitor}/stat", "-e", "trace=read",
             "-e", "inject=read:delay_enter=300000"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _traced(remover.pid):
            assert time.monotonic() < deadline and tracer.poll() is None, "strace did not attach"
            time.sleep(0.01)
        remover.stdin.write("go\n")
        remover.stdin.flush()
        assert remover.stdout.readline().strip() == "removed"
        assert remover.wait(60) == 0
        assert tracer.wait(30) == 0      # it followed the remover to its end
    finally:
        for proc in (tracer, remover):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not state.pid_alive(int(monitor))
    assert not (store_root / "containers" / cid).exists()
    assert containers.all_containers(Store(store_root)) == []


def _held_runtime(dockyard, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    """`dockyard ARGS` with every exec of the OCI runtime held 3 s by strace (the container's
    `sleep 0.3` ends well within it, even on a loaded machine)."""
    runtimes = [p for p in (shutil.which("runc"), shutil.which("crun")) if p]
    paths = [a for p in runtimes for a in ("-P", os.path.realpath(p))]
    return subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", *paths, "-e", "trace=execve",
         "-e", "inject=execve:delay_enter=3000000", *dockyard.argv(*args)],
        cwd=REPO, env=dockyard.env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_pause_of_a_container_that_ends_meanwhile_is_not_running(dockyard, busybox: str) -> None:
    """As below for `pause` (it checks under the container's lock, then runs the runtime's
    pause): Docker's `Container ID is not running`, exit status 1, not the runtime's error."""
    cid = dockyard("run", "-d", "busybox", "sleep", "0.3").stdout.strip()
    paused = _held_runtime(dockyard, "pause", cid)
    assert paused.returncode == 1, paused.stderr
    assert paused.stderr.strip() == f"Error: Container {cid} is not running"
    assert dockyard("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", cid).stdout.strip() == "exited false"


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_kill_of_a_container_that_ends_meanwhile_is_not_running(dockyard, busybox: str) -> None:
    """`kill` checks that the container runs, then runs the runtime's kill; strace holds the
    runtime's exec for 3 s, the container's `sleep 0.3` ends and its monitor records the exit
    and deletes the runtime's state: the runtime answers "container does not exist", which
    `kill` printed. Docker (dockerd 20.10, checked by hand): `Error response from daemon:
    Cannot kill container: NAME: Container ID is not running`, exit status 1."""
    cid = dockyard("run", "-d", "busybox", "sleep", "0.3").stdout.strip()
    killed = _held_runtime(dockyard, "kill", cid)
    assert killed.returncode == 1, killed.stderr
    assert killed.stderr.strip() == f"Error: Cannot kill container: {cid}: Container {cid} is not running"
    assert dockyard("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited"
