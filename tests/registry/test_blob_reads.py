"""A blob download reads the socket up to 1 MiB at a time (httpcore's default is 64 KiB, each
piece through h11 and a dozen Python calls): the bytes are the same, in fewer, larger pieces."""

from __future__ import annotations

import os
import re
import socket
import threading
import time

from dockyard.digest import Digest
from dockyard.transport.registry.client import DIRECT_BODY, READ_SIZE, RegistryClient
from dockyard.transport.registry.hosts import RegistrySettings
from dockyard.transport.streams import BytesAt
from tests.registry.registryd import RegistryServer


def test_a_blob_arrives_in_pieces_larger_than_httpcores_default(registry: RegistryServer) -> None:
    data = os.urandom(6 << 20)
    digest = Digest.of_bytes(data)
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        client.upload_blob("big/blob", digest, len(data), lambda offset: BytesAt(data, offset))
        pieces = list(client.iter_blob("big/blob", digest, size=len(data)))
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) > 64 * 1024  # httpcore alone never returns more
    assert all(len(p) <= READ_SIZE for p in pieces)


# After the first piece (what h11 read with the head), a large blob body is read from the
# connection's stream itself (client._body): the same bytes over TLS, a cut connection resumed with
# Range; that connection is closed after it, while a small blob's is kept for the next request.
LARGE = DIRECT_BODY + 333


def _blob_get_peers(registry: RegistryServer, count: int) -> list[str]:
    """The client address (host:port) of each blob GET the registry answered, in order."""
    deadline = time.monotonic() + 60
    while True:
        peers = [re.search(r'http.request.remoteaddr="?([^" ]+)', line).group(1)  # type: ignore[union-attr]
                 for line in registry.log.read_text(errors="replace").splitlines()
                 if "response completed" in line and "http.request.method=GET" in line and "/blobs/" in line]
        if len(peers) >= count or time.monotonic() > deadline:
            return peers
        time.sleep(0.05)  # the log line is written as the answer goes out


def test_a_large_blob_is_read_past_h11_and_a_small_one_keeps_its_connection(registry: RegistryServer) -> None:
    small, large = os.urandom(1 << 20), os.urandom(LARGE)
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        for data in (small, large):
            client.upload_blob("keep/blob", Digest.of_bytes(data), len(data), lambda offset, d=data: BytesAt(d, offset))
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        got = [b"".join(client.iter_blob("keep/blob", Digest.of_bytes(d), size=len(d)))
               for d in (small, small, large, small)]
    assert got == [small, small, large, small]
    first, second, third, fourth = _blob_get_peers(registry, 4)
    assert first == second == third  # one kept-alive connection, the large blob's too
    assert fourth != third  # the large body was read past h11: its connection was not reused

def test_a_blob_over_tls_reads_the_same(make_registry) -> None:  # noqa: ANN001
    registry = make_registry(tls=True)
    data = os.urandom(LARGE)
    digest = Digest.of_bytes(data)
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        client.upload_blob("tls/blob", digest, len(data), lambda offset: BytesAt(data, offset))
        assert client._endpoint is not None and client._endpoint.url.startswith("https://")
        pieces = list(client.iter_blob("tls/blob", digest, size=len(data)))
    assert b"".join(pieces) == data


class _CuttingProxy:
    """A TCP relay in front of the registry that closes the first blob GET's connection after
    `cut` bytes of its response (a real broken download, not a mocked one)."""

    def __init__(self, upstream: int, cut: int) -> None:
        self.upstream, self.cut = upstream, cut
        self.cuts = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state = {"cut": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        while data := _recv(client):
            self.requests.append(data)
            if data.startswith(b"GET ") and b"/blobs/sha256:" in data.split(b"\r\n")[0] and not self.cuts:
                self.cuts += 1
                state["cut"] = True
            server.sendall(data)
        server.close()

    def _down(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        sent = 0
        while data := _recv(server):
            if state["cut"] and sent + len(data) >= self.cut:
                client.sendall(data[: self.cut - sent])
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
                return
            client.sendall(data)
            sent += len(data)
        client.close()

    def close(self) -> None:
        self._listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except OSError:
        return b""


def test_a_cut_download_resumes_where_it_stopped(registry: RegistryServer) -> None:
    data = os.urandom(LARGE)
    digest = Digest.of_bytes(data)
    with RegistryClient(registry.host, RegistrySettings(), None) as client:
        client.upload_blob("cut/blob", digest, len(data), lambda offset: BytesAt(data, offset))
    proxy = _CuttingProxy(registry.port, cut=(5 << 20) + 5)  # inside the body, past h11's first read
    try:
        naps: list[float] = []
        with RegistryClient(f"127.0.0.1:{proxy.port}", RegistrySettings(), None, sleep=naps.append) as client:
            pieces = list(client.iter_blob("cut/blob", digest, size=len(data)))
    finally:
        proxy.close()
    assert b"".join(pieces) == data
    assert proxy.cuts == 1 and len(naps) == 1  # one broken read, one retry
    ranged = [r for r in proxy.requests if r.startswith(b"GET ") and b"Range: bytes=" in r]
    assert len(ranged) == 1
    start = int(ranged[0].split(b"Range: bytes=")[1].split(b"-")[0])
    assert 0 < start < (5 << 20)  # resumed from what had arrived, not from 0
