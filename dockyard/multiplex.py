"""Docker's stdout/stderr multiplexing, for attach, exec and logs without a TTY (moby's
stdcopy): each frame is 1 byte of stream id (0 stdin, 1 stdout, 2 stderr), 3 zero bytes, a
big-endian uint32 length, then the payload. The server writes frames (api/), the client reads
them (cli/remote.py), so it lives below both.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # the light client imports this module: typing costs it ~2 ms
if TYPE_CHECKING:
    from typing import Callable, Iterator

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxI")


def mux_frame(stream: int, data: bytes) -> bytes:
    if stream not in (STDIN, STDOUT, STDERR):
        raise ValueError(f"invalid stream id {stream}")
    return _HEADER.pack(stream, len(data)) + data


def demux(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Split a complete multiplexed byte string into (stream, payload) frames."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise ValueError("truncated frame header")
        stream, size = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        if len(data) - offset < size:
            raise ValueError("truncated frame payload")
        yield stream, data[offset:offset + size]
        offset += size


def read_frames(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """The frames of a stream read by `read(n)` (b"" at its end), as they arrive; a payload is
    yielded in pieces of what has arrived, never all held at once. Raises ValueError on a cut
    header or payload."""
    while True:
        header = _read_exactly(read, _HEADER.size, allow_eof=True)
        if not header:
            return
        stream, size = _HEADER.unpack(header)
        while size:
            data = read(min(size, 65536))
            if not data:
                raise ValueError("truncated frame payload")
            size -= len(data)
            yield stream, data


def _read_exactly(read: Callable[[int], bytes], n: int, *, allow_eof: bool) -> bytes:
    buf = b""
    while len(buf) < n:
        data = read(n - len(buf))
        if not data:
            if allow_eof and not buf:
                return b""
            raise ValueError("truncated frame header")
        buf += data
    return buf
