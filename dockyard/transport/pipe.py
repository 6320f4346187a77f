"""A bounded in-memory pipe between two threads, so that two stages of a transfer (download and
decompress, compress and upload) run at the same time on separate cores while memory stays
bounded (`depth` chunks in flight). Either side can give up: the writer by `fail`, the reader by
`cancel`; the other side then stops at its next call instead of blocking forever."""

from __future__ import annotations

import io
import queue
import threading
from typing import Iterator

_END = object()


class PipeClosed(Exception):
    """The reader went away; the writer should stop producing."""


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt(3) parameters
_KEPT: list[bool] = []


def _keep_freed_chunks() -> None:
    """Once per process, when its first pipe is made: malloc keeps what a transfer frees for the
    next chunk instead of giving it back to the kernel. A pipe's MiB chunks are made by one
    thread (a socket read, a compressor's block) and freed by the other; glibc mmaps a chunk over
    its threshold (128 KiB until a free raises it) and trims a thread's arena once 2 MiB at its
    top are free, so chunks kept landing on fresh pages: a fault and a zeroed page per 4 KiB, and
    an munmap (a TLB shootdown on the other cores) per chunk. Chunks up to 4 MiB now come from
    the arenas, which keep up to 64 MiB free: the peak is still what the transfer holds at once.
    Where there is no glibc, nothing changes."""
    if _KEPT:
        return
    _KEPT.append(True)
    import ctypes  # transfers only: see the in-process budget, tests/test_start_up.py

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 4 << 20)
        mallopt(_M_TRIM_THRESHOLD, 64 << 20)


class Pipe:
    def __init__(self, depth: int = 16) -> None:
        _keep_freed_chunks()
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
