"""api/http.Body over a real socket: a large body is received straight into the reader's buffer
(the framing of a chunked body peeked at and consumed apart), and reads the same bytes as the
buffered way, however the client splits its writes; the next request on the connection is left
intact, and a malformed body still fails."""

from __future__ import annotations

import os
import socket
import threading
from contextlib import nullcontext

import pytest

from dockyard.api.framing import BadRequest, chunk
from dockyard.api.http import Body, ClientGone, Connection


class _Counting(Connection):
    """Counts the payload bytes received straight into the reader's buffer."""

    direct = 0

    def recv_into(self, view: memoryview) -> int:
        n = super().recv_into(view)
        self.direct += n
        return n


def _serve_body(wire: bytes, pieces: int, reads: int = 1 << 20, ahead: bool = False) -> tuple[bytes, _Counting]:
    """The body of the request in `wire` (head included) read through Body.readinto (`ahead`:
    through Body.ahead, read by a thread of its own), the client sending `wire` in writes of
    `pieces` bytes; returns the body and the connection after it."""
    server, client = socket.socketpair()

    def send() -> None:
        for i in range(0, len(wire), pieces):
            client.sendall(wire[i:i + pieces])
        client.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    conn = _Counting(server)
    head = conn.read_head()
    assert head is not None
    body = Body(conn, head)
    out = bytearray()
    buf = bytearray(reads)
    try:
        with body.ahead() if ahead else nullcontext(body) as stream:
            while n := stream.readinto(buf):
                out += buf[:n]
    finally:
        sender.join()
    assert body.finished
    return bytes(out), conn


PAYLOAD = os.urandom(300_000)


def _chunked(payload: bytes, size: int) -> bytes:
    return b"".join(chunk(payload[i:i + size]) for i in range(0, len(payload), size))


@pytest.mark.parametrize("ahead", [False, True], ids=["readinto", "ahead"])
@pytest.mark.parametrize("chunk_size,pieces", [
    (32768, 1 << 20), (32768, 32775), (32768, 4096), (32768, 7),  # the docker CLI's chunks
    (1000, 1 << 20), (1000, 4096), (1000, 7), (1, 1 << 20), (1, 4096)])
def test_a_chunked_body_reads_whole_however_it_is_split(pieces: int, chunk_size: int, ahead: bool) -> None:
    payload = PAYLOAD if chunk_size > 1 else PAYLOAD[:5000]
    wire = (b"POST /images/load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + _chunked(payload, chunk_size) + b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
            + b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    got, conn = _serve_body(wire, pieces, reads=(1 << 20) if pieces != 7 else 1000, ahead=ahead)
    assert got == payload + b"hello"
    if chunk_size == 32768 and pieces != 7 and not ahead:
        assert conn.direct >= len(payload) - 70_000  # all but what came with the head: straight in
    following = conn.read_head()
    assert following is not None and following.method == "GET" and following.path == "/_ping"


@pytest.mark.parametrize("ahead", [False, True], ids=["readinto", "ahead"])
@pytest.mark.parametrize("pieces", [1 << 20, 4096, 13])
def test_a_body_with_a_length_reads_whole(pieces: int, ahead: bool) -> None:
    wire = (b"POST /images/load HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD) + PAYLOAD
            + b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    got, conn = _serve_body(wire, pieces, ahead=ahead)
    assert got == PAYLOAD
    if not ahead:
        assert conn.direct >= len(PAYLOAD) - 70_000
    following = conn.read_head()
    assert following is not None and following.path == "/_ping"


@pytest.mark.parametrize("ahead", [False, True], ids=["readinto", "ahead"])
def test_a_bad_chunk_size_mid_body_is_refused(ahead: bool) -> None:
    wire = (b"POST /images/load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + _chunked(PAYLOAD[:70000], 32768) + b"zz\r\nabc\r\n0\r\n\r\n")
    with pytest.raises(BadRequest):
        _serve_body(wire, 1 << 20, ahead=ahead)


@pytest.mark.parametrize("ahead", [False, True], ids=["readinto", "ahead"])
def test_a_body_cut_short_is_a_client_gone(ahead: bool) -> None:
    wire = (b"POST /images/load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + _chunked(PAYLOAD[:70000], 32768)[:50000])
    with pytest.raises(ClientGone):
        _serve_body(wire, 1 << 20, ahead=ahead)


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_body_left_midway_by_its_reader_drains_from_where_the_thread_stopped(chunked: bool) -> None:
    """The handler stops reading (a hostile archive refused early) while the client still sends,
    and then goes silent with the body unfinished: leaving the `with` block stops the thread (it
    waits for data in steps, not forever), and the body is drained as far as the client sends."""
    payload = os.urandom(3 << 20)
    framed = _chunked(payload, 32768) + b"0\r\n\r\n" if chunked else payload
    head = (b"POST /images/load HTTP/1.1\r\n"
            + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % len(payload)))
    server, client = socket.socketpair()
    cut = len(framed) - 100_000
    sent = threading.Event()

    def send() -> None:  # all but the last 100 kB, then silence until the reader stopped
        client.sendall(head + framed[:cut])
        sent.wait(60)
        client.sendall(framed[cut:] + b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")

    sender = threading.Thread(target=send)
    sender.start()
    try:
        conn = Connection(server)
        request = conn.read_head()
        assert request is not None
        body = Body(conn, request)
        closed = threading.Event()

        def handler() -> None:
            with body.ahead() as stream:
                assert stream.read(1000) == payload[:1000]
            closed.set()

        worker = threading.Thread(target=handler)
        worker.start()
        worker.join(60)  # a watchdog: the thread stopped although the client said nothing more
        assert closed.is_set()
        assert not body.finished
        sent.set()
        assert body.drain(limit=4 << 20)
        following = conn.read_head()
        assert following is not None and following.path == "/_ping"
    finally:
        sent.set()
        sender.join()
        server.close()
        client.close()
