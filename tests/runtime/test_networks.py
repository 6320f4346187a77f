"""Bridge networks through netavark and aardvark-dns, on processes in namespaces of their own
(`unshare -n`): the same calls the container hooks make, without a container."""

from __future__ import annotations

import hashlib
import json
import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.errors import Conflict, Forbidden, InvalidParameter, NotFound, RuntimeFailure
from dockyard.runtime.network import endpoints, ipam, netavark, subnets
from dockyard.runtime.network.endpoints import EndpointConfig, NetworkRequest, PortBinding
from dockyard.runtime.network.records import CreateRequest, Endpoint, Networks
from dockyard.runtime.resolvconf import resolv_conf
from dockyard.store.locks import flock


def _links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout


def _nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout


def _tables() -> dict[str, str]:
    return {table: subprocess.run(["iptables", "-t", table, "-S"], capture_output=True,
                                  text=True).stdout for table in ("filter", "nat")}


def _chain(network_id: str) -> str:
    """netavark's nat chain of a network: NETAVARK- and the hash of the name it is given, the
    network's ID (netavark_name)."""
    return "NETAVARK-" + hashlib.sha512(network_id.encode()).hexdigest().upper()[:13]


def subnet_rules(subnet: str, network_id: str, tables: tuple[str, ...] = ("nat",)) -> list[str]:
    """The rules of `subnet` in `tables` that can be network `network_id`'s: all of them while
    no other network holds the subnet, those naming the network's own chain once one does. A
    subnet let go is the first free one of the pool, which another test's network (the other
    pytest-xdist worker's) takes at once: its rules are its own, not ours left behind (seen with
    a neighbour joining fresh stores' default bridges: 7 failures in 14 runs of
    test_same_named_networks_of_two_stores_keep_their_own_rules). Read under the host-wide
    subnets lock: a network reserves its subnet before netavark sets it up, and lets it go
    after its teardown."""
    with flock(subnets.RUN_DIR / "subnets.lock"):
        owner = subnets._reservations().get(ipaddress.IPv4Network(subnet))
        listed = [subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True,
                                 check=True).stdout for table in tables]
    lines = [line for text in listed for line in text.splitlines() if f"{subnet} " in line + " "]
    if owner is not None and owner[1] != network_id:
        lines = [line for line in lines if _chain(network_id) in line]
    return lines


def _rules_left(before: str, subnet: str, network_id: str) -> list[str]:
    """NAT rules of `subnet` that are new since `before` and can be network `network_id`'s.
    Only the network's own count: other tests on this host make and remove networks
    meanwhile, and netavark's shared chains come and go with them (made at a first setup,
    removed once unused)."""
    old = set(before.splitlines())
    return [line for line in subnet_rules(subnet, network_id) if line not in old]


class Sandbox:
    """A process in a network namespace of its own, standing for a container."""

    def __init__(self, root: Path, name: str, command: list[str]) -> None:
        self.root = root
        self.name = name
        self.id = name.encode().hex().ljust(64, "0")[:64]
        self.cdir = root / "sandboxes" / self.id   # not a container: `ps` must not see it
        self.cdir.mkdir(parents=True)
        self.proc = subprocess.Popen(["unshare", "-n", *command], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        ours = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + 10
        while os.stat(f"/proc/{self.proc.pid}/ns/net").st_ino == ours:   # not unshared yet
            assert time.monotonic() < deadline
            time.sleep(0.005)

    def join(self, request: NetworkRequest):  # noqa: ANN201
        request = endpoints.validate(self.root, request)
        return endpoints.join(self.root, self.cdir, self.id, self.name, request, [],
                              lambda cid: True, pid=self.proc.pid)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n", *args],
                              capture_output=True, text=True, timeout=30)

    def leave(self) -> None:
        endpoints.leave(self.root, self.cdir, self.id, self.name)
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def sandboxes(store_root: Path):  # noqa: ANN201
    made: list[Sandbox] = []

    def make(name: str, command: list[str] | None = None) -> Sandbox:
        box = Sandbox(store_root, name, command or ["sleep", "60"])
        made.append(box)
        return box

    yield make
    for box in made:
        box.leave()
    networks = Networks(store_root)    # what a failed test left: its networks' subnets go back
    for record in networks.all():
        if not record.builtin:
            networks.remove(record.id, lambda cid: False)


def _own_link_route() -> ipaddress.IPv4Network:
    """The route of the link the host's default route goes out of (no bridge a test made)."""
    words = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True,
                           check=True).stdout.split()
    link = subprocess.run(["ip", "-4", "route", "show", "dev", words[words.index("dev") + 1],
                           "scope", "link"], capture_output=True, text=True, check=True).stdout
    return ipaddress.IPv4Network(link.split()[0])


def test_builtin_networks_and_records(store_root: Path) -> None:
    nets = Networks(store_root)
    names = [(r.name, r.driver) for r in nets.all()]
    assert sorted(names) == [("bridge", "bridge"), ("host", "host"), ("none", "null")]
    bridge = nets.get("bridge")
    assert not bridge.dns_enabled and ipaddress.IPv4Network(bridge.subnet).prefixlen == 24
    app = nets.create(CreateRequest("app", labels={"a": "b"}))
    assert nets.get(app.id[:6]).name == "app" and nets.get("app").labels == {"a": "b"}
    assert app.dns_enabled and app.interface == f"dy-{app.id[:12]}"
    assert not ipaddress.IPv4Network(app.subnet).overlaps(ipaddress.IPv4Network(bridge.subnet))
    with pytest.raises(Conflict, match="network with name app already exists"):
        nets.create(CreateRequest("app"))
    with pytest.raises(Forbidden, match="pre-defined network"):
        nets.remove("bridge", lambda cid: False)
    with pytest.raises(NotFound, match='plugin "overlay" not found'):
        nets.create(CreateRequest("x", driver="overlay"))
    with pytest.raises(InvalidParameter, match="not supported"):
        nets.create(CreateRequest("x", options={"com.docker.network.bridge.enable_icc": "false"}))
    # a subnet that overlaps a route of the host is refused (Docker's wording): the route of the
    # host's own link (the first route was often the other xdist worker's bridge, a network
    # of dockyard's or of its dockerd's compose tests, which may go before the create looks)
    route = _own_link_route()
    with pytest.raises(Conflict, match="Pool overlaps"):
        nets.create(CreateRequest("x", subnet=str(route)))
    assert [r.name for r in nets.all()].count("x") == 0   # bad input changed nothing
    nets.remove("app", lambda cid: False)
    with pytest.raises(NotFound, match="network app not found"):
        nets.get("app")
    # (its subnet, the first free one, may be another test's network's at once)
    assert (str(store_root), app.id) not in subnets._reservations().values()


def test_names_aliases_and_published_port(store_root: Path, sandboxes, tmp_path: Path) -> None:
    before = _nat_rules()   # a host may carry rules of others (a crashed run's): only ours count
    nets = Networks(store_root)
    app = nets.create(CreateRequest("app"))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from web\n")
    web = sandboxes("web", ["busybox", "httpd", "-f", "-p", "80", "-h", str(tmp_path / "www")])
    client = sandboxes("client")
    state = web.join(NetworkRequest(mode="app", networks={"app": EndpointConfig(aliases=["www"])},
                                    ports={"80/tcp": [PortBinding("127.0.0.1", "")]}))
    client.join(NetworkRequest(mode="app"))
    joined = state.networks["app"]
    assert ipaddress.IPv4Address(joined.ip) in ipaddress.IPv4Network(app.subnet)
    assert joined.gateway == app.gateway and joined.mac.startswith("02:42:")
    assert app.interface in _links()
    # aardvark-dns answers the name, the alias and the short ID, from the other container
    for name in ("web", "www", web.id[:12]):
        deadline = time.monotonic() + 30   # aardvark-dns starts late on a loaded machine
        while True:
            out = client.run("busybox", "nslookup", name, app.gateway).stdout
            if f"Address: {joined.ip}" in out or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert f"Address: {joined.ip}" in out, out
    fetched = client.run("busybox", "wget", "-q", "-O", "-", f"http://{joined.ip}/").stdout
    assert fetched == "hello from web\n"
    # published on 127.0.0.1 of the host
    port = state.ports[0]["host_port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while data := s.recv(4096):
            reply += data
    assert reply.endswith(b"hello from web\n")
    # leaving undoes it all: addresses, endpoints, rules, the bridge with its last container
    web.leave()
    assert nets.endpoints(app) and len(nets.endpoints(app)) == 1
    assert f"--dport {port}" not in _nat_rules()
    client.leave()
    assert app.interface not in _links()
    assert not nets.endpoints(app) and not list(nets.ips_dir(app).iterdir())
    assert _rules_left(before, app.subnet, app.id) == []
    # nothing of the network's is left that nothing uses (its chains; netavark's host-wide ones
    # go too unless another network uses them: other tests may be running, so only ours count)
    digest = _chain(app.id).removeprefix("NETAVARK-")   # its chains: netavark_name
    with flock(subnets.RUN_DIR / "netavark.lock"):
        left = netavark.idle_chain_commands(_tables())
    assert [args for args in left if digest in args[-1]] == []
    nets.remove("app", lambda cid: False)


def test_a_killed_network_create_leaves_nothing_after_the_next(store_root: Path) -> None:
    """`network create` killed at each of its renames (kill -9 by strace): a kill between the
    network's folder and its record left the folder for ever (listed by nothing, removed by
    nothing), and one at its reservation's rename a `.SUBNET.PID` temp file in the host-wide
    /run/dockyard/subnets. The next create removes record-less folders; a reservation is
    written in place."""
    from tests.conftest import REPO, Dockyard

    dockyard = Dockyard(store_root)
    dockyard("network", "ls")
    for n in (1, 2):
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename",
                        "-e", f"inject=rename:signal=KILL:when={n}",
                        sys.executable, "-m", "dockyard", "network", "create", f"killed{n}"],
                       env=dockyard.env, cwd=REPO, capture_output=True, timeout=60)
    temps = [p for p in (subnets.RUN_DIR / "subnets").glob(".*") if str(store_root) in p.read_text()]
    assert temps == []
    dockyard("network", "create", "next")
    names = dockyard("network", "ls", "--format", "{{.Name}}").stdout.split()
    try:
        assert [p.name for p in (store_root / "networks").iterdir()
                if not (p / "network.json").exists()] == []
        assert len(list((store_root / "networks").iterdir())) == len(names)
    finally:
        for name in names:
            if name not in ("bridge", "host", "none"):
                dockyard("network", "rm", name)


def test_a_new_networks_record_is_written_before_its_reservation_is_seen(store_root: Path,
                                                                         monkeypatch) -> None:
    """A create wrote its reservation under the host-wide lock and its record after that lock
    went: another process's sweep_stale, between the two, found a reservation of a network that
    did not exist, freed its subnet, and a third network took it (CI: "Pool overlaps" at a join
    of a network just made; another store's rules left on the subnet of ours). The record is
    written while the lock is held: another process cannot take it then. A record that cannot
    be made (a gateway outside the subnet) leaves no reservation."""
    nets = Networks(store_root)
    nets.ensure_builtins()
    seen: list[bool] = []
    write = Networks._write

    def spying(self: Networks, record) -> None:  # noqa: ANN001
        probe = ("import fcntl, sys\n"
                 "f = open(sys.argv[1], 'a')\n"
                 "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n"
                 "    sys.exit(3)\n")
        code = subprocess.run([sys.executable, "-c", probe, str(subnets.RUN_DIR / "subnets.lock")]).returncode
        seen.append(code == 3)
        write(self, record)

    monkeypatch.setattr(Networks, "_write", spying)
    record = nets.create(CreateRequest("app"))
    try:
        assert seen == [True]                     # another process could not sweep meanwhile
        assert (subnets.RUN_DIR / "subnets" / record.subnet.replace("/", "_")).is_file()
    finally:
        monkeypatch.setattr(Networks, "_write", write)
        nets.remove("app", lambda cid: False)
    with pytest.raises(InvalidParameter):
        nets.create(CreateRequest("bad", subnet="10.213.250.0/24", gateway="10.213.251.1"))
    ours = [p for p in (subnets.RUN_DIR / "subnets").iterdir() if str(store_root) in p.read_text()]
    assert ours == []
    assert [r.name for r in nets.all() if r.name == "bad"] == []


def test_remove_refuses_active_endpoints(store_root: Path, sandboxes) -> None:
    before = _nat_rules()
    nets = Networks(store_root)
    nets.create(CreateRequest("busy"))
    box = sandboxes("one")
    box.join(NetworkRequest(mode="busy"))
    with pytest.raises(Conflict, match="has active endpoints"):
        nets.remove("busy", lambda cid: True)
    # a container that no longer exists holds nothing; its leaving still undoes it all
    busy = nets.get("busy")
    nets.remove("busy", lambda cid: False)
    box.leave()
    assert busy.interface not in _links()
    assert _rules_left(before, busy.subnet, busy.id) == []


def test_names_that_are_no_file_name_stay_in_the_store(store_root: Path, sandboxes) -> None:
    """Docker takes any network name; netavark names each network's aardvark-dns file after the
    name it is given: '../../etc' wrote <root>/etc (any host path, a few '..' more), and a name
    longer than a file name's 255 bytes failed every join (File name too long)."""
    nets = Networks(store_root)
    dns_dir = store_root / "netavark" / "aardvark-dns"
    for name in ("../../etc", "y" * 300, ".hidden"):
        record = nets.create(CreateRequest(name))
        box = sandboxes(f"box{len(name)}")
        state = box.join(NetworkRequest(mode=name))
        assert state.networks[name].ip
        assert not (store_root / "etc").exists()
        assert box.id in (dns_dir / record.id).read_text()   # its DNS entries, in the store
        box.leave()
        nets.remove(record.id, lambda cid: False)


def test_default_bridge_and_none(store_root: Path, sandboxes) -> None:
    box = sandboxes("plain")
    state = box.join(NetworkRequest())
    bridge = Networks(store_root).get("bridge")
    assert list(state.networks) == ["bridge"]
    assert f"{bridge.subnet.replace('/', '_')}" in [p.name for p in (subnets.RUN_DIR / "subnets").iterdir()]
    assert "eth0" in box.run("ip", "-br", "addr").stdout
    lonely = sandboxes("lonely")
    assert lonely.join(NetworkRequest(mode="none")).networks == {}
    assert "eth0" not in lonely.run("ip", "-br", "addr").stdout


def test_the_default_bridge_takes_its_subnet_back_while_its_bridge_is_up(store_root: Path, sandboxes) -> None:
    """The default bridge's reservation goes when its last container leaves, so a container
    leaving while another joins could remove it under the joiner, its bridge up: every later
    join then found the subnet busy with the bridge's own route ('Pool overlaps with other one',
    seen by the sdkhunt helper's long run). The bridge's own route does not count against it."""
    first = sandboxes("first")
    first.join(NetworkRequest())
    bridge = Networks(store_root).get("bridge")
    (subnets.RUN_DIR / "subnets" / bridge.subnet.replace("/", "_")).unlink()   # the race's result
    second = sandboxes("second")
    assert list(second.join(NetworkRequest()).networks) == ["bridge"]
    assert Networks(store_root).get("bridge").subnet == bridge.subnet
    assert bridge.subnet.replace("/", "_") in [p.name for p in (subnets.RUN_DIR / "subnets").iterdir()]


def test_a_leave_never_lets_the_subnet_go_under_a_join(store_root: Path, sandboxes) -> None:
    """The last container leaving the default bridge lets its subnet go (and sweeps its bridge)
    when no endpoint is left; a join reserved the subnet, then took its address and wrote its
    endpoint: a leave between the two released the reservation under the joiner (its setup then
    raced the sweep of its own bridge). A join now reserves and writes its endpoint under one
    hold of the networks' lock (Networks.joining), and a leave's release waits for it."""
    import threading

    first = sandboxes("first")
    first.join(NetworkRequest())
    networks = Networks(store_root)
    bridge = networks.get("bridge")
    reservation = subnets.RUN_DIR / "subnets" / bridge.subnet.replace("/", "_")
    first_endpoint = networks.endpoints_dir(bridge) / f"{first.id}.json"
    second = "5" * 64
    with networks.joining() as activate:              # a second container's join, midway
        assert activate(bridge).subnet == bridge.subnet
        leaving = threading.Thread(target=first.leave)
        leaving.start()
        while first_endpoint.exists():               # the leave reached its release
            assert leaving.is_alive()
            time.sleep(0.005)
        assert reservation.exists()
        subnet = ipaddress.ip_network(bridge.subnet)
        networks.add_endpoint(bridge, Endpoint(second, "second", "e" * 64, "02:42:ac:11:00:03",
                                               f"{subnet[3]}/{subnet.prefixlen}"))
    leaving.join(timeout=30)
    assert not leaving.is_alive()
    assert reservation.exists(), "the leave let the subnet go under the join"
    networks.remove_endpoint(bridge, second)
    assert networks.deactivate(bridge, endpoints.sweep_subnet)
    assert not reservation.exists()


def test_an_endpoint_of_another_boot_does_not_pin_the_default_bridge(tmp_path: Path, store_root: Path,
                                                                    sandboxes, monkeypatch) -> None:
    """A reboot clears /run (the reservations, the bridges) but a container that was running
    keeps its endpoint, its address and its network.json in the store. When another network
    took the default bridge's subnet meanwhile (another store's create), the bridge moves to a
    free one only when no endpoint is on it: every join failed 'Pool overlaps' until that
    container was removed. An endpoint records its boot; one of another boot does not count.
    The old container's own start then joins the moved bridge, its old address let go.
    The store's pools are two subnets no other test picks: between the leave and the taker's
    create another xdist worker's network took the first free default subnet, the one the
    bridge had let go ("Pool overlaps" at the taker's create, CI of session 16)."""
    from dockyard.store import layers

    (subnets.RUN_DIR / "subnets").mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in (subnets.RUN_DIR / "subnets").iterdir()}
    free = [f"10.213.{n}.0/24" for n in range(199, 170, -1) if f"10.213.{n}.0_24" not in taken][:2]
    store_root.mkdir(parents=True, exist_ok=True)
    (store_root / "daemon.json").write_text(json.dumps(
        {"default-address-pools": [{"base": subnet, "size": 24} for subnet in free]}))
    box = sandboxes("rebooted")
    box.join(NetworkRequest())
    networks = Networks(store_root)
    bridge = networks.get("bridge")
    assert bridge.subnet == free[0]
    ips = networks.ips_dir(bridge)
    kept = {path: path.read_bytes() for path in [networks.endpoints_dir(bridge) / f"{box.id}.json",
                                                 endpoints.state_path(box.cdir), *ips.iterdir()]}
    other = Networks(tmp_path / "other")
    other.ensure_builtins()         # its own default bridge on another subnet
    box.leave()                     # the reboot: the bridge and the reservation go
    for path, data in kept.items():  # the store keeps what the container never let go
        path.write_bytes(data)
    taker = other.create(CreateRequest("taker", subnet=bridge.subnet))
    try:
        monkeypatch.setattr(layers, "_boot", ["the next boot"])
        after = sandboxes("after")
        moved = after.join(NetworkRequest()).networks["bridge"]
        assert ipaddress.IPv4Address(moved.ip) not in ipaddress.IPv4Network(bridge.subnet)
        assert Networks(store_root).get("bridge").subnet != bridge.subnet
        assert "eth0" in after.run("ip", "-br", "addr").stdout
        # the old container starts again (its monitor's join, in a new namespace)
        again = subprocess.Popen(["unshare", "-n", "sleep", "60"])
        try:
            while os.stat(f"/proc/{again.pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
                time.sleep(0.005)
            state = endpoints.join(store_root, box.cdir, box.id, box.name,
                                   endpoints.validate(store_root, NetworkRequest()), [],
                                   lambda cid: True, pid=again.pid)
            assert ipaddress.IPv4Address(state.networks["bridge"].ip) not in ipaddress.IPv4Network(bridge.subnet)
            holders = ipam.holders(ips)
            assert sorted(holders.values()) == sorted([box.id, after.id]), holders
            endpoints.leave(store_root, box.cdir, box.id, box.name)
        finally:
            again.kill()
            again.wait()
        after.leave()
        # let go: no reservation of ours (another worker's network may take the subnet at once)
        left = subnets.RUN_DIR / "subnets" / moved.network["subnet"].replace("/", "_")
        assert not left.exists() or str(store_root) not in left.read_text()
    finally:
        other.remove(taker.id, lambda cid: False, endpoints.sweep_subnet)


def _chain_of(subnet: str) -> str:
    """The nat chain netavark's jump of `subnet` leads to ("" when none)."""
    for line in _nat_rules().splitlines():
        words = line.split()
        if words[:4] == ["-A", "POSTROUTING", "-s", subnet] and words[-2] == "-j":
            return words[-1]
    return ""


def test_same_named_networks_of_two_stores_keep_their_own_rules(tmp_path: Path, store_root: Path,
                                                                sandboxes) -> None:
    """netavark names a network's nat chain after the hash of the name it is given, and every
    store has a `bridge` (tests' stores have their `app`s too): their networks shared one chain,
    NETAVARK-7D24D33E39064, whose masquerade rule is the same line for all. The first to leave
    removed it (the other's containers lost their way out), the second's teardown then failed
    on it and left its jump and its rule in iptables for ever, its reservation gone (the NAT
    chain of 10.213.8.0/24 found on this host). Each network is netavark's under its own ID."""
    other = Sandbox(tmp_path / "other", "other", ["sleep", "60"])
    try:
        mine = sandboxes("mine")
        ours = mine.join(NetworkRequest()).networks["bridge"].network["subnet"]
        theirs = other.join(NetworkRequest()).networks["bridge"].network["subnet"]
        assert ours != theirs and _chain_of(ours) != _chain_of(theirs)
        mine.leave()
        chain = _chain_of(theirs)
        assert chain and f"-A {chain} ! -d 224.0.0.0/4 -j MASQUERADE" in _nat_rules()
        assert subnet_rules(ours, Networks(store_root).get("bridge").id) == []
    finally:
        other.leave()
    assert subnet_rules(ours, Networks(store_root).get("bridge").id) == []
    assert subnet_rules(theirs, Networks(other.root).get("bridge").id) == []


def _sweep_unless_held(subnet: str) -> None:
    """What a test left on `subnet` goes, unless a network holds the subnet now: the other
    xdist worker's network may have taken it (a subnet let go is the first free one), and
    netavark.sweep_leftovers removes every rule of the subnet, that network's too. Under the
    subnets lock, as subnets.sweep_unclaimed sweeps."""
    with flock(subnets.RUN_DIR / "subnets.lock"):
        if not any(ipaddress.IPv4Network(subnet).overlaps(held) for held in subnets._reservations()):
            netavark.sweep_leftovers(subnet)


def test_rules_no_reservation_holds_are_reconciled(tmp_path: Path, store_root: Path, sandboxes) -> None:
    """What a network left in iptables once its reservation went (a teardown that failed, a
    kill) stayed for ever. As dockerd reconciles its iptables when it starts, serve's start and
    `network rm` remove netavark's rules of a subnet of the store's pools that no reservation
    holds; a subnet another store holds, and one outside the pools (podman's), are left alone."""
    def leave_rules(subnet: str, chain: str) -> None:
        """Under netavark's lock, as netavark's own edits: a chain nothing jumps to yet is
        unused to the other worker's drop_unused_chains, which removed it between its `-N` and
        the jump (`-A` then failed: 8 of 100 beside a loop of drop_unused_chains)."""
        with flock(subnets.RUN_DIR / "netavark.lock"):
            for args in (["-N", chain], ["-A", chain, "-d", subnet, "-j", "ACCEPT"],
                         ["-A", chain, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"],
                         ["-A", "POSTROUTING", "-s", subnet, "-j", chain]):
                subprocess.run(["iptables", "-w", "-t", "nat", *args], check=True)

    taken = {p.name for p in (subnets.RUN_DIR / "subnets").iterdir()}
    lost = next(f"10.213.{n}.0/24" for n in range(250, 200, -1) if f"10.213.{n}.0_24" not in taken)
    podman = "10.89.213.0/24"
    other = Sandbox(tmp_path / "other", "other", ["sleep", "60"])
    try:
        Networks(other.root).create(CreateRequest("kept"))
        held = other.join(NetworkRequest(mode="kept")).networks["kept"].network["subnet"]
        leave_rules(lost, "NETAVARK-LEAKS0000000A")
        leave_rules(podman, "NETAVARK-LEAKS0000000B")
        endpoints.reconcile(store_root)
        rules = _nat_rules()
        assert lost not in rules and "NETAVARK-LEAKS0000000A" not in rules
        assert f"-A POSTROUTING -s {held} -j {_chain_of(held)}" in rules
        assert f"-A {_chain_of(held)} ! -d 224.0.0.0/4 -j MASQUERADE" in rules
        assert f"-A POSTROUTING -s {podman} -j NETAVARK-LEAKS0000000B" in rules
    finally:
        other.leave()
        Networks(other.root).remove("kept", lambda cid: False)
        _sweep_unless_held(lost)
        _sweep_unless_held(podman)
        netavark.drop_unused_chains()
    assert podman not in _nat_rules()


def test_a_join_killed_after_netavark_setup_is_undone_by_its_leave(tmp_path: Path, store_root: Path) -> None:
    """The join recorded the container's networks after netavark had set them up: killed in
    between (the hook, the runtime), nothing said what to tear down, and the container's
    leave (runc's poststop, rm) left its veth and its network's rules in iptables for ever.
    Recorded first, the leave undoes it."""
    record = Networks(store_root).create(CreateRequest("app"))
    killer = tmp_path / "netavark"
    killer.write_text(f'#!/bin/sh\n{netavark._binary("netavark")} "$@"; rc=$?\n'
                      f'case " $* " in *" setup "*) kill -9 $PPID;; esac\nexit $rc\n')
    killer.chmod(0o755)
    box = Sandbox(store_root, "killed", ["sleep", "60"])
    try:
        joined = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; "
             "from dockyard.runtime.network import endpoints; "
             "from dockyard.runtime.network.endpoints import NetworkRequest; "
             "root, cdir = Path(sys.argv[1]), Path(sys.argv[2]); "
             "endpoints.join(root, cdir, sys.argv[3], 'killed', endpoints.validate(root, "
             "NetworkRequest(mode='app')), [], lambda cid: True, pid=int(sys.argv[4]))",
             str(store_root), str(box.cdir), box.id, str(box.proc.pid)],
            env={**os.environ, "DOCKYARD_NETAVARK": str(killer)}, cwd=Path(__file__).parents[2])
        assert joined.returncode == -9
        assert record.subnet in _nat_rules()           # set up, then killed
        box.leave()
        assert record.subnet not in _nat_rules()
        assert not list(Networks(store_root).ips_dir(record).glob("*.*.*.*"))
    finally:
        box.leave()
        Networks(store_root).remove("app", lambda cid: False, endpoints.sweep_subnet)


def test_the_host_namespace_is_never_configured(store_root: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="host's network namespace"):
        endpoints.join(store_root, tmp_path, "f" * 64, "hostile", NetworkRequest(), [],
                       lambda cid: True, pid=os.getpid())
    assert not (tmp_path / "netns").exists()


def test_validate_requests(store_root: Path) -> None:
    # a missing network is the start's error, as dockerd's create takes it (tests/interop/test_network_reconnect)
    assert endpoints.validate(store_root, NetworkRequest(mode="nope")).networks == {"nope": EndpointConfig()}
    with pytest.raises(InvalidParameter, match="network-scoped alias"):
        endpoints.validate(store_root, NetworkRequest(networks={"bridge": EndpointConfig(["a"])}))
    with pytest.raises(InvalidParameter, match="invalid proto"):
        endpoints.validate(store_root, NetworkRequest(ports={"80/foo": []}))
    # another container's namespace: nothing of its own (runtime/joined.py joins it at start)
    joiner = endpoints.validate(store_root, NetworkRequest(mode="container:abc"))
    assert (joiner.mode, joiner.networks, joiner.uses_bridge) == ("container:abc", {}, False)
    with pytest.raises(InvalidParameter, match="network-scoped aliases"):
        endpoints.validate(store_root, NetworkRequest(mode="container:abc", networks={
            "container:abc": EndpointConfig(["a"])}))
    host = endpoints.validate(store_root, NetworkRequest(mode="host", ports={"80/tcp": []}))
    assert host.ports == {}


def test_resolv_conf() -> None:
    host = b"search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n"
    assert resolv_conf(host, [], [], [], own_namespace=False) == host
    assert resolv_conf(host, [], [], [], own_namespace=True, network_servers=["10.213.9.1"]) == \
        b"search example.org\nnameserver 10.213.9.1\noptions ndots:2\n"
    # the network's server in place of --dns too (it forwards to them), ndots:0 unless one was given
    assert resolv_conf(host, ["1.1.1.1"], ["."], ["attempts:1"], own_namespace=True,
                       network_servers=["10.213.9.1"]) == b"nameserver 10.213.9.1\noptions attempts:1 ndots:0\n"
    assert resolv_conf(host, ["1.1.1.1"], ["."], ["attempts:1"], own_namespace=True) == \
        b"nameserver 1.1.1.1\noptions attempts:1\n"


# `iptables -S` of a host where netavark set up networks (netavark 1.4, one network with a
# published port) and of the same host once they left
_FILTER_IN_USE = """-P INPUT ACCEPT
-N NETAVARK_FORWARD
-A FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD
-A NETAVARK_FORWARD -d 10.213.7.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A NETAVARK_FORWARD -s 10.213.7.0/24 -j ACCEPT
"""
_NAT_IN_USE = """-P PREROUTING ACCEPT
-N NETAVARK-1D8721804F16F
-N NETAVARK-DN-1D8721804F16F
-N NETAVARK-HOSTPORT-DNAT
-N NETAVARK-HOSTPORT-MASQ
-N NETAVARK-HOSTPORT-SETMARK
-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT
-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ
-A POSTROUTING -s 10.213.7.0/24 -j NETAVARK-1D8721804F16F
-A NETAVARK-1D8721804F16F -d 10.213.7.0/24 -j ACCEPT
-A NETAVARK-1D8721804F16F ! -d 224.0.0.0/4 -j MASQUERADE
-A NETAVARK-DN-1D8721804F16F -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.213.7.2:80
-A NETAVARK-HOSTPORT-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "dnat name: app id: 0e11" -j NETAVARK-DN-1D8721804F16F
-A NETAVARK-HOSTPORT-MASQ -m comment --comment "netavark portfw masq mark" -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A NETAVARK-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000
"""
_FILTER_LEFT = """-P INPUT ACCEPT
-N NETAVARK_FORWARD
-A FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD
"""
_NAT_LEFT = """-P PREROUTING ACCEPT
-N NETAVARK-DN-1D8721804F16F
-N NETAVARK-HOSTPORT-DNAT
-N NETAVARK-HOSTPORT-MASQ
-N NETAVARK-HOSTPORT-SETMARK
-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT
-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ
-A NETAVARK-HOSTPORT-MASQ -m comment --comment "netavark portfw masq mark" -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A NETAVARK-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000
"""


def test_what_netavark_leaves_is_removed_once_unused() -> None:
    """netavark never removes its host-wide chains: once no network is set up they go, with
    the jumps to them and a port chain it left behind; while one is set up nothing goes."""
    assert netavark.idle_chain_commands({"filter": _FILTER_IN_USE, "nat": _NAT_IN_USE}) == []
    # the network left, another one's rules stay in the forward chain: only the empty port
    # chain goes
    other = _FILTER_LEFT + "-A NETAVARK_FORWARD -s 10.88.0.0/16 -j ACCEPT\n"
    assert netavark.idle_chain_commands({"filter": other, "nat": _NAT_LEFT}) == [
        ["-t", "nat", "-X", "NETAVARK-DN-1D8721804F16F"]]
    assert netavark.idle_chain_commands({"filter": _FILTER_LEFT, "nat": _NAT_LEFT}) == [
        ["-t", "nat", "-X", "NETAVARK-DN-1D8721804F16F"],
        ["-t", "filter", "-D", "FORWARD", "-m", "comment", "--comment",
         "netavark firewall plugin rules", "-j", "NETAVARK_FORWARD"],
        ["-t", "filter", "-F", "NETAVARK_FORWARD"], ["-t", "filter", "-X", "NETAVARK_FORWARD"],
        ["-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j",
         "NETAVARK-HOSTPORT-DNAT"],
        ["-t", "nat", "-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j",
         "NETAVARK-HOSTPORT-DNAT"],
        ["-t", "nat", "-D", "POSTROUTING", "-j", "NETAVARK-HOSTPORT-MASQ"],
        *[["-t", "nat", "-F", c] for c in ("NETAVARK-HOSTPORT-DNAT", "NETAVARK-HOSTPORT-MASQ",
                                           "NETAVARK-HOSTPORT-SETMARK")],
        *[["-t", "nat", "-X", c] for c in ("NETAVARK-HOSTPORT-DNAT", "NETAVARK-HOSTPORT-MASQ",
                                           "NETAVARK-HOSTPORT-SETMARK")]]
    assert netavark.idle_chain_commands({"filter": "-P INPUT ACCEPT\n", "nat": "-P OUTPUT ACCEPT\n"}) == []


def _port_reservations_of(root: Path) -> list[str]:
    """The host port reservations (/run/dockyard/ports) a store's containers hold."""
    out = []
    for entry in (subnets.RUN_DIR / "ports").glob("*"):
        try:
            if json.loads(entry.read_text()).get("root") == str(root):
                out.append(entry.name)
        except (OSError, ValueError, AttributeError):
            continue   # another's, gone meanwhile
    return out


def test_a_deleted_stores_network_is_swept(tmp_path: Path, store_root: Path, sandboxes) -> None:
    """A killed run: a store deleted while a container (here a sandbox) was on a network with a
    published port, nothing torn down. The next join on this host (another store) removes what
    that network left: its namespace mount, its bridge, its rules, its DNS server, and the port
    reservation of its container (it stayed in /run/dockyard/ports until the next join that
    published a port)."""
    dead_root = tmp_path / "dead-store"
    nets = Networks(dead_root)
    app = nets.create(CreateRequest("gone"))
    box = Sandbox(dead_root, "doomed", ["sleep", "60"])
    try:
        state = box.join(NetworkRequest(mode="gone", ports={"80/tcp": [PortBinding("127.0.0.1", "")]}))
        port = state.ports[0]["host_port"]
        assert app.interface in _links() and f"--dport {port}" in _nat_rules()
        box.proc.kill()
        box.proc.wait()
        dead_root.rename(tmp_path / "gone-away")   # the store is gone; its netns stays mounted
        # the host's own namespace mounted somewhere (as a dockerd keeps <exec-root>/netns/default)
        # holds the bridge's gateway address of that subnet: the sweep leaves it alone
        host_ns = tmp_path / "host-netns"
        host_ns.touch()
        subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(host_ns)], check=True)
        try:
            sandboxes("next").join(NetworkRequest())
            assert str(host_ns) in Path("/proc/self/mountinfo").read_text()
        finally:
            subprocess.run(["umount", str(host_ns)], capture_output=True)
        assert app.interface not in _links()
        assert f"--dport {port}" not in _nat_rules()
        assert _port_reservations_of(dead_root) == []
        assert (str(dead_root), app.id) not in subnets._reservations().values()   # the stale one went
        assert subnet_rules(app.subnet, app.id, ("nat", "filter")) == []
        assert "/gone-away/" not in Path("/proc/self/mountinfo").read_text()
        dns = subprocess.run(["pgrep", "-f", f"aardvark-dns --config {tmp_path}/"], capture_output=True)
        assert dns.stdout == b""   # its store's DNS server is stopped
    finally:
        # if the sweep failed: undo it as the sweep does, under its lock and only while the
        # reservation is still the dead network's. Swept, the subnet is the pool's first free
        # one, which the other xdist worker's next network takes at once: sweep_network of it
        # here removed that network's jump, chain and bridge (CI of session 17:
        # test_rules_no_reservation_holds_are_reconciled found no POSTROUTING jump of its held
        # network; 7 of 45 loops of the two side by side on a pool of their own)
        if dead_root.exists():   # failed before its store went: leave as a container does
            box.leave()
            nets.remove(app.id, lambda cid: False, endpoints.sweep_subnet)
        endpoints.sweep_deleted_stores()


def test_a_host_port_reservation_of_a_gone_container_is_taken_over(tmp_path: Path) -> None:
    """A port reserved by a container that no longer exists (its store deleted by a killed run)
    does not block the port, and its file goes; a live container's reservation blocks it."""
    from dockyard.runtime.network import host_ports
    from dockyard.runtime.network.netavark import PortMapping

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mine, other = tmp_path / "mine", tmp_path / "other"
    for root, cid in ((mine, "c1"), (other, "c2")):
        (root / "containers" / cid).mkdir(parents=True)
        (root / "containers" / cid / "container.json").write_text("{}")
    wanted = [(PortMapping(80, "tcp", "127.0.0.1", port), port)]
    try:
        assert host_ports.reserve(other, "c2", "two", wanted)[0].host_port == port
        with pytest.raises(RuntimeFailure, match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"):
            host_ports.reserve(mine, "c1", "one", wanted)
        (other / "containers" / "c2" / "container.json").unlink()    # its store went
        assert host_ports.reserve(mine, "c1", "one", wanted)[0].host_port == port
        owners = [p.read_text() for p in (subnets.RUN_DIR / "ports").glob(f"tcp_{port}_*")]
        assert owners == [json.dumps({"root": str(mine), "id": "c1"})]
    finally:
        host_ports.release(mine, "c1", [m for m, _ in wanted])
    assert not list((subnets.RUN_DIR / "ports").glob(f"tcp_{port}_*"))


def _anchor(interface: str) -> str:
    return "dz-" + interface[3:]


def _default_bridge_left(root: Path, record) -> list[str]:  # noqa: ANN001
    """What the default bridge `record` of store `root` has on the host: its bridge, its anchor,
    its reservation, its rules."""
    left = [name for name in (record.interface, _anchor(record.interface)) if Path(f"/sys/class/net/{name}").exists()]
    if subnets._reservations().get(ipaddress.IPv4Network(record.subnet)) == (str(root), record.id):
        left.append(record.subnet)
    return left + subnet_rules(record.subnet, record.id, ("nat", "filter"))


def test_serve_keeps_the_default_bridge_up_until_it_lets_go(store_root: Path, sandboxes) -> None:
    """serve holds its default bridge, as dockerd keeps docker0: netavark made the bridge and
    its rules at each first container and removed them at each last one (a `docker run --rm`
    made and unmade them every time). Held, the last container's leave keeps the bridge (an
    anchor port on it), its rules and its subnet; the release takes them all away."""
    hold = endpoints.BridgeHold(store_root)
    released = False
    try:
        first = sandboxes("first")
        first.join(NetworkRequest())
        bridge = Networks(store_root).get("bridge")
        first.leave()
        kept = _default_bridge_left(store_root, bridge)
        assert bridge.interface in kept and _anchor(bridge.interface) in kept
        assert any("MASQUERADE" in line or "POSTROUTING" in line for line in kept)
        second = sandboxes("second")   # on the bridge kept up, at the same subnet
        assert second.join(NetworkRequest()).networks["bridge"].network["subnet"] == bridge.subnet
        assert "eth0" in second.run("ip", "-br", "addr").stdout
        hold.release()
        released = True
        assert _anchor(bridge.interface) not in _default_bridge_left(store_root, bridge)
        second.leave()   # the last container: nothing held, everything goes
        assert _default_bridge_left(store_root, bridge) == []
    finally:
        if not released:
            hold.release()


def test_a_killed_holder_lets_the_default_bridge_go(store_root: Path, tmp_path: Path) -> None:
    """A serve killed -9 cannot release its hold: its watcher (a shell reading serve's pipe)
    settles it, and with no container on it the bridge, its anchor, rules and subnet go. A hold
    whose holder and watcher were both killed goes at the next look (a leave, serve's start)."""
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import sys, time\nfrom pathlib import Path\n"
        "from dockyard.runtime.network import endpoints\n"
        "from dockyard.runtime.network.endpoints import NetworkRequest\n"
        "root, cdir, pid = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])\n"
        "hold = endpoints.BridgeHold(root)\n"
        "endpoints.join(root, cdir, 'a' * 64, 'held', NetworkRequest(mode='bridge', "
        "networks={'bridge': endpoints.EndpointConfig()}), [], lambda cid: True, pid=pid)\n"
        "endpoints.leave(root, cdir, 'a' * 64, 'held')\n"
        "print(hold._watcher.pid, flush=True)\ntime.sleep(600)\n")
    for kill_watcher in (False, True):
        box = Sandbox(store_root, f"held{kill_watcher}", ["sleep", "60"])
        proc = subprocess.Popen([sys.executable, str(holder), str(store_root), str(box.cdir), str(box.proc.pid)],
                                stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
        try:
            watcher = int(proc.stdout.readline())
            bridge = Networks(store_root).get("bridge")
            assert _anchor(bridge.interface) in _default_bridge_left(store_root, bridge)   # held
            if kill_watcher:
                os.kill(watcher, 9)
            proc.kill()
            proc.wait()
            if kill_watcher:
                endpoints.reconcile(store_root)    # serve's next start
            else:
                deadline = time.monotonic() + 60   # the watcher's Python settles it
                while _default_bridge_left(store_root, bridge) and time.monotonic() < deadline:
                    time.sleep(0.05)
            assert _default_bridge_left(store_root, bridge) == []
        finally:
            proc.kill()
            proc.wait()
            box.leave()


def test_a_killed_monitors_container_leaves_its_network_at_rm(dockyard, busybox) -> None:
    """The monitor joins and leaves the networks itself (the runtime's hooks only wait for it,
    and find nothing left at its delete): a monitor killed -9 leaves its container's network
    to the runtime's poststop hook, which `rm -f` runs: no namespace, address or rule stays."""
    import signal

    cid = dockyard("run", "-d", "busybox", "sleep", "100").stdout.strip()
    cdir = dockyard.root / "containers" / cid
    state = json.loads((cdir / "state.json").read_text())
    joined = endpoints.read_state(cdir)
    assert joined is not None and str(cdir / "netns") in Path("/proc/self/mountinfo").read_text()
    record = Networks(dockyard.root).get("bridge")
    assert record.subnet in _nat_rules()
    os.kill(state["monitor_pid"], signal.SIGKILL)
    dockyard("rm", "-f", cid)
    assert str(cdir) not in Path("/proc/self/mountinfo").read_text()
    assert _default_bridge_left(dockyard.root, record) == []


def test_an_anchor_whose_bridge_went_is_swept() -> None:
    """An anchor is made with its bridge as master; one without (its bridge deleted by a
    dockyard from before anchors, or by hand) goes at the next sweep."""
    subprocess.run(["ip", "link", "add", "dz-lostanchor", "type", "veth", "peer", "name", "dx-lostanchor"],
                   check=True)
    try:
        netavark.sweep_leftovers("192.0.2.0/24")   # TEST-NET-1: nobody's
        assert "dz-lostanchor" not in _links() and "dx-lostanchor" not in _links()
    finally:
        subprocess.run(["ip", "link", "del", "dz-lostanchor"], capture_output=True)


def test_a_relative_root_names_its_store_from_anywhere(dockyard, busybox) -> None:
    """`--root store` (or DOCKYARD_ROOT=store) in the store's parent folder: the store is its
    absolute path, as dockerd makes --data-root absolute. The host-wide reservation of a
    network's subnet named 'store': to any dockyard process in another folder a deleted store's
    network, whose reservation every join's sweep (endpoints.sweep_deleted_stores) removed,
    with the network's bridge and rules: a second dockyard process broke the first's network.
    And `run` failed: 'invalid netns path: stat store/containers/ID/netns'."""
    parent, name = dockyard.root.parent, dockyard.root.name
    record = dockyard("--root", name, "network", "create", "app", cwd=parent).stdout.strip()
    try:
        owners = {root for root, nid in subnets._reservations().values() if nid == record}
        assert owners == {str(dockyard.root)}
        endpoints.sweep_deleted_stores()      # another process, in another folder (the repo's)
        assert (str(dockyard.root), record) in subnets._reservations().values()
        run = dockyard("--root", name, "run", "--rm", "--network", "app", "busybox", "true",
                       cwd=parent, check=False)
        assert (run.returncode, run.stderr) == (0, "")
    finally:
        dockyard("network", "rm", "app")


def test_a_network_removed_under_a_join_is_not_set_up(store_root: Path, sandboxes, monkeypatch) -> None:
    """`network rm` (another process) between a start's look-up of its network and the join's
    activation: the join went on with the record it had read, re-reserved the subnet for a
    network that no longer existed, and set it up. To the next sweep of any dockyard process on
    the host (sweep_stale, at every join) that reservation was a deleted store's: it swept the
    running container's bridge, rules and namespace. The network is not found, as at dockerd's
    start, and nothing is reserved or set up."""
    nets = Networks(store_root)
    record = nets.create(CreateRequest("brief"))
    box = sandboxes("late")
    joining = Networks.joining

    def removed_first(self: Networks):  # noqa: ANN202
        Networks(store_root).remove("brief", lambda cid: False, endpoints.sweep_subnet)
        return joining(self)

    monkeypatch.setattr(Networks, "joining", removed_first)
    with pytest.raises(NotFound, match="network brief not found"):
        box.join(NetworkRequest(mode="brief"))
    assert (str(store_root), record.id) not in subnets._reservations().values()
    assert record.interface not in _links()
    assert not (store_root / "networks" / record.id).exists()
