"""A streaming tar writer with fast bodies: headers byte for byte as `tarfile` writes them in PAX
format (by dockyard.archive.tarheader, which does not import tarfile: ~5 ms of a client-mode CLI's
start-up), bodies copied in big chunks, or by the kernel with sendfile when the body is a file and
the output a file or a writer that takes file ranges (`send_file_range(fd, offset, count)`: the
API server's response body). Works on pipes (no seeking).
"""

from __future__ import annotations

import os

from dockyard.archive.tarheader import DIRTYPE, REGTYPE, TarHeader, encode_header

# Bodies are copied in 1 MiB pieces (dockyard.digest's CHUNK; not imported from there, which would
# load dataclasses into a client-mode CLI that packs a build context).
CHUNK = 1 << 20

TYPE_CHECKING = False  # typing stays out of a client-mode CLI's start-up
if TYPE_CHECKING:
    from typing import BinaryIO

    from dockyard.archive.tarheader import HeaderLike

BLOCK = 512


class TarWriter:
    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self.out = out
        self.mtime = mtime
        self.offset = 0
        try:
            self._out_fd: int | None = out.fileno()
            if not os.path.isfile(f"/proc/self/fd/{self._out_fd}"):
                self._out_fd = None
        except (AttributeError, OSError, ValueError):
            self._out_fd = None
        self._send_range = getattr(out, "send_file_range", None)

    def _info(self, name: str, size: int = 0, mode: int = 0o644, kind: bytes = REGTYPE) -> TarHeader:
        return TarHeader(name, size=size, mode=mode, mtime=self.mtime, type=kind)

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def add_header(self, info: HeaderLike) -> None:
        """Write the header of `info` (a TarHeader or a tarfile.TarInfo); its body is the caller's."""
        self._write(encode_header(info))

    def add_dir(self, name: str) -> None:
        self.add_header(self._info(name.rstrip("/") + "/", mode=0o755, kind=DIRTYPE))

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add_header(self._info(name, len(data)))
        self._write(data)
        self._pad(len(data))

    def add_stream(self, name: str, stream: BinaryIO, size: int) -> None:
        """Add a file of exactly `size` bytes read from `stream`."""
        self.add_header(self._info(name, size))
        self.copy_body(stream, size)

    def copy_body(self, stream: BinaryIO, size: int) -> None:
        remaining = size
        in_fd = _real_file_fd(stream)
        if in_fd is not None and self._out_fd is None and self._send_range is not None:
            pos = stream.tell()
            self._send_range(in_fd, pos, size)  # exactly `size` bytes, or it raises
            stream.seek(pos + size)
            self.offset += size
            remaining = 0
        elif in_fd is not None and self._out_fd is not None:
            self.out.flush()
            pos = stream.tell()
            while remaining:
                sent = os.sendfile(self._out_fd, in_fd, pos, min(remaining, 1 << 30))
                if sent == 0:
                    break
                pos += sent
                remaining -= sent
            stream.seek(pos)
            self.offset += size - remaining
        else:
            while remaining:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    break
                self._write(chunk)
                remaining -= len(chunk)
        if remaining:
            raise OSError(f"short read: {remaining} bytes missing")
        self._pad(size)

    def _pad(self, size: int) -> None:
        rest = size % BLOCK
        if rest:
            self._write(b"\0" * (BLOCK - rest))

    def close(self) -> None:
        """End-of-archive: two zero blocks, as Go's archive/tar (Docker) writes it."""
        self._write(b"\0" * (2 * BLOCK))
        self.out.flush()


def _real_file_fd(stream: BinaryIO) -> int | None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    if not os.path.isfile(f"/proc/self/fd/{fd}"):
        return None
    return fd
