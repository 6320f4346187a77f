"""A gRPC client over an HTTP/2 connection the other side accepted: the docker CLI's BuildKit
session (`POST /session`, upgraded to h2c), on which the CLI serves and the daemon calls. HTTP/2
framing, HPACK and flow control are python-hyper's `h2` state machine; this module drives it on
the hijacked socket and frames gRPC messages (a flag byte, a 4-byte length, the message).

One thread drives a connection at a time (the build that claimed the session); streams are
read as their messages are needed, and data is acknowledged as it arrives so the peer can keep
sending (a 200 MB context flows through it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.errors import DockyardError, Unavailable

READ_SIZE = 256 * 1024
WINDOW = 8 << 20  # receive window per stream and for the connection


class Socketish(Protocol):
    def recv(self, size: int = ...) -> bytes: ...

    def send(self, data: bytes) -> None: ...


class GrpcError(DockyardError):
    """A call ended with a non-zero grpc-status (5: NOT_FOUND, 12: UNIMPLEMENTED...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message or f"grpc status {status}")
        self.status = status


@dataclass
class _Stream:
    buffer: bytearray = field(default_factory=bytearray)
    messages: deque = field(default_factory=deque)
    headers: dict[str, str] = field(default_factory=dict)
    ended: bool = False
    reset: int | None = None


class GrpcConnection:
    def __init__(self, sock: Socketish, authority: str = "dockyard") -> None:
        from h2.config import H2Configuration
        from h2.connection import H2Connection
        from h2.settings import SettingCodes

        self.sock = sock
        self.authority = authority
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: WINDOW})
        self.h2.increment_flow_control_window(WINDOW)
        self.streams: dict[int, _Stream] = {}
        self.closed = False
        self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.send(data)

    def pump(self) -> None:
        """Read once from the socket and handle what came."""
        from h2 import events

        data = self.sock.recv(READ_SIZE)
        if not data:
            self.closed = True
            raise Unavailable("the docker CLI closed its BuildKit session")
        for event in self.h2.receive_data(data):
            stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, events.DataReceived) and stream is not None:
                stream.buffer += event.data
                self._split(stream)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (events.ResponseReceived, events.TrailersReceived)) and stream is not None:
                stream.headers.update(dict(event.headers))
            elif isinstance(event, events.StreamEnded) and stream is not None:
                stream.ended = True
            elif isinstance(event, events.StreamReset) and stream is not None:
                stream.reset = event.error_code
                stream.ended = True
            elif isinstance(event, events.ConnectionTerminated):
                self.closed = True
        self._flush()
        if self.closed:
            raise Unavailable("the docker CLI ended its BuildKit session")

    @staticmethod
    def _split(stream: _Stream) -> None:
        buf = stream.buffer
        while len(buf) >= 5:
            size = int.from_bytes(buf[1:5], "big")
            if len(buf) < 5 + size:
                return
            if buf[0]:
                raise Unavailable("compressed gRPC messages are not supported")
            stream.messages.append(bytes(buf[5:5 + size]))
            del buf[:5 + size]

    def call(self, method: str, metadata: list[tuple[str, str]] | None = None) -> "GrpcStream":
        stream_id = self.h2.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", method),
                   (":authority", self.authority), ("content-type", "application/grpc"),
                   ("te", "trailers"), *(metadata or [])]
        self.streams[stream_id] = _Stream()
        self.h2.send_headers(stream_id, headers)
        self._flush()
        return GrpcStream(self, stream_id)

    def unary(self, method: str, request: bytes, metadata: list[tuple[str, str]] | None = None) -> bytes:
        stream = self.call(method, metadata)
        stream.send(request, end=True)
        reply = stream.recv()
        stream.finish()
        if reply is None:
            raise GrpcError(13, f"{method}: no response")
        return reply

    def close(self) -> None:
        if not self.closed:
            try:
                self.h2.close_connection()
                self._flush()
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
            self.closed = True


class GrpcStream:
    def __init__(self, conn: GrpcConnection, stream_id: int) -> None:
        self.conn = conn
        self.id = stream_id
        self.state = conn.streams[stream_id]

    def send(self, message: bytes, end: bool = False) -> None:
        frame = b"\0" + len(message).to_bytes(4, "big") + message
        h2 = self.conn.h2
        while frame:
            window = min(h2.local_flow_control_window(self.id), h2.max_outbound_frame_size)
            if window <= 0:
                self.conn.pump()
                continue
            piece, frame = frame[:window], frame[window:]
            h2.send_data(self.id, piece, end_stream=end and not frame)
        self.conn._flush()

    def can_send(self, size: int) -> bool:
        """A message of `size` bytes goes out now without waiting for the peer's window."""
        return self.conn.h2.local_flow_control_window(self.id) >= size + 5

    def end(self) -> None:
        """Half-close our side (nothing when the peer closed the stream already)."""
        from h2.exceptions import StreamClosedError

        try:
            self.conn.h2.end_stream(self.id)
        except StreamClosedError:
            return
        self.conn._flush()

    def recv(self) -> bytes | None:
        """The next message; None when the stream has ended."""
        state = self.state
        while not state.messages:
            if state.ended:
                return None
            self.conn.pump()
        return state.messages.popleft()

    def finish(self) -> None:
        """Wait for the end of the stream; a non-zero grpc-status raises GrpcError."""
        state = self.state
        while not state.ended:
            self.conn.pump()
        self.conn.streams.pop(self.id, None)
        if state.reset and "grpc-status" not in state.headers:  # NO_ERROR after the trailers is normal
            raise GrpcError(1, f"stream reset ({state.reset})")
        status = int(state.headers.get("grpc-status", "0") or 0)
        if status:
            from urllib.parse import unquote

            raise GrpcError(status, unquote(state.headers.get("grpc-message", "")))
