"""Restart policies (`--restart`) through Debian's docker CLI 20.10, against dockyard serve and the
reference dockerd: the container's monitor restarts it as Docker's restart manager does (counts,
`on-failure:N`, a stop or a kill by the user ends it, an attached `run` returns at the first exit),
and a daemon that starts again restarts what the policies say (Docker's restore).

Each scenario runs on the two engines at once (`engines`: the module's serve and the session's
dockerd share nothing): its time is mostly waits (restart delays, a second in which nothing may
happen), which overlap so. Each engine's outcome is asserted on its own, as when each was a
parametrized test of its own."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from tests.api.conftest import start_server
from tests.conftest import at_once, kill_as_a_reboot
from tests.interop.conftest import Engine, on_both


def _state(engine: Engine, name: str) -> tuple[str, int, int]:
    info = json.loads(engine.docker("inspect", name).stdout)[0]
    return info["State"]["Status"], info["State"]["ExitCode"], info["RestartCount"]


def _until(check, timeout: float = 30):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_policies(engines: tuple[Engine, Engine]) -> None:
    on_both(engines, _policies)


def _policies(engine: Engine) -> None:
    net = ["--network", "none"]
    try:
        # on-failure:2: two restarts, then the exit stays; each run appends to the log
        engine.docker("run", "-d", *net, "--name", "onf", "--restart", "on-failure:2", "busybox",
                      "sh", "-c", "echo ran; exit 3")
        assert _until(lambda: _state(engine, "onf") == ("exited", 3, 2))

        # always: restarts until `docker stop`, which ends it with the exit it had
        engine.docker("run", "-d", *net, "--name", "alw", "--restart", "always", "busybox",
                      "sh", "-c", "exit 1")
        assert _until(lambda: _state(engine, "alw")[2] >= 2)
        engine.docker("stop", "alw")
        status, code, count = _state(engine, "alw")
        assert (status, code) == ("exited", 1)
        info = json.loads(engine.docker("inspect", "alw").stdout)[0]
        assert info["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
        assert info["State"]["Restarting"] is False

        # a kill by the user ends the restarts too, whatever the signal
        engine.docker("run", "-d", *net, "--name", "killed", "--restart", "always", "busybox",
                      "sh", "-c", "trap 'exit 7' USR1; sleep 100 & wait")
        engine.docker("kill", "-s", "USR1", "killed")
        assert _until(lambda: _state(engine, "killed")[0] == "exited")
        # none of the three starts again: each has had a second since it ended (one wait for all)
        time.sleep(1)
        assert _state(engine, "onf") == ("exited", 3, 2)
        assert engine.docker("logs", "onf").stdout == b"ran\n" * 3
        assert _state(engine, "alw") == (status, code, count)
        assert _state(engine, "killed") == ("exited", 7, 0)

        # an attached run returns at the first exit with its code; the policy goes on
        ran = engine.docker("run", *net, "--name", "att", "--restart", "always", "busybox",
                            "sh", "-c", "echo y; exit 4", check=False)
        assert (ran.returncode, ran.stdout) == (4, b"y\n")
        assert _until(lambda: _state(engine, "att")[2] >= 1)

        # a user's start begins afresh
        engine.docker("stop", "att")
        engine.docker("update", "--restart", "no", "att")
        engine.docker("start", "att")
        assert _until(lambda: _state(engine, "att")[0] == "exited")
        assert _state(engine, "att") == ("exited", 4, 0)
    finally:
        engine.docker("rm", "-f", "onf", "alw", "killed", "att", check=False)


# -- when the daemon starts ------------------------------------------------------------------------
# Each container (its name says its policy, and whether the user stopped it) exits 143 on the
# SIGTERM of a stop or of a shutdown.
_LOOP = ["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"]
_POLICIES = ("always", "unless-stopped", "on-failure", "no")
# Docker's restore: `always` whatever happened, `unless-stopped` unless the user stopped it,
# `on-failure` after a non-zero exit within its retries (fail-once has used its one)
RESTARTED = {"run-always", "stop-always", "run-unless-stopped", "run-on-failure", "stop-on-failure"}


def _policy_matrix(docker) -> None:  # noqa: ANN001
    """The containers of each policy made at once (one sequence per policy and fail-once's:
    they depend on nothing of each other)."""
    def of(policy: str) -> None:
        for kind in ("run", "stop"):
            docker("run", "-d", "--network", "none", "--name", f"{kind}-{policy}", "--restart",
                   policy, "busybox", *_LOOP)
        docker("stop", f"stop-{policy}")
    at_once(*(lambda policy=policy: of(policy) for policy in _POLICIES),
            lambda: docker("run", "-d", "--network", "none", "--name", "fail-once", "--restart", "on-failure:1",
                           "busybox", "sh", "-c", "exit 2"))


def _running(docker) -> set[str]:  # noqa: ANN001
    return set(docker("ps", "--format", "{{.Names}}").stdout.split())


def test_daemon_start_restarts_by_policy(own_dockerd, store_root: Path, busybox: str) -> None:  # noqa: ANN001
    """The reference's and dockyard's (below), at once: they share no daemon, store or process."""
    at_once(lambda: _daemon_start_restarts_by_policy_dockerd(own_dockerd),
            lambda: _daemon_start_restarts_by_policy_dockyard(store_root))


def _daemon_start_restarts_by_policy_dockerd(dockerd) -> None:  # noqa: ANN001
    """The reference: dockerd stops its containers when it shuts down and restarts them by
    their policies when it starts (a daemon of the test's own: it is restarted)."""

    def docker(*args: str):  # noqa: ANN202
        return dockerd(*args)
    try:
        _policy_matrix(docker)
        assert _until(lambda: json.loads(dockerd("inspect", "fail-once").stdout)[0]["State"]["Status"]
                      == "exited" and json.loads(dockerd("inspect", "fail-once").stdout)[0]["RestartCount"] == 1)
        dockerd.restart()
        assert _until(lambda: _running(docker) == RESTARTED)
        time.sleep(1)
        assert _running(docker) == RESTARTED
    finally:
        names = [f"{k}-{p}" for k in ("run", "stop") for p in _POLICIES] + ["fail-once"]
        dockerd("rm", "-f", *names, check=False)


def _daemon_start_restarts_by_policy_dockyard(store_root: Path) -> None:
    """dockyard's containers outlive `dockyard serve` (its monitors are processes of their own):
    what stops them all without the user is a crash or a reboot, here every monitor and
    container killed. The next `dockyard serve` restarts what dockerd's start restarts."""
    tmp = Path(tempfile.mkdtemp(prefix="dy-rs-", dir="/tmp"))
    server = start_server(store_root, tmp)
    env = {**os.environ, "DOCKER_HOST": server.url, "DOCKER_CONFIG": str(tmp / "config")}

    def docker(*args: str, check: bool = True):  # noqa: ANN202
        proc = subprocess.run(["/usr/bin/docker", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert not check or proc.returncode == 0, proc.stderr
        return proc
    try:
        # containers that join another's network (compose's network_mode: service:web) start
        # after it (in directory order one would come first 4 times in 5 and fail to start)
        def joining() -> None:
            docker("run", "-d", "--name", "web", "--network", "none", "--restart", "always", "busybox", "sleep", "1000")
            at_once(*(lambda n=n: docker("run", "-d", "--name", f"side-{n}", "--network", "container:web",
                                         "--restart", "always", "busybox", "sleep", "1000") for n in range(4)))
        at_once(lambda: _policy_matrix(docker), joining)   # (they share nothing)
        assert _until(lambda: json.loads(docker("inspect", "fail-once").stdout)[0]["RestartCount"] == 1
                      and json.loads(docker("inspect", "fail-once").stdout)[0]["State"]["Status"] == "exited")
        server.stop()
        kill_as_a_reboot(store_root)
        server = start_server(store_root, tmp)
        joined = {"web", *(f"side-{n}" for n in range(4))}
        assert _until(lambda: _running(docker) == RESTARTED | joined)
        time.sleep(1)
        assert _running(docker) == RESTARTED | joined
    finally:
        for name in docker("ps", "-aq", check=False).stdout.split():
            docker("rm", "-f", name, check=False)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # the socket's short folder (and serve.log) in /tmp


def test_restarting_between_runs_and_wait(engines: tuple[Engine, Engine]) -> None:
    """Between two runs the container is `restarting` (Running too, as Docker counts it); `wait`
    ends at the next exit though the policy starts it again; `start` sets RestartCount to 0."""
    on_both(engines, _restarting_between_runs_and_wait)


def _restarting_between_runs_and_wait(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "--network", "none", "--restart", "always", "busybox",
                        "sh", "-c", "[ -e /stay ] && exec sleep 600; sleep 1; exit 4").stdout.decode().strip()
    try:
        assert engine.docker("wait", cid).stdout.decode().strip() == "4"

        def restarting() -> dict:
            info = json.loads(engine.docker("inspect", cid).stdout)[0]
            return info["State"] if info["State"]["Restarting"] else {}
        seen = _until(restarting)
        assert (seen["Status"], seen["Running"], seen["ExitCode"]) == ("restarting", True, 4)
        assert _until(lambda: _state(engine, cid)[2] >= 2)
        engine.docker("stop", "-t", "1", cid)
        assert _state(engine, cid)[0] == "exited"
        # the next run stays (a run that exits is restarted, counted, at once: an inspect more
        # than a second after the start, at load 14, saw RestartCount 1)
        engine.docker("cp", "-", f"{cid}:/", input=_tar_of("stay"))
        engine.docker("start", cid)
        assert _state(engine, cid)[2] == 0
    finally:
        engine.docker("rm", "-f", cid)


def _tar_of(name: str) -> bytes:
    """A tar of one empty file."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.addfile(tarfile.TarInfo(name))
    return data.getvalue()


def _shim_of(engine: Engine, cid: str) -> int:
    """The process that watches the container for its engine: dockyard's monitor, dockerd's
    containerd shim (`containerd-shim-runc-v2 ... -id ID`)."""
    if engine.name == "dockyard":
        return json.loads((engine.root / "containers" / cid / "state.json").read_text())["monitor_pid"]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"containerd-shim-runc-v2") and cid.encode() in argv:
            return int(pid)
    raise AssertionError(f"no shim of {cid}")


def test_a_container_whose_monitor_died_is_restarted_by_its_policy(engines: tuple[Engine, Engine]) -> None:
    """dockerd restarts a container whose shim died, by its restart policy, at once; dockyard
    serve restarted one whose monitor was killed only at its next start (restore). It counts as
    one of the policy's restarts: `on-failure:1` restarts it once, not each time (dockyard's
    restart began the count afresh, as a user's start does). Its exit code: 137, the process
    killed (dockyard said 255)."""
    on_both(engines, _monitor_died)


def _monitor_died(engine: Engine) -> None:
    cid = engine.docker("run", "-d", "--network", "none", "--restart", "on-failure:1", "busybox",
                        "sleep", "1000").stdout.decode().strip()
    try:
        first = json.loads(engine.docker("inspect", cid).stdout)[0]["State"]["Pid"]
        os.kill(_shim_of(engine, cid), signal.SIGKILL)

        def restarted() -> bool:
            info = json.loads(engine.docker("inspect", cid).stdout)[0]
            return info["State"]["Running"] and info["State"]["Pid"] not in (0, first)
        assert _until(restarted)
        assert json.loads(engine.docker("inspect", cid).stdout)[0]["RestartCount"] == 1
        os.kill(_shim_of(engine, cid), signal.SIGKILL)

        def exited() -> bool:
            return not json.loads(engine.docker("inspect", cid).stdout)[0]["State"]["Running"]
        assert _until(exited)
        time.sleep(2)     # serve looks each second: it would have restarted it by now
        state = json.loads(engine.docker("inspect", cid).stdout)[0]
        assert (state["State"]["Status"], state["State"]["ExitCode"], state["RestartCount"]) == ("exited", 137, 1)
    finally:
        engine.docker("rm", "-f", cid, check=False)
