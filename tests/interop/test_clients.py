"""The docker SDK and testcontainers-python as their users run them, against dockyard serve and
the reference dockerd (networked)."""

from __future__ import annotations

import os
import socket
import time

import docker
import pytest

from tests.interop.conftest import Engine


def _get(host: str, port: int, path: str = "/") -> bytes:
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if data:
                return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on {host}:{port}")
        time.sleep(0.2)


def test_sdk_networks_ports_and_names(engine: Engine) -> None:
    client = docker.DockerClient(base_url=engine.host)
    net = client.networks.create("sdknet", labels={"t": "sdk"})
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], detach=True,
                                name="sdkweb", network="sdknet", ports={"80/tcp": ("127.0.0.1", None)},
                                labels={"role": "web"})
    try:
        web.reload()
        settings = web.attrs["NetworkSettings"]
        assert list(settings["Networks"]) == ["sdknet"]
        ip = settings["Networks"]["sdknet"]["IPAddress"]
        assert ip and settings["Networks"]["sdknet"]["Gateway"]
        binding = settings["Ports"]["80/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1"
        assert b"200 OK" in _get("127.0.0.1", int(binding["HostPort"]), "/hostname")
        # another container reaches it by name and by alias on the user network
        out = client.containers.run("busybox", ["wget", "-q", "-O", "-", "http://sdkweb/hostname"],
                                    network="sdknet", remove=True)
        assert out.strip() == web.attrs["Config"]["Hostname"].encode()
        # labels and filters
        assert [c.name for c in client.containers.list(filters={"label": "role=web"})] == ["sdkweb"]
        assert client.containers.list(filters={"name": "nothing-of-the-kind"}) == []
        with pytest.raises(docker.errors.APIError, match="Invalid filter"):
            client.containers.list(filters={"colour": "blue"})
        assert client.networks.get("sdknet").attrs["Containers"][web.id]["IPv4Address"].startswith(ip)
    finally:
        web.remove(force=True)
        net.remove()


def test_testcontainers(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")   # its image cannot be pulled here
    monkeypatch.setenv("TC_HOST", "localhost")   # this machine's default route leads out: never it
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = DockerContainer("busybox:latest").with_command(
        ["sh", "-c", "echo ready; exec httpd -f -p 8000 -h /etc"]).with_exposed_ports(8000)
    container.waiting_for(LogMessageWaitStrategy("ready").with_startup_timeout(30))
    with container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8000))
        assert b"200 OK" in _get(host, port, "/hostname")
        code, output = container.exec(["cat", "/etc/hostname"])
        assert code == 0 and output.strip()
        stdout, _ = container.get_logs()
        assert b"ready" in stdout
