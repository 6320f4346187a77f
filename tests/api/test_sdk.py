"""The docker Python SDK (PyPI `docker`) against `dockyard serve`: the client's own parsing of
Docker's responses is the check that ours are Docker-shaped."""

from __future__ import annotations

import io
import tarfile
import time

import docker
import pytest

from tests.api.conftest import Server


@pytest.fixture
def client(server: Server, busybox: str):  # noqa: ANN201
    c = docker.DockerClient(base_url=server.url, timeout=60)
    yield c
    c.close()


def _context(dockerfile: str, files: dict[str, bytes] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_version_and_ping(client: docker.DockerClient) -> None:
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.47" and version["MinAPIVersion"] == "1.24"
    info = client.info()
    assert info["Images"] == 1
    # dockerd 20.10 on this host says the same: containers run under the default seccomp profile
    assert info["SecurityOptions"] == ["name=seccomp,profile=default"]


def test_build_list_inspect_history_tag(client: docker.DockerClient, busybox: str) -> None:
    ctx = _context("FROM busybox\nCOPY hello /hello\nENV A=1\n", {"hello": b"hi\n"})
    image, stream = client.images.build(fileobj=ctx, custom_context=True, tag="sdk:1", rm=True)
    logs = list(stream)
    streams = "".join(item.get("stream", "") for item in logs)
    assert "Step 1/3 : FROM busybox" in streams and "Successfully tagged sdk:1" in streams
    # Docker sends the image ID as an aux message before "Successfully built".
    aux = [item["aux"]["ID"] for item in logs if "aux" in item]
    assert aux == [image.id]
    assert image.tags == ["sdk:1"]
    assert "A=1" in image.attrs["Config"]["Env"]
    assert {t for i in client.images.list() for t in i.tags} == {"sdk:1", "busybox:latest"}
    assert [i.tags for i in client.images.list(name="sdk")] == [["sdk:1"]]
    history = image.history()
    assert history[0]["Id"] == image.id and history[0]["CreatedBy"].startswith("/bin/sh -c #(nop)")
    assert history[-1]["Id"] == busybox
    assert image.tag("sdk", "2") is True
    assert set(client.images.get("sdk:2").tags) == {"sdk:1", "sdk:2"}
    client.images.remove("sdk:2")
    assert client.images.get(image.id).tags == ["sdk:1"]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nope:latest")


def test_build_failure_is_an_error_in_the_stream(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.BuildError) as info:
        client.images.build(fileobj=_context("FROM busybox\nRUN exit 7\n"), custom_context=True)
    assert "returned a non-zero code: 7" in str(info.value)


def test_save_load(client: docker.DockerClient, busybox: str) -> None:
    # named=True: the SDK saves by name (by ID, Docker writes no RepoTags, and neither do we).
    data = b"".join(client.images.get("busybox").save(chunk_size=65536, named=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "manifest.json" in tar.getnames()
    client.images.remove("busybox:latest", force=True)
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [busybox]
    assert client.images.get("busybox").tags == ["busybox:latest"]


def test_containers_commit_export_import(client: docker.DockerClient, busybox: str) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; touch /made; sleep 60"],
                              detach=True, name="sdk1")
    try:
        deadline = time.monotonic() + 60
        while b"err" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.logs(stdout=True, stderr=False) == b"out\n"
        assert c.logs(stdout=False, stderr=True) == b"err\n"
        c.reload()
        assert c.status == "running"
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        assert [x.name for x in client.containers.list()] == ["sdk1"]
        assert {"Path": "/made", "Kind": 1} in c.diff()
        committed = c.commit("sdkc", "v1", message="msg")
        assert committed.tags == ["sdkc:v1"]
        tar_bytes = b"".join(c.export())
    finally:
        c.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert "made" in tar.getnames()
    imported = client.api.import_image_from_data(tar_bytes, repository="sdkimp", tag="x")
    image = client.images.get("sdkimp:x")
    assert image.id in imported
    assert len(image.attrs["RootFS"]["Layers"]) == 1
    out = client.containers.run("sdkc:v1", ["ls", "/made"], remove=True)
    assert out == b"/made\n"
    assert client.containers.list(all=True) == []
    client.images.remove("sdkimp:x")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("sdkimp:x")


def test_wait_returns_exit_code(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True)
    assert c.wait(timeout=30)["StatusCode"] == 5
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nope")
    with pytest.raises(docker.errors.APIError) as info:
        client.images.remove("busybox")  # a container uses it
    assert info.value.status_code == 409
    c.remove()


def test_build_parameters(client: docker.DockerClient) -> None:
    """buildargs, labels, target, nocache, q, dockerfile: as `POST /build` takes them."""
    dockerfile = ("FROM busybox AS first\nARG WHO=nobody\nRUN echo \"hi $WHO\" > /who\n"
                  "FROM first AS second\nRUN exit 1\n")
    ctx = _context("", {"sub/Build.file": dockerfile.encode()})
    image, stream = client.images.build(fileobj=ctx, custom_context=True, dockerfile="sub/Build.file",
                                        buildargs={"WHO": "api"}, labels={"via": "api"},
                                        target="first", tag="params:1")
    logs = list(stream)
    assert image.labels == {"via": "api"}
    assert client.containers.run("params:1", ["cat", "/who"], remove=True) == b"hi api\n"
    ctx.seek(0)
    again, stream = client.images.build(fileobj=ctx, custom_context=True, dockerfile="sub/Build.file",
                                        buildargs={"WHO": "api"}, labels={"via": "api"},
                                        target="first", nocache=True, quiet=True)
    quiet = list(stream)
    assert [m for m in quiet if "stream" in m] == [{"stream": f"{again.id}\n"}]
    assert again.id != image.id  # nocache: rebuilt (new creation times)
    assert any("Using cache" in m.get("stream", "") for m in logs) is False


def test_logs_follow_and_attach_framing(client: docker.DockerClient, server: Server) -> None:
    """Without a TTY, logs and attach use Docker's multiplexed framing (stream id, size)."""
    c = client.containers.create(
        "busybox", ["sh", "-c", "echo a; sleep 0.2; echo b >&2; sleep 0.2; echo c"])
    sock = client.api.attach_socket(c.id, params={"stdout": 1, "stderr": 1, "stream": 1})
    c.start()
    raw = b""
    while data := sock._sock.recv(65536):
        raw += data
    sock.close()
    from dockyard.api.framing import demux

    # each stream in its order; across the two the order is the one their pipes were read in
    # (dockerd's shim copies each in a goroutine of its own): a monitor stalled 0.2 s read c
    # before b (3 of 12 runs beside three busy loops)
    frames = list(demux(raw))
    assert [f for f in frames if f[0] == 1] == [(1, b"a\n"), (1, b"c\n")]
    assert [f for f in frames if f[0] == 2] == [(2, b"b\n")]
    assert b"".join(c.logs(stream=True, follow=True, stderr=False)) == b"a\nc\n"
    assert b"".join(c.logs(stream=True, follow=True, stdout=False)) == b"b\n"
    c.remove()


def _has_registry_engine() -> bool:
    import importlib.util

    return importlib.util.find_spec("dockyard.engine.registry") is not None


@pytest.mark.skipif(not _has_registry_engine(), reason="dockyard/engine/registry.py not there yet")
def test_push_pull(client: docker.DockerClient, busybox: str, registry: str) -> None:
    repo = f"{registry}/sdk/bb"
    client.images.get("busybox").tag(repo, "v2")
    events = list(client.images.push(repo, tag="v2", stream=True, decode=True))
    assert not [e for e in events if "error" in e], events
    aux = [e["aux"] for e in events if "aux" in e]
    assert aux and aux[-1]["Tag"] == "v2" and aux[-1]["Digest"].startswith("sha256:")
    client.images.remove(f"{repo}:v2")
    pulled = client.images.pull(repo, tag="v2")
    assert pulled.id == busybox
    assert f"{repo}@{aux[-1]['Digest']}" in pulled.attrs["RepoDigests"]


def test_stop_restart_kill(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
                              detach=True)
    c.stop(timeout=5)
    c.reload()
    assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 0)
    c.restart(timeout=5)
    c.reload()
    assert c.status == "running"
    c.kill()
    assert c.wait(timeout=30)["StatusCode"] == 137  # SIGKILL, as Docker reports it
    with pytest.raises(docker.errors.APIError) as info:
        c.kill()
    assert info.value.status_code == 409  # not running
    c.remove()


def test_nothing_stays_mounted_after_a_build(client: docker.DockerClient, busybox: str, store_root) -> None:  # noqa: ANN001
    # a RUN step's overlay is unmounted while the next step's runtime runs (runtime/leftover.py);
    # the last one's when the build ends, not at serve's next build or exit
    def mounts() -> list[str]:
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if line.split()[4].startswith(str(store_root))]

    ctx = _context("FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n")
    logs = list(client.api.build(fileobj=ctx, custom_context=True, rm=True, decode=True))
    assert any("Successfully built" in item.get("stream", "") for item in logs), logs
    assert mounts() == []


def test_endpoint_mac_addresses(client: docker.DockerClient) -> None:
    """An endpoint's own MacAddress (API 1.44: `docker run --network N --mac-address`, the SDK's
    endpoint config) and a connect's give the container's interfaces those MACs, shown by
    inspect (dockerd 20.10 ignores both; 25+ honours them, as here)."""
    net = client.networks.create("macs")
    try:
        api = client.api
        networking = api.create_networking_config({"macs": api.create_endpoint_config(mac_address="02:aa:bb:cc:dd:01")})
        cid = api.create_container("busybox", ["sleep", "60"], networking_config=networking,
                                   host_config=api.create_host_config(network_mode="macs"))["Id"]
        # shown as given before the start (docker-py's test_connect_with_mac_address)
        assert api.inspect_container(cid)["NetworkSettings"]["Networks"]["macs"]["MacAddress"] == "02:aa:bb:cc:dd:01"
        api.start(cid)
        client.networks.get("bridge").connect(cid, mac_address="02:aa:bb:cc:dd:02")
        out = api.exec_start(api.exec_create(cid, ["cat", "/sys/class/net/eth0/address",
                                                   "/sys/class/net/eth1/address"]))
        assert out == b"02:aa:bb:cc:dd:01\n02:aa:bb:cc:dd:02\n"
        networks = api.inspect_container(cid)["NetworkSettings"]["Networks"]
        assert (networks["macs"]["MacAddress"], networks["bridge"]["MacAddress"]) == (
            "02:aa:bb:cc:dd:01", "02:aa:bb:cc:dd:02")
        with pytest.raises(docker.errors.APIError, match="address zz: invalid MAC address"):
            client.networks.get("bridge").connect(cid, mac_address="zz")
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        net.remove()


def test_ip_range_and_aux_addresses_checked(client: docker.DockerClient) -> None:
    """A network's IP range and auxiliary addresses are checked at create, in dockerd's (or its
    CLI's) words, and a refused network leaves no subnet reservation behind."""
    from pathlib import Path

    def refused(message: str, **pool: object) -> None:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(**pool)])
        with pytest.raises(docker.errors.APIError) as err:
            client.networks.create("checked", ipam=ipam)
        assert err.value.explanation == message

    subnet = "172.29.253.0/24"
    refused("no matching subnet for range 172.29.254.0/25", subnet=subnet, iprange="172.29.254.0/25")
    refused("every ip-range or gateway must have a corresponding subnet", iprange="172.29.254.0/25")
    refused('failed to parse pool request for address space "LocalDefault" pool "172.29.253.0/24" '
            'subpool "zz": Invalid Address SubPool', subnet=subnet, iprange="zz")
    refused("auxiliary address: (a:172.29.254.1) must belong to the master pool: 172.29.253.0/24",
            subnet=subnet, aux_addresses={"a": "172.29.254.1"})
    refused("failed to allocate secondary ip address (a:172.29.253.1): Address already in use",
            subnet=subnet, aux_addresses={"a": "172.29.253.1"})
    assert not Path("/run/dockyard/subnets/172.29.253.0_24").exists()
    # the gateway is the range's first address, as dockerd's IPAM gives it
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, iprange="172.29.253.64/26")])
    net = client.networks.create("ranged", ipam=ipam)
    try:
        assert net.attrs["IPAM"]["Config"][0]["Gateway"] == "172.29.253.64"
    finally:
        net.remove()
