"""TCP only when asked, and only with TLS client certificates unless --insecure-tcp; checked
with the docker CLI's own TLS client (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)
    client = d / "client"
    client.mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((d / src).read_bytes())
    return d


def _serve(store_root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dockyard", "--root", str(store_root), "serve", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("server did not listen")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_tcp_refused_without_tls(store_root: Path) -> None:
    proc = _serve(store_root, "-H", f"tcp://127.0.0.1:{_free_port()}")
    assert proc.wait(30) != 0
    assert "without TLS client certificates" in proc.stderr.read().decode()


def test_tls_client_certificates(store_root: Path, certs: Path, dockyard, busybox: str,  # noqa: ANN001
                                 busybox_tar: Path) -> None:
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    port = _free_port()
    proc = _serve(store_root, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                  "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "server.pem"),
                  "--tlskey", str(certs / "server-key.pem"))
    try:
        _wait_port(port, proc)
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(certs / "client")}
        ok = subprocess.run(["docker", "version", "-f", "{{.Server.APIVersion}}"], env=env,
                            capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr.decode()
        assert ok.stdout.decode().strip() == "1.47"
        # Request bodies over TLS (an SSLSocket takes no MSG_PEEK: load and import answered 500
        # with "ValueError: non-zero flags not allowed in calls to recv()")
        loaded = subprocess.run(["docker", "load"], input=archive, env=env, capture_output=True, timeout=60)
        assert loaded.returncode == 0, loaded.stderr.decode()
        assert loaded.stdout.decode() == "Loaded image: busybox:latest\n"
        imported = subprocess.run(["docker", "import", str(busybox_tar), "imp:1"], env=env, capture_output=True,
                                  timeout=60)
        assert imported.returncode == 0, imported.stderr.decode()
        assert imported.stdout.decode().startswith("sha256:")
        # Without a client certificate the handshake fails.
        bare = certs / "bare"
        bare.mkdir(exist_ok=True)
        (bare / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
        no_cert = subprocess.run(["curl", "-s", "--cacert", str(bare / "ca.pem"),
                                  f"https://127.0.0.1:{port}/_ping"], capture_output=True, timeout=30)
        assert no_cert.returncode != 0 and no_cert.stdout != b"OK"
    finally:
        _stop(proc)


def test_insecure_tcp_when_asked(store_root: Path) -> None:
    port = _free_port()
    proc = _serve(store_root, "-H", f"tcp://127.0.0.1:{port}", "--insecure-tcp")
    try:
        _wait_port(port, proc)
        out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/_ping"], capture_output=True,
                             timeout=30)
        assert out.stdout == b"OK"
    finally:
        _stop(proc)
