"""Adapters from engine output to response bodies: raw byte streams (archives) and Docker's
JSON message stream."""

from __future__ import annotations

import io
import threading
from typing import Callable

from dockyard.api.framing import aux_message, error_message, json_line, status_message, stream_message
from dockyard.errors import Unavailable

CHUNK = 64 * 1024


class _RawWriter(io.RawIOBase):
    def __init__(self, write: Callable[[bytes], None], stopping: threading.Event) -> None:
        self._write = write
        self._stopping = stopping

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001 - bytes-like
        if self._stopping.is_set():
            raise Unavailable("the server is shutting down")
        self._write(bytes(data))
        return len(data)


class _BodyWriter(io.BufferedWriter):
    """A buffered body that can also take a range of a file, sent by the kernel
    (`send_file_range`: archive.tarstream uses it for file bodies)."""

    def __init__(self, raw: _RawWriter, send_file: Callable[[int, int, int], None]) -> None:
        super().__init__(raw, CHUNK)
        self._send_file = send_file
        self._stopping = raw._stopping

    def send_file_range(self, fd: int, offset: int, count: int) -> None:
        self.flush()
        if self._stopping.is_set():
            raise Unavailable("the server is shutting down")
        self._send_file(fd, offset, count)


def binary_writer(write: Callable[[bytes], None], stopping: threading.Event,
                  send_file: Callable[[int, int, int], None] | None = None) -> io.BufferedWriter:
    """A file object that sends what is written as chunks of up to 64 KiB; with `send_file`
    (Response.send_file), ranges of files go by sendfile(2) (`send_file_range`)."""
    if send_file is not None:
        return _BodyWriter(_RawWriter(write, stopping), send_file)
    return io.BufferedWriter(_RawWriter(write, stopping), CHUNK)


class JsonMessages:
    """Docker's JSON message stream over a response writer: `stream`, `status`, `aux`, errors.
    Every write checks whether the server is stopping, so long operations end at their next
    message (the engine then cleans up as it does for any failure)."""

    def __init__(self, write: Callable[[bytes], None], stopping: threading.Event) -> None:
        self._write = write
        self._stopping = stopping

    def _send(self, data: bytes) -> None:
        if self._stopping.is_set():
            raise Unavailable("the server is shutting down")
        self._write(data)

    def stream(self, text: str) -> None:
        self._send(stream_message(text))

    def status(self, text: str, *, id: str | None = None, progress: str | None = None) -> None:
        self._send(status_message(text, id=id, progress=progress))

    def message(self, value: dict) -> None:
        """Any other JSON message (pull and push progress: status, id, progressDetail)."""
        self._send(json_line(value))

    def aux(self, value: object) -> None:
        self._send(aux_message(value))

    def error(self, message: str, code: int | None = None) -> None:
        self._write(error_message(message, code))
