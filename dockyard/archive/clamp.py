"""A layer tar with its times clamped (SOURCE_DATE_EPOCH, reproducible builds): every entry's
mtime becomes min(mtime, epoch); access and change times are dropped; names, order, modes,
owners, links, xattrs and contents stay. Streamed and hashed as it is written (bounded memory),
as BuildKit's exporter rewrites layers with `rewrite-timestamp`.

The headers are written as dockyard writes its own layers (archive/diff.py: Go's tar format,
the file type bits in the mode field), so the result depends only on the entries, never on how
the input tar was encoded."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from dockyard.archive.diff import BLK, CHR, DIR, FIFO, LNK, REG, SYM, Header, encode_header
from dockyard.archive.scan import ScanResult
from dockyard.archive.tarreader import BLOCK, CHUNK, TarReader
from dockyard.digest import Digest

__all__ = ["clamp_times"]

# Go's tar.FileInfoHeader keeps the file type bits in the mode (c_ISREG, c_ISDIR...).
_TYPE_BITS = {REG: 0o100000, LNK: 0o100000, SYM: 0o120000, CHR: 0o20000, BLK: 0o60000,
              DIR: 0o40000, FIFO: 0o10000}


class _Out:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.out.write(data)
        self.size += len(data)


def clamp_times(src: BinaryIO, out: BinaryIO, epoch: int) -> ScanResult:
    """Copy the layer tar `src` to `out` with its times clamped to `epoch` (seconds)."""
    w = _Out(out)
    reader = TarReader(src)
    entries = content = 0
    for entry in reader:
        mtime = min(entry.mtime_ns // 1_000_000_000, epoch)
        kind = REG if entry.type in (b"\0", b"7") else entry.type
        h = Header(entry.name, kind, entry.mode | _TYPE_BITS.get(kind, 0), entry.uid, entry.gid,
                   entry.size if kind == REG else 0, mtime, entry.linkname, entry.devmajor,
                   entry.devminor, dict(entry.xattrs))
        w.write(encode_header(h))
        entries += 1
        if kind == SYM:
            content += len(entry.linkname.encode("utf-8", "surrogateescape"))
        if kind != REG:
            continue
        while chunk := reader.read_body(CHUNK):
            w.write(chunk)
        if entry.size % BLOCK:
            w.write(bytes(BLOCK - entry.size % BLOCK))
        content += entry.size
    w.write(bytes(2 * BLOCK))
    out.flush()
    return ScanResult(Digest("sha256", w.hash.hexdigest()), w.size, content, entries)
