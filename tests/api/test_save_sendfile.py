"""`docker save` through serve sends the layer tars by sendfile(2): the response body is the same
archive, byte for byte, as an in-process save, while the server reads no layer byte itself
(before, every MiB went read() -> Python -> chunk framing -> sendall: 0.3-1.0 s of the server's
CPU for a 500 MiB image). Counted with the kernel's per-task read-syscall counter (syscr in
/proc/.../io; a sendfile counts as one), so the test fails if the bodies go the copying way."""

from __future__ import annotations

import http.client
import io
import os
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from dockyard.api.framing import ChunkedDecoder, parse_head
from dockyard.api.http import SEND_FILE_BUFFER, Connection, Response
from dockyard.api.streams import binary_writer
from dockyard.archive.tarstream import TarWriter
from dockyard.engine.transfer import save_images
from dockyard.store.store import Store
from tests.api.conftest import Server

MiB = 1 << 20


def _syscr(path: str) -> int:
    return _io_count(path, "syscr")


def _io_count(path: str, name: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in {path}")


def _reads_not_sendfile(path: str) -> int:
    """read(2)-like calls counted in /proc/PID/io: syscr less syscw. sendfile(2) counts one of
    each per call, and it is called again after each partial send: a client that reads slowly
    (a loaded machine: 102 in CI) makes many. A socket's send(2) counts in neither."""
    return _io_count(path, "syscr") - _io_count(path, "syscw")


def _dechunk(data: bytes) -> bytes:
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Transfer-Encoding: chunked" in head
    decoder = ChunkedDecoder()
    out = decoder.feed(body)
    assert decoder.done
    return out


def _respond(write_body) -> bytes:  # noqa: ANN001
    """What a client reads from a streamed response whose body `write_body(out)` writes."""
    server, client = socket.socketpair()
    got = bytearray()

    def read() -> None:
        while data := client.recv(MiB):
            got.extend(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        resp = Response(Connection(server), parse_head(b"GET /images/get HTTP/1.1\r\nHost: d\r\n"), "1.43")
        out = binary_writer(resp.stream("application/x-tar"), threading.Event(), resp.send_file)
        write_body(out)
        out.flush()
        resp.finish()
    finally:
        server.shutdown(socket.SHUT_WR)
        reader.join()
        server.close()
        client.close()
    return _dechunk(bytes(got))


def _archive(out, layer: Path, skip: int) -> None:  # noqa: ANN001
    tar = TarWriter(out)
    tar.add_dir("blobs")
    tar.add_bytes("small", b"x" * 700)
    with open(layer, "rb") as f:
        f.seek(skip)  # the body is the stream from where it stands
        tar.add_stream("layer.tar", f, layer.stat().st_size - skip)
        assert f.tell() == layer.stat().st_size
    tar.add_bytes("after", b"y" * 3)
    tar.close()


def test_file_bodies_go_by_sendfile_and_read_the_same(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.write_bytes(os.urandom(8 * MiB + 123))
    expected = io.BytesIO()
    _archive(expected, layer, 5)

    def write_body(out) -> None:  # noqa: ANN001
        before = _syscr("/proc/thread-self/io")
        _archive(out, layer, 5)
        # the copy path reads the 8 MiB in 1 MiB pieces (>= 8 reads); sendfile is one syscall
        assert _syscr("/proc/thread-self/io") - before <= 3

    assert _respond(write_body) == expected.getvalue()
    with tarfile.open(fileobj=io.BytesIO(expected.getvalue())) as tar:
        assert tar.getnames() == ["blobs", "small", "layer.tar", "after"]


def test_a_connection_that_sends_a_file_widens_its_send_buffer(tmp_path: Path) -> None:
    """The docker CLI reads `save` in 32 KiB reads: with the default send buffer (208 KiB, the
    sender woken below a quarter of it) it found the socket empty 1,258 times in 500 MiB."""
    layer = tmp_path / "layer"
    layer.write_bytes(os.urandom(MiB))
    server, client = socket.socketpair()
    try:
        default = server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        conn = Connection(server)
        conn.send(b"head")
        assert server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == default  # not for a small answer
        got = bytearray()
        reader = threading.Thread(target=lambda: [got.extend(d) for d in iter(lambda: client.recv(MiB), b"")])
        reader.start()
        with open(layer, "rb") as f:
            conn.send_file(f.fileno(), 0, MiB)
        server.shutdown(socket.SHUT_WR)
        reader.join()
        assert bytes(got) == b"head" + layer.read_bytes()
        wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
        # Linux doubles what it is asked for, within wmem_max
        assert server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 2 * min(SEND_FILE_BUFFER, wmem_max) > default
    finally:
        server.close()
        client.close()


def test_a_file_shorter_than_its_size_fails(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.write_bytes(b"z" * 1000)

    def write_body(out) -> None:  # noqa: ANN001
        tar = TarWriter(out)
        with open(layer, "rb") as f, pytest.raises(OSError, match="1000 bytes missing"):
            tar.add_stream("layer.tar", f, 2000)
        raise_done.set()

    raise_done = threading.Event()
    with pytest.raises(AssertionError):  # the body ends inside the announced chunk
        _respond(write_body)
    assert raise_done.is_set()


def _get(server: Server, path: str) -> bytes:
    conn = http.client.HTTPConnection("localhost")
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(str(server.socket))
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    data = resp.read()
    conn.close()
    return data


def test_save_through_serve_is_the_in_process_archive(dockyard, server: Server, busybox: str,  # noqa: ANN001
                                                      tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        data = os.urandom(32 * MiB)
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dockyard("import", str(rootfs), "big:1")
    local = tmp_path / "local.tar"
    with open(local, "wb") as f:
        save_images(Store(dockyard.root), ["big:1", "busybox:latest"], f)
    before = _reads_not_sendfile(f"/proc/{server.proc.pid}/io")
    body = _get(server, "/images/get?names=big%3A1&names=busybox%3Alatest")
    reads = _reads_not_sendfile(f"/proc/{server.proc.pid}/io") - before
    assert body == local.read_bytes()
    # the records and configs are ~15 small reads; the 32 MiB layer would be >= 32 more
    assert reads < 32, reads
