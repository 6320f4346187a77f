"""`docker logs -f` with `--tail` and `--until`, through Debian's docker CLI 20.10 against dockyard
serve and the reference dockerd (dockyard refused both combinations until now):

- `-f --tail N` prints the last N lines there are, at once, then each new line until the
  container exits; `-f --tail 0` only the new ones;
- `-f --until T` ends at the first line written after T, while the container still runs
  (dockerd 20.10 has no timer: it ends there or at the container's exit);
- a negative or unreadable `--tail` means every line (dockerd reads it with strconv.Atoi and
  takes a failure for -1, "all");
- `--details` puts each line after its attributes and a space (dockyard ignored it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tests.interop.conftest import DOCKER, Engine

SCRIPT = ("for i in 1 2 3 4 5; do echo line-$i; done; "
          "while [ ! -e /t/go ]; do sleep 0.05; done; echo late-1; "
          "while [ ! -e /t/end ]; do sleep 0.05; done; echo late-2")


def _follow(engine: Engine, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([DOCKER, "logs", "-f", *flags, "lf"], env=engine.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _readers(log_path: str) -> int:
    """How many descriptors of any process have the container's log open (its writer's, and a
    follower's in the engine while one follows)."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                count += os.readlink(f"/proc/{pid}/fd/{fd}") == log_path
            except OSError:
                continue
    return count


def test_follow_with_tail_and_until(engine: Engine) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="logs-tail-", dir="/tmp"))
    followers: list[subprocess.Popen] = []
    try:
        engine.docker("run", "-d", "--network", "none", "--name", "lf", "-v", f"{tmp}:/t",
                      "busybox", "sh", "-c", SCRIPT)
        while engine.docker("logs", "lf").stdout.count(b"\n") < 5:
            time.sleep(0.05)
        # --tail 0 prints nothing until a new line comes: it follows once the engine has the
        # log open for it (started beside tail2 it missed late-1 once on dockerd's side, in a
        # CI run at load 7; started first, the checks below gave it their time, ~1 s)
        log_path = json.loads(engine.docker("inspect", "lf").stdout)[0]["LogPath"]
        open_before = _readers(log_path)
        tail0 = _follow(engine, "--tail", "0")
        followers.append(tail0)
        deadline = time.monotonic() + 60
        while _readers(log_path) <= open_before:
            assert time.monotonic() < deadline and tail0.poll() is None, "the --tail 0 follower never opened the log"
            time.sleep(0.05)
        assert engine.docker("logs", "--tail", "-1", "lf").stdout.decode().split() == [
            f"line-{i}" for i in range(1, 6)]
        for unreadable in ["abc", "0_2", " 2", "\u0663"]:  # strconv.Atoi's, not int()'s: '0_2' was 2 lines
            assert engine.docker("logs", "--tail", unreadable, "lf").stdout.decode().split() == [
                f"line-{i}" for i in range(1, 6)], unreadable
        # --details: each line after its attributes (none here) and a space; the time first
        assert engine.docker("logs", "--details", "--tail", "1", "lf").stdout == b" line-5\n"
        stamped = engine.docker("logs", "-t", "--details", "--tail", "1", "lf").stdout.decode()
        assert stamped.endswith("Z  line-5\n"), stamped
        tail2 = _follow(engine, "--tail", "2")
        until = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        before = _follow(engine, "--until", until)
        followers += [tail2, before]
        assert tail2.stdout is not None and before.stdout is not None
        # the tail comes at once, before any new line is written
        assert [tail2.stdout.readline() for _ in range(2)] == [b"line-4\n", b"line-5\n"]
        assert [before.stdout.readline() for _ in range(5)] == [f"line-{i}\n".encode() for i in range(1, 6)]
        (tmp / "go").touch()
        assert tail2.stdout.readline() == b"late-1\n"
        # late-1 was written after `until`: that follower ends, the container still runs
        out, err = before.communicate(timeout=30)
        assert (before.returncode, out) == (0, b""), err
        assert engine.docker("inspect", "-f", "{{.State.Running}}", "lf").stdout == b"true\n"
        (tmp / "end").touch()
        out, err = tail2.communicate(timeout=30)
        assert (tail2.returncode, out) == (0, b"late-2\n"), err
        out, err = tail0.communicate(timeout=30)
        assert (tail0.returncode, out) == (0, b"late-1\nlate-2\n"), err
    finally:
        for proc in followers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.docker("rm", "-f", "lf", check=False)
        shutil.rmtree(tmp, ignore_errors=True)
