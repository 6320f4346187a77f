"""Hijacked streams through Debian's docker CLI 20.10: `run -i` / `-it` (stdin reaches the
container, the exit code comes after the stream), `exec` (-i, -t, -d, exit codes), against
dockyard serve and dockerd."""

from __future__ import annotations

import subprocess

from tests.interop.conftest import DOCKER, Engine


def _script(engine: Engine, command: str, stdin: bytes) -> subprocess.CompletedProcess:
    """`command` on a pseudo-terminal (script(1)), as a user types it; -e: its exit code."""
    return subprocess.run(["script", "-qec", command, "/dev/null"], input=stdin, env=engine.env,
                          capture_output=True, timeout=60)


def test_run_with_stdin(engine: Engine) -> None:
    wc = engine.docker("run", "-i", "--rm", "busybox", "wc", "-c", input=b"abc\n")
    assert wc.stdout.strip() == b"4"
    code = engine.docker("run", "-i", "--rm", "busybox", "sh", input=b"echo out; echo err >&2; exit 3\n",
                         check=False)
    assert (code.returncode, code.stdout, code.stderr) == (3, b"out\n", b"err\n")
    tty = _script(engine, f"{DOCKER} run -it --rm busybox sh", b"echo hello-from-tty\nexit 5\n")
    assert tty.returncode == 5 and b"hello-from-tty\r\n" in tty.stdout


def test_exec(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        assert engine.docker("exec", cid, "echo", "hi").stdout == b"hi\n"
        assert engine.docker("exec", "-i", cid, "wc", "-c", input=b"abcdef").stdout.strip() == b"6"
        failed = engine.docker("exec", cid, "sh", "-c", "echo e >&2; exit 7", check=False)
        assert (failed.returncode, failed.stderr) == (7, b"e\n")
        missing = engine.docker("exec", cid, "no-such-command", check=False)
        assert missing.returncode == 126 and b"executable file not found" in missing.stdout + missing.stderr
        engine.docker("exec", "-d", cid, "sh", "-c", "echo bg > /tmp/bg")
        out = b""
        for _ in range(50):
            out = engine.docker("exec", cid, "cat", "/tmp/bg", check=False).stdout
            if out:
                break
        assert out == b"bg\n"
        tty = _script(engine, f"{DOCKER} exec -it {cid} sh", b"tty\nexit 4\n")
        assert tty.returncode == 4 and b"/dev/pts/" in tty.stdout
    finally:
        engine.docker("rm", "-f", cid)


def test_exec_tty_has_the_clients_size(engine: Engine) -> None:
    """`exec -it` gives the command the client's terminal size, from either CLI (20.10 resizes
    after the start, 28.x sends it with the start). Before, the 20.10 CLI's resize came before
    the process and was lost: `stty size` said `stty: standard input: No child processes`. A
    command that reads it at once gets it from dockyard (dockerd's is 0x0 for a moment)."""
    cid = engine.docker("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        for docker in (DOCKER, "/usr/local/bin/docker"):
            commands = ["sleep 0.5; stty size"] + (["stty size"] if engine.name == "dockyard" else [])
            for command in commands:
                seen = _script(engine, f"stty rows 33 cols 101; {docker} exec -it {cid} sh -c '{command}'",
                               b"")
                assert seen.stdout.replace(b"^@", b"").strip() == b"33 101", (docker, command, seen)
    finally:
        engine.docker("rm", "-f", cid)


def test_stdin_a_command_does_not_read(engine: Engine) -> None:
    """Input the command never reads: the client still gets the command's exit code and no
    `read: connection reset by peer` (dockyard closed the connection with the input unread)."""
    cid = engine.docker("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        for args in (["run", "-i", "--rm", "busybox"], ["exec", "-i", cid]):
            ran = engine.docker(*args, "sh", "-c", "echo out; exit 3", input=b"unread\n" * 1000,
                                check=False)
            assert (ran.returncode, ran.stdout, ran.stderr) == (3, b"out\n", b""), args
        for args in (["run", "-it", "--rm", "busybox"], ["exec", "-it", cid]):
            tty = _script(engine, f"{DOCKER} {' '.join(args)} sh -c 'exit 3'", b"typed ahead\n")
            assert tty.returncode == 3 and b"reset" not in tty.stdout, (args, tty)
    finally:
        engine.docker("rm", "-f", cid)
