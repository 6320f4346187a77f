"""The cache checksum of COPY/ADD sources, as Docker's classic builder computes it: the
`file:<hex>`, `dir:<hex>` and `multi:<hex>` of `COPY file:... in /app` in history, and of the
cache key of every COPY/ADD step.

Docker behaviour matched (moby builder/dockerfile/copy.go, builder/remotecontext, pkg/tarsum at
20.10; checked byte for byte against dockerd 20.10's history by tests/differential):
- A file's hash is sha256 over its tar header, as tarsum v1 selects it, then its content. The
  header fields are written as name+value, in this order: name (the path from the source's root,
  a directory's with a trailing `/`), mode (decimal, with the file-type bits), uid, gid, size (0
  but for regular files), typeflag, linkname (a symlink's target), uname, gname, devmajor,
  devminor; then each xattr the header carries (`security.capability`), sorted, key+value.
  Times are not in it: a touched file hashes the same.
- A file of the build context is hashed as the docker CLI sent it: owner 0:0 (the CLI's
  ChownOpts) and no user or group names (tarsum blanks them). A file of an image (`COPY
  --from`) or a downloaded one (ADD <url>) is hashed from its own stat: its uid and gid, and the
  names the daemon host's passwd and group give them.
- `file:` + the hash of the file a source names (symlinks followed inside the source's root).
- `dir:` + sha256 of the hashes of every entry below the directory, the directory itself
  included (but not the context's root), sorted and joined by `,`. A symlink inside contributes
  the hash of what it points to inside the root; a path the source has no hash for (a dangling
  link, a directory the context holds only as the parent of re-included files) contributes the
  path itself.
- A file of the context with several names inside it: the docker CLI sends it once, at the name
  its walk meets first, and each other name as a hard link to that one (typeflag 1, size 0, no
  content), so those hash as links.
- Several sources: `multi:` + sha256 of their hashes joined by `,`; one source: its own hash.
- ADD <url>: the downloaded file's hash without a prefix.

With the context's FileSums (store/filesums.py), a file whose stat is what it was when an
earlier build read it is not read again: its recorded hash for the same header is used.
"""

from __future__ import annotations

import os
import stat
import time

from dockyard.builder.context import resolve_in_context
from dockyard.builder.copy.match import Source, source_walk
from dockyard.builder.directory_context import walk_context
from dockyard.digest import CHUNK, Sha256, small_sha256
from dockyard.store.filesums import same_stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import _Hash

    from dockyard.store.filesums import FileSums

__all__ = ["checksum", "download_checksum", "sources_hash"]

_READ = os.O_RDONLY | os.O_CLOEXEC
_SMALL_READ = 64 << 10
_TYPEFLAG = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4",
             stat.S_IFDIR: "5", stat.S_IFIFO: "6"}
_XATTR = "security.capability"  # the one xattr Docker's tar headers carry


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


_names: dict[tuple[str, int], str] = {}


def _name(kind: str, ident: int) -> str:
    """The user or group name of an id on this host, "" when it has none (Go's os/user)."""
    key = (kind, ident)
    if key not in _names:
        import grp
        import pwd

        try:
            _names[key] = pwd.getpwuid(ident).pw_name if kind == "u" else grp.getgrgid(ident).gr_name
        except KeyError:
            _names[key] = ""
    return _names[key]


class _Hasher:
    def __init__(self, source: Source, sums: FileSums | None = None) -> None:
        self.root = source.root
        self.owners = source.origin != "context"
        self.ignore = source.ignore if source.origin == "context" else None
        self.sums = sums if source.origin == "context" and sums is not None and sums.covers(self.root) else None
        self.buffer = _ReadBuffer()
        self._first_links: dict[tuple[int, int], str] | None = None

    def _first_link(self, st: os.stat_result) -> str | None:
        """Where the docker CLI's walk of the context (parents first, names sorted) first meets
        this inode: it sends the file there, and every later name of it as a hard link to it."""
        if self._first_links is None:
            from dockyard.builder.dockerignore import IgnoreMatcher

            self._first_links = {}
            for found in walk_context(self.root, self.ignore or IgnoreMatcher()):
                if found.is_file and found.stat.st_nlink > 1:
                    self._first_links.setdefault((found.stat.st_dev, found.stat.st_ino), found.path)
        return self._first_links.get((st.st_dev, st.st_ino))

    def entry(self, rel: str, st: os.stat_result | None = None) -> str:
        """The hex hash of the entry at `rel` (from the root) itself, not following it."""
        path = os.path.join(self.root, rel)
        if st is None:
            st = os.lstat(path)
        fmt = stat.S_IFMT(st.st_mode)
        typeflag = _TYPEFLAG.get(fmt, "0")
        link = os.readlink(path) if fmt == stat.S_IFLNK else ""
        size = st.st_size if fmt == stat.S_IFREG else 0
        name = rel + "/" if fmt == stat.S_IFDIR else rel
        uid, gid = (st.st_uid, st.st_gid) if self.owners else (0, 0)
        uname, gname = (_name("u", uid), _name("g", gid)) if self.owners else ("", "")
        major, minor = ((os.major(st.st_rdev), os.minor(st.st_rdev))
                        if fmt in (stat.S_IFCHR, stat.S_IFBLK) else (0, 0))
        mode = stat.S_IMODE(st.st_mode) | fmt
        if fmt == stat.S_IFREG and st.st_nlink > 1 and not self.owners:
            first = self._first_link(st)
            if first is not None and first != rel:  # a hard link header: no size, no content
                typeflag, link, size, fmt = "1", first, 0, -1
        header = (f"name{name}mode{mode}uid{uid}gid{gid}size{size}typeflag{typeflag}"
                  f"linkname{link}uname{uname}gname{gname}devmajor{major}devminor{minor}")
        encoded = header.encode("utf-8", "surrogateescape")
        sums = self.sums if fmt == stat.S_IFREG else None
        if sums is not None:
            # an xattr set or removed moves the ctime: the record misses
            header_key = small_sha256(encoded).hexdigest()[:32]
            known = sums.checksum(rel, st, header_key)
            if known is not None:
                return known
        if fmt == stat.S_IFREG:
            h = Sha256(encoded)  # a file's content, of any size
        else:
            h = small_sha256(encoded)
        if fmt in (stat.S_IFREG, stat.S_IFDIR):
            try:
                h.update(_XATTR.encode() + os.getxattr(path, _XATTR, follow_symlinks=False))
            except OSError:
                pass
        if fmt == stat.S_IFREG:
            if sums is None:
                self._content(h, path, size)
            else:
                content = Sha256()
                read_at = time.time_ns()
                after = self._content(h, path, size, content)
                if after is not None and same_stat(after, st):
                    sums.record(rel, st, read_at, content.hexdigest(), header_key, h.hexdigest())
        return h.hexdigest()

    def _content(self, h: Sha256 | _Hash, path: str, size: int,
                 also: Sha256 | None = None) -> os.stat_result | None:
        """Hash the file's content into `h` (and `also`); with `also`, the file's stat after
        the read."""
        buf, view = self.buffer.get(size)
        # os.open/readv into the shared buffer: no file object per file (a context's files are
        # mostly small, and an io.open costs more than reading one of them).
        fd = os.open(path, _READ)
        try:
            if also is None:
                while n := os.readv(fd, (buf,)):
                    h.update(view[:n])
                return None
            while n := os.readv(fd, (buf,)):
                h.update(view[:n])
                also.update(view[:n])
            return os.fstat(fd)
        finally:
            os.close(fd)

    def followed(self, rel: str) -> str:
        """moby's Source.Hash(rel): the hash of what `rel` names with symlinks followed inside the
        root; a path with no hash stands for itself."""
        target = resolve_in_context(self.root, rel)
        resolved = os.path.relpath(target, self.root)
        try:
            st = os.lstat(target)
        except OSError:
            return rel if not self.owners else resolved
        if resolved == "." or (self.ignore and stat.S_ISDIR(st.st_mode) and self.ignore.matches(resolved)):
            return rel if not self.owners else resolved
        return self.entry(resolved, st)


def checksum(source: Source, sums: FileSums | None = None) -> str:
    """`file:<hex>` or `dir:<hex>` of one COPY/ADD source (see the module's docstring); `sums`:
    the records of the context directory the source is in (store/filesums.py)."""
    hasher = _Hasher(source, sums)
    if not source.is_dir:
        return "file:" + hasher.entry(source.rel, source.st)
    hashes = [hasher.followed(source.rel)] if source.rel else []
    prefix = source.rel + "/" if source.rel else ""
    helper: _Helper | None = None
    turn = False
    sums = hasher.sums
    try:
        for rel, st in source_walk(source):
            full = prefix + rel
            if stat.S_ISLNK(st.st_mode):
                hashes.append(hasher.followed(full))
            elif stat.S_ISDIR(st.st_mode) and hasher.ignore and hasher.ignore.matches(full):
                hashes.append(full)  # only a parent of re-included files: the CLI sent no entry
            elif stat.S_ISREG(st.st_mode) and st.st_size >= _HELPED and (turn := not turn) and \
                    (sums is None or sums.content(full, st) is None):
                # every other file to be read goes to a second thread (hashlib and reads
                # release the GIL: two cores); the hashes are sorted, so their order is free
                if helper is None:
                    helper = _Helper(_Hasher(source, sums))
                helper.put(full, st)
            else:
                hashes.append(hasher.entry(full, st))
        if helper is not None:
            hashes += helper.results()
    finally:
        if helper is not None:
            helper.stop()
    hashes.sort()
    return "dir:" + small_sha256(",".join(hashes).encode()).hexdigest()


_HELPED = 4096   # files this big or bigger may be hashed by the second thread


class _Helper:
    """A second thread hashing files with a hasher of its own; files go to it in batches."""

    BATCH = 32
    QUEUED = 8

    def __init__(self, hasher: _Hasher) -> None:
        import queue
        import threading

        self._hasher = hasher
        self._queue: queue.Queue = queue.Queue(self.QUEUED)
        self._batch: list[tuple[str, os.stat_result]] = []
        self._hashes: list[str] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._work, name="checksum", daemon=True)
        self._thread.start()

    def put(self, rel: str, st: os.stat_result) -> None:
        if self._error is not None:
            raise self._error
        self._batch.append((rel, st))
        if len(self._batch) >= self.BATCH:
            self._queue.put(self._batch)
            self._batch = []

    def _work(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # failed: the rest is only taken off the queue
            try:
                self._hashes += [self._hasher.entry(rel, st) for rel, st in batch]
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                self._error = exc

    def results(self) -> list[str]:
        """The hashes of every file put, once the thread has hashed them all."""
        if self._batch:
            self._queue.put(self._batch)
            self._batch = []
        self.stop()
        if self._error is not None:
            raise self._error
        return self._hashes

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


def download_checksum(source: Source) -> str:
    """ADD <url>: the downloaded file's hash, recorded without a `file:` prefix."""
    return _Hasher(source).entry(source.rel, source.st)


def sources_hash(sources: list[Source]) -> str:
    """One source: its own hash; several: `multi:` + sha256 of the hashes joined by commas."""
    if len(sources) == 1:
        return sources[0].hash
    return "multi:" + small_sha256(",".join(s.hash for s in sources).encode()).hexdigest()
