"""One HTTP/1.1 connection of the Engine API: read requests, write responses.

A connection reads request heads and bodies (Content-Length or chunked, decoded by
dockyard.api.framing) and writes plain, streamed (chunked) or hijacked responses. Headers of a
streamed response go out with its first byte, so a handler that fails before writing anything
can still answer with a JSON error and a proper status.
"""

from __future__ import annotations

import io
import os
import queue
import select
import socket
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Callable

from dockyard import __version__
from dockyard.api.framing import MAX_HEAD, BadRequest, ChunkedDecoder, RequestHead, chunk, go_json, parse_head

READ_SIZE = 64 * 1024
# A body read ahead (Body.ahead): blocks of AHEAD_BLOCK bytes, AHEAD_BLOCKS of them at most
AHEAD_BLOCK = 1 << 20
AHEAD_BLOCKS = 16
WAIT_STEP = 0.1  # how long a body's reader thread waits for data before it asks whether to stop
# A connection that sends a file asks for this much socket send buffer (the kernel doubles it,
# within net.core.wmem_max): see Connection.send_file
SEND_FILE_BUFFER = 4 << 20
SERVER_HEADER = f"Docker/{__version__} (linux) dockyard"


class ClientGone(ConnectionError):
    """The client closed the connection (mid-request or mid-response)."""


class Stopped(Exception):
    """A body's reader was told to stop (its consumer went away)."""


class Connection:
    """A socket with a push-back buffer, so a body reader never eats the next request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = bytearray()
        self._file_buffer = False  # SEND_FILE_BUFFER asked for

    def recv(self, size: int = READ_SIZE) -> bytes:
        if self._pending:
            data = bytes(self._pending[:size])
            del self._pending[:size]
            return data
        try:
            return self.sock.recv(size)
        except (ConnectionResetError, TimeoutError):
            return b""

    def recv_into(self, view: memoryview) -> int:
        """Receive straight into the caller's buffer (nothing pushed back may be pending)."""
        try:
            return self.sock.recv_into(view)
        except (ConnectionResetError, TimeoutError):
            return 0

    def recv_until(self, view: memoryview, stop: threading.Event) -> int:
        """Receive into `view` (bytes pushed back first), waiting for data in steps of WAIT_STEP
        seconds: `Stopped` once `stop` is set (a blocking recv would wait for a silent client
        forever). 0: the client closed the connection."""
        if self._pending:
            n = min(len(view), len(self._pending))
            view[:n] = self._pending[:n]
            del self._pending[:n]
            return n
        sock = self.sock
        tls = getattr(sock, "pending", None)  # an SSLSocket takes no flags; it may hold decrypted bytes
        poller: select.poll | None = None
        try:
            while True:
                if tls is None:
                    try:
                        return sock.recv_into(view, 0, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        pass
                elif tls() or poller is not None:
                    return sock.recv_into(view)
                if poller is None:
                    poller = select.poll()
                    poller.register(sock, select.POLLIN | select.POLLRDHUP)
                while not poller.poll(WAIT_STEP * 1000):
                    if stop.is_set():
                        raise Stopped()
                if stop.is_set():
                    raise Stopped()
        except (ConnectionResetError, TimeoutError):
            return 0

    def peek(self, size: int) -> bytes:
        """What the next `recv` would return, left unread (nothing pushed back may be pending)."""
        try:
            return self.sock.recv(size, socket.MSG_PEEK)
        except (ConnectionResetError, TimeoutError):
            return b""

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    @property
    def tls(self) -> bool:
        """An SSLSocket: it takes no recv flags (no MSG_PEEK, no MSG_DONTWAIT)."""
        return hasattr(self.sock, "pending")

    def unread(self, data: bytes) -> None:
        self._pending[:0] = data

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientGone(str(exc)) from None

    def send_file(self, fd: int, offset: int, count: int) -> None:
        """`count` bytes of the file `fd` from `offset`, by sendfile(2) (the socket blocks while a
        response is written): the kernel copies them from the page cache, none passes through
        Python. A file shorter than that raises OSError.

        The first file a connection sends widens its send buffer (SEND_FILE_BUFFER): the
        kernel queues a unix socket's sendfile as references to the file's pages, and wakes the
        sender only once the queue has drained below a quarter of the buffer. With the default
        (208 KiB), the docker CLI reading `docker save`'s 500 MiB in 32 KiB reads found the
        socket empty 1,258 times (EAGAIN, then a wait in its poller, then a short read: 1,600
        reads of 512 bytes); with 4 MiB, 22 times, and its context switches halved."""
        out = self.sock.fileno()
        if not self._file_buffer:
            self._file_buffer = True
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_FILE_BUFFER)
            except OSError:
                pass  # only a head start lost
        while count:
            try:
                sent = os.sendfile(out, fd, offset, min(count, 1 << 30))
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise ClientGone(str(exc)) from None
            if sent == 0:
                raise OSError(f"short file: {count} bytes missing")
            offset += sent
            count -= sent

    def read_head(self) -> RequestHead | None:
        """The next request's head; None when the client closed the connection between requests."""
        buf = bytearray()
        while True:
            data = self.recv()
            if not data:
                if buf.strip():
                    raise BadRequest("connection closed inside a request head")
                return None
            buf += data
            while buf[:2] in (b"\r\n", b"\n\r") or buf[:1] == b"\n":  # stray CRLF between requests
                del buf[: 2 if buf[:2] == b"\r\n" else 1]
            end, sep = _find_blank_line(buf)
            if end >= 0:
                self.unread(bytes(buf[end + sep:]))
                return parse_head(bytes(buf[:end]))
            if len(buf) > MAX_HEAD:
                raise BadRequest("request head too large")


def _find_blank_line(buf: bytearray) -> tuple[int, int]:
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


class Body:
    """A request body as a readable stream (`read(n)`), bounded by its framing."""

    def __init__(self, conn: Connection, head: RequestHead) -> None:
        self._conn = conn
        self._chunked: ChunkedDecoder | None = ChunkedDecoder() if head.chunked else None
        length = None if head.chunked else head.content_length()
        self._remaining = length or 0
        self._buf = bytearray()
        self.finished = self._chunked is None and self._remaining == 0
        self.broken = False  # the body's framing failed: the connection cannot be reused

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out = bytearray()
            while data := self.read(READ_SIZE):
                out += data
            return bytes(out)
        while not self._buf and not self.finished:
            self._fill()
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def readinto(self, target: bytearray | memoryview) -> int:
        """Large bodies (a `docker load`: 32 KiB chunks) are received straight into `target`,
        framing aside, instead of through three buffers (~5 copies of every byte)."""
        view = memoryview(target).cast("B")
        if (not self._buf and not self.finished and not self.broken and view and not self._conn.pending
                and not self._conn.tls):  # _direct peeks at the framing
            n = self._direct(view)
            if n:
                return n
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _direct(self, view: memoryview) -> int:
        """Bytes received into `view` without a copy; 0 when the next bytes are not plain payload
        (the caller then takes the buffered way)."""
        dec = self._chunked
        if dec is None:
            room = self._remaining
        else:
            room = dec.room()
            if not room:
                framing = dec.framing(self._conn.peek(64))
                if not framing:
                    return 0
                head = self._conn.recv(framing)  # exactly the peeked framing
                if len(head) != framing:
                    self.broken = True
                    raise ClientGone("connection closed inside a chunked body")
                try:
                    dec.feed(head)  # framing only: no payload comes out
                except BadRequest:
                    self.broken = True
                    raise
                room = dec.room()
                if not room:
                    return 0  # the last chunk: its trailer is read the buffered way
        n = self._conn.recv_into(view[: min(len(view), room)])
        if not n:
            self.broken = True
            raise ClientGone("connection closed inside a request body")
        if dec is None:
            self._remaining -= n
            self.finished = self._remaining == 0
        else:
            dec.took(n)
        return n

    def readable(self) -> bool:
        return True

    def ahead(self) -> "BodyAhead":
        """The body as a stream read ahead by a thread of its own (a `with` block ends it)."""
        return BodyAhead(self)

    def _fill_block(self, block: bytearray, stop: threading.Event) -> int:
        """Payload received into `block` up to three quarters of it at least (or the body's end),
        in reads as large as what the socket holds, framing dropped in place; returns its size."""
        view = memoryview(block)
        fill = min(len(self._buf), len(block))
        view[:fill] = self._buf[:fill]
        del self._buf[:fill]
        dec = self._chunked
        try:
            while fill < len(block) * 3 // 4 and not self.finished:
                room = len(block) - fill if dec is not None else min(len(block) - fill, self._remaining)
                n = self._conn.recv_until(view[fill:fill + room], stop)
                if not n:
                    self.broken = True
                    raise ClientGone("connection closed inside a request body")
                if dec is None:
                    fill += n
                    self._remaining -= n
                    self.finished = self._remaining == 0
                    continue
                try:
                    fill = dec.decode_in_place(block, fill, fill + n)
                except BadRequest:
                    self.broken = True
                    raise
                if dec.done:
                    self._conn.unread(dec.leftover())
                    self.finished = True
        finally:
            view.release()
        return fill

    def _fill(self) -> None:
        if self.broken:
            raise BadRequest("the request body is malformed")
        if self._chunked is not None:
            data = self._conn.recv()
            if not data:
                self.broken = True
                raise ClientGone("connection closed inside a chunked body")
            try:
                self._buf += self._chunked.feed(data)
            except BadRequest:
                self.broken = True
                raise
            if self._chunked.done:
                self._conn.unread(self._chunked.leftover())
                self.finished = True
            return
        data = self._conn.recv(min(READ_SIZE, self._remaining))
        if not data:
            self.broken = True
            raise ClientGone("connection closed inside a request body")
        self._remaining -= len(data)
        self._buf += data
        if self._remaining == 0:
            self.finished = True

    def drain(self, limit: int = 1 << 20) -> bool:
        """Skip what the handler did not read (up to `limit` bytes); True if the body ended."""
        skipped = 0
        if self.broken:
            return False
        try:
            while not self.finished and skipped < limit:
                skipped += len(self.read(READ_SIZE))
                self._buf.clear()
        except (ClientGone, BadRequest):
            return False
        self._buf.clear()
        return self.finished


class BodyAhead(io.RawIOBase):
    """A request body read by a thread of its own while the handler works on what came before:
    the thread receives in reads as large as what the socket holds, into blocks of AHEAD_BLOCK
    bytes (AHEAD_BLOCKS at most, reused), and decodes chunked framing in place; the handler's
    `readinto` copies out of them. `docker load`'s 500 MiB came in 32 KiB chunks, each its own
    recv, peek and framing recv, the disk's waits in between leaving the socket unread; now
    the socket is read while the handler hashes, writes and waits for the disk.

    Leaving the `with` block stops the thread (within WAIT_STEP seconds if the client is silent)
    and waits for it: the body then reads on, or drains, from where the thread stopped."""

    def __init__(self, body: Body) -> None:
        super().__init__()
        self._body = body
        self._stop = threading.Event()
        self._free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[tuple[bytearray, int] | BaseException | None] = queue.SimpleQueue()
        self._made = 0
        self._block: bytearray | None = None
        self._view = memoryview(b"")
        self._ended = body.finished and not body._buf
        self._thread: threading.Thread | None = None
        if not self._ended:
            self._thread = threading.Thread(target=self._run, name="body-ahead", daemon=True)
            self._thread.start()

    def __enter__(self) -> "BodyAhead":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # noqa: ANN001 - buffer protocol
        while not self._view:
            if self._ended:
                return 0
            if self._block is not None:
                self._free.put(self._block)
                self._block = None
            item = self._full.get()
            if item is None or isinstance(item, BaseException):
                self._ended = True
                if item is not None:
                    raise item
                return 0
            self._block = item[0]
            self._view = memoryview(item[0])[: item[1]]
        out = memoryview(target).cast("B")
        n = min(len(out), len(self._view))
        out[:n] = self._view[:n]
        self._view = self._view[n:]
        return n

    def _run(self) -> None:
        body, stop = self._body, self._stop
        try:
            while not body.finished or body._buf:
                block = self._next_free()
                if block is None or stop.is_set():
                    return
                n = body._fill_block(block, stop)
                self._full.put((block, n))
            self._full.put(None)
        except Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - the handler's reads raise it
            self._full.put(exc)

    def _next_free(self) -> bytearray | None:
        if self._made < AHEAD_BLOCKS:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                self._made += 1
                return bytearray(AHEAD_BLOCK)
        return self._free.get()  # None: stop

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._free.put(None)
            self._thread.join()
            self._thread = None
        self._view = memoryview(b"")
        self._block = None
        self._ended = True
        super().close()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Cancel:
    """Set once the server stops or the client of a response has gone. A stream that may wait
    long between writes (`logs -f` or `wait` of a quiet container, events) asks it as it waits:
    otherwise it learns of the client's leaving only at its next write, and its thread, its
    socket and what it holds open (the log, wait.lock) stay in serve as long as the container
    keeps quiet, one more each time a `docker logs -f` is left with ctrl-c."""

    def __init__(self, stopping: threading.Event, response: "Response") -> None:
        self._stopping, self._response = stopping, response

    def is_set(self) -> bool:
        return self._stopping.is_set() or self._response.client_closed()


class Response:
    """What a handler writes to. Exactly one of: `send`/`json`, a stream, or `hijack`."""

    def __init__(self, conn: Connection, head: RequestHead, api_version: str) -> None:
        self._conn = conn
        self._head_only = head.method == "HEAD"
        self.api_version = api_version
        self.keep_alive = head.keep_alive
        self.started = False
        self.streaming = False
        self.hijacked = False
        self.status = 0
        self.stream_type = ""

    @property
    def connection(self) -> Connection:
        return self._conn

    def client_closed(self, wait: float = 0.0) -> bool:
        """True once the client has closed its side or the connection broke (waits up to `wait`
        seconds for a sign). Data it sent meanwhile is left to be read."""
        poller = select.poll()
        poller.register(self._conn.sock, select.POLLIN | select.POLLRDHUP)
        try:
            events = poller.poll(wait * 1000)
            if not events:
                return False
            if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                return True
            return self._conn.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def cancel(self, stopping: threading.Event) -> "Cancel":
        """What a long stream's waits ask (`is_set`): the server stops, or the client left."""
        return Cancel(stopping, self)

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        base = [("Api-Version", self.api_version), ("Docker-Experimental", "false"),
                ("Ostype", "linux"), ("Server", SERVER_HEADER),
                ("Date", formatdate(time.time(), usegmt=True))]
        if not self.keep_alive:
            base.append(("Connection", "close"))
        lines += [f"{k}: {v}" for k, v in base + headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json",
             headers: list[tuple[str, str]] | None = None) -> None:
        assert not self.started, "response already started"
        self.started = True
        self.status = status
        extra = list(headers or [])
        if status not in (204, 304):
            extra += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        payload = self._head(status, extra)
        if not self._head_only and status not in (204, 304):
            payload += body
        self._conn.send(payload)

    def json(self, value: object, status: int = 200) -> None:
        self.send(status, go_json(value) + b"\n")

    def no_content(self) -> None:
        self.send(204)

    def error(self, status: int, message: str) -> None:
        self.json({"message": message}, status)

    # -- streamed ---------------------------------------------------------------------------
    def stream(self, content_type: str = "application/json", status: int = 200,
               headers: list[tuple[str, str]] | None = None) -> Callable[[bytes], None]:
        """A writer for a chunked response; the head is sent with the first write (or `finish`)."""
        assert not self.started, "response already started"
        self.streaming = True
        self.stream_type = content_type
        self._stream_head = [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
        self._stream_head += headers or []
        self.status = status
        return self.write

    def write(self, data: bytes) -> None:
        assert self.streaming
        out = b""
        if not self.started:
            self.started = True
            out = self._head(self.status, self._stream_head)
        if data:
            out += chunk(data)
        if out:
            self._conn.send(out)

    def send_file(self, fd: int, offset: int, count: int) -> None:
        """`count` bytes of the file `fd` from `offset` as one chunk of the streamed body, sent
        by the kernel (Connection.send_file)."""
        assert self.streaming
        if count <= 0:
            return
        out = b"%x\r\n" % count
        if not self.started:
            self.started = True
            out = self._head(self.status, self._stream_head) + out
        self._conn.send(out)
        self._conn.send_file(fd, offset, count)
        self._conn.send(b"\r\n")

    def finish(self) -> None:
        if self.streaming and not self.hijacked:
            self.write(b"")
            self._conn.send(chunk(b""))
            self.streaming = False

    # -- hijacked ---------------------------------------------------------------------------
    def hijack(self, upgrade: bool, content_type: str, protocol: str = "tcp") -> Connection:
        """Docker's attach: `101 UPGRADED` (client asked `Upgrade: tcp`) or 200, then raw bytes;
        `protocol` names another upgrade (`h2c`: the docker CLI's BuildKit session)."""
        assert not self.started
        self.started = self.hijacked = True
        self.keep_alive = False
        if upgrade:
            lines = ["HTTP/1.1 101 UPGRADED", f"Content-Type: {content_type}",
                     "Connection: Upgrade", f"Upgrade: {protocol}"]
        else:
            lines = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}"]
        self._conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._conn
