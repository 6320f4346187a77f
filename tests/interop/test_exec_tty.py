"""A TTY exec's terminal is the container's own pty, read by the engine (dockerd: containerd's
shim takes its master from runc's console socket): what the process sets on it is what the
client gets. dockyard ran `runc exec -t` in its foreground mode, which copies the pty to a
terminal of its own with a second line discipline: `stty -onlcr` in the exec changed nothing
(its newlines still came as \\r\\n), and lines written before runc switched the two came as
\\r\\r\\n now and then. Debian's docker CLI 20.10 through a pipe (no terminal on the client's
side), both engines."""

from __future__ import annotations

from tests.interop.conftest import Engine


def test_exec_tty_output_is_its_ptys(engine: Engine) -> None:
    try:
        engine.docker("run", "-d", "--name", "exec-tty", "busybox", "sleep", "100")
        lines = engine.docker("exec", "-t", "exec-tty", "sh", "-c", "echo a; echo b")
        assert lines.stdout == b"a\r\nb\r\n"
        # (stdin is not the terminal without -i: stderr is)
        raw = engine.docker("exec", "-t", "exec-tty", "sh", "-c", r'stty -onlcr <&2; printf "x\ny\n"')
        assert raw.stdout == b"x\ny\n"
        code = engine.docker("exec", "-t", "exec-tty", "sh", "-c", "exit 7", check=False)
        assert (code.returncode, code.stdout) == (7, b"")
        missing = engine.docker("exec", "-t", "exec-tty", "nosuchcmd", check=False)
        assert missing.returncode == 126
        assert b'exec: "nosuchcmd": executable file not found in $PATH' in missing.stdout
    finally:
        engine.docker("rm", "-f", "exec-tty", check=False)
