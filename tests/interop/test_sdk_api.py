"""Behaviours the docker SDK relies on, found by running docker-py's own integration tests
against dockyard serve and dockerd: each checked here through the SDK (docker 7.1) on both."""

from __future__ import annotations

import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from tests.interop.conftest import Engine


@pytest.fixture
def client(engine: Engine):  # noqa: ANN201
    api = docker.APIClient(base_url=engine.host, version="1.41")
    made: list[str] = []
    api.made = made
    yield api
    for cid in made:
        try:
            api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass       # removed by the test
    api.close()


def _create(client, *args, **kwargs) -> str:  # noqa: ANN001, ANN002, ANN003
    cid = client.create_container(*args, **kwargs)["Id"]
    client.made.append(cid)
    return cid


def test_kill_returns_once_the_container_exited(client) -> None:  # noqa: ANN001
    """A kill (SIGKILL) answers when the container is no longer running: the inspect right after
    it sees it exited with 137 (the SDK's `kill(); inspect_container()`)."""
    cid = _create(client, "busybox", ["sleep", "9999"])
    client.start(cid)
    client.kill(cid)
    state = client.inspect_container(cid)["State"]
    assert (state["Running"], state["Status"], state["ExitCode"]) == (False, "exited", 137)


def test_env_names_without_value_unset(client) -> None:  # noqa: ANN001
    """Env entries without `=` stay in Config.Env as given and unset the name in the process
    (dockerd's ReplaceOrAppendEnvValues: PATH, HOSTNAME, TERM and the container's own), HOME
    is then the user's home; the daemon never fills them from its own environment (PATH is in
    serve's), for a container and for an exec."""
    env = {"PATH": None, "HOSTNAME": None, "TERM": None, "Foo": None, "Blank": "", "Other": "one"}
    cid = _create(client, "busybox", ["/bin/env"], tty=True, environment=env)
    assert client.inspect_container(cid)["Config"]["Env"] == ["PATH", "HOSTNAME", "TERM", "Foo", "Blank=",
                                                             "Other=one"]
    client.start(cid)
    client.wait(cid)
    assert client.logs(cid).split() == [b"Blank=", b"Other=one", b"HOME=/root"]
    cid = _create(client, "busybox", ["sleep", "60"], environment={"Foo": "1", "Bar": "2"})
    client.start(cid)
    run = client.exec_create(cid, ["/bin/env"], environment=["HOSTNAME", "Foo", "PATH", "Baz"])
    assert client.exec_start(run).split() == [b"Bar=2", b"HOME=/root"]


def test_no_swarm(client, engine: Engine) -> None:  # noqa: ANN001
    """A daemon in no swarm: the swarm's objects are 503 "not a swarm manager", leaving is 503
    "not part of a swarm", which the SDK's leave_swarm(force=True) takes as done (its network
    tests call it around each test)."""
    assert client.leave_swarm(force=True) is True
    for call in (client.inspect_swarm, client.nodes, client.services, client.tasks, client.secrets,
                 client.configs, lambda: client.inspect_service("x")):
        with pytest.raises(docker.errors.APIError) as err:
            call()
        assert err.value.status_code == 503
        assert err.value.explanation.startswith("This node is not a swarm manager.")
    with pytest.raises(docker.errors.APIError) as err:
        client.leave_swarm()
    assert (err.value.status_code, err.value.explanation) == (503, "This node is not part of a swarm")
    if engine.name == "dockyard":          # (dockerd would make one)
        with pytest.raises(docker.errors.APIError) as err:
            client.init_swarm()
        assert (err.value.status_code, err.value.explanation) == (501, "swarm mode is not supported by dockyard")


def test_exec_output_framed_by_the_start_tty(client) -> None:  # noqa: ANN001
    """An exec's output is framed by its start's Tty, not its own: made with a TTY and started
    without (exec_start's default) it is multiplexed, all on stdout; made without and started
    with, it is raw and its stderr is dropped (dockerd's exec start)."""
    cid = _create(client, "busybox", "cat", detach=True, stdin_open=True)
    client.start(cid)
    both = 'sh -c "echo hello out; echo hello err >&2"'
    run = client.exec_create(cid, both, tty=True)
    out, err = client.exec_start(run, demux=True)
    assert (out, err) == (b"hello out\r\nhello err\r\n", None)
    run = client.exec_create(cid, both, tty=True)
    assert client.exec_start(run, tty=True) == b"hello out\r\nhello err\r\n"
    run = client.exec_create(cid, both)
    assert client.exec_start(run, tty=True) == b"hello out\n"
    run = client.exec_create(cid, both)
    assert client.exec_start(run, demux=True) == (b"hello out\n", b"hello err\n")



def _tar(name: str, data: bytes = b"", link: str = "") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _member(stream, name: str) -> bytes:  # noqa: ANN001
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(name).read()


def test_archive_of_a_stopped_container_reaches_its_volumes(client, tmp_path) -> None:  # noqa: ANN001
    """The archive API on a container that is not running copies into and out of its volumes
    and binds, as dockerd mounts them for it: a file put into an anonymous volume before the
    first start is what the container reads there; after it exited, what it wrote in its volume
    and what is in its bind come back. A bind under a link of the rootfs (/data -> /srv) is
    mounted where the link leads inside the container, never on the host's path."""
    bound = tmp_path / "bound"
    bound.mkdir()
    assert not Path("/srv/bound").exists()
    base = _create(client, "busybox", "true")
    client.put_archive(base, "/", _tar("data", link="/srv"))
    image = client.commit(base, "sdk-linked", "1")["Id"]
    cid = _create(client, image, ["sh", "-c", "cat /vol1/in; echo out > /vol1/out; ls /srv/bound"],
                  volumes=["/vol1", "/data/bound"],
                  host_config=client.create_host_config(binds={str(bound): "/data/bound"}))
    client.put_archive(cid, "/vol1", _tar("in", b"Deaf To All But The Song\n"))
    (bound / "hello").write_bytes(b"from the host\n")
    client.start(cid)
    assert client.wait(cid)["StatusCode"] == 0
    assert client.logs(cid) == b"Deaf To All But The Song\nhello\n"
    stream, stat = client.get_archive(cid, "/vol1/out")
    assert stat["name"] == "out" and _member(stream, "out") == b"out\n"
    stream, _ = client.get_archive(cid, "/data/bound/hello")
    assert _member(stream, "hello") == b"from the host\n"
    client.put_archive(cid, "/srv/bound", _tar("back", b"in\n"))
    assert (bound / "back").read_bytes() == b"in\n" and not Path("/srv/bound").exists()
    client.remove_container(cid, force=True)
    client.remove_image("sdk-linked:1")


def test_host_config_kept_as_given(client) -> None:  # noqa: ANN001
    """HostConfig's VolumesFrom, Isolation and CgroupnsMode are what the request gave (dockyard
    showed None, "" and "host"), and CgroupnsMode private is honoured: the container's cgroups
    are the roots of a namespace of its own, where with the host's they are its cgroup's path."""
    source = _create(client, "busybox", "true", volumes=["/v"])
    host = client.create_host_config(volumes_from=[source], isolation="default", cgroupns="private")
    cid = _create(client, "busybox", ["cat", "/proc/self/cgroup"], host_config=host)
    config = client.inspect_container(cid)["HostConfig"]
    assert (config["VolumesFrom"], config["Isolation"], config["CgroupnsMode"]) == ([source], "default", "private")
    client.start(cid)
    client.wait(cid)
    lines = client.logs(cid).decode().split()
    assert lines and all(line.endswith(":/") for line in lines), lines
    plain = _create(client, "busybox", ["cat", "/proc/self/cgroup"])
    config = client.inspect_container(plain)["HostConfig"]
    assert (config["VolumesFrom"], config["Isolation"], config["CgroupnsMode"]) == (None, "", "host")
    client.start(plain)
    client.wait(plain)
    assert any(plain in line for line in client.logs(plain).decode().split())


def _create_with_log_driver(client, driver: str) -> tuple[int, str]:  # noqa: ANN001
    with pytest.raises(docker.errors.APIError) as err:
        _create(client, "busybox", "true", host_config=client.create_host_config(log_config={"Type": driver}))
    return err.value.status_code, err.value.explanation


@pytest.fixture(scope="module", autouse=True)
def _dockerd_etwlogs(request: pytest.FixtureRequest):  # noqa: ANN202
    """dockerd's answer to a create with the etwlogs log driver, asked in a thread of its own
    when the module starts (when test_unknown_log_driver[dockerd] is to run): dockerd looks the
    driver up as a plugin for ~15 s (pkg/plugins retries 1, 2, 4 and 8 s apart), an idle wait
    the module's other tests run beside instead of after. The test reads the answer."""
    wanted = (Path(request.module.__file__), "test_unknown_log_driver[dockerd]")   # (not the node
    # ID: under pytest-xdist's loadgroup it ends in "@" and the module's group)
    if not any((item.path, item.name) == wanted for item in request.session.items):
        yield None
        return
    reference = request.getfixturevalue("reference")

    def ask() -> tuple[int, str]:
        api = docker.APIClient(base_url=reference.env["DOCKER_HOST"], version="1.41", timeout=120)
        api.made = []
        try:
            return _create_with_log_driver(api, "etwlogs")
        finally:
            for cid in api.made:       # (made only if dockerd took the driver: the test fails)
                api.remove_container(cid, force=True)
            api.close()
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(ask)


def test_unknown_log_driver(client, engine: Engine, _dockerd_etwlogs) -> None:  # noqa: ANN001
    """A logging driver dockerd does not have is looked up as a plugin, and not found; one it
    has and dockyard does not is refused by dockyard, never ignored."""
    # (etwlogs: Windows only; dockerd's answer for it was asked at the module's start)
    for driver in ("asdf", "etwlogs") if engine.name == "dockyard" else ("etwlogs",):
        answer = _dockerd_etwlogs.result() if engine.name == "dockerd" else _create_with_log_driver(client, driver)
        assert answer == (400, f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    if engine.name == "dockyard":
        with pytest.raises(docker.errors.APIError) as err:
            _create(client, "busybox", "true", host_config=client.create_host_config(log_config={"Type": "syslog"}))
        assert err.value.explanation == "logging driver syslog is not supported by dockyard (json-file and none only)"


def test_commit_of_a_container_that_exits_meanwhile(client) -> None:  # noqa: ANN001
    """A commit (pause=True) right after the start of a short command: the container may exit
    between the commit's look at it and its pause, and is committed as it is then (dockyard
    answered 500 container not running / does not exist from the runtime's pause)."""
    base = client.inspect_image("busybox")["Id"]
    for _ in range(8):
        cid = _create(client, "busybox", ["touch", "/test"])
        client.start(cid)
        image = client.commit(cid)["Id"]
        client.wait(cid)
        assert client.inspect_image(image)["Parent"] == base
        client.remove_container(cid)
        client.remove_image(image)


def test_build_with_a_dockerfile_outside_the_context(client, tmp_path) -> None:  # noqa: ANN001
    """The SDK puts a Dockerfile from outside the context into the context's tar and names it
    twice in the query (its name there, then its text): the first is the one (Go's FormValue)."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "file").write_text("in the context\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /src\nWORKDIR /src\n")
    lines = list(client.build(path=str(tmp_path / "ctx"), dockerfile=str(tmp_path / "Dockerfile"),
                              tag="sdk-outside:1", decode=True))
    assert any("Successfully tagged sdk-outside:1" in line.get("stream", "") for line in lines), lines
    cid = _create(client, "sdk-outside:1", ["ls", "-a"])
    client.start(cid)
    client.wait(cid)
    assert "file" in client.logs(cid).decode().split()
    client.remove_container(cid)
    client.remove_image("sdk-outside:1")


def test_load_of_a_bad_archive_fails_in_the_stream(engine: Engine) -> None:
    """A load of what is not an image archive answers 200 with the failure in its JSON stream,
    as dockerd does: the SDK's images.load raises ImageLoadError, the docker CLI exits 1 with it."""
    sdk = docker.DockerClient(base_url=engine.host, version="1.41")
    with pytest.raises(docker.errors.ImageLoadError):
        sdk.images.load(b"abc")
    sdk.close()
    proc = engine.docker("load", input=b"abc", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() and b"Error response from daemon" not in proc.stderr


def test_memory_swappiness_and_device_cgroup_rules(client) -> None:  # noqa: ANN001
    """HostConfig.MemorySwappiness (compose's mem_swappiness) and DeviceCgroupRules are honoured
    on this host's v1 cgroups and shown by inspect (dockyard refused both); -1 is the kernel's
    (null); a bad rule is refused in dockerd's words (dockerd at the start, dockyard at create)."""
    host = client.create_host_config(mem_swappiness=30, device_cgroup_rules=["c 42:* rmw", "b 7:0 r"])
    cid = _create(client, "busybox", ["cat", "/sys/fs/cgroup/memory/memory.swappiness",
                                      "/sys/fs/cgroup/devices/devices.list"], host_config=host)
    config = client.inspect_container(cid)["HostConfig"]
    assert (config["MemorySwappiness"], config["DeviceCgroupRules"]) == (30, ["c 42:* rmw", "b 7:0 r"])
    client.start(cid)
    assert client.wait(cid)["StatusCode"] == 0
    lines = client.logs(cid).decode().splitlines()
    assert lines[0] == "30" and {"c 42:* rwm", "b 7:0 r"} <= set(lines[1:]), lines
    plain = _create(client, "busybox", "true", host_config=client.create_host_config(mem_swappiness=-1))
    config = client.inspect_container(plain)["HostConfig"]
    assert (config["MemorySwappiness"], config["DeviceCgroupRules"]) == (None, None)
    with pytest.raises(docker.errors.APIError) as err:
        _create(client, "busybox", "true", host_config=client.create_host_config(mem_swappiness=101))
    assert err.value.explanation == "Invalid value: 101, valid memory swappiness range is 0-100"
    with pytest.raises(docker.errors.APIError) as err:
        client.start(_create(client, "busybox", "true",
                             host_config=client.create_host_config(device_cgroup_rules=["x 1:2 r"])))
    assert err.value.explanation == "invalid device cgroup rule format: 'x 1:2 r'"


def test_log_driver_none(client, engine: Engine) -> None:  # noqa: ANN001
    """`logging: driver: none` (compose) / LogConfig Type none: the container runs and its output
    reaches an attached client (the SDK's run, docker run), inspect shows the driver and no
    LogPath, and `logs` is refused in dockerd's words (dockyard refused the driver)."""
    proc = engine.docker("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    client.made.append("quiet")
    assert proc.stdout == b"hi\n"
    info = client.inspect_container("quiet")
    assert (info["HostConfig"]["LogConfig"], info["LogPath"]) == ({"Type": "none", "Config": {}}, "")
    with pytest.raises(docker.errors.APIError) as err:
        client.logs("quiet")
    assert (err.value.status_code, err.value.explanation) == (
        501, "configured logging driver does not support reading")
    sdk = docker.DockerClient(base_url=engine.host, version="1.41")
    try:
        assert sdk.containers.run("busybox", "echo hello", log_config={"type": "none"}, remove=True) is None
    finally:
        sdk.close()
    if engine.name == "dockyard":   # (dockerd takes options for none and ignores them; its CLI refuses)
        with pytest.raises(docker.errors.APIError) as err:
            _create(client, "busybox", "true",
                    host_config=client.create_host_config(log_config={"Type": "none", "Config": {"max-size": "1k"}}))
        assert err.value.explanation == "invalid logging opts for driver none"


def test_mac_address_and_endpoint_driver_opts(client, engine: Engine) -> None:  # noqa: ANN001
    """Config.MacAddress is the MAC of the container's interface on the network of its mode
    (inspect shows it there and in Config), an endpoint's DriverOpts are kept and shown (dockerd's
    bridge ignores those it does not know), a bad MAC is refused in Go's words (dockerd at the
    start, dockyard at create). An endpoint's own MacAddress (API 1.44) and a connect's are
    honoured by dockyard; dockerd 20.10 ignores them (checked in tests/api/test_sdk)."""
    net = client.create_network(f"macnet-{engine.name}")["Id"]
    try:
        networking = client.create_networking_config({
            f"macnet-{engine.name}": client.create_endpoint_config(driver_opt={"foo": "bar"})})
        cid = _create(client, "busybox", ["cat", "/sys/class/net/eth0/address"], mac_address="02:11:22:33:44:55",
                      host_config=client.create_host_config(network_mode=f"macnet-{engine.name}"),
                      networking_config=networking)
        client.start(cid)
        client.wait(cid)
        assert client.logs(cid) == b"02:11:22:33:44:55\n"
        info = client.inspect_container(cid)
        assert info["Config"]["MacAddress"] == "02:11:22:33:44:55"
        assert info["NetworkSettings"]["Networks"][f"macnet-{engine.name}"]["DriverOpts"] == {"foo": "bar"}
        client.remove_container(cid)
        cid = _create(client, "busybox", ["sleep", "60"], mac_address="02:11:22:33:44:56")
        client.start(cid)
        info = client.inspect_container(cid)
        assert (info["NetworkSettings"]["MacAddress"],
                info["NetworkSettings"]["Networks"]["bridge"]["MacAddress"]) == ("02:11:22:33:44:56",) * 2
        client.remove_container(cid, force=True)
        with pytest.raises(docker.errors.APIError) as err:
            client.start(_create(client, "busybox", "true", mac_address="02:11:22:33:44"))
        assert err.value.explanation == "address 02:11:22:33:44: invalid MAC address"
    finally:
        for cid in client.made:
            try:
                client.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass
        client.made.clear()
        client.remove_network(net)


def test_ip_range_and_aux_addresses(client, engine: Engine) -> None:  # noqa: ANN001
    """A network's IPAM IPRange and AuxiliaryAddresses (`--ip-range`, `--aux-address`): inspect
    shows them, containers get addresses from the range only and never an auxiliary one; a
    fixed address may be anywhere in the subnet, an auxiliary one is in use (dockyard refused
    both options). (A subnet per engine: both may have their bridge up at once.)"""
    net = "172.29.251" if engine.name == "dockyard" else "172.29.252"
    pool = docker.types.IPAMPool(subnet=f"{net}.0/24", iprange=f"{net}.128/25", gateway=f"{net}.254",
                                 aux_addresses={"a": f"{net}.128", "b": f"{net}.129"})
    nid = client.create_network("ranged", ipam=docker.types.IPAMConfig(pool_configs=[pool]))["Id"]
    try:
        assert client.inspect_network(nid)["IPAM"]["Config"] == [{
            "Subnet": f"{net}.0/24", "IPRange": f"{net}.128/25", "Gateway": f"{net}.254",
            "AuxiliaryAddresses": {"a": f"{net}.128", "b": f"{net}.129"}}]
        cid = _create(client, "busybox", ["sleep", "60"], host_config=client.create_host_config(network_mode="ranged"))
        client.start(cid)
        assert client.inspect_container(cid)["NetworkSettings"]["Networks"]["ranged"]["IPAddress"] == f"{net}.130"
        fixed = _create(client, "busybox", ["sleep", "60"])
        client.connect_container_to_network(fixed, nid, ipv4_address=f"{net}.5")
        client.start(fixed)
        assert client.inspect_container(fixed)["NetworkSettings"]["Networks"]["ranged"]["IPAddress"] == f"{net}.5"
        aux = _create(client, "busybox", ["sleep", "60"])
        client.start(aux)
        with pytest.raises(docker.errors.APIError) as err:
            client.connect_container_to_network(aux, nid, ipv4_address=f"{net}.129")
        assert "Address already in use" in err.value.explanation
    finally:
        for cid in client.made:
            client.remove_container(cid, force=True)
        client.made.clear()
        client.remove_network(nid)


def test_legacy_link_variables_and_link_removal(client) -> None:  # noqa: ANN001
    """Links on the default bridge give dockerd's variables (alias_NAME, _PORT..., a _START/_END
    set for consecutive ports, _ENV_...; docker-py's test_create_with_links), to the container
    and its execs; a link to a container that does not run fails the start in dockerd's words;
    DELETE /containers/PARENT/ALIAS?link=1 removes the link (dockyard refused it), its
    /etc/hosts line at once."""
    target = _create(client, "busybox", ["sleep", "60"], environment={"FOO": "1"},
                     ports=[80, 81, 82, (53, "udp")])
    client.start(target)
    ip = client.inspect_container(target)["NetworkSettings"]["IPAddress"]
    name = client.inspect_container(target)["Name"][1:]
    cid = _create(client, "busybox", ["sleep", "60"], host_config=client.create_host_config(
        links={name: "my-link"}, network_mode="bridge"))
    client.start(cid)
    parent = client.inspect_container(cid)["Name"][1:]
    assert client.inspect_container(cid)["HostConfig"]["Links"] == [f"/{name}:/{parent}/my-link"]
    seen = client.exec_start(client.exec_create(cid, ["env"])).decode().split()
    expected = [f"MY_LINK_ENV_FOO=1", f"MY_LINK_NAME=/{parent}/my-link", f"MY_LINK_PORT=udp://{ip}:53",
                f"MY_LINK_PORT_80_TCP_START=tcp://{ip}:80", f"MY_LINK_PORT_80_TCP_PORT_START=80",
                f"MY_LINK_PORT_80_TCP_END=tcp://{ip}:82", f"MY_LINK_PORT_80_TCP_PORT_END=82"]
    for port, proto in ((53, "udp"), (80, "tcp"), (81, "tcp"), (82, "tcp")):
        head = f"MY_LINK_PORT_{port}_{proto.upper()}"
        expected += [f"{head}={proto}://{ip}:{port}", f"{head}_ADDR={ip}", f"{head}_PORT={port}",
                     f"{head}_PROTO={proto}"]
    assert sorted(v for v in seen if v.startswith("MY_LINK")) == sorted(expected)

    def hosts() -> list[str]:
        return client.exec_start(client.exec_create(cid, ["cat", "/etc/hosts"])).decode().splitlines()

    # dockerd's line: the alias, the linked container's hostname, its name (dockyard: the alias)
    hostname = client.inspect_container(target)["Config"]["Hostname"]
    assert f"{ip}\tmy-link {hostname} {name}" in hosts()
    client.remove_container(f"{parent}/my-link", link=True)
    assert client.inspect_container(cid)["HostConfig"]["Links"] is None
    # gone from the running container at once (dockyard kept it until the next start)
    assert not [line for line in hosts() if "my-link" in line.split()]
    with pytest.raises(docker.errors.NotFound) as err:
        client.remove_container(f"{parent}/my-link", link=True)
    assert err.value.explanation == f"No such container: {parent}/my-link"
    stopped = _create(client, "busybox", "true")
    client.start(stopped)
    client.wait(stopped)
    other = _create(client, "busybox", "true", host_config=client.create_host_config(links={stopped: "gone"}))
    with pytest.raises(docker.errors.APIError) as err:
        client.start(other)
    assert err.value.explanation == (f"Cannot link to a non running container: "
                                     f"{client.inspect_container(stopped)['Name']} AS "
                                     f"{client.inspect_container(other)['Name']}/gone")
