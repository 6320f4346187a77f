"""A container's last network disconnected and connected again (docker-compose 1.29 does this to
each new container whose aliases lack its short ID), through Debian's docker CLI 20.10 on dockyard
serve and the reference dockerd: its NetworkMode stays (dockyard set it to none, and the connect
was then refused), it starts with its loopback alone, the connect gives it the network back; a
container made with --network none is refused a network with dockerd's words."""

from __future__ import annotations

from tests.interop.conftest import Engine


def _addresses(engine: Engine, name: str) -> list[str]:
    out = engine.docker("exec", name, "ip", "-o", "-4", "addr").stdout.decode()
    return sorted(line.split()[1] for line in out.splitlines())


def test_disconnect_the_last_network_and_connect_again(engine: Engine) -> None:
    try:
        engine.docker("network", "create", "rc-net")
        engine.docker("create", "--name", "rc-1", "--network", "rc-net", "busybox", "sleep", "100")
        engine.docker("network", "disconnect", "rc-net", "rc-1")
        assert engine.docker("inspect", "-f", "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}",
                             "rc-1").stdout == b"rc-net 0\n"
        engine.docker("start", "rc-1")
        assert _addresses(engine, "rc-1") == ["lo"]
        engine.docker("network", "connect", "--alias", "again", "rc-net", "rc-1")
        assert _addresses(engine, "rc-1") == ["eth0", "lo"]
        engine.docker("create", "--name", "rc-2", "--network", "none", "busybox", "true")
        refused = engine.docker("network", "connect", "rc-net", "rc-2", check=False)
        assert b"container cannot be connected to multiple networks with one of the networks in private " \
               b"(none) mode" in refused.stderr, refused.stderr
    finally:
        engine.docker("rm", "-f", "rc-1", "rc-2", check=False)
        engine.docker("network", "rm", "rc-net", check=False)
