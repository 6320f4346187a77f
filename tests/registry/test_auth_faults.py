"""login/logout with htpasswd Basic auth, TLS with a CA of our own, and faults: a registry killed
mid-push, a manifest too large to be one.

Docker behaviours matched: `docker login` stores `auths.<host>.auth` = base64(user:password) in
config.json and prints `Login Succeeded`; a wrong password is `login attempt to <url>/v2/ failed
with status: 401 Unauthorized`; `docker logout` prints `Removing login credentials for <host>`;
registries on 127.0.0.0/8 are insecure by default (HTTPS without verification, then HTTP), and a
secure registry's CA comes from `certs.d/<host:port>/ca.crt`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Dockyard
from tests.registry.conftest import PASSWORD, USER


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "docker-config"


def _cli(root: Path, config_dir: Path, **extra: str) -> Dockyard:
    d = Dockyard(root)
    d.env["DOCKER_CONFIG"] = str(config_dir)
    d.env.update(extra)
    return d


def test_login_wrong_password_stores_nothing(store_root: Path, config_dir: Path, registry_auth) -> None:
    d = _cli(store_root, config_dir)
    r = d("login", "-u", USER, "--password-stdin", registry_auth.host, input=b"wrong\n", check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == (f"Error: login attempt to http://{registry_auth.host}/v2/ failed with "
                                "status: 401 Unauthorized")
    assert not (config_dir / "config.json").exists()


def test_login_push_pull_logout(store_root: Path, tmp_path: Path, config_dir: Path, busybox: str,
                                registry_auth) -> None:
    host = registry_auth.host
    d = _cli(store_root, config_dir)
    name = f"{host}/private/bb:v1"
    d("tag", "busybox", name)
    r = d("push", name, check=False)
    assert r.returncode != 0 and "no basic auth credentials" in r.stderr
    out = d("login", "-u", USER, "--password-stdin", host, input=PASSWORD.encode() + b"\n").stdout
    assert out == "Login Succeeded\n"
    auths = json.loads((config_dir / "config.json").read_text())["auths"]
    assert base64.b64decode(auths[host]["auth"]).decode() == f"{USER}:{PASSWORD}"
    d("push", name)
    puller = _cli(tmp_path / "puller", config_dir)
    puller("pull", name)
    assert puller("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == busybox
    assert d("logout", host).stdout == f"Removing login credentials for {host}\n"
    assert host not in json.loads((config_dir / "config.json").read_text()).get("auths", {})
    r = _cli(tmp_path / "third", config_dir)("pull", name, check=False)
    assert r.returncode != 0 and r.stderr.startswith("Error: ")


def test_tls_registry(store_root: Path, tmp_path: Path, config_dir: Path, busybox: str, registry_tls) -> None:
    host = registry_tls.host
    name = f"{host}/tls/bb:v1"
    # Default: 127.0.0.0/8 is insecure, so HTTPS is used without verification (Docker's rule).
    d = _cli(store_root, config_dir)
    d("tag", "busybox", name)
    d("push", name)
    assert any(m == "PUT" and "/manifests/v1" in p for m, p, _ in registry_tls.requests())
    # Loopback made secure: the CA must come from certs.d/<host:port>/.
    certs = tmp_path / "certs.d"
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"loopback-insecure": False, "certs-dir": str(certs)}))
    strict = _cli(tmp_path / "strict", config_dir, DOCKYARD_DAEMON_CONFIG=str(daemon))
    r = strict("pull", name, check=False)
    assert r.returncode != 0
    assert "x509: certificate signed by unknown authority" in r.stderr, r.stderr
    (certs / host).mkdir(parents=True)
    (certs / host / "ca.crt").write_bytes(registry_tls.ca_cert.read_bytes())
    strict("pull", name)
    assert strict("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == busybox


def _random_image(d: Dockyard, busybox_tar: Path, tmp_path: Path, name: str, mb: int) -> str:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xf", str(busybox_tar), "-C", str(rootfs)], check=True)
    (rootfs / "data.bin").write_bytes(os.urandom(mb << 20))
    tar = tmp_path / "random.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    return d("import", str(tar), name).stdout.strip()


def test_registry_killed_mid_push_then_restarted(store_root: Path, tmp_path: Path, config_dir: Path,
                                                 busybox_tar: Path, registry) -> None:
    d = _cli(store_root, config_dir)
    name = f"{registry.host}/faults/big:v1"
    image_id = _random_image(d, busybox_tar, tmp_path, name, 64)
    uploads = registry.root / "data" / "docker" / "registry" / "v2" / "repositories" / "faults" / "big" / "_uploads"
    push = subprocess.Popen([sys.executable, "-m", "dockyard", "push", name], env=d.env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (uploads.is_dir() and any(uploads.iterdir())):
        assert push.poll() is None and time.monotonic() < deadline, "the push never started an upload"
        time.sleep(0.002)
    # Freeze the registry mid-upload, then kill it: the client sees its connection die.
    registry.proc.send_signal(signal.SIGSTOP)
    registry.kill()
    out, err = push.communicate(timeout=120)
    assert push.returncode != 0
    assert err.decode().startswith("Error: ") and "Traceback" not in err.decode(), err
    registry.start()
    out = d("push", name).stdout
    assert re.search(r"^v1: digest: sha256:[0-9a-f]{64} size: \d+$", out, re.M), out
    puller = _cli(tmp_path / "puller", config_dir)
    puller("pull", name)
    assert puller("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == image_id


def test_huge_manifest_is_refused(store_root: Path, config_dir: Path) -> None:
    """A registry that sends an endless manifest: refused after 4 MiB + 1 byte, nothing stored.
    The CNCF registry itself refuses to serve manifests over 4 MiB ("read exceeds limit"), so
    this one fault needs a fake registry: a few lines of http.server on 127.0.0.1."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Liar(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            if self.path == "/v2/":
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(1024):  # up to 1 GiB, if anyone read it all
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        d = _cli(store_root, config_dir)
        before = sorted(str(p) for p in store_root.rglob("*") if "/tmp/" not in str(p))
        r = d("pull", f"127.0.0.1:{server.server_address[1]}/huge/img:v1", check=False)
        assert r.returncode != 0
        assert r.stderr.strip() == "Error: manifest too large: more than 4194304 bytes", r.stderr
        assert sorted(str(p) for p in store_root.rglob("*") if "/tmp/" not in str(p)) == before
    finally:
        server.shutdown()


def _downloading(tmp: Path) -> bool:
    """A pull's download file (in its staging dir under tmp/) has bytes."""
    for path in tmp.rglob("pull-*"):
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


def test_pull_killed_midway_leaves_no_image_and_concurrent_pulls_agree(
        store_root: Path, tmp_path: Path, config_dir: Path, busybox_tar: Path, registry) -> None:
    from dockyard.image.image import validate_image
    from dockyard.store.store import Store

    pusher = _cli(tmp_path / "pusher", config_dir)
    name = f"{registry.host}/faults/pullme:v1"
    image_id = _random_image(pusher, busybox_tar, tmp_path, name, 64)
    pusher("push", name)
    d = _cli(store_root, config_dir)
    pull = subprocess.Popen([sys.executable, "-m", "dockyard", "pull", name], env=d.env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = store_root / "tmp"
    deadline = time.monotonic() + 30
    while not _downloading(tmp):
        assert pull.poll() is None and time.monotonic() < deadline, "the pull never started a download"
        time.sleep(0.002)
    pull.kill()
    pull.wait()
    assert d("images", "-q").stdout == ""
    assert Store(store_root).image_ids() == []
    # Two pulls at once into the same store: both succeed, one whole image.
    procs = [subprocess.Popen([sys.executable, "-m", "dockyard", "pull", "-q", name], env=d.env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.decode() == f"{name}\n"
    store = Store(store_root)
    assert [str(i) for i in store.image_ids()] == [image_id]
    validate_image(store.image(store.image_ids()[0]))
