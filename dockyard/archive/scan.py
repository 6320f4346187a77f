"""Copy a layer tar through while checking every entry and hashing every byte.

Used where a layer enters the store (load, import, pull, commit): the tar is written to its final
home unchanged (so its sha256 stays the diff ID) while each header is read and checked, so a
hostile or corrupt tar is refused before anything becomes visible.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.digest import CHUNK, Digest, HashingWriter
from dockyard.errors import InvalidArchive


@dataclass(frozen=True)
class ScanResult:
    diff_id: Digest
    tar_size: int       # bytes of the tar stream
    content_size: int   # file bytes + symlink target lengths: what Docker reports as a layer's size
    entries: int


class _Tee:
    """A read-only stream that copies everything read into a hashing writer."""

    def __init__(self, source: BinaryIO, sink: HashingWriter) -> None:
        self._source = source
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._sink.write(data)
        return data


def check_entry(info: tarfile.TarInfo, *, allow_devices: bool = True) -> None:
    """Refuse entries that would escape the root or that are not allowed here.

    Matches Docker's rules for applying a layer (moby pkg/archive): a name or a hard link target
    that leaves the root via `..` is a breakout; a relative symlink whose target leaves the root
    is a breakout; absolute symlink targets are fine (they resolve inside the container's root).
    Absolute entry names are refused outright.
    """
    name = info.name
    if not name or "\x00" in name:
        raise InvalidArchive("tar entry with an empty or invalid name")
    if name.startswith("/"):
        raise InvalidArchive(f"tar entry {name!r}: absolute path")
    clean = posixpath.normpath(name)
    if clean == ".." or clean.startswith("../"):
        raise InvalidArchive(f"tar entry {name!r}: path is outside of the root")
    if info.islnk():
        target = posixpath.normpath(info.linkname.lstrip("/"))
        if not info.linkname or target == ".." or target.startswith("../"):
            raise InvalidArchive(f"tar entry {name!r}: hard link to {info.linkname!r} is outside of the root")
    elif info.issym():
        if not info.linkname.startswith("/"):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(clean), info.linkname))
            if joined == ".." or joined.startswith("../"):
                raise InvalidArchive(
                    f"tar entry {name!r}: symlink to {info.linkname!r} is outside of the root"
                )
    elif info.ischr() or info.isblk() or info.isfifo():
        if not allow_devices:
            raise InvalidArchive(f"tar entry {name!r}: device files are not allowed here")
    elif not (info.isreg() or info.isdir()):
        raise InvalidArchive(f"tar entry {name!r}: unsupported type {info.type!r}")


def scan_copy(source: BinaryIO, sink: BinaryIO, *, allow_devices: bool = True) -> ScanResult:
    """Copy the tar `source` into `sink` byte for byte, checking each entry on the way."""
    writer = HashingWriter(sink)
    tee = _Tee(source, writer)
    content = 0
    entries = 0
    try:
        with tarfile.open(fileobj=tee, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
            for info in tar:
                check_entry(info, allow_devices=allow_devices)
                entries += 1
                if info.isreg():
                    content += info.size
                elif info.issym():
                    content += len(info.linkname.encode())
    except tarfile.TarError as exc:
        raise InvalidArchive(f"invalid tar archive: {exc}") from None
    except EOFError:
        raise InvalidArchive("invalid tar archive: unexpected end of data") from None
    # The padding after the end-of-archive marker belongs to the layer's bytes too.
    while tee.read(CHUNK):
        pass
    if entries == 0 and writer.size == 0:
        raise InvalidArchive("invalid tar archive: empty input")
    return ScanResult(writer.digest, writer.size, content, entries)
