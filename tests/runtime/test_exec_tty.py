"""dockyard's own `exec -t` in process: the exec's terminal is its pty, whose master the runtime
hands over (runtime/console), copied to the command's stdout, a pipe or a terminal. It ran
`runc exec -t` in its foreground mode, which needs a terminal on this side: `exec -t` with its
output piped failed (`open /dev/tty: no such device or address`), as the docker CLI does not."""

from __future__ import annotations

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
