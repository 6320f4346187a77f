"""The client side of the Engine API: HTTP/1.1 over the unix socket of a running `dockyard serve`.

`dockyard -H unix:///run/dockyard.sock COMMAND` (or `DOCKYARD_HOST`) makes a command a thin client
of the daemon, as the docker CLI is of dockerd. This module is that client's one transport:
`Daemon.request` sends a request (a body is streamed with chunked transfer coding, as the docker
CLI streams a build context) and returns a `Reply` to read the status, an error message, or
Docker's JSON message stream.

A client-mode command starts a fresh interpreter each time, so this module imports only small
parts of the standard library (the `_socket` C module, json's C parts `_json`; no HTTP
library, no engine, no store). socket.py's wrapper of `_socket` brings selectors, enum conversions and makefile, ~2 ms
at every start for nothing this client uses: a unix stream socket, sendall, recv_into. The query
string is encoded here as urllib.parse.urlencode does (that module and ipaddress: ~2 ms more).
"""

from __future__ import annotations

import _socket
import io

from dockyard.chunked import ChunkedDecoder, chunk
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, Unavailable
from dockyard.gojson import go_json
from dockyard.gojson import loads as json_loads

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Iterator

API_VERSION = "1.47"  # the version dockyard serve speaks (api/router.API_VERSION)
_CHUNK = 64 * 1024
_USER_AGENT = "dockyard-client"
# The daemon maps each error class to a status (errors.py); the way back, for the common ones.
_ERRORS: dict[int, type[DockyardError]] = {400: InvalidParameter, 404: NotFound, 409: Conflict,
                                           503: Unavailable}


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _quote_plus(text: str) -> str:
    """urllib.parse.quote_plus: UTF-8 bytes, unreserved ones kept, space as `+`, others `%XX`."""
    return "".join(chr(b) if b in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}"
                   for b in text.encode("utf-8"))


def urlencode(query: list[tuple[str, str]]) -> str:
    """urllib.parse.urlencode of (name, value) pairs: `name=value` joined by `&`, form-quoted."""
    return "&".join(f"{_quote_plus(name)}={_quote_plus(value)}" for name, value in query)


def registry_config_header(configs: dict[str, dict[str, str]]) -> str:
    """`X-Registry-Config` as the docker CLI writes it: URL-safe base64 (padded) of Go's
    json.Marshal of the map registry -> auth config (registries sorted, each config's fields in
    the order given). base64.urlsafe_b64encode's own steps, without base64 (which loads re)."""
    import binascii

    data = go_json({server: configs[server] for server in sorted(configs)})
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).decode("ascii")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def loads(data: bytes | bytearray) -> object:
    """json.loads of one UTF-8 JSON document (a message of the daemon), without importing json
    (dockyard/gojson.loads): the same values; what json.loads refuses raises ValueError here too."""
    return json_loads(bytes(data).decode("utf-8", "surrogatepass"))


def socket_path(host: str) -> str:
    """The socket path of a `unix:///path` address (the only kind the client speaks yet)."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if path.startswith("/"):
            return path
    raise InvalidParameter(f"invalid daemon address {host!r}: the client speaks unix:///PATH only")


class _SocketReader(io.RawIOBase):
    """The receiving side of the connection as a raw stream (what socket.makefile("rb") wraps)."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        return self._sock.recv_into(buffer)


class _DaemonStoppedReading(ConnectionError):
    """The daemon closed its side while the request body was being sent (it answered early)."""


class _ChunkedWriter(io.RawIOBase):
    """Writes each buffer it is given as one HTTP chunk. Once the daemon has stopped reading,
    the first write raises `_DaemonStoppedReading` and later ones are dropped."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self.gone = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001 - bytes-like
        size = len(data)
        if size and not self.gone:
            try:
                self._sock.sendall(chunk(bytes(data)))
            except (BrokenPipeError, ConnectionResetError):
                self.gone = True
                raise _DaemonStoppedReading() from None
        return size


class Reply:
    """A response: status and headers read; the body read on demand (chunked, sized or to EOF)."""

    def __init__(self, sock: _socket.socket, reader: BinaryIO) -> None:
        self._sock = sock
        self._in = reader
        line = reader.readline(65536)
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise Unavailable(f"unexpected answer from the daemon: {line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            line = reader.readline(65536)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._chunks = ChunkedDecoder() if chunked else None
        length = self.headers.get("content-length")
        self._remaining = int(length) if length and length.isdigit() and not chunked else -1
        self._done = self.status in (204, 304) or self._remaining == 0

    def read(self, size: int = _CHUNK) -> bytes:
        """Up to `size` bytes of the body; b"" at its end."""
        if self._done:
            return b""
        if self._chunks is not None:
            while True:
                raw = self._in.read1(size) if hasattr(self._in, "read1") else self._in.read(size)
                if not raw:
                    raise Unavailable("the daemon's answer was cut short")
                try:
                    data = self._chunks.feed(raw)
                except InvalidParameter:
                    raise Unavailable("the daemon's answer is malformed") from None
                if self._chunks.done:
                    self._done = True
                if data or self._done:
                    return data
        want = size if self._remaining < 0 else min(size, self._remaining)
        data = self._in.read1(want) if hasattr(self._in, "read1") else self._in.read(want)
        if self._remaining > 0:
            self._remaining -= len(data)
            if not data:
                raise Unavailable("the daemon's answer was cut short")
        if not data or self._remaining == 0:
            self._done = True
        return data

    def lines(self) -> Iterator[bytes]:
        """The body split into lines (without their line ends), as they arrive."""
        pending = b""
        while data := self.read():
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending.strip():
            yield pending

    def json_messages(self) -> Iterator[dict]:
        """Docker's JSON message stream: one object per line."""
        for line in self.lines():
            if not line.strip():
                continue
            try:
                message = loads(line)
            except ValueError:
                raise Unavailable(f"unexpected answer from the daemon: {line[:80]!r}") from None
            if isinstance(message, dict):
                yield message

    def error_message(self) -> str:
        """The message of an error answer (`{"message": ...}`), or its text."""
        body = bytearray()
        while (data := self.read()) and len(body) < 1 << 20:
            body += data
        try:
            value = loads(body)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
        except ValueError:
            pass
        text = body.decode("utf-8", "replace").strip()
        return text or f"the daemon answered {self.status}"

    def check(self) -> None:
        """Raise the daemon's error (as the exception the engine raised, by HTTP status) unless
        the request succeeded (below 400, as the docker client counts: 304 is a start of a
        running container, a stop of a stopped one)."""
        if 200 <= self.status < 400:
            return
        error = _ERRORS.get(self.status, DockyardError)
        raise error(self.error_message())

    def close(self) -> None:
        self._in.close()
        self._sock.close()

    def __enter__(self) -> "Reply":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hijacked:
    """A hijacked connection: the process's output (`read`), its input (`send`, `close_input`:
    the client's half-close, which ends the process's stdin)."""

    def __init__(self, sock: _socket.socket, reader: BinaryIO) -> None:
        self._sock = sock
        self._in = reader

    def read(self, size: int = _CHUNK) -> bytes:
        try:
            return self._in.read1(size)
        except ConnectionResetError:
            return b""

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_input(self) -> None:
        try:
            self._sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._in.close()
        self._sock.close()


class Daemon:
    """A `dockyard serve` at `host` (`unix:///path`). Each request uses its own connection."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.path = socket_path(host)

    def _connect(self) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise Unavailable(f"Cannot connect to the dockyard daemon at {self.host}. "
                              "Is the dockyard daemon running?") from None
        return sock

    def hijack(self, method: str, path: str, query: list[tuple[str, str]] | None = None,
               body: bytes | None = None) -> Hijacked:
        """Docker's attach and exec start: the request asks to upgrade the connection (`Upgrade:
        tcp`), and after the daemon's `101 UPGRADED` (or 200) the connection carries the
        process's output one way and its input the other. Raises the daemon's error."""
        target = f"/v{API_VERSION}{path}"
        if query:
            target += "?" + urlencode(query)
        head = [f"{method} {target} HTTP/1.1", "Host: dockyard", f"User-Agent: {_USER_AGENT}",
                "Connection: Upgrade", "Upgrade: tcp"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        sock = self._connect()
        reader = io.BufferedReader(_SocketReader(sock), _CHUNK)
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
            reply = Reply(sock, reader)
            if reply.status != 101:    # 101 UPGRADED; a daemon that does not upgrade says 200
                reply.check()
            return Hijacked(sock, reader)
        except BaseException:
            reader.close()
            sock.close()
            raise

    def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, *,
                body: Callable[[BinaryIO], None] | None = None,
                content_type: str = "application/json",
                headers: list[tuple[str, str]] | None = None) -> Reply:
        """Send `method /v<API_VERSION><path>?<query>` with `headers` added to ours; `body`, when
        given, is called with a writer and streams the request body (chunked). The reply's head
        is read before returning."""
        target = f"/v{API_VERSION}{path}"
        if query:
            target += "?" + urlencode(query)
        head = [f"{method} {target} HTTP/1.1", "Host: dockyard", f"User-Agent: {_USER_AGENT}",
                "Connection: close"]
        for name, value in headers or ():
            if any(c in name + value for c in "\r\n\0"):
                raise InvalidParameter(f"invalid value for header {name}")  # no header injection
            head.append(f"{name}: {value}")
        if body is not None:
            head += [f"Content-Type: {content_type}", "Transfer-Encoding: chunked"]
        sock = self._connect()
        reader = io.BufferedReader(_SocketReader(sock), _CHUNK)
        try:
            try:
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                if body is not None:
                    out = io.BufferedWriter(_ChunkedWriter(sock), _CHUNK)
                    body(out)  # type: ignore[arg-type]
                    out.flush()
                    sock.sendall(chunk(b""))
            except (BrokenPipeError, ConnectionResetError, _DaemonStoppedReading):
                pass  # the daemon answered before reading everything (an error): read it
            return Reply(sock, reader)
        except BaseException:
            reader.close()
            sock.close()
            raise
