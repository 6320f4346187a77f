"""The cache checksum of COPY/ADD sources: names, modes, sizes, types, link targets and contents,
not mtimes (so a touched but unchanged file still hits), as Docker's tarsum-like file hash;
`file:<hex>`, `dir:<hex>`, and `multi:<hex>` for several sources."""

from __future__ import annotations

import hashlib
import os
import stat

from dockyard.builder.copy.match import Source, walk_source
from dockyard.digest import CHUNK

__all__ = ["checksum", "sources_hash"]

_READ = os.O_RDONLY | os.O_CLOEXEC
_SMALL_READ = 64 << 10


class _ReadBuffer:
    """One read buffer for all the files of a checksum (allocated at the first file: a 1 MiB
    buffer per file cost more than hashing the small files of a typical context). It is 64 KiB
    until a file is bigger, then 1 MiB: zeroing 1 MiB alone costs about as much as hashing
    twenty small files."""

    def __init__(self) -> None:
        self._buf: bytearray | None = None
        self._view: memoryview | None = None

    def get(self, size: int) -> tuple[bytearray, memoryview]:
        """A buffer for reading a file of `size` bytes (by its stat: only a hint)."""
        if self._buf is None or (size >= len(self._buf) and len(self._buf) < CHUNK):
            self._buf = bytearray(CHUNK if size >= _SMALL_READ else _SMALL_READ)
            self._view = memoryview(self._buf)
        return self._buf, self._view  # type: ignore[return-value]


def _entry_digest(h: "hashlib._Hash", name: str, st: os.stat_result, path: str,
                  buffer: _ReadBuffer) -> None:
    mode = st.st_mode
    kind = "d" if stat.S_ISDIR(mode) else "l" if stat.S_ISLNK(mode) else "f" if stat.S_ISREG(mode) else "o"
    link = os.readlink(path) if kind == "l" else ""
    size = st.st_size if kind == "f" else 0
    h.update(f"{name}\0{kind}\0{stat.S_IMODE(mode):o}\0{size}\0{link}\0".encode("utf-8", "surrogateescape"))
    if kind == "f":
        buf, view = buffer.get(size)
        # os.open/readv into the shared buffer: no file object per file (a context's files are
        # mostly small, and an io.open costs more than reading one of them).
        fd = os.open(path, _READ)
        try:
            while True:
                n = os.readv(fd, (buf,))
                if not n:
                    break
                h.update(view[:n])
        finally:
            os.close(fd)


def checksum(source: Source) -> str:
    """`file:<hex>` or `dir:<hex>` over the source's names, metadata and contents."""
    h = hashlib.sha256()
    buffer = _ReadBuffer()
    base = os.fspath(source.path)
    if source.is_dir:
        _entry_digest(h, ".", source.st, base, buffer)
        for rel, st in walk_source(source.root, source.rel, source.ignore, source.cli_excludes):
            _entry_digest(h, rel, st, os.path.join(base, rel), buffer)
        return "dir:" + h.hexdigest()
    _entry_digest(h, source.name, source.st, base, buffer)
    return "file:" + h.hexdigest()


def sources_hash(sources: list[Source]) -> str:
    """One source: its own hash; several: `multi:` + sha256 of the hashes joined by commas."""
    if len(sources) == 1:
        return sources[0].hash
    return "multi:" + hashlib.sha256(",".join(s.hash for s in sources).encode()).hexdigest()
