"""Health checks (HEALTHCHECK, `--health-*`, compose's healthcheck and depends_on
service_healthy) through Debian's docker CLI 20.10 and docker-compose 1.29, against dockyard
serve and the reference dockerd: State.Health in inspect, ps's STATUS and `health` filter, the
events, a stop and a start, an image's HEALTHCHECK inherited and merged. Short intervals keep it
quick; states are polled for with a generous deadline, never timed. The scenarios that wait on
probes run on both engines at once (`engines`, `on_both`), each engine's outcome asserted on its
own."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.interop.conftest import DOCKER, Engine, on_both
from tests.interop.test_compose import compose

NET = ["--network", "none"]
FAST = ["--health-interval", "200ms"]


def _health(engine: Engine, name: str) -> dict | None:
    return json.loads(engine.docker("inspect", name).stdout)[0]["State"].get("Health")


def _until_status(engine: Engine, name: str, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = _health(engine, name) or {}
        if health.get("Status") == status:
            return health
        assert time.monotonic() < deadline, f"[{engine.name}] {name} never {status}: {health}"
        time.sleep(0.1)


def _zombies_beside(engine: Engine, name: str) -> int:
    """Zombie children of the process that started the container's init (its monitor, dockerd's
    shim)."""
    pid = json.loads(engine.docker("inspect", name).stdout)[0]["State"]["Pid"]
    parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    count = 0
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                count += Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            except FileNotFoundError:
                pass
    return count


def _ps(engine: Engine, *args: str) -> list[str]:
    return engine.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", *args).stdout.decode().splitlines()


def _follow_events(engine: Engine, since: str, name: str) -> subprocess.Popen:
    """`docker events` of container `name` from `since` on, as a live stream. Read back at the
    end with --since/--until, dockerd answers from the last 256 events it keeps in memory: the
    probes of the test's containers (3 events every 200 ms each) had pushed hc-ok's
    health_status out of them where the test ran 41 s (load 20, two pytest-xdist workers)."""
    return subprocess.Popen([DOCKER, "events", "--since", since, "--filter", f"container={name}",
                             "--format", "{{.Time}}|{{.Action}}|{{.Actor.Attributes.name}}"],
                            env=engine.env, stdout=subprocess.PIPE)


def _events_until(stream: subprocess.Popen, until: int) -> list[str]:
    """The stream's events up to the first one after `until` (hc-ok is probed every 200 ms);
    the stream is ended there, or after 60 s without one (then the check fails)."""
    watchdog = threading.Timer(60, stream.kill)
    watchdog.start()
    events, past = [], False
    assert stream.stdout is not None
    for line in stream.stdout:
        when, event = line.decode().rstrip("\n").split("|", 1)
        if int(when) > until:
            past = True
            break
        events.append(event)
    watchdog.cancel()
    stream.kill()
    stream.wait()
    assert past, f"no event after {until}: {events}"
    return events


def test_health_states_ps_and_events(engines: tuple[Engine, Engine]) -> None:
    on_both(engines, _health_states_ps_and_events)


def _health_states_ps_and_events(engine: Engine) -> None:
    since = engine.docker("version", "-f", "{{.Server.Version}}") and str(int(time.time()) - 1)
    names = ["hc-ok", "hc-bad", "hc-slow", "hc-none", "hc-idle"]
    stream = _follow_events(engine, since, "hc-ok")
    try:
        engine.docker("run", "-d", *NET, "--name", "hc-ok", "--health-cmd", "echo hi", *FAST,
                      "busybox", "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hc-bad", "--health-cmd", "echo bad >&2; exit 1",
                      *FAST, "--health-retries", "2", "busybox", "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hc-slow", "--health-cmd", "sleep 5", *FAST,
                      "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hc-none", "--no-healthcheck", "busybox", "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hc-idle", "--health-cmd", "true",
                      "--health-interval", "1h", "busybox", "sleep", "120")
        config = json.loads(engine.docker("inspect", "hc-bad").stdout)[0]["Config"]["Healthcheck"]
        assert config == {"Test": ["CMD-SHELL", "echo bad >&2; exit 1"], "Interval": 200_000_000, "Retries": 2}
        assert json.loads(engine.docker("inspect", "hc-none").stdout)[0]["Config"]["Healthcheck"] == {"Test": ["NONE"]}

        ok = _until_status(engine, "hc-ok", "healthy")
        assert ok["FailingStreak"] == 0
        assert ok["Log"][-1]["ExitCode"] == 0 and ok["Log"][-1]["Output"] == "hi\n"
        bad = _until_status(engine, "hc-bad", "unhealthy")
        assert bad["FailingStreak"] >= 2 and bad["Log"][-1]["ExitCode"] == 1
        assert bad["Log"][-1]["Output"] == "bad\n"
        slow = _until_status(engine, "hc-slow", "unhealthy")
        assert slow["Log"][-1]["ExitCode"] == -1
        assert slow["Log"][-1]["Output"] == "Health check exceeded timeout (300ms)"
        assert _health(engine, "hc-none") is None
        assert _health(engine, "hc-idle") == {"Status": "starting", "FailingStreak": 0, "Log": []}
        _until_status(engine, "hc-ok", "healthy")
        while len(_health(engine, "hc-ok")["Log"]) < 5:     # the last five probes are kept
            time.sleep(0.1)
        time.sleep(0.5)
        assert len(_health(engine, "hc-ok")["Log"]) == 5

        status = dict(line.split(" ", 1) for line in _ps(engine))
        assert status["hc-ok"].endswith("(healthy)") and status["hc-bad"].endswith("(unhealthy)")
        assert status["hc-idle"].endswith("(health: starting)")
        assert "(" not in status["hc-none"]
        for value, expected in (("healthy", {"hc-ok"}), ("unhealthy", {"hc-bad", "hc-slow"}),
                                ("starting", {"hc-idle"}), ("none", {"hc-none"})):
            listed = {line.split()[0] for line in _ps(engine, "--filter", f"health={value}")}
            assert listed & set(names) == expected, value
        bogus = engine.docker("ps", "--filter", "health=bogus", check=False)
        assert bogus.returncode == 1 and b"Unrecognised filter value for health: bogus" in bogus.stderr

        # what the probes' execs leave behind is reaped as they go (dockyard's monitor is a
        # subreaper; dockerd's shim too): no zombies pile up beside the container's init, and
        # a container whose probes were killed stops (its pid namespace's end waits for them)
        for name in ("hc-ok", "hc-slow"):
            assert _zombies_beside(engine, name) <= 2, name
        engine.docker("stop", "-t", "0", "hc-slow", timeout=60)
        assert json.loads(engine.docker("inspect", "hc-slow").stdout)[0]["State"]["Status"] == "exited"
        # a stop leaves it unhealthy (dockerd 20.10), a start begins again at starting
        engine.docker("stop", "-t", "0", "hc-idle")
        assert _health(engine, "hc-idle")["Status"] == "unhealthy"
        engine.docker("start", "hc-idle")
        assert _health(engine, "hc-idle")["Status"] == "starting"

        events = _events_until(stream, int(time.time()))
        assert "exec_create: /bin/sh -c echo hi|hc-ok" in events
        assert "exec_start: /bin/sh -c echo hi|hc-ok" in events
        assert "exec_die|hc-ok" in events
        assert events.count("health_status: healthy|hc-ok") == 1
        # a probe's three events in order; the container's `start` may come between them (both
        # engines start probing before they send it: dockerd's containerStart calls
        # initHealthMonitor, then LogContainerEvent "start"; at load 20 dockyard's came after
        # the first probe's exec_start)
        probes = [event for event in events if event.startswith("exec_")]
        first = probes.index("exec_create: /bin/sh -c echo hi|hc-ok")
        assert probes[first:first + 3] == ["exec_create: /bin/sh -c echo hi|hc-ok",
                                           "exec_start: /bin/sh -c echo hi|hc-ok", "exec_die|hc-ok"]
    finally:
        stream.kill()
        stream.wait()
        for name in names:
            engine.docker("rm", "-f", name, check=False)


def test_image_healthcheck_inherited(engines: tuple[Engine, Engine], tmp_path: Path) -> None:
    """An image's HEALTHCHECK (built here, by the engine under test) runs; create's fields
    override its own one by one (Docker's merge) and --no-healthcheck turns it off."""
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=4 CMD echo from-image\n")
    on_both(engines, lambda engine: _image_healthcheck_inherited(engine, tmp_path))


def _image_healthcheck_inherited(engine: Engine, tmp_path: Path) -> None:
    tag = f"hc-image-{engine.name}"
    names = ["hci-run", "hci-merged", "hci-off"]
    try:
        engine.docker("build", "-q", "-t", tag, str(tmp_path))
        engine.docker("run", "-d", *NET, "--name", "hci-run", tag, "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hci-merged", "--health-retries", "7", tag,
                      "sleep", "120")
        engine.docker("run", "-d", *NET, "--name", "hci-off", "--no-healthcheck", tag, "sleep", "120")
        health = _until_status(engine, "hci-run", "healthy")
        assert health["Log"][-1]["Output"] == "from-image\n"
        merged = json.loads(engine.docker("inspect", "hci-merged").stdout)[0]["Config"]["Healthcheck"]
        assert merged == {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 200_000_000, "Retries": 7}
        _until_status(engine, "hci-merged", "healthy")
        assert _health(engine, "hci-off") is None
    finally:
        for name in names:
            engine.docker("rm", "-f", name, check=False)
        engine.docker("rmi", tag, check=False)


COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 0.1; done"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 200ms
      timeout: 5s
      retries: 100
    stop_grace_period: 1s
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo app-up; while :; do sleep 0.1; done"]
    depends_on:
      db:
        condition: service_healthy
    stop_grace_period: 1s
"""


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")
def test_compose_service_healthy(engines: tuple[Engine, Engine], tmp_path: Path) -> None:
    """`depends_on: condition: service_healthy`: compose starts app once db's check passed."""
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    on_both(engines, lambda engine: _compose_service_healthy(engine, tmp_path))


def _compose_service_healthy(engine: Engine, tmp_path: Path) -> None:
    project = f"dyhc{engine.name}"
    since = str(int(time.time()) - 1)
    down = False
    try:
        compose(engine, project, tmp_path, "up", "-d")
        db, app = f"{project}_db_1", f"{project}_app_1"
        assert _health(engine, db)["Status"] == "healthy"
        assert json.loads(engine.docker("inspect", app).stdout)[0]["State"]["Running"]
        assert json.loads(engine.docker("inspect", db).stdout)[0]["Config"]["StopTimeout"] == 1
        events = engine.docker("events", "--since", since, "--until", str(int(time.time()) + 1),
                               "--filter", "type=container", "--format",
                               "{{.Action}} {{.Actor.Attributes.name}}").stdout.decode().splitlines()
        assert events.index(f"health_status: healthy {db}") < events.index(f"create {app}")
        compose(engine, project, tmp_path, "down")
        down = True
    finally:
        if not down:   # (a second docker-compose run was ~1-2 s of each engine's case)
            compose(engine, project, tmp_path, "down", check=False)


def test_dockyard_cli_flags(dockyard, busybox: str) -> None:  # noqa: ANN001
    """dockyard's own run/create flags send what the docker CLI sends (the Config.Healthcheck
    and StopTimeout the docker CLI tests above saw from dockerd), refused as it refuses them."""
    def config(*flags: str) -> dict:
        cid = dockyard("create", "--network", "none", *flags, "busybox", "true").stdout.strip()
        return json.loads(dockyard("inspect", cid).stdout)[0]["Config"]

    cfg = config("--health-cmd", "echo bad >&2; exit 1", "--health-interval", "200ms",
                 "--health-retries", "2", "--stop-timeout", "0")
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "echo bad >&2; exit 1"], "Interval": 200_000_000,
                                  "Retries": 2}
    assert cfg["StopTimeout"] == 0
    assert config("--no-healthcheck")["Healthcheck"] == {"Test": ["NONE"]}
    assert config("--health-timeout", "1m30s", "--health-start-period", "1.5s")["Healthcheck"] == {
        "Timeout": 90_000_000_000, "StartPeriod": 1_500_000_000}
    cfg = config()
    assert "Healthcheck" not in cfg and "StopTimeout" not in cfg
    for flags, message in ((["--no-healthcheck", "--health-retries", "1"],
                            "--no-healthcheck conflicts with --health-* options"),
                           (["--health-interval=-1s"], "--health-interval cannot be negative"),
                           (["--health-interval", "10"], 'time: missing unit in duration "10"')):
        bad = dockyard("create", "--network", "none", *flags, "busybox", "true", check=False)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("Error: ")
    # the daemon's own checks of a body (any client's)
    bad = dockyard("create", "--network", "none", "--health-interval", "500us", "busybox", "true",
                   check=False)
    assert "Interval in Healthcheck cannot be less than 1ms" in bad.stderr
