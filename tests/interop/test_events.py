"""`docker events` of a container's life and of image names, against dockyard and dockerd:
the same actions give the same actions in order."""

from __future__ import annotations

import time

from tests.interop.conftest import Engine


def test_container_and_image_events(engine: Engine) -> None:
    since = f"{time.time():.3f}"
    cid = engine.docker("run", "-d", "--name", f"ev-{engine.name}", "-l", "k=v", "busybox",
                        "sleep", "30").stdout.decode().strip()
    engine.docker("pause", cid)
    engine.docker("unpause", cid)
    engine.docker("stop", "-t", "1", cid)
    engine.docker("rm", cid)
    engine.docker("tag", "busybox", f"evtag-{engine.name}")
    engine.docker("rmi", f"evtag-{engine.name}")
    until = f"{time.time() + 0.05:.3f}"
    time.sleep(0.1)
    lines = engine.docker("events", "--since", since, "--until", until, "--format",
                          "{{.Type}} {{.Action}}").stdout.decode().splitlines()
    containers = [line.split(" ", 1)[1] for line in lines if line.startswith("container ")]
    # dockerd also reports the network endpoint's connect/disconnect (Type network); sleep as
    # PID 1 ignores SIGTERM, so stop kills twice
    assert containers == ["create", "start", "pause", "unpause", "kill", "kill", "die", "stop",
                          "destroy"]
    images = [line.split(" ", 1)[1] for line in lines if line.startswith("image ")]
    assert images == ["tag", "untag"]
    labelled = engine.docker("events", "--since", since, "--until", until, "--filter",
                             "label=k=v", "--filter", "event=die", "--format",
                             "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}").stdout.decode()
    assert labelled.split() == [f"ev-{engine.name}", "137"]


def test_network_volume_and_exec_events(engine: Engine) -> None:
    """A container on a user network with a named volume, exec'd, renamed, updated, restarted
    and removed by force: dockerd's sequence of container, network and volume events (a
    container's create reports a create of each volume it asks for, its starts a mount after
    the networks' connect, its exits die before the network's disconnect and the volume's
    unmount; rm -f of a running container reports its kill)."""
    since = f"{time.time():.3f}"
    net, vol = f"evn-{engine.name}", f"evv-{engine.name}"
    engine.docker("network", "create", net)
    engine.docker("volume", "create", vol)
    cid = ""
    try:
        cid = engine.docker("run", "-d", "--network", net, "-v", f"{vol}:/v", "busybox", "sleep",
                            "30").stdout.decode().strip()
        engine.docker("exec", cid, "true")
        engine.docker("rename", cid, f"evr-{engine.name}")
        engine.docker("update", "--memory", "64m", "--memory-swap", "128m", cid)
        engine.docker("restart", "-t", "0", cid)
        engine.docker("rm", "-f", cid)
        cid = ""
    finally:
        if cid:
            engine.docker("rm", "-f", cid)
        engine.docker("volume", "rm", vol)
        engine.docker("network", "rm", net)
    until = f"{time.time() + 0.05:.3f}"
    time.sleep(0.1)
    lines = engine.docker("events", "--since", since, "--until", until, "--format",
                          "{{.Type}} {{.Action}}").stdout.decode().splitlines()
    # sleep as PID 1 ignores SIGTERM: a stop kills twice
    assert lines == [
        "network create", "volume create", "volume create", "container create",
        "network connect", "volume mount", "container start",
        "container exec_create: true ", "container exec_start: true ", "container exec_die",
        "container rename", "container update",
        "container kill", "container kill", "container die", "network disconnect",
        "volume unmount", "container stop",
        "network connect", "volume mount", "container start", "container restart",
        "container kill", "container die", "network disconnect", "volume unmount",
        "container destroy", "volume destroy", "network destroy"]


def test_a_container_that_ends_at_once_starts_before_it_dies(engine: Engine) -> None:
    """`docker run -d busybox true`: dockerd's events say start, then die. dockyard's starter
    emitted the start once the container's monitor said it ran, and the monitor had often
    emitted the die of a process that ended at once before it (5 runs: one is enough to see it
    most times)."""
    since = f"{time.time():.3f}"
    ids = [engine.docker("run", "-d", "--network", "none", "busybox", "true").stdout.decode().strip()
           for _ in range(5)]
    for cid in ids:
        engine.docker("wait", cid)
    until = f"{time.time() + 0.05:.3f}"
    lines = engine.docker("events", "--since", since, "--until", until, "--filter", "type=container",
                          "--format", "{{.ID}} {{.Action}}").stdout.decode().splitlines()
    engine.docker("rm", *ids)   # after: a destroy within 50 ms fell inside `until`
    for cid in ids:
        assert [line.split()[1] for line in lines if line.startswith(cid)] == ["create", "start", "die"], lines


def test_an_attached_run_reports_its_attach(engine: Engine) -> None:
    """`docker run` without -d attaches before it starts: dockerd reports create, attach, start,
    die (dockyard had no attach event)."""
    since = f"{time.time():.3f}"
    engine.docker("run", "--name", f"eva-{engine.name}", "--network", "none", "busybox", "true")
    until = f"{time.time() + 0.05:.3f}"
    lines = engine.docker("events", "--since", since, "--until", until, "--filter", "type=container",
                          "--filter", f"container=eva-{engine.name}", "--format", "{{.Action}}").stdout.decode()
    engine.docker("rm", f"eva-{engine.name}")   # after: its destroy came within `until` (CI, s17)
    assert lines.split() == ["create", "attach", "start", "die"]
