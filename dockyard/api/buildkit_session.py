"""The docker CLI's BuildKit session: `DOCKER_BUILDKIT=1 docker build` against `dockyard serve`.

The 20.10 CLI opens `POST /session` (upgraded to h2c; `X-Docker-Expose-Session-Uuid` names it,
`X-Docker-Expose-Session-Grpc-Method` lists what it serves) and, beside it, sends
`POST /build?version=2&session=UUID&remote=client-session`. On the session the CLI is the gRPC
server and the daemon the client (dockyard.api.grpc_client):
- `moby.filesync.v1.FileSync/DiffCopy` with `dir-name: context` (or `dockerfile`) streams a
  directory as fsutil packets: a STAT per entry in walk order (its index is its ID), an empty
  STAT at the end; the receiver asks each regular file's bytes with REQ ID, the sender answers
  DATA ID chunks and an empty DATA; FIN ends it, both ways;
- `moby.buildkit.secrets.v1.Secrets/GetSecret` gives a `--secret` (NOT_FOUND when not given).
The build's answer is Docker's JSON stream with BuildKit's progress as `moby.buildkit.trace`
messages (a protobuf StatusResponse, base64 as Go writes []byte) and `moby.image.id`.

What a session sends is untrusted: entries are written below a fresh directory only, each under
a directory the same transfer made (a symlink it made is never followed), no `..`, no absolute
paths; devices, pipes and sockets are skipped.
"""

from __future__ import annotations

import os
import posixpath
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.api import protowire as pw
from dockyard.errors import InvalidParameter, Unavailable

UUID_HEADER = "x-docker-expose-session-uuid"
METHOD_HEADER = "x-docker-expose-session-grpc-method"
DIFFCOPY = "/moby.filesync.v1.FileSync/DiffCopy"
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
TRACE_ID = "moby.buildkit.trace"
IMAGE_ID = "moby.image.id"

# fsutil packet types and Go's os.FileMode bits (Stat.mode is a FileMode)
STAT, REQ, DATA, FIN, ERR = 0, 1, 2, 3, 4
MODE_DIR, MODE_SYMLINK, MODE_DEVICE, MODE_PIPE, MODE_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
MODE_SETUID, MODE_SETGID, MODE_CHARDEV, MODE_STICKY, MODE_IRREGULAR = 1 << 23, 1 << 22, 1 << 21, 1 << 20, 1 << 19
MODE_TYPE = MODE_DIR | MODE_SYMLINK | MODE_DEVICE | MODE_PIPE | MODE_SOCKET | MODE_CHARDEV | MODE_IRREGULAR


# -- the sessions the CLI opened, waiting for their build ----------------------------------------
@dataclass
class _Open:
    uuid: str
    conn: object                    # the hijacked connection (recv/send)
    methods: frozenset[str]
    claimed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Upload:
    """`docker build - < context.tar`: the context comes in a request of its own."""

    body: object                    # the upload request's body: the context tar, as it arrives
    claimed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


_sessions: dict[str, _Open] = {}
_uploads: dict[str, _Upload] = {}
_lock = threading.Condition()
UPLOAD_PREFIX = "upload-request:"


def _offer(table: dict, key: str, entry: _Open | _Upload, stopping: threading.Event) -> bool:
    """Offer `entry` to the build that names `key` and keep it until that build is done with
    it (or the server stops, or nobody claims it for a minute); True when a build took it."""
    with _lock:
        table[key] = entry
        _lock.notify_all()
    try:
        deadline = time.monotonic() + 60
        while not entry.done.wait(0.5):
            if stopping.is_set() or (not entry.claimed and time.monotonic() > deadline):
                return False
        return True
    finally:
        with _lock:
            if table.get(key) is entry:  # not another's offered under the same name since
                del table[key]


def _claim(table: dict, key: str, timeout: float, missing: str):  # noqa: ANN202
    deadline = time.monotonic() + timeout
    with _lock:
        while True:
            entry = table.get(key)
            if entry is not None and not entry.claimed:
                entry.claimed = True
                return entry
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(missing)
            _lock.wait(left)


def hold(uuid: str, conn: object, methods: list[str], stopping: threading.Event) -> None:
    """The `/session` request's thread: offer the connection to the build naming `uuid`, and
    keep it until that build is done (or the server stops, or nobody claims it for a minute)."""
    _offer(_sessions, uuid, _Open(uuid, conn, frozenset(methods)), stopping)


def claim(uuid: str, timeout: float = 10.0) -> "CliSession":
    """The session `uuid` for one build (the CLI may open it just after sending the build)."""
    return CliSession(_claim(_sessions, uuid, timeout,
                             f"no session {uuid} from the client (the docker CLI opens it with the build)"))


def hold_upload(build_id: str, body: object, stopping: threading.Event) -> bool:
    """The upload's thread (`POST /build?version=2&buildid=upload-request:ID`, the tar the CLI
    read from its stdin, sent beside its build `remote=upload-request&buildid=ID`): offer the
    body to that build and keep it until the build has read it. True when a build took it."""
    return _offer(_uploads, build_id, _Upload(body), stopping)


def take_upload(build_id: str, timeout: float = 10.0) -> _Upload:
    """The upload of build `build_id` (the CLI sends it just after the build); `done.set()`
    when its body has been read."""
    return _claim(_uploads, build_id, timeout, f"no context upload for build {build_id!r} from the client")


# -- what a build asks of the CLI --------------------------------------------------------------
class CliSession:
    def __init__(self, entry: _Open) -> None:
        from dockyard.api.grpc_client import GrpcConnection

        self.entry = entry
        self.grpc = GrpcConnection(entry.conn)  # type: ignore[arg-type]
        self._lock = threading.Lock()

    def close(self) -> None:
        self.grpc.close()
        self.entry.done.set()

    def receive_dir(self, name: str, dest: Path, include: list[str] | None = None) -> int:
        """The CLI's directory `name` (`context`, `dockerfile`) written into the empty `dest`;
        returns the bytes of file content received."""
        if DIFFCOPY not in self.entry.methods:
            raise Unavailable("the client's session offers no file transfer")
        metadata = [("dir-name", name)] + [("include-patterns", p) for p in include or []]
        with self._lock:
            stream = self.grpc.call(DIFFCOPY, metadata)
            try:
                size = _receive(stream, dest)
            except BaseException:
                _abort(stream)
                raise
            stream.finish()
        return size

    def secret(self, secret_id: str) -> bytes | None:
        from dockyard.api.grpc_client import GrpcError

        if GET_SECRET not in self.entry.methods:
            return None
        with self._lock:
            try:
                reply = self.grpc.unary(GET_SECRET, pw.text(1, secret_id))
            except GrpcError as exc:
                if exc.status == 5:  # NOT_FOUND: the CLI was given no such --secret
                    return None
                raise Unavailable(f"secret {secret_id}: {exc.message}") from None
        return b"".join(v for n, v in pw.fields(reply) if n == 1 and isinstance(v, bytes))


def _abort(stream) -> None:  # noqa: ANN001
    from h2.exceptions import StreamClosedError

    try:
        stream.send(packet(ERR, data=b"transfer aborted"), end=True)
    except (StreamClosedError, Unavailable):
        pass


# -- fsutil's packets -------------------------------------------------------------------------------
def packet(kind: int, ident: int = 0, data: bytes = b"") -> bytes:
    return pw.uint(1, kind) + pw.uint(3, ident) + pw.blob(4, data)


@dataclass
class Stat:
    path: str = ""
    mode: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: str = ""


def parse_packet(data: bytes) -> tuple[int, Stat | None, int, bytes]:
    kind, ident, body, stat = 0, 0, b"", None
    for number, value in pw.fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            stat = _parse_stat(value)
        elif number == 3 and isinstance(value, int):
            ident = value
        elif number == 4 and isinstance(value, bytes):
            body = value
    return kind, stat, ident, body


def _parse_stat(data: bytes) -> Stat:
    stat = Stat()
    for number, value in pw.fields(data):
        if number == 1 and isinstance(value, bytes):
            stat.path = value.decode("utf-8", "surrogateescape")
        elif number == 2 and isinstance(value, int):
            stat.mode = value
        elif number == 5 and isinstance(value, int):
            stat.size = pw.signed(value)
        elif number == 6 and isinstance(value, int):
            stat.mtime_ns = pw.signed(value)
        elif number == 7 and isinstance(value, bytes):
            stat.linkname = value.decode("utf-8", "surrogateescape")
    return stat


def unix_mode(go_mode: int) -> int:
    mode = go_mode & 0o777
    if go_mode & MODE_SETUID:
        mode |= 0o4000
    if go_mode & MODE_SETGID:
        mode |= 0o2000
    if go_mode & MODE_STICKY:
        mode |= 0o1000
    return mode


def _clean(path: str) -> str:
    if not path or path.startswith("/") or "\0" in path:
        raise InvalidParameter(f"invalid path from the client: {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidParameter(f"invalid path from the client: {path!r}")
    return path


def _next(stream) -> tuple[int, Stat | None, int, bytes]:  # noqa: ANN001 - a GrpcStream
    """The sender's next packet; its end or its error is the transfer's failure."""
    data = stream.recv()
    if data is None:
        raise Unavailable("the client ended the file transfer early")
    kind, stat, ident, body = parse_packet(data)
    if kind == ERR:
        raise Unavailable(f"error from the client: {body.decode('utf-8', 'replace')}")
    return kind, stat, ident, body


def _receive(stream, dest: Path) -> int:  # noqa: ANN001 - a GrpcStream
    dirs = {""}                       # directories this transfer made (relative)
    files: dict[int, tuple[str, Stat]] = {}
    times: list[tuple[str, int]] = []
    index = 0
    while True:  # the tree
        kind, stat, _ident, _body = _next(stream)
        if kind != STAT:
            raise Unavailable(f"unexpected packet {kind} in the file transfer")
        if stat is None:
            break
        rel = _clean(stat.path)
        parent = posixpath.dirname(rel)
        if parent not in dirs:
            raise InvalidParameter(f"invalid path from the client: {rel!r} (no directory {parent!r} sent before)")
        target = dest / rel
        kind_bits = stat.mode & MODE_TYPE
        if kind_bits == MODE_DIR:
            os.mkdir(target, 0o700)
            os.chmod(target, unix_mode(stat.mode))
            dirs.add(rel)
        elif kind_bits == MODE_SYMLINK:
            os.symlink(stat.linkname, target)
        elif kind_bits == 0 and stat.linkname:  # a hard link to a file sent before
            source = _clean(stat.linkname)
            if not any(source == r for r, _s in files.values()):
                raise InvalidParameter(f"invalid hard link from the client: {rel!r} -> {source!r}")
            os.link(dest / source, target)
        elif kind_bits == 0:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.close(fd)
            files[index] = (rel, stat)
        # devices, pipes, sockets: not part of a build context
        times.append((rel, stat.mtime_ns))
        index += 1
    received = _receive_data(stream, dest, files)
    for rel, stat in files.values():
        os.chmod(dest / rel, unix_mode(stat.mode))
    for rel, mtime in reversed(times):  # children before their directory
        try:
            os.utime(dest / rel, ns=(mtime, mtime), follow_symlinks=False)
        except OSError:
            pass
    return received


def _receive_data(stream, dest: Path, files: dict) -> int:  # noqa: ANN001
    wanted = list(files)
    wanted.reverse()
    open_files: dict[int, int] = {}
    remaining = set(files)
    received = 0
    try:
        while remaining:
            while wanted and stream.can_send(16):
                stream.send(packet(REQ, wanted.pop()))
            kind, _stat, ident, body = _next(stream)
            if kind != DATA or ident not in remaining:
                raise Unavailable(f"unexpected packet {kind} (file {ident}) in the file transfer")
            fd = open_files.get(ident)
            if fd is None:
                fd = open_files[ident] = os.open(dest / files[ident][0],
                                                 os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            if body:
                os.write(fd, body)
                received += len(body)
            else:
                os.close(open_files.pop(ident))
                remaining.discard(ident)
    finally:
        for fd in open_files.values():
            os.close(fd)
    stream.send(packet(FIN))
    while True:  # the sender answers FIN with FIN, then ends the stream
        data = stream.recv()
        if data is None or parse_packet(data)[0] == FIN:
            break
    stream.end()
    return received


# -- BuildKit's progress, as the CLI reads it --------------------------------------------------------
def _timestamp(number: int, seconds: float | None) -> bytes:
    if seconds is None:
        return b""
    whole = int(seconds)
    return pw.message(number, pw.uint(1, whole) + pw.uint(2, int(round((seconds - whole) * 1e9))))


def status_response(status) -> bytes:  # noqa: ANN001 - builder.graph.progress.SolveStatus
    """A SolveStatus as moby.buildkit.v1.StatusResponse."""
    out = bytearray()
    for v in status.vertexes:
        body = (pw.text(1, v.digest) + b"".join(pw.text(2, i) for i in v.inputs) + pw.text(3, v.name)
                + pw.uint(4, int(v.cached)) + _timestamp(5, v.started) + _timestamp(6, v.completed)
                + pw.text(7, v.error))
        out += pw.message(1, body)
    for s in status.statuses:
        body = (pw.text(1, s.id) + pw.text(2, s.vertex) + pw.text(3, s.id) + pw.uint(4, s.current)
                + pw.uint(5, s.total) + _timestamp(6, s.timestamp) + _timestamp(7, s.started)
                + _timestamp(8, s.completed))
        out += pw.message(2, body)
    for log in status.logs:
        body = pw.text(1, log.vertex) + _timestamp(2, log.timestamp) + pw.uint(3, log.stream) + pw.blob(4, log.data)
        out += pw.message(3, body)
    return bytes(out)
