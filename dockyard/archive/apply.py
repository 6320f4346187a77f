"""Apply (extract) an OCI/Docker layer tar onto a directory, safely.

Behaviour follows moby/go-archive `UnpackLayer` + `createTarFile`:
- An existing path is removed and replaced, except a directory met by a directory entry (then
  only its metadata changes).
- Whiteouts (OCI image spec, layer.md): `.wh.NAME` deletes NAME; `.wh..wh..opq` makes its
  directory opaque. In "overlay" format (a layer dir used as an overlayfs lower) they become what
  overlayfs understands: a 0/0 character device NAME, and the xattr `trusted.overlay.opaque=y`
  (Docker's overlayWhiteoutConverter.ConvertRead). In "naive" format (flattening layers onto one
  plain directory) the whiteout removes NAME, and an opaque marker removes everything in the
  directory that this layer did not itself write (Docker's AUFS-format unpack). Other `.wh..wh.`
  names (AUFS metadata) are ignored, as Docker does.
- Owners are numeric (uid/gid from the header, names ignored); chown is done before chmod so
  setuid/setgid bits survive; symlinks are lchown'ed and never followed; xattrs come from PAX
  `SCHILY.xattr.*`; times are set after the content, directories' at the very end.
- Returns the layer's size as Docker counts it: overlay2's `ApplyDiff` returns
  `directory.Size(diffDir)`, the st_size of every non-directory counted once per inode, i.e. the
  regular files' bytes plus the symlinks' target lengths (checked against `docker history` of a
  committed layer). That is the layer "Size" summed by `docker images`. The stream is read to its
  end so that a digest computed by a wrapping reader covers the whole tar.

With `like` (the tree of another layer, unpacked the same way: the layer a build's COPY made
last time), a regular file whose mode, owner, mtime, size, xattrs and content are those of the
file at the same path there becomes a hard link to that file instead of a copy: the content is
compared byte for byte as the body is read, so only a file found equal is shared; or, with
`sums` (the sha256 of each file's content in this layer and in the other one, as their writer
knew them), the digests are compared and the body is skipped unread. Both trees are
read-only overlay lower dirs, so nothing changes the shared inode, and removing one tree leaves
the other whole. The one thing a container can see is the link count (`stat -c %h`), 2 instead
of 1; atimes are not compared (the reads of a relatime mount move them anyway).

Every file operation is relative to a directory descriptor (`fstree.DirCursor`: openat with
O_NOFOLLOW, one descriptor held at a time), never a path from the root: an entry costs the same
at any depth, so unpacking is linear in the tar's size (paths from the root made 2,000 nested
directories take minutes: each entry walked its whole path again), and depth is not limited by
PATH_MAX. Intermediate directories are resolved component by component inside the root, with
chroot semantics for symlinks met on the way (see tarsafe).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from dockyard.archive.fstree import DirCursor, remove_tree
from dockyard.archive.tarreader import BLK, CHR, DIR, FIFO, LNK, REG, SYM, Entry, TarReader, check_fields
from dockyard.archive.tarsafe import MAX_SYMLINKS, Policy, check_entry, clean_hardlink_target, clean_name
from dockyard.atomic import preallocate, write_all
from dockyard.errors import DockyardError, InvalidArchive, InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Iterator, Mapping, Protocol

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_FORMATS = ("overlay", "naive", "none")
_HOST_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE, errno.ENFILE}
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def no_overwrite_dir_non_dir(dest: str) -> Callable[[Entry], None]:
    """Docker's NoOverwriteDirNonDir, as an `apply_layer` check of an extraction into `dest`: an
    entry does not replace a directory by a non-directory, nor the other way round (docker cp
    both ways: the archive API's PUT, the docker CLI's extraction on the host)."""

    def check(entry: Entry) -> None:
        rel = clean_name(entry.name)
        if rel is None:
            return
        try:
            existing = os.lstat(os.path.join(dest, rel))
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISDIR(existing.st_mode) and entry.type != DIR:
            raise InvalidParameter(f"cannot overwrite directory \"{os.path.join(dest, rel)}\" "
                                   f"with non-directory \"{entry.name}\"")
        if not stat.S_ISDIR(existing.st_mode) and entry.type == DIR:
            raise InvalidParameter(f"cannot overwrite non-directory \"{os.path.join(dest, rel)}\" "
                                   f"with directory \"{entry.name}\"")
    return check


def apply_layer(
    stream: BinaryIO,
    dest: Path,
    *,
    whiteout_format: str = "overlay",
    allow_devices: bool | None = None,
    owner: tuple[int, int] | None = None,
    check: Callable[[Entry], None] | None = None,
    like: Path | str | None = None,
    sums: tuple[Mapping[str, str], Mapping[str, str]] | None = None,
) -> int:
    """Extract the (decompressed) layer tar `stream` into the existing directory `dest`.

    `whiteout_format`: "overlay" (layer dirs under overlayfs), "naive" (flattening onto a plain
    dir), or "none": `.wh.` names are ordinary files (Docker's `Untar`, used by ADD of a local
    tar archive, does not interpret whiteouts).
    `allow_devices`: create device nodes and FIFOs; default: only when running as root (Docker
    skips them when it cannot create them).
    `owner`: (uid, gid) given to every entry instead of the header's (ADD --chown).
    `check`: called with each entry before it is applied; raises to refuse it (stricter rules
    of a caller, e.g. build contexts), or renames it (docker cp's rebase of its entries).
    `like`: another layer's tree whose equal files are hard-linked rather than written (see
    the module's docstring); a hint only: whatever is there, the result is the same tree.
    `sums`: (this layer's, like's) content digests by entry path (cleaned, as the tree has it),
    trusted as they are: only a layer's own writer gives them.
    Raises `InvalidArchive` naming the entry on bad input.
    Never writes outside `dest`. Returns the layer size as Docker counts it (file bytes plus
    symlink target lengths).
    """
    if whiteout_format not in WHITEOUT_FORMATS:
        raise ValueError(f"unknown whiteout format {whiteout_format!r}")
    if allow_devices is None:
        allow_devices = os.geteuid() == 0
    if not os.path.isdir(dest):
        raise DockyardError(f"extraction target {dest} is not a directory")
    with DirCursor(os.fspath(dest)) as cursor:
        applier = _Applier(cursor, Policy(allow_devices=allow_devices), whiteout_format, owner, check)
        if like is None:
            return applier.run(TarReader(stream))
        applier.like = _Alike(os.fspath(like))
        if sums is not None:
            applier.mine, applier.theirs = sums
        try:
            return applier.run(TarReader(stream, seek_bodies=sums is not None))
        finally:
            applier.like.close()


if TYPE_CHECKING:  # for type checkers only: nothing checks a reader against it at run time
    class _Body(Protocol):
        def read_body(self) -> memoryview:
            """The next chunk of the current entry's body; empty at its end."""


class LayerTree:
    """A layer's tree made entry by entry while its tar is written (`add` each entry as its
    header is written, a regular file with a reader of the body that the writer sends on to
    the tar): the tree `apply_layer(tar, dest, whiteout_format="overlay")` makes of that tar
    (the same code applies each entry), without reading the tar back or parsing its headers.
    `like` and `theirs` as apply_layer's `like` and the second of its `sums`; a file's own
    digest comes with it to `add`.

    `threaded`: the entries are applied by a thread of the tree's own, in order, while the
    writer goes on (creating, filling and closing files is most of the kernel's work; the
    writer's reading, hashing and writing of the tar is the rest: two cores). Entries and body
    chunks go to it in batches (BATCH items or BATCH_BYTES, so that the queue's locks are taken
    once per batch, not per file) through a queue of QUEUED batches (bounded memory); what the
    thread fails on is raised by the next `add`, or `finish`."""

    BATCH = 64
    BATCH_BYTES = 1 << 20
    QUEUED = 8

    def __init__(self, dest: Path | str, *, like: Path | str | None = None,
                 theirs: Mapping[str, str] | None = None, threaded: bool = False) -> None:
        if not os.path.isdir(dest):
            raise DockyardError(f"extraction target {dest} is not a directory")
        self._cursor: DirCursor | None = DirCursor(os.fspath(dest))
        self._applier = _Applier(self._cursor, Policy(allow_devices=os.geteuid() == 0), "overlay", None)
        if like is not None:
            self._applier.like = _Alike(os.fspath(like))
            self._applier.theirs = theirs or {}
        self._thread = None
        self._error: BaseException | None = None
        self._batch: list = []
        self._batch_bytes = 0
        if threaded:
            import queue
            import threading

            self._queue: queue.Queue = queue.Queue(self.QUEUED)
            self._thread = threading.Thread(target=self._work, name="layer-tree", daemon=True)
            self._thread.start()

    @property
    def own_chunks(self) -> bool:
        """Chunks given to `add` must stay as they are (the thread reads them later)."""
        return self._thread is not None

    def add(self, entry: Entry, body: _Body | None = None, known: str | None = None) -> bool:
        """Apply `entry` (a regular file's body read from `body` as far as it needs: the caller
        reads the rest); True when the file is a link to like's, its body left unread, because
        its digest `known` is like's file's (threaded: when it may be, the body read whole)."""
        if self._thread is not None:
            return self._add_queued(entry, body, known)
        applier = self._applier
        applier.linked_unread = False
        applier.apply(entry, body if body is not None else _NO_BODY, known)
        return applier.linked_unread

    def _add_queued(self, entry: Entry, body: _Body | None, known: str | None) -> bool:
        if self._error is not None:
            raise self._error
        first = body.read_body() if body is not None else b""
        second = body.read_body() if first else b""  # type: ignore[union-attr]
        if not second:
            self._put((entry, first, False, known), len(first))  # the whole body: most files
        else:
            self._put((entry, first, True, known), len(first))
            self._put(second, len(second))
            while chunk := body.read_body():   # type: ignore[union-attr]
                self._put(chunk, len(chunk))
            self._put(_END, 0)
        return known is not None and self._applier.like is not None

    def add_stored(self, entry: Entry, fd: int, offset: int, size: int, known: str | None,
                   of_like: bool = False) -> None:
        """Apply the regular file `entry` whose body is already in the file `fd` (`size` bytes
        at `offset`: another tar's member), read from there only if the tree needs it (not when
        `known`, its digest, lets it link like's file); `fd` stays open until `finish`.
        `of_like`: the entry's header and body are, byte for byte, a member of the tar whose
        tree like is; like's file at the entry's path, made from that member, is then linked
        as it is when `known` is like's digest there (no header to compare)."""
        body = StoredBody(fd, offset, size, of_like)
        if self._thread is None:
            self._applier.apply(entry, body, known)
            return
        if self._error is not None:
            raise self._error
        self._put((entry, body, _STORED, known), 0)

    def _put(self, item: object, size: int) -> None:
        batch = self._batch
        batch.append(item)
        self._batch_bytes += size
        if len(batch) >= self.BATCH or self._batch_bytes >= self.BATCH_BYTES:
            self._queue.put(batch)
            self._batch, self._batch_bytes = [], 0

    def _items(self) -> Iterator[object]:
        get = self._queue.get
        while True:
            batch = get()
            if batch is _FINISH or batch is _ABORT:
                yield batch
                return
            yield from batch

    def _work(self) -> None:
        items = self._items()
        applier = self._applier
        try:
            for item in items:
                if item is _FINISH or item is _ABORT:
                    return
                entry, first, more, known = item  # type: ignore[misc]
                if more is _STORED:
                    applier.apply(entry, first, known)   # read (by pread) as far as it needs
                    continue
                reader = _QueuedBody(items, first, more)
                applier.apply(entry, reader, known)
                reader.drain()
        except _Aborted:
            return
        except BaseException as exc:  # noqa: BLE001 - raised in the writer's thread
            self._error = exc
            for item in items:   # the writer never waits on a full queue
                if item is _FINISH or item is _ABORT:
                    return

    def _stop(self, how: object) -> None:
        if self._thread is not None:
            if how is _FINISH and self._batch:
                self._queue.put(self._batch)
            self._batch = []
            self._queue.put(how)
            self._thread.join()
            self._thread = None

    @property
    def linked(self) -> int:
        """The files shared with like."""
        return self._applier.like.linked if self._applier.like is not None else 0

    def finish(self) -> int:
        """The directories' times; the layer size as apply_layer returns it."""
        self._stop(_FINISH)
        if self._error is not None:
            raise self._error
        return self._applier.finish()

    def close(self) -> None:
        """Its thread stopped, its descriptors closed (once)."""
        self._stop(_ABORT)
        if self._cursor is None:
            return
        if self._applier.like is not None:
            self._applier.like.close()
        self._cursor.close()
        self._cursor = None


_END, _FINISH, _ABORT, _STORED = object(), object(), object(), object()


class _Aborted(Exception):
    """The writer stopped in the middle of a body."""


class _QueuedBody:
    """A body as the tree's thread reads it: its first chunk, then (`more`) the chunks that
    follow it in the queue up to _END."""

    def __init__(self, items: Iterator[object], first: bytes | memoryview, more: bool) -> None:
        self._items, self._next, self._more = items, first, more

    def read_body(self) -> memoryview | bytes:
        chunk = self._next
        if chunk:
            self._next = b""
            return chunk
        if not self._more:
            return b""
        item = next(self._items)
        if item is _END:
            self._more = False
            return b""
        if item is _FINISH or item is _ABORT:
            raise _Aborted()
        return item  # type: ignore[return-value]

    def drain(self) -> None:
        while self.read_body():
            pass


class StoredBody:
    """A body already in the file `fd` at `offset`, read by pread as far as it is read;
    `of_like`: see LayerTree.add_stored."""

    def __init__(self, fd: int, offset: int, size: int, of_like: bool = False) -> None:
        self._fd, self._pos, self._left = fd, offset, size
        self.of_like = of_like

    def read_body(self) -> memoryview:
        k = min(self._left, _CHUNK)
        if k <= 0:
            return memoryview(b"")
        data = os.pread(self._fd, k, self._pos)
        if not data:
            raise DockyardError("a file's body was cut short in the tar it is read from")
        self._pos += len(data)
        self._left -= len(data)
        return memoryview(data)


class _NoBody:
    @staticmethod
    def read_body() -> memoryview:
        return memoryview(b"")


_NO_BODY = _NoBody()


def entry_of(name: str, type: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
             linkname: str = "", devmajor: int = 0, devminor: int = 0,
             xattrs: dict[str, bytes] | None = None) -> Entry:
    """The entry a TarReader reads back from the header archive.diff.encode_header writes for
    these fields (its Header's): the mode without its type bits, the size of a regular file
    only, the device numbers of a device only (0 where ustar cannot hold them), whole seconds;
    refused where the reader refuses it."""
    if type not in (CHR, BLK):
        devmajor = devminor = 0
    else:
        devmajor = devmajor if 0 <= devmajor < 8 ** 7 else 0
        devminor = devminor if 0 <= devminor < 8 ** 7 else 0
    if type != REG:
        size = 0
    mtime_ns = mtime * 1_000_000_000
    check_fields(os.fsencode(name), uid, gid, devmajor, devminor, mtime_ns, None, size)
    if not name:
        raise InvalidArchive("invalid tar header: empty entry name")
    return Entry(name, type, mode & 0o7777, uid, gid, size, mtime_ns, None, linkname, devmajor,
                 devminor, dict(xattrs) if xattrs else {})


class _Applier:
    def __init__(self, cursor: DirCursor, policy: Policy, whiteout_format: str,
                 owner: tuple[int, int] | None, check: Callable[[Entry], None] | None = None) -> None:
        self.check = check
        self.cursor = cursor
        self.policy = policy
        self.naive = whiteout_format == "naive"
        self.whiteouts = whiteout_format != "none"
        self.owner = owner
        # Directories whose times are set at the end: (real parent, name, atime, mtime).
        self.dir_times: list[tuple[str, str, int, int]] = []
        self.written: set[str] = set()  # real relative paths written by this layer (naive opaque)
        self.size = 0
        self.like: _Alike | None = None
        self.mine: Mapping[str, str] = {}     # with `like`: content digests of this layer...
        self.theirs: Mapping[str, str] = {}   # ... and of like's files, by path
        self.linked_unread = False            # the last file was linked from like, its body unread

    def run(self, reader: TarReader) -> int:
        for entry in reader:
            if self.check is not None:
                self.check(entry)
            self.apply(entry, reader)
        reader.drain()
        return self.finish()

    def apply(self, entry: Entry, reader: _Body, known: str | None = None) -> None:
        """One entry, its body (a regular file's) read from `reader`; `known`: its content's
        digest (as `mine` has them)."""
        try:
            self._apply(entry, reader, known)
        except InvalidArchive:
            raise
        except OSError as e:
            if e.errno in _HOST_ERRNOS:
                raise DockyardError(f"cannot extract {entry.name!r}: {e.strerror}") from None
            raise InvalidArchive(f"cannot extract {entry.name!r}: {e.strerror or e}") from None

    def finish(self) -> int:
        """The directories' times, last (their entries are written into them); the size."""
        cursor = self.cursor
        for parent, name, atime, mtime in reversed(self.dir_times):
            try:
                fd = cursor.goto(parent)
                os.utime(name, ns=(atime, mtime), dir_fd=fd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                cursor.reset()  # removed or replaced by a later entry
            except OSError as e:
                if e.errno != errno.ELOOP:
                    raise
                cursor.reset()
        return self.size

    # -- resolving names inside the root -----------------------------------------------------
    def _parent(self, rel: str, *, create: bool, entry: str) -> tuple[int, str, str]:
        """(descriptor of the directory that holds `rel`, its real path, the base name). The
        cursor is left on that directory."""
        head, _, base = rel.rpartition("/")
        fd = self._resolve_dir(head, create=create, entry=entry)
        return fd, self.cursor.path, base

    def _resolve_dir(self, rel: str, *, create: bool, entry: str) -> int:
        """The directory `rel` (a cleaned relative path, "" for the root) resolved as in a chroot
        at the root: `..` stops at the root, an absolute symlink restarts there, a relative one
        goes on from where it is; missing directories are created (0755) when `create`. The
        cursor is left there.

        A tar lists a directory's entries together, so `rel` is nearly always the cursor's
        directory or below it: the components already passed are not looked at again."""
        cursor = self.cursor
        here = cursor.path
        if rel == here:
            return cursor.fd
        if not here or rel.startswith(here + "/"):
            real = list(cursor.parts)
            pending = (rel[len(here) + 1:] if here else rel).split("/")
        else:
            real = []
            pending = rel.split("/") if rel else []
        pending.reverse()
        # `real` is always the cursor's path or a prefix of it (the cursor is moved up to it
        # before anything is looked up there).
        links = 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if real:
                    real.pop()
                continue
            at = cursor.parts
            if len(real) < len(at):
                if at[len(real)] == comp:
                    real.append(comp)            # a directory the cursor passed through
                    continue
                cursor.goto("/".join(real))
            try:
                cursor.down(comp)
                real.append(comp)
                continue
            except FileNotFoundError:
                if not create:
                    raise InvalidArchive(f"{entry!r}: {'/'.join(real + [comp])} does not exist") from None
                os.mkdir(comp, 0o755, dir_fd=cursor.fd)
                cursor.down(comp)
                real.append(comp)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
            st = os.stat(comp, dir_fd=cursor.fd, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                raise InvalidArchive(f"{entry!r}: {'/'.join(real + [comp])} is not a directory")
            links += 1
            if links > MAX_SYMLINKS:
                raise InvalidArchive(f"{entry!r}: too many levels of symbolic links")
            target = os.readlink(comp, dir_fd=cursor.fd)
            if target.startswith("/"):
                real = []
            parts = target.split("/")
            parts.reverse()
            pending.extend(parts)
        return cursor.fd if len(real) == len(cursor.parts) else cursor.goto("/".join(real))

    # -- one entry -------------------------------------------------------------------------
    def _apply(self, entry: Entry, reader: _Body, known: str | None = None) -> None:
        if entry.type == REG:
            self.size += entry.size
        elif entry.type == SYM:
            self.size += len(os.fsencode(entry.linkname))
        rel = clean_name(entry.name)
        if rel is None:
            return  # the root itself: skipped, as Docker does
        if self.whiteouts and rel.startswith(WHITEOUT_META_PREFIX) and rel != WHITEOUT_OPAQUE:
            return  # AUFS metadata dirs (.wh..wh.plnk/...): skipped as Docker does
        head_rel, _, base = rel.rpartition("/")
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(entry, head_rel, base)
            return
        check_entry(entry, self.policy)
        if entry.type == LNK:
            self._hardlink(rel, entry)
            return
        pfd, parent, base = self._parent(rel, create=True, entry=entry.name)
        if self.naive:
            self.written.add(f"{parent}/{base}" if parent else base)

        # Directories, files and symlinks are created first and room is made only when the
        # name is taken (EEXIST; O_EXCL and symlinkat never follow a symlink there): what was
        # there is replaced as below, and an extraction into an empty directory (a build
        # context, a new layer) saves an lstat per entry.
        if entry.type == DIR:
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                if not self._make_room(pfd, base, True):
                    os.mkdir(base, 0o700, dir_fd=pfd)
        elif entry.type == REG:
            if self.like is None or not self._link_alike(
                    pfd, parent, base, entry, reader, rel, known if known is not None else self.mine.get(rel)):
                self._write_file(pfd, base, entry, reader)
            return
        elif entry.type == SYM:
            try:
                os.symlink(entry.linkname, base, dir_fd=pfd)
            except FileExistsError:
                self._make_room(pfd, base, False)
                os.symlink(entry.linkname, base, dir_fd=pfd)
        else:
            self._make_room(pfd, base, False)
            if entry.type == FIFO:
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                kind = stat.S_IFCHR if entry.type == CHR else stat.S_IFBLK
                os.mknod(base, kind | 0o600, os.makedev(entry.devmajor, entry.devminor), dir_fd=pfd)

        uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
        os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
        if entry.xattrs:
            self._set_xattrs_at(pfd, base, entry)
        if entry.type != SYM:
            os.chmod(base, entry.mode, dir_fd=pfd)
        atime = entry.atime_ns if entry.atime_ns is not None else entry.mtime_ns
        if entry.type == DIR:
            self.dir_times.append((parent, base, atime, entry.mtime_ns))
        else:
            os.utime(base, ns=(atime, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    @staticmethod
    def _make_room(pfd: int, base: str, is_dir: bool) -> bool:
        """Remove what is at `base` in the directory `pfd`, unless it is a directory and `is_dir`;
        True when a directory stays. Only what is below the cursor changes: its path holds."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if is_dir:
                return True
            remove_tree(pfd, base)
        else:
            os.unlink(base, dir_fd=pfd)
        return False

    def _create(self, pfd: int, base: str) -> int:
        try:
            return os.open(base, _CREATE, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._make_room(pfd, base, False)
            return os.open(base, _CREATE, 0o600, dir_fd=pfd)

    def _write_file(self, pfd: int, base: str, entry: Entry, reader: TarReader) -> None:
        """A regular file: content, then owner, xattrs, mode and times, all through the file
        descriptor the content was written with."""
        fd = self._create(pfd, base)
        try:
            self._fill(fd, entry, reader)
        finally:
            os.close(fd)

    def _fill(self, fd: int, entry: Entry, reader: TarReader) -> None:
        """The rest of the body into `fd`, then the file's owner, xattrs, mode and times."""
        preallocate(fd, entry.size)
        while True:
            chunk = reader.read_body()
            if not chunk:
                break
            write_all(fd, chunk)
        uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
        os.fchown(fd, uid, gid)
        for key, value in sorted(entry.xattrs.items()):
            self._setxattr(fd, key, value)
        os.fchmod(fd, entry.mode)
        atime = entry.atime_ns if entry.atime_ns is not None else entry.mtime_ns
        os.utime(fd, ns=(atime, entry.mtime_ns))

    def _link_alike(self, pfd: int, parent: str, base: str, entry: Entry, reader: _Body,
                    rel: str, known: str | None) -> bool:
        """`like`'s file at this path, when its header is the entry's: with this file's digest
        `known` equal to like's, the name becomes a hard link to it and the body is left unread
        (True, and `linked_unread` is set); else the
        body is compared with it as it is read; equal, a hard link (True); different from some
        offset, the file is written from the equal prefix and the rest of the body (True). False,
        with nothing of the body read, when there is no such file."""
        like = self.like
        assert like is not None
        if known is not None and isinstance(reader, StoredBody) and reader.of_like and \
                known == self.theirs.get(rel) and like.link_from(parent, base, pfd):
            # the very member like's file was made from: the same header, the same content
            like.linked += 1
            self.linked_unread = True
            return True
        sfd = like.open_file(parent, base)
        if sfd < 0:
            return False
        try:
            uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
            if not like.same_header(sfd, entry, uid, gid):
                return False
            if known is not None and known == self.theirs.get(rel):
                if self._link_to(sfd, pfd, base):
                    like.linked += 1
                    self.linked_unread = True
                    return True
                # not linked after all: the body, compared as below, is what is written
            same = 0
            while True:
                chunk = reader.read_body()
                if not chunk:
                    break
                if _read_exactly(sfd, len(chunk)) != bytes(chunk):  # bytes: one memcmp
                    fd = self._create(pfd, base)
                    try:
                        _copy_prefix(sfd, fd, same)
                        write_all(fd, chunk)
                        self._fill(fd, entry, reader)
                    finally:
                        os.close(fd)
                    return True
                same += len(chunk)
            if not self._link_to(sfd, pfd, base):
                # gone meanwhile, too many links, another file system: a copy of what was compared
                fd = self._create(pfd, base)
                try:
                    _copy_prefix(sfd, fd, same)
                    self._fill(fd, entry, reader)
                finally:
                    os.close(fd)
                return True
            like.linked += 1
            return True
        finally:
            os.close(sfd)

    def _hardlink(self, rel: str, entry: Entry) -> None:
        target_rel = clean_hardlink_target(entry.name, entry.linkname)
        tfd, tparent, tbase = self._parent(target_rel, create=False, entry=entry.name)
        try:
            st = os.stat(tbase, dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target does not exist") from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidArchive(f"hard link {entry.name!r} -> {entry.linkname!r}: target is a directory")
        target_dir = os.dup(tfd)
        try:
            pfd, parent, base = self._parent(rel, create=True, entry=entry.name)
            if (parent, base) == (tparent, tbase):
                return
            if self.naive:
                self.written.add(f"{parent}/{base}" if parent else base)
            self._make_room(pfd, base, False)
            # The inode's metadata is the target's (Docker keeps the target's mode).
            os.link(tbase, base, src_dir_fd=target_dir, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(target_dir)

    def _link_to(self, sfd: int, pfd: int, base: str) -> bool:
        """`base` in the directory `pfd` made a hard link to the open file `sfd`; False when the
        kernel refuses (the file was removed, has too many links, is on another file system)."""
        try:
            os.link(f"/proc/self/fd/{sfd}", base, dst_dir_fd=pfd, follow_symlinks=True)
        except FileExistsError:
            self._make_room(pfd, base, False)
            try:
                os.link(f"/proc/self/fd/{sfd}", base, dst_dir_fd=pfd, follow_symlinks=True)
            except OSError:
                return False
        except OSError:
            return False
        return True

    def _set_xattrs_at(self, pfd: int, base: str, entry: Entry) -> None:
        """xattrs of a directory (through its descriptor) or of a symlink, device or FIFO (by a
        /proc/self/fd path to its parent: never followed, whatever the depth)."""
        if entry.type == DIR:
            fd = os.open(base, _DIR_OPEN, dir_fd=pfd)
            try:
                for key, value in sorted(entry.xattrs.items()):
                    self._setxattr(fd, key, value)
            finally:
                os.close(fd)
            return
        path = f"/proc/self/fd/{pfd}/{base}"
        for key, value in sorted(entry.xattrs.items()):
            self._setxattr(path, key, value)

    @staticmethod
    def _setxattr(target: str | int, key: str, value: bytes) -> None:
        """On an open file descriptor, or a path (never followed)."""
        if key.startswith("trusted.overlay."):
            return  # overlay's own state: only our whiteout handling may set it
        try:
            if isinstance(target, int):
                os.setxattr(target, key, value)
            else:
                os.setxattr(target, key, value, follow_symlinks=False)
        except OSError as e:
            # Like Docker: attributes the filesystem cannot hold (ENOTSUP), or that are not
            # allowed on this kind of file (EPERM: user.* on symlinks) are skipped.
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise

    # -- whiteouts -------------------------------------------------------------------------
    def _whiteout(self, entry: Entry, head_rel: str, base: str) -> None:
        dfd = self._resolve_dir(head_rel, create=True, entry=entry.name)
        if base == WHITEOUT_OPAQUE:
            if self.naive:
                self._clear_dir(self.cursor.path)
            else:
                os.setxattr(dfd, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): ignored as Docker does
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", "..") or "/" in name:
            raise InvalidArchive(f"invalid whiteout entry {entry.name!r}")
        self._make_room(dfd, name, False)
        if not self.naive:
            # As overlayfs itself and Docker's ConvertRead: mode 0 (no permission bits), owner
            # from the header; we also keep the header's mtime.
            os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=dfd)
            os.chown(name, entry.uid, entry.gid, dir_fd=dfd, follow_symlinks=False)
            os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=dfd, follow_symlinks=False)

    def _clear_dir(self, top: str) -> None:
        """Naive opaque: remove everything under the directory `top` (a real path) that this
        layer did not write, recursively, like Docker's walk over `unpackedPaths`."""
        todo = [top]
        while todo:
            real = todo.pop()
            fd = self.cursor.goto(real)
            prefix = f"{real}/" if real else ""
            for name in os.listdir(fd):
                path = prefix + name
                if path not in self.written:
                    remove_tree(fd, name)
                elif stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    todo.append(path)


def _read_exactly(fd: int, n: int) -> bytes:
    """The next `n` bytes of `fd` (fewer only at its end)."""
    data = os.read(fd, n)
    if len(data) == n or not data:
        return data
    parts = [data]
    left = n - len(data)
    while left:
        more = os.read(fd, left)
        if not more:
            break
        parts.append(more)
        left -= len(more)
    return b"".join(parts)


def _copy_prefix(src: int, dst: int, n: int) -> None:
    """The first `n` bytes of `src` to the start of `dst` (in the kernel)."""
    done = 0
    while done < n:
        k = os.copy_file_range(src, dst, n - done, done, done)
        if k <= 0:
            raise DockyardError("a layer tree changed while it was read")
        done += k
    os.lseek(dst, n, os.SEEK_SET)


_LIKE_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class _Alike:
    """The tree of another layer, looked into at the paths being unpacked: its directories are
    opened one component at a time without following a symlink (a path that is not all
    directories there has no file to share)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.linked = 0
        self._dir: tuple[str, int] | None = None

    def _open_dir(self, parent: str) -> int:
        if self._dir is not None:
            if self._dir[0] == parent:
                return self._dir[1]
            os.close(self._dir[1])
            self._dir = None
        try:
            fd = os.open(self.root, _DIR_OPEN)
        except OSError:
            return -1
        for comp in parent.split("/") if parent else ():
            try:
                nfd = os.open(comp, _DIR_OPEN, dir_fd=fd)
            except OSError:
                os.close(fd)
                return -1
            os.close(fd)
            fd = nfd
        self._dir = (parent, fd)
        return fd

    def link_from(self, parent: str, base: str, pfd: int) -> bool:
        """`base` in the directory `pfd` made a hard link to the file `parent/base` there;
        False (nothing made) when it cannot be."""
        dfd = self._open_dir(parent)
        if dfd < 0:
            return False
        try:
            os.link(base, base, src_dir_fd=dfd, dst_dir_fd=pfd, follow_symlinks=False)
        except OSError:
            return False
        return True

    def open_file(self, parent: str, base: str) -> int:
        """A descriptor of the regular file `parent/base` there, or -1."""
        dfd = self._open_dir(parent)
        if dfd < 0:
            return -1
        try:
            fd = os.open(base, _LIKE_FILE, dir_fd=dfd)
        except OSError:
            return -1
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return -1
        return fd

    @staticmethod
    def same_header(fd: int, entry: Entry, uid: int, gid: int) -> bool:
        """What the unpacked entry would be given (mode, owner, mtime, size, xattrs) is what the
        file has."""
        st = os.fstat(fd)
        if (st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) != \
                (entry.size, stat.S_IMODE(entry.mode), uid, gid, entry.mtime_ns):
            return False
        try:
            names = os.listxattr(fd)
        except OSError:
            return False
        wanted = {k: v for k, v in entry.xattrs.items() if not k.startswith("trusted.overlay.")}
        if sorted(names) != sorted(wanted):
            return False
        try:
            return all(os.getxattr(fd, k) == v for k, v in wanted.items())
        except OSError:
            return False

    def close(self) -> None:
        if self._dir is not None:
            os.close(self._dir[1])
            self._dir = None
