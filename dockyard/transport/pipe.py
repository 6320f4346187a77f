"""A bounded in-memory pipe between two threads, so that two stages of a transfer (download and
decompress, compress and upload) run at the same time on separate cores while memory stays
bounded (`depth` chunks in flight). Either side can give up: the writer by `fail`, the reader by
`cancel`; the other side then stops at its next call instead of blocking forever."""

from __future__ import annotations

import io
import queue
import threading
from typing import Iterator

from dockyard.heap import keep_freed_chunks

_END = object()


class PipeClosed(Exception):
    """The reader went away; the writer should stop producing."""


class Pipe:
    def __init__(self, depth: int = 16) -> None:
        keep_freed_chunks()  # a transfer's process keeps what it frees (not a server's)
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._cancelled = threading.Event()
        self._closed = False

    # -- writer side ----------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        if data:
            self._put(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._put(_END)

    def fail(self, error: BaseException) -> None:
        """End the stream with an error the reader raises."""
        if not self._closed:
            self._closed = True
            self._put(error)

    def _put(self, item: object) -> None:
        while True:
            if self._cancelled.is_set():
                raise PipeClosed()
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- reader side ----------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()

    def chunks(self) -> Iterator[bytes]:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def reader(self) -> "ChunksReader":
        """The chunks as a raw stream (unbuffered: its reader, a decompressor, buffers already;
        a BufferedReader here copied every byte once more)."""
        return ChunksReader(self.chunks())


class ChunksReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (a pipe's, a download's)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol
        if not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = memoryview(chunk)
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
