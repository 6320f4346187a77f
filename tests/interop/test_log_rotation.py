"""json-file's `--log-opt max-size=... max-file=...` (compose's `logging:` options) through Debian's
docker CLI 20.10, against dockyard serve and the reference dockerd: the files on disk, `docker
logs` (and --tail) reading the rotated files oldest first, a `logs -f` that keeps every line
across rotations, LogConfig in inspect, and bad values refused with dockerd's message."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from tests.interop.conftest import DOCKER, Engine
from tests.interop.test_compose import compose

LINES = "for i in $(seq 10 99); do echo line-$i; done"


def _inspect(engine: Engine, name: str) -> dict:
    return json.loads(engine.docker("inspect", name).stdout)[0]


def _log_files(log_path: str) -> dict[str, int]:
    folder = Path(log_path).parent
    return {p.name[len(Path(log_path).name):] or "log": p.stat().st_size
            for p in folder.iterdir() if p.name.startswith(Path(log_path).name)}


@pytest.mark.parametrize("max_file", ["1", "3"])
def test_rotated_files_and_logs(engine: Engine, max_file: str) -> None:
    name = f"rot-{max_file}"
    try:
        engine.docker("run", "-d", "--network", "none", "--name", name, "--log-opt", "max-size=1k",
                      "--log-opt", f"max-file={max_file}", "busybox", "sh", "-c", LINES)
        engine.docker("wait", name)
        info = _inspect(engine, name)
        assert info["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": "1k", "max-file": max_file}}
        files = _log_files(info["LogPath"])
        # max-file 1 still leaves the previous log as .1 on disk (dockerd does), but reads one
        assert sorted(files) == sorted(["log", ".1"] if max_file == "1" else ["log", ".1", ".2"])
        # 1k is 1000 bytes (go-units' decimal FromHumanSize); a file passes it by one entry at most
        assert all(size < 1000 + 100 for size in files.values()), files
        lines = engine.docker("logs", name).stdout.decode().split()
        # the last lines, in order, from the oldest file read first to the current one
        assert lines == [f"line-{i}" for i in range(100 - len(lines), 100)]
        assert 11 * int(max_file) <= len(lines) <= 14 * int(max_file), lines
        assert engine.docker("logs", "--tail", "5", name).stdout.decode().split() == [
            f"line-{i}" for i in range(95, 100)]
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_follow_across_rotations(engine: Engine) -> None:
    """`logs -f` started before the output: every line once, in order, across ~40 rotations (dockerd
    20.10's follower repeats some: there every line at least once). The writer waits, after
    each tenth line, until the follower has printed it (a mark the test leaves in /t), so the
    follower stays within max-file files of it: one further behind loses the files removed
    meanwhile, as dockerd's does (a pause of 20 ms every 10 lines was not enough at load 14:
    both engines' followers lost lines)."""
    tmp = Path(tempfile.mkdtemp(prefix="logs-follow-", dir="/tmp"))
    name = "rot-follow"
    script = ("echo ready; while [ ! -e /t/go ]; do sleep 0.05; done; "
              "for i in $(seq 1000 1499); do echo line-$i; "
              "n=0; while [ $((i % 10)) = 9 ] && [ ! -e /t/seen-$i ] && [ $n -lt 3000 ]; do "
              "sleep 0.01; n=$((n+1)); done; done; true")
    follower = None
    try:
        engine.docker("run", "-d", "--network", "none", "--name", name, "-v", f"{tmp}:/t",
                      "--log-opt", "max-size=1k", "--log-opt", "max-file=5", "busybox", "sh", "-c", script)
        follower = subprocess.Popen([DOCKER, "logs", "-f", name], env=engine.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"ready\n"    # it reads: now the output begins
        (tmp / "go").touch()
        watchdog = threading.Timer(120, follower.kill)
        watchdog.start()
        lines = []
        for raw in follower.stdout:
            lines.append(raw.decode().strip())
            if lines[-1].startswith("line-") and lines[-1].endswith("9"):
                (tmp / f"seen-{lines[-1][5:]}").touch()
        watchdog.cancel()
        assert follower.wait() == 0, follower.stderr.read()
        if engine.name == "dockerd":   # 20.10's follower repeats lines after a rotation (seen)
            assert sorted(set(lines)) == [f"line-{i}" for i in range(1000, 1500)]
        else:
            assert lines == [f"line-{i}" for i in range(1000, 1500)]
        files = _log_files(_inspect(engine, name)["LogPath"])
        assert sorted(files) == sorted(["log", ".1", ".2", ".3", ".4"]), files
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait()
        engine.docker("rm", "-f", name, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


BAD = [
    (["max-size=abc"], "failed to initialize logging driver: invalid size: 'abc'"),
    (["max-size=-1"], "failed to initialize logging driver: invalid size: '-1'"),
    (["max-size=0"], "failed to initialize logging driver: max-size must be a positive number"),
    (["max-file=0"], "failed to initialize logging driver: max-file cannot be less than 1"),
    (["max-file=x"], 'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax'),
    (["foo=1"], "unknown log opt 'foo' for json-file log driver"),
]


def test_bad_values_refused(engine: Engine) -> None:
    """dockerd refuses an unknown key at create and a bad value at start (create passes): a
    `docker run` fails with the same message and 125 on both (dockyard refuses it at create)."""
    for opts, message in BAD:
        proc = engine.docker("run", "--network", "none", *[f"--log-opt={o}" for o in opts],
                             "busybox", "true", check=False)
        assert proc.returncode == 125, (opts, proc.stderr)
        assert f"Error response from daemon: {message}" in proc.stderr.decode(), (opts, proc.stderr)
    proc = engine.docker("run", "--network", "none", "--log-driver", "none", "--log-opt",
                         "max-size=1k", "busybox", "true", check=False)
    assert proc.returncode == 125 and b"invalid logging opts for driver none" in proc.stderr
    left = engine.docker("ps", "-aq").stdout.split()
    if left:
        engine.docker("rm", "-f", *[c.decode() for c in left])


COMPOSE_FILE = """version: "3.7"
services:
  talker:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "for i in $$(seq 10 99); do echo line-$$i; done"]
    logging:
      driver: json-file
      options:
        max-size: "1k"
        max-file: "2"
"""


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")
def test_compose_logging_section(engine: Engine) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="logs-compose-", dir="/tmp"))
    (tmp / "docker-compose.yml").write_text(COMPOSE_FILE)
    try:
        compose(engine, "logrot", tmp, "up", "-d")
        name = "logrot_talker_1"
        engine.docker("wait", name)
        assert _inspect(engine, name)["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}
        lines = engine.docker("logs", name).stdout.decode().split()
        assert lines == [f"line-{i}" for i in range(100 - len(lines), 100)] and len(lines) >= 22
    finally:
        compose(engine, "logrot", tmp, "down", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def test_since_reads_rotated_files(engine: Engine) -> None:
    """`logs --since` the time of one line (from `logs -t`): that line and the ones after it,
    from the rotated files on; with --tail, the since of the last lines."""
    name = "rot-since"
    try:
        engine.docker("run", "-d", "--network", "none", "--name", name, "--log-opt", "max-size=200",
                      "--log-opt", "max-file=9", "busybox", "sh", "-c",
                      "for i in $(seq 10 29); do echo line-$i; sleep 0.01; done")
        engine.docker("wait", name)
        stamped = [line.split() for line in engine.docker("logs", "-t", name).stdout.decode().splitlines()]
        assert [text for _, text in stamped] == [f"line-{i}" for i in range(10, 30)]
        since = stamped[3][0]      # line-13's time, in a rotated file (2 entries a file)
        assert engine.docker("logs", "--since", since, name).stdout.decode().split() == [
            f"line-{i}" for i in range(13, 30)]
        assert engine.docker("logs", "--since", since, "--tail", "2", name).stdout.decode().split() == [
            "line-28", "line-29"]
    finally:
        engine.docker("rm", "-f", name, check=False)
