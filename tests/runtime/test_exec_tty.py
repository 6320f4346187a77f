"""dockyard's own `exec -t` in process: the exec's terminal is its pty, whose master the runtime
hands over (runtime/console), copied to the command's stdout, a pipe or a terminal. It ran
`runc exec -t` in its foreground mode, which needs a terminal on this side: `exec -t` with its
output piped failed (`open /dev/tty: no such device or address`), as the docker CLI does not."""

from __future__ import annotations

import os
import subprocess
import time

from tests.interop.test_interactive import _typed_after_prompt


def test_exec_tty_to_a_pipe(dockyard, busybox) -> None:  # noqa: ANN001
    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    try:
        r = dockyard("exec", "-t", cid, "sh", "-c", "echo a; echo b")
        assert r.stdout == "a\r\nb\r\n"
        # the one line discipline is the container's (stdin is not the terminal without -i)
        r = dockyard("exec", "-t", cid, "sh", "-c", r'stty -onlcr <&2; printf "x\ny\n"')
        assert r.stdout == "x\ny\n"
        assert dockyard("exec", "-t", cid, "sh", "-c", "exit 7", check=False).returncode == 7
        r = dockyard("exec", "-t", cid, "nope", check=False)
        # (the docker CLI prints it on stdout: dockerd writes it into the exec's stream)
        assert r.returncode == 126 and r.stdout.startswith('OCI runtime exec failed: exec failed') and not r.stderr
    finally:
        dockyard("rm", "-f", cid)


def test_exec_left_with_the_detach_keys_runs_on(dockyard, busybox) -> None:  # noqa: ANN001
    """The exec's terminal is held by a process of its own once the CLI leaves: else its exit
    hangs the terminal up and the shell on it ends."""
    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    try:
        code, out = _typed_after_prompt(dockyard.argv("exec", "-it", cid, "sh"), dockyard.env,
                                        b"sleep 4321\n\x10\x11")
        assert code == 1 and b"read escape sequence" in out, out
        deadline = time.monotonic() + 30
        while "sleep 4321" not in (ps := dockyard("exec", cid, "ps").stdout):
            assert time.monotonic() < deadline, ps
            time.sleep(0.2)
        assert " sh\n" in ps
    finally:
        dockyard("rm", "-f", cid)


def test_the_holder_of_a_left_terminal_is_in_its_own_session_when_leave_returns() -> None:
    """CI failed test_exec_left_with_the_detach_keys_runs_on once: the exec's shell had ended
    (its `sleep 4321` a zombie). The holder forked at the detach called setsid() only when it
    was first scheduled; a CLI that leads a session (the test's pty, a terminal's window) and
    exited before that had the kernel send SIGHUP to its process group, the holder included:
    the master closed and the container's shell was hung up. leave() returns only once the
    holder has a session of its own."""
    from dockyard.runtime.console import Console

    master, slave = os.openpty()
    os.set_blocking(master, False)
    sleeper = subprocess.Popen(["sleep", "30"])
    before = set(_children())
    try:
        console = Console()
        console.hold(master, sleeper.pid)
        console.leave()
        holders = [p for p in _children() if p not in before and p != sleeper.pid]
        assert len(holders) == 1
        assert _session(holders[0]) != os.getsid(0)
    finally:
        sleeper.kill()
        sleeper.wait()
        os.close(master)
        os.close(slave)
        for pid in set(_children()) - before:   # the holder ends with the process it held for
            os.waitpid(pid, 0)


def _children() -> list[int]:
    out = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            out += [int(p) for p in f.read().split()]
    return out


def _session(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[3])   # state ppid pgrp session
