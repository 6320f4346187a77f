"""A running container's input side, for attachers: stdin and terminal size.

The container's stdio belongs to its monitor (a process of its own). A container created with
`OpenStdin` gets a stdin pipe (or its pty) that the monitor feeds from the attach socket,
`/run/dockyard/attach/<container id>` (unix socket paths are short; a store's path may not be).
An attacher connects and sends frames:

    b"i" + len(4, big endian) + data      bytes for the container's stdin
    b"e" + len = 0                        end of input (StdinOnce: the stdin pipe is closed)
    b"r" + len = 4 + rows(2) cols(2)      the terminal's new size (a TTY container)

Output does not go through here: attachers read the container's log (json-file) as it grows.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Callable

from dockyard.errors import Conflict

SOCKET_DIR = Path(os.environ.get("DOCKYARD_RUN_DIR", "/run/dockyard")) / "attach"
_HEAD = struct.Struct(">cI")
MAX_FRAME = 1 << 20


def socket_path(container_id: str) -> Path:
    return SOCKET_DIR / container_id


def frame(kind: bytes, data: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(data)) + data


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(b"r", struct.pack(">HH", rows, cols))


class FrameReader:
    """Incremental parser of the frames above (the monitor's side)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= _HEAD.size:
            kind, length = _HEAD.unpack_from(self._buf)
            if length > MAX_FRAME:
                raise ValueError("attach frame too large")
            if len(self._buf) < _HEAD.size + length:
                break
            out.append((kind, bytes(self._buf[_HEAD.size:_HEAD.size + length])))
            del self._buf[:_HEAD.size + length]
        return out


def listen(container_id: str) -> socket.socket:
    SOCKET_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = socket_path(container_id)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(8)
    return sock


def connect(container_id: str) -> socket.socket:
    """A connection to the container's monitor; Conflict when its stdin is not open."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(socket_path(container_id)))
    except OSError:
        sock.close()
        raise Conflict(f"container {container_id} is not running with its stdin open") from None
    return sock


class Input:
    """An attacher's connection to the container's input."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(frame(b"i", data))

    def end(self) -> None:
        self.sock.sendall(frame(b"e"))

    def resize(self, rows: int, cols: int) -> None:
        self.sock.sendall(resize_frame(rows, cols))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_connect(container_id: str, ended: Callable[[], bool],
                 cancel: threading.Event | None = None) -> Input | None:
    """A connection once the container's monitor listens (Docker's clients attach before they
    start the container); None when `ended()` (the container ran and stopped, or is gone) or on
    cancel."""
    delay = 0.002
    while cancel is None or not cancel.is_set():
        try:
            return Input(connect(container_id))
        except Conflict:
            pass
        if ended():
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return None


def resize(container_id: str, rows: int, cols: int) -> None:
    with Input(connect(container_id)) as channel:
        channel.resize(rows, cols)
