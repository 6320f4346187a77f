"""A registry that sends more than its manifest declares (issue 16.11): an endless blob; one that
redirects a request to itself for ever.

A manifest's descriptor gives each blob's size; the client stops at that size and refuses the
blob, so an endless body costs at most the declared size (plus what the sockets buffered), and
nothing is stored. The CNCF registry serves blobs as they were pushed, so this fault needs a fake
registry: a few lines of http.server on 127.0.0.1 that serve a valid image whose layer (or
config) blob goes on forever after its real bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.digest import Digest
from tests.conftest import Dockyard

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
ENDLESS = 1 << 30  # what the fake registry would send, if anyone read it all


def _image() -> tuple[bytes, bytes, bytes]:
    """(layer blob, config blob, manifest) of a one-file image."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [str(Digest.of_bytes(raw.getvalue()))]},
                         }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": str(Digest.of_bytes(config))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": str(Digest.of_bytes(layer))}],
    }).encode()
    return layer, config, manifest


class _EndlessRegistry(ThreadingHTTPServer):
    """Serves the image; the blob named `endless` is followed by zeros without end."""

    def __init__(self, endless: str, loop: str = "", token: bool = False, deny: bool = False) -> None:
        self.layer, self.config, self.manifest = _image()
        self.blobs = {str(Digest.of_bytes(b)): b for b in (self.layer, self.config)}
        self.endless = str(Digest.of_bytes(self.layer if endless == "layer" else self.config)) if endless else ""
        self.loop = loop    # a path part whose requests are redirected to themselves
        self.token = token  # every request asks for a token; the token server's answer is endless
        self.deny = deny    # every request but /v2/ is a 401 with no challenge to answer
        self.redirects = 0
        self.sent = 0
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _EndlessRegistry

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.server.token:
            self._token()
        elif self.server.deny and self.path != "/v2/":
            body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "nope"}]}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.server.loop and self.server.loop in self.path:
            self.server.redirects += 1
            self.send_response(307)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/v2/":
            self._send(b"{}", "application/json")
        elif "/manifests/" in self.path:
            self._send(self.server.manifest, MANIFEST_TYPE)
        elif "/blobs/" in self.path:
            digest = self.path.rsplit("/", 1)[1]
            body = self.server.blobs[digest]
            if digest != self.server.endless:
                self._send(body, "application/octet-stream")
                return
            self.send_response(200)  # no Content-Length: the body ends when the connection does
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            zeros = bytes(1 << 20)
            try:
                self.wfile.write(body)
                self.server.sent += len(body)
                while self.server.sent < ENDLESS:
                    self.wfile.write(zeros)
                    self.server.sent += len(zeros)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send_error(404)

    do_HEAD = do_GET

    def _token(self) -> None:
        if not self.path.startswith("/token"):
            self.send_response(401)
            host = self.headers["Host"]
            self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="x"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)  # no Content-Length: the body ends when the connection does
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        spaces = b" " * (1 << 20)
        try:
            self.wfile.write(b'{"token": "')
            while self.server.sent < ENDLESS:
                self.wfile.write(spaces)
                self.server.sent += len(spaces)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if "/manifests/" in self.path:
            self.send_header("Docker-Content-Digest", str(Digest.of_bytes(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def _store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "tmp" not in p.parts)


@pytest.mark.parametrize("endless", ["layer", "config"])
def test_endless_blob_stops_at_the_declared_size(dockyard: Dockyard, store_root: Path, endless: str) -> None:
    server = _EndlessRegistry(endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        before = _store_files(store_root)
        name = f"127.0.0.1:{server.server_address[1]}/endless/img:v1"
        r = dockyard("pull", name, check=False, timeout=60)
        declared = len(server.layer if endless == "layer" else server.config)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1] == (
            f"Error: blob {server.endless}: the registry sent more than the {declared} bytes its "
            "manifest declares"), r.stderr
        assert _store_files(store_root) == before                       # nothing stored
        assert not list((store_root / "tmp").iterdir())                 # no temp file left
        assert server.sent < 64 << 20, server.sent                      # not the gigabyte
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("loop", ["/manifests/", "/blobs/"])
def test_a_redirect_loop_is_one_error_line(dockyard: Dockyard, store_root: Path, loop: str) -> None:
    """A manifest or blob redirected to itself for ever: one `Error:` line after Go's 10
    redirects, as dockerd 20.10 gives up (`docker pull` of the same fake registry: `Head
    "/v2/x/img/manifests/v1": stopped after 10 redirects`, and for a blob, after its retries,
    `stopped after 10 redirects`); it was httpx's TooManyRedirects traceback, after 20."""
    server = _EndlessRegistry("", loop=loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        before = _store_files(store_root)
        host = f"127.0.0.1:{server.server_address[1]}"
        r = dockyard("pull", f"{host}/loop/img:v1", check=False, timeout=60)
        assert r.returncode == 1
        last = r.stderr.strip().splitlines()
        assert "Traceback" not in r.stderr and last[-1].startswith(f'Error: Get "http://{host}/v2/loop/img{loop}')
        assert last[-1].endswith('": stopped after 10 redirects'), r.stderr
        assert server.redirects == 11          # the request and 10 redirects, no retry
        assert _store_files(store_root) == before
        assert not list((store_root / "tmp").iterdir())
    finally:
        server.shutdown()
        server.server_close()


def test_an_endless_token_answer_is_cut_at_its_limit(dockyard: Dockyard, store_root: Path) -> None:
    """The token server (any URL a registry's challenge names) answers without end: the client
    stops reading after MAX_TOKEN_RESPONSE (1 MiB) and says so in one line. It read the whole
    answer into memory first (httpx's .content): a 400 MB answer took 848 MB of RSS, an endless
    one all the memory there is."""
    from dockyard.transport.registry.auth import MAX_TOKEN_RESPONSE

    server = _EndlessRegistry("", token=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        r = dockyard("pull", f"{host}/tok/img:v1", check=False, timeout=60)
        assert r.returncode == 1
        assert r.stderr.splitlines() == [
            f"Error: token server http://{host}/token sent more than {MAX_TOKEN_RESPONSE} bytes"], r.stderr
        assert server.sent < 64 << 20, server.sent                      # not the gigabyte
        assert not list((store_root / "tmp").iterdir())
    finally:
        server.shutdown()
        server.server_close()


def test_a_401_without_a_challenge_is_one_error_line(dockyard: Dockyard) -> None:
    """A registry that answers 401 with no WWW-Authenticate (nothing to log in to): the
    registry's own message in one line. dockerd 20.10, same fake registry: `Error response from
    daemon: unauthorized: nope`. dockyard read the 401's body to see whether to answer it, and
    then the error's read of it failed: httpx's StreamConsumed traceback."""
    server = _EndlessRegistry("", deny=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = dockyard("pull", f"127.0.0.1:{server.server_address[1]}/deny/img:v1", check=False, timeout=60)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: ")
        assert r.stderr.rstrip().endswith("unauthorized: nope"), r.stderr
    finally:
        server.shutdown()
        server.server_close()
