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
    until = f"{time.time() + 0.5:.3f}"
    time.sleep(0.6)
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
