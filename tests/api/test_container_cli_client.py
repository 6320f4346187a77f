"""`dockyard run/exec/ps/logs/...` as clients of `dockyard serve` (`DOCKYARD_HOST`): each command
prints what it prints in process on the same store, exit codes and one-line errors included; the
attached ones (`run`, `exec`) carry stdin, stdout, stderr and a TTY over the hijacked connection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import REPO, at_once


def _tty(env: dict[str, str], args: list[str], typed: bytes) -> subprocess.CompletedProcess:
    """`dockyard ARGS` on a pseudo-terminal (script(1)) of 33 rows and 101 columns, `typed` on
    it. script's input stays open until the command ends: at its end script types the terminal's
    EOF character, which the client (raw mode) passed on as a byte the container's terminal
    echoed in the middle of the output ('33 101\r\n^@/dev/pts/0', seen under -n 2)."""
    command = " ".join([sys.executable, "-m", "dockyard", *args])
    keys, keyboard = os.pipe()
    try:
        os.write(keyboard, typed)
        return subprocess.run(["script", "-qec", f"stty rows 33 cols 101; {command}", "/dev/null"],
                              stdin=keys, env=env, capture_output=True, timeout=60, cwd=REPO)
    finally:
        os.close(keys)
        os.close(keyboard)


def _moment_free(text: str) -> str:
    """`Up 2 seconds`, `3 seconds ago` as `Up T`, `T ago` (and the table's padding, whose width
    follows them, as two spaces): the two runs are a moment apart."""
    return re.sub(r" {2,}", "  ", _moments(text))


def _moments(text: str) -> str:
    return re.sub(r"(Less than a second|About a minute|an? \w+|\d+ \w+?s?)(?= ago|   )", "T",
                  re.sub(r"Up (Less than a second|About a minute|\d+ \w+)", "Up T", text))


def test_container_commands_as_a_client(server, dockyard, busybox) -> None:  # noqa: ANN001
    try:
        client = {"DOCKYARD_HOST": server.url}
        # (web lives until its stop below: with `sleep 60` it had ended before the first ps
        # at load 20)

        def both(*args: str):  # noqa: ANN202
            # (the two at once: each command given here only reads, or fails)
            with ThreadPoolExecutor(2) as pool:
                local = pool.submit(dockyard.run, *args, check=False)
                remote = pool.submit(dockyard.run, *args, env=client, check=False)
                return local.result(), remote.result()

        cid = dockyard.run("run", "-d", "--name", "web", "-l", "role=web", "-p", "127.0.0.1::80",
                           "busybox", "sh", "-c", "echo out; echo err >&2; sleep 600",
                           env=client).stdout.strip()
        assert len(cid) == 64
        dockyard("create", "--name", "idle", "busybox", "true")
        for args in (["ps"], ["ps", "-a"], ["ps", "-aq", "--no-trunc"], ["ps", "-q", "--filter", "label=role=web"],
                     ["ps", "-a", "--filter", "status=created"], ["inspect", "web", "busybox"],
                     ["inspect", "-f", "{{.Name}} {{.Config.Labels.role}} {{.State.Status}}", "web"],
                     ["logs", "web"], ["ps", "--filter", "colour=red"], ["inspect", "nothing-here"],
                     ["stop", "nothing-here"]):
            local, remote = both(*args)
            assert (local.returncode, _moment_free(local.stdout), local.stderr) == \
                (remote.returncode, _moment_free(remote.stdout), remote.stderr), args
        ps = dockyard.run("ps", env=client).stdout
        assert "127.0.0.1:" in ps and "->80/tcp" in ps and " web\n" in ps
        logs = dockyard.run("logs", "web", env=client)
        assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
        bad = dockyard.run("ps", "--filter", "colour=red", env=client, check=False)
        assert (bad.returncode, bad.stderr) == (1, "Error: Invalid filter 'colour'\n")

        # exec: codes, stdin, stderr, env; a TTY with the client's size
        def exec_in_web() -> None:
            ran = dockyard.run("exec", "-i", "-e", "X=1", "web", "sh", "-c", "echo $X; wc -c; echo e >&2; exit 7",
                               input=b"abcd", env=client, check=False)
            assert (ran.returncode, ran.stdout, ran.stderr) == (7, "1\n4\n", "e\n")
            tty = _tty({**dockyard.env, **client}, ["exec", "-it", "web", "sh", "-c", "'stty size; tty; exit 3'"], b"")
            assert tty.returncode == 3 and re.search(rb"33 101\r+\n/dev/pts/", tty.stdout), tty

        # run attached: output, stdin, exit code, --rm
        def run_attached() -> None:
            ran = dockyard.run("run", "--rm", "-i", "busybox", "sh", "-c", "wc -c; echo e >&2; exit 5",
                               input=b"hello", env=client, check=False)
            assert (ran.returncode, ran.stdout.strip(), ran.stderr) == (5, "5", "e\n")
            tty = _tty({**dockyard.env, **client}, ["run", "--rm", "-it", "busybox", "sh"], b"echo hi-$((1+2))\nexit 4\n")
            assert tty.returncode == 4 and b"hi-3\r\n" in tty.stdout, (tty.returncode, tty.stdout)
            missing = dockyard.run("run", "--pull", "never", "no-such-image", env=client, check=False)
            assert missing.returncode == 125 and missing.stderr.startswith("Error: ")

        # start -a/-i as a client: the container's output from this start, its status as ours
        def start_attached() -> None:
            # (it was refused while serve's attach replayed the container's earlier output)
            for flag in ("-a", "-i"):
                started = dockyard.run("start", flag, "idle", env=client, check=False)
                assert (started.returncode, started.stdout, started.stderr) == (0, "", ""), started
            assert dockyard("inspect", "-f", "{{.State.Status}}", "idle").stdout == "exited\n"

        # the three at once: they share no container (exec into web, containers of their own,
        # the idle one) and their time is mostly waits on attached streams and terminals
        at_once(exec_in_web, run_attached, start_attached)

        # the life cycle, each step printing what it prints in process
        for args, out in ((["pause", "web"], "web\n"), (["unpause", "web"], "web\n"),
                          (["kill", "-s", "TERM", "idle"], None), (["stop", "-t", "1", "web"], "web\n"),
                          (["wait", "web"], "137\n"), (["start", "web"], "web\n"), (["rm", "-f", "web"], "web\n"),
                          (["rm", "idle"], "idle\n")):
            result = dockyard.run(*args, env=client, check=False)
            if out is None:   # not running: the daemon's error, as in process
                assert result.returncode == 1 and "is not running" in result.stderr
            else:
                assert (result.returncode, result.stdout) == (0, out), args
        assert dockyard("ps", "-aq").stdout == ""
        info = json.loads(dockyard.run("inspect", "busybox", env=client).stdout)
        assert info[0]["Id"] == busybox
    finally:   # a failed step leaves no container running (nor its network's rules)
        for left in dockyard("ps", "-aq", "--no-trunc").stdout.split():
            dockyard("rm", "-f", left, check=False)
