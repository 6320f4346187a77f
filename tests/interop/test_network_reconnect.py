"""A container's last network disconnected and connected again (docker-compose 1.29 does this to
each new container whose aliases lack its short ID), through Debian's docker CLI 20.10 on dockyard
serve and the reference dockerd: its NetworkMode stays (dockyard set it to none, and the connect
was then refused), it starts with its loopback alone, the connect gives it the network back; a
container made with --network none is refused a network with dockerd's words."""

from __future__ import annotations

import os
import signal
import time

import pytest

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


def test_a_network_made_after_the_container(engine: Engine) -> None:
    """dockerd's create takes a network that does not exist; its start fails with "network X not
    found" (a 404) until the network is made. dockyard refused the create with that 404, and the
    docker CLI read it as a missing image: "Unable to find image 'busybox:latest' locally" and a
    pull from Docker Hub."""
    try:
        made = engine.docker("create", "--name", "rc-late", "--network", "rc-late-net", "busybox", "true")
        assert made.stderr == b"" and len(made.stdout.strip()) == 64
        failed = engine.docker("start", "rc-late", check=False)
        assert failed.returncode == 1 and failed.stderr.decode().splitlines()[0] == \
            "Error response from daemon: network rc-late-net not found"
        engine.docker("network", "create", "rc-late-net")
        engine.docker("start", "-a", "rc-late")
        assert engine.docker("inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.NetworkMode}}",
                             "rc-late").stdout == b"0 rc-late-net\n"
    finally:
        engine.docker("rm", "-f", "rc-late", check=False)
        engine.docker("network", "rm", "rc-late-net", check=False)


def test_a_running_container_connected_to_a_network_asks_its_dns(engine: Engine) -> None:
    """A running container of the default bridge connected to a user network resolves that
    network's names by DNS (nslookup, which reads /etc/resolv.conf and not /etc/hosts): dockerd's
    sandbox switches to its embedded server (127.0.0.11) at the connect. dockyard's kept the
    host's servers, the ones it started with, and nslookup found nothing."""
    try:
        engine.docker("network", "create", "rc-dns-net")
        engine.docker("run", "-d", "--name", "rc-dns-target", "--network", "rc-dns-net", "--network-alias",
                      "rc-dns-alias", "busybox", "sleep", "100")
        engine.docker("run", "-d", "--name", "rc-dns-late", "busybox", "sleep", "100")
        engine.docker("network", "connect", "rc-dns-net", "rc-dns-late")
        target = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"rc-dns-net\").IPAddress}}",
                               "rc-dns-target").stdout.decode().strip()
        seen = engine.docker("exec", "rc-dns-late", "nslookup", "rc-dns-alias", check=False).stdout.decode()
        assert f"Address: {target}" in seen, seen
    finally:
        engine.docker("rm", "-f", "rc-dns-target", "rc-dns-late", check=False)
        engine.docker("network", "rm", "rc-dns-net", check=False)


def _answers(engine: Engine, asker: str, name: str, network: str, *, expected: bool) -> bool:
    """Whether `asker`'s DNS (nslookup asks DNS alone, its servers in /etc/resolv.conf) answers
    `name` with its address on `network`; a lookup `expected` to get nothing waits 1 s (a
    server that no longer answers the container is never reached)."""
    ip = engine.docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}",
                       name).stdout.decode().strip()
    assert ip
    quick = [] if expected else ["-timeout=1", "-retry=1"]
    seen = engine.docker("exec", asker, "nslookup", *quick, name, check=False)
    assert b"usage" not in seen.stderr.lower(), seen.stderr
    return f"Address: {ip}" in seen.stdout.decode()


def test_a_disconnected_network_no_longer_answers_the_container(engine: Engine) -> None:
    """A running container disconnected from a network with DNS no longer gets that network's
    names; disconnected from the last one, none. dockerd keeps 127.0.0.11 in its resolv.conf,
    and its embedded server answers from the networks the container is still on. dockyard kept
    each gateway a connect had written, and aardvark-dns at it answered through the host's
    routes: the names of a network the container had left. Its /etc/hosts gets a line for its
    address on each network a connect gave it, gone at the disconnect (dockyard wrote none)."""
    try:
        engine.docker("network", "create", "rc-left-a")
        engine.docker("network", "create", "rc-left-b")
        engine.docker("run", "-d", "--name", "rc-left-on-a", "--network", "rc-left-a", "busybox", "sleep", "100")
        engine.docker("run", "-d", "--name", "rc-left-on-b", "--network", "rc-left-b", "busybox", "sleep", "100")
        engine.docker("run", "-d", "--name", "rc-left", "busybox", "sleep", "100")
        engine.docker("network", "connect", "rc-left-a", "rc-left")
        engine.docker("network", "connect", "rc-left-b", "rc-left")
        hosts = engine.docker("exec", "rc-left", "cat", "/etc/hosts").stdout.decode().splitlines()
        b_ip = engine.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"rc-left-b\").IPAddress}}",
                             "rc-left").stdout.decode().strip()
        hostname = engine.docker("inspect", "-f", "{{.Config.Hostname}}", "rc-left").stdout.decode().strip()
        assert f"{b_ip}\t{hostname}" in hosts, hosts   # each connect adds its address's line
        engine.docker("network", "disconnect", "rc-left-b", "rc-left")
        hosts = engine.docker("exec", "rc-left", "cat", "/etc/hosts").stdout.decode()
        assert b_ip not in hosts.split(), hosts        # (dockerd also drops the other addresses' lines)
        assert _answers(engine, "rc-left", "rc-left-on-a", "rc-left-a", expected=True)
        assert not _answers(engine, "rc-left", "rc-left-on-b", "rc-left-b", expected=False)
        engine.docker("network", "disconnect", "rc-left-a", "rc-left")   # its last with DNS
        assert not _answers(engine, "rc-left", "rc-left-on-a", "rc-left-a", expected=False)
    finally:
        engine.docker("rm", "-f", "rc-left", "rc-left-on-a", "rc-left-on-b", check=False)
        engine.docker("network", "rm", "rc-left-a", "rc-left-b", check=False)


SLEEPER = ["busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _resolves(engine: Engine, asker: str, name: str, network: str) -> None:
    """`asker`'s DNS answers `name` with its address on `network` (nslookup asks DNS alone)."""
    ip = engine.docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}",
                       name).stdout.decode().strip()
    seen = engine.docker("exec", asker, "nslookup", name, check=False).stdout.decode()
    assert f"Address: {ip}" in seen, seen


def test_dns_answers_at_once_after_a_neighbour_restarts(engine: Engine) -> None:
    """A container's lookups on its network answer right after another container of the network
    stopped and started again, as dockerd's do. On dockyard (netavark 1.4) the bridge took the
    lowest address of its ports: the neighbour's new veth could change it, and the container's
    ARP entry for the gateway, where aardvark-dns listens, named an address no port had: its
    lookups timed out ("no servers could be reached") for 30 s or more. Three restarts: a bridge
    whose address followed its ports kept it through all of them one time in five."""
    try:
        engine.docker("network", "create", "rc-arp-net")
        engine.docker("run", "-d", "--name", "rc-arp-asker", "--network", "rc-arp-net", *SLEEPER)
        engine.docker("run", "-d", "--name", "rc-arp-other", "--network", "rc-arp-net", *SLEEPER)
        for restart in range(4):   # (the first lookup makes the ARP entry)
            if restart:
                engine.docker("stop", "-t", "1", "rc-arp-other")
                engine.docker("start", "rc-arp-other")
            _resolves(engine, "rc-arp-asker", "rc-arp-other", "rc-arp-net")
    finally:
        engine.docker("rm", "-f", "rc-arp-asker", "rc-arp-other", check=False)
        engine.docker("network", "rm", "rc-arp-net", check=False)


def test_a_dead_dns_server_is_started_again(engine: Engine) -> None:
    """dockyard's: a store's aardvark-dns that died (aardvark-dns 1.4 exits on a file it cannot
    parse, and netavark 1.4 rewrites a network's file in place) is started again at the next
    setup. Where nothing reaps it (a pid 1 that does not, as in containers and CI) it stayed a
    zombie, netavark's SIGHUP still reached its pid, netavark started no other, and the store's
    containers resolved nothing."""
    if engine.root is None:
        pytest.skip("dockyard's DNS server (dockerd's is in each container's namespace)")
    pid_file = engine.root / "netavark" / "aardvark-dns" / "aardvark.pid"
    try:
        engine.docker("network", "create", "rc-dead-net")
        engine.docker("run", "-d", "--name", "rc-dead-1", "--network", "rc-dead-net", *SLEEPER)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        while not _dead(pid):
            time.sleep(0.01)
        engine.docker("run", "-d", "--name", "rc-dead-2", "--network", "rc-dead-net", *SLEEPER)
        _resolves(engine, "rc-dead-2", "rc-dead-1", "rc-dead-net")
    finally:
        engine.docker("rm", "-f", "rc-dead-1", "rc-dead-2", check=False)
        engine.docker("network", "rm", "rc-dead-net", check=False)


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b") ")[2].split()[0] == b"Z"
    except FileNotFoundError:
        return True
