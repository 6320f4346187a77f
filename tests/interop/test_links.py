"""Links (`docker run --link NAME[:ALIAS]`, compose's `links:`, and the links `docker-compose run`
sends to the running containers of its own service), refused by dockyard until now, so
`docker-compose run SERVICE` failed whenever SERVICE was up. Through Debian's docker CLI 20.10
and docker-compose 1.29 on dockyard serve and the reference dockerd: the alias reaches the
linked container on a network the two share (on a user network by DNS, to the linking container
alone; on the default bridge by an /etc/hosts line), the link shows on the endpoint in inspect,
and dockerd's refusals are dockyard's."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.conftest import at_once
from tests.interop.conftest import Engine
from tests.interop.test_compose import compose

SLEEPER = ["busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def test_link_alias_and_refusals(engine: Engine) -> None:
    try:
        engine.docker("network", "create", "lk-net")
        engine.docker("run", "-d", "--name", "lk-target", "--network", "lk-net", *SLEEPER)
        target_ip = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"lk-net\").IPAddress}}",
                                  "lk-target").stdout.decode().strip()
        seen = engine.docker("run", "--rm", "--network", "lk-net", "--link", "lk-target:al", "busybox",
                             "ping", "-c", "1", "-W", "2", "al").stdout.decode()
        assert f"PING al ({target_ip})" in seen, seen
        engine.docker("create", "--name", "lk-user", "--network", "lk-net", "--link", "lk-target",
                      "busybox", "true")
        info = json.loads(engine.docker("inspect", "lk-user").stdout)[0]
        assert info["NetworkSettings"]["Networks"]["lk-net"]["Links"] == ["lk-target"]
        bad = engine.docker("create", "--link", "lk-nosuch:al", "busybox", "true", check=False)
        assert b"could not get container for lk-nosuch: No such container: lk-nosuch" in bad.stderr
        status, answer = engine.post("/containers/create", json.dumps({
            "Image": "busybox", "HostConfig": {"NetworkMode": "host", "Links": ["lk-target"]}}).encode())
        assert (status, answer["message"]) == (400, "conflicting options: host type networking can't be "
                                               "used with links. This would result in undefined behavior")
    finally:
        engine.docker("rm", "-f", "lk-target", "lk-user", check=False)
        engine.docker("network", "rm", "lk-net", check=False)


def _ip(engine: Engine, container: str, network: str) -> str:
    return engine.docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}",
                         container).stdout.decode().strip()


def _nslookup(engine: Engine, container: str, name: str) -> str | None:
    """The address the container's DNS answers for `name`, None when it answers none."""
    out = engine.docker("exec", container, "nslookup", name, check=False)
    if out.returncode != 0:
        return None
    return out.stdout.decode().split("Name:", 1)[1].split("Address:", 1)[1].split()[0]


def test_a_link_alias_is_answered_by_dns_to_the_linking_container_alone(engine: Engine) -> None:
    """dockerd's DNS answers a link's alias on a user network to the linking container (nslookup
    finds it: its endpoint's aliases), not to another container of the network nor to the
    linked one, and writes no /etc/hosts line for it; the alias follows the linked container
    (no answer while it is stopped, its address once it runs again). dockyard wrote an
    /etc/hosts line (getaddrinfo found it, nslookup did not) fixed at the start. (Not compared:
    the linked container asking for the alias. dockerd answers it nothing; aardvark-dns 1.4.0
    answers by the asker's address, and the linking container's view holds the linked one's,
    so dockyard answers it its own address: netavark.LinkView.)"""
    try:
        engine.docker("network", "create", "lkd-net")
        engine.docker("run", "-d", "--name", "lkd-target", "--network", "lkd-net", *SLEEPER)
        engine.docker("run", "-d", "--name", "lkd-linker", "--network", "lkd-net",
                      "--link", "lkd-target:al", *SLEEPER)
        engine.docker("run", "-d", "--name", "lkd-third", "--network", "lkd-net", *SLEEPER)
        target = _ip(engine, "lkd-target", "lkd-net")
        # (a name dockerd's DNS does not know goes to the host's servers: a few seconds where
        # they do not answer, so the lookups that find nothing run side by side)
        seen = at_once(lambda: _nslookup(engine, "lkd-linker", "al"),
                       lambda: _nslookup(engine, "lkd-third", "al"))
        assert seen == (target, None)
        hosts = engine.docker("exec", "lkd-linker", "cat", "/etc/hosts").stdout.decode()
        assert not [line for line in hosts.splitlines() if "al" in line.split()[1:]], hosts
        engine.docker("stop", "-t", "1", "lkd-target")
        assert _nslookup(engine, "lkd-linker", "al") is None
        engine.docker("start", "lkd-target")
        assert _nslookup(engine, "lkd-linker", "al") == _ip(engine, "lkd-target", "lkd-net")
        # dockerd registers no link of a container on a user network: `rm --link` finds none,
        # and the alias stays (dockyard removed it, answered until the linker's next start)
        removed = engine.docker("rm", "--link", "/lkd-linker/al", check=False)
        assert (removed.returncode, removed.stderr) == (1, b"Error: No such container: lkd-linker/al\n")
        engine.docker("restart", "-t", "1", "lkd-linker")
        assert _nslookup(engine, "lkd-linker", "al") == _ip(engine, "lkd-target", "lkd-net")
    finally:
        engine.docker("rm", "-f", "lkd-target", "lkd-linker", "lkd-third", check=False)
        engine.docker("network", "rm", "lkd-net", check=False)


def test_a_legacy_link_is_not_a_user_networks(engine: Engine) -> None:
    """A link of a container on the default bridge is a legacy link: an /etc/hosts line, never
    on a user network it is also connected to. dockerd's endpoint there shows no link and its
    DNS does not answer the alias; dockyard showed the link there and answered it by DNS (the
    container's links went to each network of its start)."""
    try:
        engine.docker("network", "create", "lkl-net")
        engine.docker("run", "-d", "--name", "lkl-target", *SLEEPER)
        engine.docker("network", "connect", "lkl-net", "lkl-target")
        engine.docker("create", "--name", "lkl-linker", "--link", "lkl-target:al", *SLEEPER)
        engine.docker("network", "connect", "lkl-net", "lkl-linker")
        engine.docker("start", "lkl-linker")
        info = json.loads(engine.docker("inspect", "lkl-linker").stdout)[0]
        assert info["HostConfig"]["Links"] == ["/lkl-target:/lkl-linker/al"]
        assert info["NetworkSettings"]["Networks"]["lkl-net"]["Links"] is None
        hosts = engine.docker("exec", "lkl-linker", "cat", "/etc/hosts").stdout.decode()
        assert f"{_ip(engine, 'lkl-target', 'bridge')}\tal " in hosts, hosts
        asked = engine.docker("exec", "lkl-linker", "nslookup", "-timeout=1", "-retry=1", "al", check=False)
        assert b"usage" not in asked.stderr.lower() and b"Address: " + _ip(engine, "lkl-target", "lkl-net").encode() \
            not in asked.stdout, asked.stdout
    finally:
        engine.docker("rm", "-f", "lkl-target", "lkl-linker", check=False)
        engine.docker("network", "rm", "lkl-net", check=False)


def test_network_connect_with_a_link(engine: Engine) -> None:
    """`docker network connect --link NAME:ALIAS` (dockyard refused links of a connect): the alias
    reaches NAME's address on that network, for a running container at once and for a created
    one from its start; the endpoint shows the link."""
    try:
        engine.docker("network", "create", "lkc-net")
        engine.docker("run", "-d", "--name", "lkc-target", "--network", "lkc-net", *SLEEPER)
        target_ip = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"lkc-net\").IPAddress}}",
                                  "lkc-target").stdout.decode().strip()
        engine.docker("run", "-d", "--name", "lkc-running", *SLEEPER)
        engine.docker("create", "--name", "lkc-created", *SLEEPER)
        for name in ("lkc-running", "lkc-created"):
            engine.docker("network", "connect", "--link", "lkc-target:al", "lkc-net", name)
            info = json.loads(engine.docker("inspect", name).stdout)[0]
            assert info["NetworkSettings"]["Networks"]["lkc-net"]["Links"] == ["lkc-target:al"]
        engine.docker("start", "lkc-created")
        for name in ("lkc-running", "lkc-created"):
            seen = engine.docker("exec", name, "ping", "-c", "1", "-W", "2", "al").stdout.decode()
            assert f"PING al ({target_ip})" in seen, (name, seen)
    finally:
        engine.docker("rm", "-f", "lkc-target", "lkc-running", "lkc-created", check=False)
        engine.docker("network", "rm", "lkc-net", check=False)


COMPOSE = """version: "3.7"
services:
  side:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
"""


def test_compose_run_while_its_service_is_up(engine: Engine) -> None:
    with tempfile.TemporaryDirectory(prefix="lk-compose-", dir="/tmp") as tmp:
        cwd = Path(tmp)
        (cwd / "docker-compose.yml").write_text(COMPOSE)
        try:
            compose(engine, "lkc", cwd, "up", "-d")
            # compose sends links to lkc_side_1 (as lkc_side_1, side, side_1): the run goes ahead
            # (its exit status is the command's: compose 1.29 may lose a short run's output)
            compose(engine, "lkc", cwd, "run", "--rm", "-T", "side", "ping", "-c", "1", "-W", "2", "side")
            failed = compose(engine, "lkc", cwd, "run", "--rm", "-T", "side", "sh", "-c", "exit 3", check=False)
            assert failed.returncode == 3, failed.stderr     # the exit status is the command's
        finally:
            compose(engine, "lkc", cwd, "down", "-t", "1", check=False)
