"""Read an image archive (a tar, maybe compressed, maybe on a pipe) in one pass.

Archives arrive in any order (manifest.json may come last) and possibly from stdin, so each entry
is taken as it passes: small files are kept in memory (bounded in total), large ones are written to
the store's tmp dir while being hashed, and, when they are uncompressed tars, checked entry by
entry (`archive.scan`) so that a layer can later be adopted by a rename, with no second copy.
`ArchiveImage` and `spooled_layer` are what the format readers make of the entries.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from dockyard.archive.compression import open_decompressed
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.archive.tarreader import DIR, LNK, REGULAR_TYPES, SYM, BodyStream, Entry as TarEntry, TarReader
from dockyard.atomic import WritebehindFile
from dockyard.digest import CHUNK, Digest, HashingWriter
from dockyard.errors import InvalidArchive
from dockyard.reference import Reference
from dockyard.transport.adapter import SourceImage, SourceLayer

SMALL = 1 << 20          # entries up to this size may stay in memory...
MEMORY_BUDGET = 64 << 20  # ...while all of them together stay under this


@dataclass
class Entry:
    name: str
    size: int
    digest: Digest                 # sha256 of the entry's bytes
    data: bytes | None = None      # in memory
    path: Path | None = None       # spooled to disk
    scan: ScanResult | None = None  # when the bytes are a valid uncompressed tar

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def read_small(self, limit: int = 16 << 20) -> bytes:
        if self.data is not None:
            return self.data
        if self.size > limit:
            raise InvalidArchive(f"{self.name}: too large for a metadata file ({self.size} bytes)")
        with self.open() as f:
            return f.read()


class _Peeked:
    def __init__(self, head: bytes, rest: BodyStream) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0 or n >= len(self._head):
                data, self._head = self._head, b""
                more = self._rest.read(-1 if n < 0 else n - len(data))
                return data + more
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)

    def readinto(self, view: memoryview) -> int:
        """The rest straight into the reader's buffer (`read` made a bytes object, then the
        reader copied it: a copy of every byte of a layer more)."""
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto(view)


def _looks_like_tar(head: bytes) -> bool:
    """A ustar/GNU magic, or a v7 header whose checksum is right."""
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    try:
        stored = int(head[148:156].strip(b" \0") or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(head[:148]) + 8 * 32 + sum(head[156:512])


class SpooledArchive:
    """All regular entries of an archive by cleaned name; symlinked entries resolved."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="archive-", dir=tmp))
        self.entries: dict[str, Entry] = {}
        self._links: dict[str, str] = {}
        self._memory = 0
        self._blocks: list[bytearray] = []  # the write-behind's, from one entry to the next

    def __enter__(self) -> "SpooledArchive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def get(self, name: str) -> Entry:
        key = _clean(name)
        for _ in range(16):
            if key in self.entries:
                return self.entries[key]
            if key not in self._links:
                break
            key = self._links[key]
        raise InvalidArchive(f"archive has no file {name!r}")

    def has(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except InvalidArchive:
            return False

    def read(self, stream: BinaryIO) -> "SpooledArchive":
        reader = TarReader(open_decompressed(stream))
        count = 0
        try:
            for member in reader:
                count += 1
                self._take(reader, member)
        finally:
            self._blocks.clear()
        if count == 0:
            raise InvalidArchive("invalid image archive: it is empty")
        return self

    def _take(self, reader: TarReader, member: TarEntry) -> None:
        name = _clean(member.name)
        if member.type == DIR:
            return
        if member.type == SYM:
            target = member.linkname
            resolved = _clean(target if target.startswith("/") else
                              posixpath.join(posixpath.dirname(name), target))
            self._links[name] = resolved
            return
        if member.type == LNK:
            self._links[name] = _clean(member.linkname)
            return
        if member.type not in REGULAR_TYPES:
            raise InvalidArchive(f"invalid image archive: {member.name!r} is not a regular file")
        body = reader.body()
        if member.size <= SMALL and self._memory + member.size <= MEMORY_BUDGET:
            data = body.read()
            if len(data) != member.size:
                raise InvalidArchive("invalid image archive: unexpected end of data")
            self._memory += len(data)
            self.entries[name] = Entry(name, len(data), Digest.of_bytes(data), data=data)
            return
        fd, path = tempfile.mkstemp(prefix="entry-", dir=self.dir)
        # written, and sent to the disk, by a thread of its own while the next bytes are hashed
        # and checked (the store fsyncs the file later)
        with WritebehindFile(fd, self._blocks) as out:
            head = body.read(512)
            scan: ScanResult | None = None
            if _looks_like_tar(head):
                # An uncompressed layer: a corrupt or hostile one fails the whole load.
                scan = scan_copy(_Peeked(head, body), out)  # type: ignore[arg-type]
                body.read()  # a tar may end before its entry does (trailing padding)
                digest, size = scan.diff_id, scan.tar_size
            else:
                writer = HashingWriter(out)
                writer.write(head)
                while chunk := body.read(CHUNK):
                    writer.write(chunk)
                digest, size = writer.digest, writer.size
        if size != member.size:
            raise InvalidArchive(f"invalid image archive: {member.name!r} is truncated")
        self.entries[name] = Entry(name, size, digest, path=Path(path), scan=scan)


def _clean(name: str) -> str:
    if name.startswith("/") or "\x00" in name:
        raise InvalidArchive(f"invalid image archive: entry {name!r} has an absolute path")
    clean = posixpath.normpath(name)
    if clean == ".." or clean.startswith("../"):
        raise InvalidArchive(f"invalid image archive: entry {name!r} is outside of the archive")
    return clean


class ArchiveImage(SourceImage):
    """An image read from a spooled archive: its config in memory, its layers spooled entries."""

    def __init__(self, image_id: Digest, raw_config: bytes, layers: list[SourceLayer],
                 names: list[Reference]) -> None:
        super().__init__(image_id, names=names)
        self._raw_config, self._layers = raw_config, layers

    def raw_config(self) -> bytes:
        return self._raw_config

    def layers(self) -> list[SourceLayer]:
        return self._layers


def spooled_layer(entry: Entry, diff_id: Digest) -> SourceLayer:
    """The layer whose tar (or compressed tar) is `entry`, as the image config names it."""
    if entry.scan is not None:
        return SourceLayer(diff_id, entry.scan.tar_size, entry.open, checked=entry.scan,  # type: ignore[arg-type]
                           tar_file=entry.path, name=entry.name)

    @contextmanager
    def decompressed() -> Iterator[BinaryIO]:
        with entry.open() as raw:
            yield open_decompressed(raw)

    return SourceLayer(diff_id, None, decompressed, name=entry.name)
