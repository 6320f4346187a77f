"""Copy a layer tar through while checking every entry and hashing every byte.

Used where a layer enters the store (load, import, pull, commit): the tar is written to its final
home unchanged (so its sha256 stays the diff ID) while each header is read and checked, so a
hostile or corrupt tar is refused before anything becomes visible.

The rules at the door are stricter than what extraction tolerates (`tarsafe`): besides names and
hard links that escape the root, an entry with an absolute name is refused, as the project's
bad-input rules ask. A symlink is a layer's data, whatever its target: dockerd commits, saves,
loads and pulls `up -> ../../etc/passwd` (its chrooted unpack resolves it inside the root, as the
kernel does in the container, and as dockyard's extraction resolves every link); a build
context refuses one whose target climbs out of the context (`climbing_links=False`).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from dockyard.archive.tarreader import DIR, SYM, TarReader, Entry, REGULAR_TYPES, LNK, CHR, BLK, FIFO
from dockyard.archive.tarsafe import clean_hardlink_target, clean_name
from dockyard.dataclass import dataclass
from dockyard.digest import Digest, HashingReader, HashingWriter
from dockyard.errors import InvalidArchive

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO


@dataclass(frozen=True)
class ScanResult:
    """What a layer tar holds: its diff ID and sizes."""

    diff_id: Digest
    tar_size: int       # bytes of the tar stream
    content_size: int   # file bytes + symlink target lengths: what Docker reports as a layer's size
    entries: int


class _Tee:
    """A read-only stream that copies everything read into a hashing writer."""

    def __init__(self, source: BinaryIO, sink: HashingWriter) -> None:
        self._source = source
        self._sink = sink
        self._readinto = getattr(source, "readinto", None)

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._sink.write(data)
        return data

    def room(self, k: int) -> memoryview | None:
        """Where bytes the reader only skips may be read: the sink's own buffer, when it has
        one (they are written from there without a copy), else None."""
        return self._sink.room(k)

    def readinto(self, view: memoryview) -> int:
        if self._readinto is None:
            data = self.read(len(view))
            view[: len(data)] = data
            return len(data)
        n = self._readinto(view) or 0
        if n:
            self._sink.write(view[:n])
        return n


NAME_MAX, PATH_MAX = 255, 4096   # linux/limits.h: a path component, a symlink's target (with its NUL)
XATTR_NAME_MAX = 255      # linux/limits.h: what setxattr(2) takes
XATTR_SIZE_MAX = 65536
_CAPS_HEADERS = {20: 0x02000000, 24: 0x03000000}  # security.capability: VFS_CAP_REVISION_2 / _3 by size


def check_xattrs(entry: Entry) -> None:
    """Refuse an attribute no file can be given: every unpack of the layer would fail on it
    (dockerd's too: `argument list too long` for a 70,000-byte value, `invalid argument` for a
    security.capability that is not a v2 or v3 header), where only the store's door can refuse
    it once. What a file system may lack (ENOTSUP) is left to the unpack, which skips it."""
    for key, value in entry.xattrs.items():
        if len(key.encode("utf-8", "surrogateescape")) > XATTR_NAME_MAX or len(value) > XATTR_SIZE_MAX:
            raise InvalidArchive(f"tar entry {entry.name!r}: extended attribute {key[:64]!r} of "
                                 f"{len(value)} bytes is more than a file can hold")
        if key == "security.capability" and (
                len(value) not in _CAPS_HEADERS
                or int.from_bytes(value[:4], "little") & 0xFF000000 != _CAPS_HEADERS[len(value)]):
            raise InvalidArchive(f"tar entry {entry.name!r}: security.capability is not a "
                                 "file capability (a version 2 or 3 header)")


def check_entry(entry: Entry, *, allow_devices: bool = True, climbing_links: bool = True) -> str:
    """Refuse entries that would escape the root or that are not allowed at the store's door;
    `climbing_links`: whether a relative symlink may climb above the root (a layer's may). The
    entry's cleaned name ("." for the root)."""
    name = entry.name
    if name.startswith("/"):
        raise InvalidArchive(f"tar entry {name!r}: absolute path")
    if entry.xattrs:
        check_xattrs(entry)
    clean = clean_name(name) or "."
    if len(clean) > NAME_MAX // 4 and len(clean.encode("utf-8", "surrogateescape")) > NAME_MAX and any(
            len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in clean.split("/")):
        raise InvalidArchive(f"tar entry {name[:80]!r}...: a name longer than {NAME_MAX} bytes (file name too long)")
    if entry.type == LNK:
        clean_hardlink_target(name, entry.linkname)
    elif entry.type == SYM:
        if len(entry.linkname.encode("utf-8", "surrogateescape")) >= PATH_MAX:
            raise InvalidArchive(f"tar entry {name!r}: a symlink target of {PATH_MAX} bytes or more (file name too long)")
        if not climbing_links and not entry.linkname.startswith("/"):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(clean), entry.linkname))
            if joined == ".." or joined.startswith("../"):
                raise InvalidArchive(
                    f"tar entry {name!r}: symlink to {entry.linkname!r} is outside of the root")
    elif entry.type in (CHR, BLK, FIFO):
        if not allow_devices:
            raise InvalidArchive(f"tar entry {name!r}: device files are not allowed here")
    elif entry.type not in REGULAR_TYPES and entry.type != DIR:
        raise InvalidArchive(f"tar entry {name!r}: unsupported type {entry.type!r}")
    return clean


class _Names:
    """What dockerd's layer store refuses of a layer tar whose entries fight each other, as the
    tar is read (before anything is stored): dockerd registers a layer through tar-split, which
    refuses a second entry of a cleaned name ("duplicates of file paths not supported": a dir
    then a file of one name, `a` then `./a`, `d/` then `d`), and its unpack refuses a hard link
    to a name that is not there yet (missing, later in the tar, itself) or to a directory
    (`link /b /a: no such file or directory`, `operation not permitted`). Refused here, such a
    tar used to be stored and listed, and then failed every `run` (the unpack's hard link) or
    became whichever entry came last. One layer is one directory when unpacked (each layer its
    own overlay lower), so a link can only name an entry of its own tar; a target below a
    symlink of the tar is left to the unpack, which resolves it inside the root.

    Memory: a dict entry per name of the tar, as tar-split's own map of seen names in dockerd."""

    def __init__(self) -> None:
        self.types: dict[str, bytes] = {}
        self.symlinks = False

    def __call__(self, entry: Entry, name: str) -> None:
        """`name`: the entry's cleaned name (check_entry's)."""
        if name in self.types:
            raise InvalidArchive(f"tar entry {entry.name!r}: a second entry of the same path "
                                 "(duplicates of file paths not supported)")
        if entry.type == LNK:
            target = clean_hardlink_target(entry.name, entry.linkname)
            kind = self.types.get(target)
            if kind == DIR:
                raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target is a directory")
            if kind is None and not self._below_symlink(target):
                raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target is not "
                                     "an earlier entry of the layer")
        elif entry.type == SYM:
            self.symlinks = True
        self.types[name] = entry.type

    def _below_symlink(self, path: str) -> bool:
        if not self.symlinks:
            return False
        types = self.types
        i = path.find("/")
        while i > 0:
            if types.get(path[:i]) == SYM:
                return True
            i = path.find("/", i + 1)
        return False


class _Tally:
    """Each entry checked (check_entry, and against the others: _Names), then counted as a
    ScanResult counts it."""

    def __init__(self, allow_devices: bool = True) -> None:
        self.allow_devices = allow_devices
        self.entries = 0
        self.content = 0
        self.names = _Names()

    def __call__(self, entry: Entry) -> None:
        self.names(entry, check_entry(entry, allow_devices=self.allow_devices))
        self.entries += 1
        if entry.type in REGULAR_TYPES:
            self.content += entry.size
        elif entry.type == SYM:
            self.content += len(entry.linkname.encode("utf-8", "surrogateescape"))

    def result(self, digest: Digest, size: int) -> ScanResult:
        if size == 0:
            raise InvalidArchive("invalid tar archive: empty input")
        return ScanResult(digest, size, self.content, self.entries)


def scan_copy(source: BinaryIO, sink: BinaryIO, *, allow_devices: bool = True) -> ScanResult:
    """Copy the tar `source` into `sink` byte for byte, checking each entry on the way."""
    writer = HashingWriter(sink)
    reader = TarReader(_Tee(source, writer))  # type: ignore[arg-type]
    tally = _Tally(allow_devices)
    for entry in reader:
        tally(entry)
    # The padding after the end-of-archive marker belongs to the layer's bytes too.
    reader.drain()
    return tally.result(writer.digest, writer.size)


def scan_unpack(stream: BinaryIO, tree: Path) -> ScanResult:
    """`scan_copy`'s checks and result for the layer tar `stream`, its entries applied into the
    directory `tree` (what the store's `unpacked` makes of the layer: overlay whiteouts) instead
    of copied: each entry is checked before it is applied, every byte hashed on the way (the
    trailing padding too: the diff ID is the whole stream's)."""
    from dockyard.archive.apply import apply_layer  # a pull's only (the in-process budget)

    reader = HashingReader(stream)
    tally = _Tally()
    apply_layer(reader, tree, whiteout_format="overlay", check=tally)  # type: ignore[arg-type]
    reader.drain()  # apply read to the end of the archive; anything after is the layer's too
    return tally.result(reader.digest, reader.size)
