"""Hijacked streams through Debian's docker CLI 20.10: `run -i` / `-it` (stdin reaches the
container, the exit code comes after the stream), `exec` (-i, -t, -d, exit codes), against
dockyard serve and dockerd."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

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


def _typed_after_prompt(argv: list[str], env: dict[str, str], keys: bytes, *, first: bytes = b"",
                        ready: bytes = b"built-in commands") -> tuple[int, bytes]:
    """`argv` on a pseudo-terminal of its own: once the container's shell greets (`ready`: ash's
    banner; the CLI has put the terminal in raw mode by then), `keys` are typed; (exit status,
    what it printed). `first`: typed at once (a line the shell answers with `ready`, for a
    shell that greets no more: `docker attach`)."""
    pid, fd = pty.fork()
    if pid == 0:   # the child: the CLI
        os.execvpe(argv[0], argv, env)
    if first:
        os.write(fd, first)
    out, typed, deadline = b"", False, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:    # what it printed last may still be unread
                while select.select([fd], [], [], 0)[0]:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    out += data
                return os.waitstatus_to_exitcode(status), out
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    continue
            if not typed and ready in out:    # the CLI reads the terminal, raw, from now on
                os.write(fd, keys)
                typed = True
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"{argv} did not end: {out!r}")
    finally:
        os.close(fd)


def test_the_shell_prompt_shows_before_a_key_is_typed(engine: Engine) -> None:
    """`run -it busybox sh`: ash's prompt (`/ # `, a line without its end) is on the terminal
    before anything is typed, as dockerd shows it. dockyard's attach reads the json-file log,
    which kept a partial line until its newline: the user saw the banner and no prompt."""
    clis = [(DOCKER, "run", "-it", "--rm", "--network", "none", "busybox", "sh")]
    if engine.name == "dockyard":
        clis.append(tuple(engine.own_cli.argv("run", "-it", "--rm", "--network", "none", "busybox", "sh")))
    for argv in clis:
        env = engine.env if argv[0] == DOCKER else engine.own_cli.env
        code, out = _typed_after_prompt(list(argv), env, b"exit 4\r", ready=b"/ # ")
        assert code == 4 and b"/ # " in out, (argv, code, out)


def test_detach_keys(engine: Engine) -> None:
    """ctrl-p ctrl-q on a terminal leaves a `run -it` (status 0, nothing printed) or an `exec -it`
    (`read escape sequence`, status 1) with the container running on, as the docker CLI does;
    dockyard's own CLI sent the keys on to the container (ctrl-p is the shell's history). Its
    `run -it` in process runs the container under its own monitor for it."""
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    def running(name: str) -> bool:
        return engine.docker("inspect", "-f", "{{.State.Running}}", name).stdout == b"true\n"
    clis = [("cli", [DOCKER, "run", "-it", "--name", "dt-cli", "busybox", "sh"], engine.env)]
    if engine.name == "dockyard":
        clis.append(("own", dockyard.argv("run", "-it", "--name", "dt-own", "busybox", "sh"), dockyard.env))
    try:
        for name, argv, env in clis:
            code, out = _typed_after_prompt(argv, env, b"echo hi\r\x10\x11")
            assert code == 0 and b"read escape sequence" not in out, (name, code, out)
            assert running(f"dt-{name}"), name
        code, out = _typed_after_prompt([DOCKER, "exec", "-it", "dt-cli", "sh"], engine.env, b"\x10\x11")
        assert code == 1 and b"read escape sequence" in out, (code, out)
        assert running("dt-cli")
    finally:
        engine.docker("rm", "-f", "dt-cli", "dt-own", check=False)


def test_start_attached_shows_its_new_run(engine: Engine) -> None:
    """`docker start -a` of a stopped container prints what this run writes, and only that:
    through dockyard serve it printed the previous run's output and left before the new one's.
    dockyard's own CLI as a client does it too (it refused start -a/-i through a daemon)."""
    dockyard = engine.own_cli if engine.name == "dockyard" else None
    name = "sa-again"
    try:
        first = engine.docker("run", "--name", name, "busybox", "cat", "/proc/sys/kernel/random/uuid").stdout
        again = engine.docker("start", "-a", name).stdout
        assert len(again) == len(first) == 37 and again != first, (first, again)
        runs = first + again
        if engine.name == "dockyard":
            own = subprocess.run(dockyard.argv("-H", engine.host, "start", "-a", name), env=dockyard.env,
                                 capture_output=True, timeout=60)
            assert own.returncode == 0 and len(own.stdout) == 37 and own.stdout not in runs, own
            runs += own.stdout
        assert engine.docker("logs", name).stdout == runs
    finally:
        engine.docker("rm", "-f", name, check=False)
