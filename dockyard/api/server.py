"""The Engine API server: listeners (unix socket, TCP with TLS), one thread per connection,
and a clean stop on SIGTERM/SIGINT (in-flight streams are told to stop; nothing half-made
stays, because every engine operation is atomic or cleans up when its output fails)."""

from __future__ import annotations

import errno
import os
import resource
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from dockyard.api.framing import BadRequest, RequestHead
from dockyard.api.http import Body, ClientGone, Connection, Response
from dockyard.api.router import API_VERSION, ApiContext, Router, dispatch
from dockyard.errors import Conflict, InvalidParameter
from dockyard.heap import trim


@dataclass
class TlsOptions:
    cert: Path
    key: Path
    ca: Path | None = None      # with verify: client certificates must be signed by it
    verify: bool = True


@dataclass
class Listener:
    """A parsed `-H` address."""

    kind: str                   # "unix" | "tcp"
    path: Path | None = None
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> "Listener":
        parsed = urllib.parse.urlsplit(text)
        if parsed.scheme == "unix":
            path = parsed.netloc + parsed.path
            if not path:
                raise InvalidParameter(f"invalid unix socket address: {text}")
            return cls("unix", path=Path(path))
        if parsed.scheme == "tcp":
            if not parsed.hostname or parsed.port is None:
                raise InvalidParameter(f"invalid tcp address (want tcp://HOST:PORT): {text}")
            return cls("tcp", host=parsed.hostname, port=parsed.port)
        raise InvalidParameter(f"unsupported listen address {text!r}: use unix:///PATH or tcp://HOST:PORT")

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.kind == "unix" else f"tcp://{self.host}:{self.port}"


# At most this many connections are served at once (a thread and a few descriptors each); more
# wait in the listen backlog until one ends. dockerd has no such cap, but a Go connection costs a
# few KiB where a Python thread costs its stack.
MAX_CONNECTIONS = 512
TRIM_AFTER = 0.5  # s: a request this long gives back what it freed when it ends (heap.trim)
# accept() failing (out of descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM) is retried
# after a pause that doubles from 5 ms up to 1 s, as Go's net/http server does; the server never
# stops accepting.
_BACKOFF_MIN, _BACKOFF_MAX = 0.005, 1.0


def raise_nofile_limit() -> None:
    """The soft limit on open descriptors raised to the hard one, as every Go program (dockerd
    included) does at start: the default soft limit (1024) is for select(2) users."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


class ApiServer:
    def __init__(self, ctx: ApiContext, router: Router, max_connections: int = MAX_CONNECTIONS) -> None:
        self.ctx = ctx
        self.router = router
        self._sockets: list[tuple[socket.socket, Listener, ssl.SSLContext | None]] = []
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self.max_connections = max_connections

    # -- listening --------------------------------------------------------------------------
    def listen_unix(self, listener: Listener, mode: int = 0o660) -> None:
        assert listener.path is not None
        path = listener.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(str(path)) == 0:
                    raise Conflict(f"{path} is in use by a running server")
            path.unlink()   # a stale socket of a stopped server
        elif path.exists():
            raise InvalidParameter(f"{path} exists and is not a socket")
        # The socket is bound and listening under a temporary name, then renamed: a client
        # that connects as soon as the path exists is never refused (bind creates the path
        # before listen makes it answer). A path too long for a temporary name is bound as is.
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        if len(os.fsencode(temporary)) > 107:
            temporary = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(temporary))
            sock.listen(64)
            os.chmod(temporary, mode)
            if os.geteuid() == 0:
                os.chown(temporary, 0, 0)
            os.rename(temporary, path)
        except OSError as exc:
            sock.close()
            if temporary != path:
                try:
                    os.unlink(temporary)
                except FileNotFoundError:
                    pass
            raise InvalidParameter(f"cannot listen on {listener}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        self._sockets.append((sock, listener, None))

    def listen_tcp(self, listener: Listener, tls: TlsOptions | None) -> None:
        context = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                context.load_cert_chain(str(tls.cert), str(tls.key))
                if tls.verify:
                    context.verify_mode = ssl.CERT_REQUIRED
                    context.load_verify_locations(str(tls.ca) if tls.ca else None)
            except (OSError, ssl.SSLError) as exc:
                raise InvalidParameter(f"cannot load TLS certificates: {exc}") from None
        try:
            sock = socket.create_server((listener.host, listener.port), reuse_port=False)
        except OSError as exc:
            raise InvalidParameter(f"cannot listen on {listener}: {exc.strerror or exc}") from None
        sock.listen(64)
        self._sockets.append((sock, listener, context))

    @property
    def addresses(self) -> list[str]:
        out = []
        for sock, listener, _ in self._sockets:
            if listener.kind == "tcp":
                host, port = sock.getsockname()[:2]
                out.append(f"tcp://{host}:{port}")
            else:
                out.append(str(listener))
        return out

    # -- serving ----------------------------------------------------------------------------
    def serve(self) -> None:
        """Accept until `stop()`; then wait for in-flight requests (they see `ctx.stopping`)."""
        acceptors = [threading.Thread(target=self._accept_loop, args=entry, daemon=True,
                                      name=f"accept {entry[1]}") for entry in self._sockets]
        for t in acceptors:
            t.start()
        self.ctx.log(f"API listening on {', '.join(self.addresses)} (API {API_VERSION})")
        self.ctx.stopping.wait()
        for sock, listener, _ in self._sockets:
            try:
                sock.close()
            finally:
                if listener.kind == "unix" and listener.path is not None:
                    try:
                        listener.path.unlink()
                    except FileNotFoundError:
                        pass
        self._drain()

    def stop(self) -> None:
        self.ctx.stopping.set()

    def _drain(self, timeout: float = 20.0) -> None:
        """Idle keep-alive connections are closed now; busy ones get `timeout` to wind down."""
        with self._lock:
            threads = list(self._threads)
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RD)   # wakes readers blocked between requests
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        busy = sum(1 for t in threads if t.is_alive())
        if busy:
            self.ctx.log(f"{busy} request(s) still running after {timeout:.0f}s; stopping anyway")

    def _accept_loop(self, sock: socket.socket, listener: Listener, tls: ssl.SSLContext | None) -> None:
        """Accept until `stop()`. At MAX_CONNECTIONS the loop waits for a connection to end; an
        accept or a thread start that fails for want of resources is retried after a pause
        (the connections already open go on, and free what they hold as they end)."""
        delay = 0.0
        while not self.ctx.stopping.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                conn, _ = sock.accept()
            except OSError as exc:
                self._slots.release()
                if self.ctx.stopping.is_set() or sock.fileno() < 0:
                    return  # the listener was closed by stop()
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue  # that client gave up before we took it
                if not delay:
                    self.ctx.log(f"accept on {listener} failed: {exc.strerror or exc}; retrying "
                                 f"(every {_BACKOFF_MAX:.0f} s at most) until it works again")
                delay = min(max(delay * 2, _BACKOFF_MIN), _BACKOFF_MAX)
                self.ctx.stopping.wait(delay)
                continue
            if delay:
                self.ctx.log(f"accepting on {listener} again")
                delay = 0.0
            t = threading.Thread(target=self._connection, args=(conn, tls), daemon=True)
            with self._lock:
                self._threads.add(t)
                self._conns.add(conn)
            try:
                t.start()
            except RuntimeError as exc:  # "can't start new thread": no memory or pids left
                with self._lock:
                    self._threads.discard(t)
                    self._conns.discard(conn)
                conn.close()
                self._slots.release()
                self.ctx.log(f"cannot serve a connection on {listener}: {exc}")
                self.ctx.stopping.wait(_BACKOFF_MAX)

    def _connection(self, raw: socket.socket, tls: ssl.SSLContext | None) -> None:
        try:
            self._serve_raw(raw, tls)
        finally:
            self._slots.release()

    def _serve_raw(self, raw: socket.socket, tls: ssl.SSLContext | None) -> None:
        sock = raw
        try:
            if tls is not None:
                raw.settimeout(30)
                try:
                    sock = tls.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.ctx.log(f"TLS handshake failed: {exc}")
                    return
                sock.settimeout(None)
            self._serve_connection(Connection(sock))
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._conns.discard(raw)

    def _serve_connection(self, conn: Connection) -> None:
        while not self.ctx.stopping.is_set():
            try:
                head = conn.read_head()
            except BadRequest as exc:
                _reject(conn, RequestHead("GET", "/", "HTTP/1.1", {"connection": "close"}), exc)
                return
            except OSError:
                return
            if head is None:
                return
            if head.header("expect").lower() == "100-continue":
                try:
                    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except ClientGone:
                    return
            try:
                body = Body(conn, head)
            except BadRequest as exc:
                _reject(conn, head, exc)
                return
            response = Response(conn, head, API_VERSION)
            started = time.monotonic()
            try:
                dispatch(self.router, self.ctx, head, body, response)
            except ClientGone:
                self.ctx.log(f"{head.method} {head.target}: client went away")
                return
            except OSError as exc:
                self.ctx.log(f"{head.method} {head.target}: connection error: {exc}")
                return
            finally:
                if time.monotonic() - started >= TRIM_AFTER:
                    trim()  # its response is sent: what it freed goes back (the client waits not)
            self.ctx.log(f"{head.method} {head.target} -> {response.status or 101}")
            if response.hijacked or not response.keep_alive:
                return
            if not body.drain():
                return


def _reject(conn: Connection, head: RequestHead, exc: BadRequest) -> None:
    """A request the HTTP layer cannot read: 400 with Docker's JSON error, then close."""
    response = Response(conn, head, API_VERSION)
    response.keep_alive = False
    try:
        response.error(400, exc.message)
    except ClientGone:
        pass
