"""The entries of a COPY/ADD layer: the tar writer that hashes what it writes (so it knows the
diff ID at the end), an entry copied from a file, and the parent directories a copy creates
or changes (existing ones as the image has them, missing ones 0755 and owned by --chown)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.archive.diff import DIR, FIFO, LNK, REG, SYM, Header, encode_header
from dockyard.archive.scan import ScanResult
from dockyard.builder.copy.reuse import member_key
from dockyard.dataclass import dataclass
from dockyard.digest import CHUNK, Digest, Sha256
from dockyard.errors import InvalidParameter
from dockyard.store.filesums import same_stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.archive.apply import LayerTree
    from dockyard.builder.copy.reuse import Members
    from dockyard.store.layer_writer import HashBehind
    from dockyard.archive.tarreader import Entry
    from dockyard.store.filesums import FileSums

__all__ = ["CopyPlan", "LayerWriter", "dir_entry", "emit", "image_lstat", "parent_dirs"]

_TYPE_BITS = {REG: 0o100000, LNK: 0o100000, DIR: 0o40000, SYM: 0o120000, FIFO: 0o10000}
_BLOCK = 512


@dataclass
class CopyPlan:
    """Where and how the sources land in the image."""

    dest: str                  # absolute, as given after WORKDIR resolution (may end with /)
    uid: int = 0
    gid: int = 0
    chmod: int | None = None
    chowned: bool = False      # --chown given: new parent dirs get the ids too
    extract_archives: bool = False
    keep_owner: bool = False   # without --chown, files keep their owner (BuildKit's copy from a stage)
    # the classic builder's (dockerd 20.10): a directory's new parents are root's (only the
    # destination takes --chown), an extracted archive keeps its owners (--chown ignored)
    classic_owners: bool = False


class LayerWriter:
    """Writes a layer tar to a file, hashing it as it goes (the hash is the diff ID); with a
    `tree` (archive.apply.LayerTree), the layer's unpacked tree too, in the same pass: each
    entry is applied as its header is written, a file's body sent on to the tree as it is
    written to the tar."""

    def __init__(self, out: BinaryIO, tree: LayerTree | None = None, hash_behind: bool = False,
                 members: Members | None = None) -> None:
        self.out = out
        # `hash_behind`: a thread hashes the tar, reading it back behind the writer (a layer of
        # many files: the writer's core has their reading, writing and the tree's queue); only
        # into a file (not a stream)
        self.hash: Sha256 | None = None
        self._behind: HashBehind | None = None
        fd = _file_descriptor(out) if hash_behind else None
        if fd is not None:
            from dockyard.store.layer_writer import HashBehind

            self._behind = HashBehind(fd)
        else:
            self.hash = Sha256()  # a small layer loads no libcrypto
        self.size = 0
        self.content = 0
        self.entries = 0
        self.dirs: set[str] = set()
        # Directories of this layer that are not directories of the image below (new, or in
        # place of a file or symlink): nothing below them exists in the image.
        self.new_dirs: set[str] = set()
        self.links: dict[tuple[int, int], str] = {}
        self._buf = bytearray(CHUNK)
        # The context's records (store/filesums.py) and, filled as files are written, the
        # sha256 of a file's content by entry name where a record says it and the file did not
        # change from before it was looked up to after it was read (for unpacked(like=)).
        self.sums: FileSums | None = None
        self.digests: dict[str, str] = {}
        self.symlinks = False   # a symlink among the entries: a later name may lead through it
        self.tree = tree
        self._pending: Entry | None = None  # a regular file's entry, applied with its body
        # The members of the last layer's tar this one may copy (builder/copy/reuse.py; only
        # into a file hashed behind the writer, which hashes what is copied too), and this
        # tar's index of them; `_run`: the last tar's bytes [start, end) still to copy.
        self.members = members if members is not None and self._behind is not None else None
        self._run: list[int] | None = None

    def _write(self, data: bytes | memoryview) -> None:
        if self._run is not None:
            self._copy_run()
        if self.hash is not None:
            self.hash.update(data)
        self.out.write(data)
        self.size += len(data)

    def header(self, h: Header) -> bytes:
        """Write `h`'s header; returns its bytes. A member that is its header alone (all but a
        regular file's) is copied from the last layer's tar when that has it."""
        # Go's tar.FileInfoHeader (so Docker's layers) keeps the file type bits in the mode field.
        h.mode = (h.mode & 0o7777) | _TYPE_BITS.get(h.type, 0)
        if self.tree is not None:
            self._to_tree(h)
        data = encode_header(h)
        members = self.members
        if members is not None and h.type != REG:
            key = member_key(data, "")
            members.new[h.name] = [self.size, len(data), key]
            start = members.find(h.name, key, len(data))
            if start is not None:
                self._copy_later(start, len(data))
            else:
                self._write(data)
        else:
            self._write(data)
        self.entries += 1
        if h.type == DIR:
            self.dirs.add(h.name.rstrip("/"))
        elif h.type == SYM:
            self.content += len(h.linkname.encode())
            self.symlinks = True
        return data

    def copied_member(self, h: Header, known: str, path: str | os.PathLike[str], st: os.stat_result) -> bool:
        """The member of the regular file `h` (`known`: its content's digest, by its record)
        taken from the last layer's tar when that has it byte for byte and the file at `path`
        is still as `st` says; False, with nothing written, when it cannot be."""
        members = self.members
        assert members is not None
        h.mode = (h.mode & 0o7777) | _TYPE_BITS[REG]
        data = encode_header(h)
        key = member_key(data, known)
        length = len(data) + h.size + (-h.size % _BLOCK)
        start = members.find(h.name, key, length)
        if start is None:
            return False
        try:
            if not same_stat(os.lstat(path), st):
                return False
        except OSError:
            return False
        if self.tree is not None:
            self._to_tree(h)
            entry, self._pending = self._pending, None
            self.tree.add_stored(entry, members.fd, start + len(data), h.size,  # type: ignore[arg-type]
                                 None if self.symlinks else known, members.of_like)
        members.new[h.name] = [self.size, length, key]
        self._copy_later(start, length)
        self.entries += 1
        self.content += h.size
        return True

    def _copy_later(self, start: int, length: int) -> None:
        """The last tar's member at `start` is this tar's next: copied with the adjacent ones."""
        run = self._run
        if run is not None and run[1] == start:
            run[1] += length
        else:
            if run is not None:
                self._copy_run()
            self._run = [start, start + length]
        self.size += length

    def index_member(self, name: str, offset: int, header: bytes, known: str, size: int) -> None:
        """The member of the file `name` written at `offset` (its `header`'s bytes, `size`
        bytes of content whose digest is `known`) goes into this tar's index."""
        if self.members is not None:
            self.members.new[name] = [offset, len(header) + size + (-size % _BLOCK), member_key(header, known)]

    def _copy_run(self) -> None:
        start, end = self._run  # type: ignore[misc]
        self._run = None
        self.out.flush()
        self.members.copy(self.out.fileno(), start, end)  # type: ignore[union-attr]

    def _to_tree(self, h: Header) -> None:
        from dockyard.archive.apply import entry_of

        if self._pending is not None:  # a file written without a body: an empty one
            self.tree.add(self._pending)  # type: ignore[union-attr]
            self._pending = None
        entry = entry_of(h.name, h.type, h.mode, h.uid, h.gid, h.size, h.mtime, h.linkname,
                         h.devmajor, h.devminor, h.xattrs)
        if h.type == REG:
            self._pending = entry
        else:
            self.tree.add(entry)  # type: ignore[union-attr]

    def note_dir(self, d: str, st: os.stat_result | None) -> None:
        """`d` is written as a directory; `st`: what the image has there."""
        if st is None or not stat.S_ISDIR(st.st_mode):
            self.new_dirs.add(d)

    def body(self, stream: BinaryIO, size: int, known: str | None = None) -> bool:
        """The body of the file whose header was written last, `size` bytes read from `stream`;
        `known`: its content digest as a record says (the tree may link like's file by it).
        True when the tree took the file from like's by that digest, before it was read."""
        body = _Body(self, stream, size)
        linked = False
        entry, self._pending = self._pending, None
        if entry is not None:
            linked = self.tree.add(entry, body, None if self.symlinks else known)  # type: ignore[union-attr]
        while body.read_body():
            pass
        if size % _BLOCK:
            self._write(bytes(_BLOCK - size % _BLOCK))
        self.content += size
        return linked

    def rewrite_in_tree(self, h: Header) -> None:
        """The tree's file of `h` (the file whose body was written last) made again from that
        body as the tar has it: the tree had linked like's file by a digest the file turned out
        not to keep while it was read."""
        from dockyard.archive.apply import StoredBody, entry_of

        self.out.flush()
        end = self.size - (-h.size % _BLOCK)
        fd = os.open(f"/proc/self/fd/{self.out.fileno()}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.tree.add(entry_of(h.name, REG, h.mode, h.uid, h.gid, h.size, h.mtime),  # type: ignore[union-attr]
                          StoredBody(fd, end - h.size, h.size))
        finally:
            os.close(fd)

    def finish(self) -> ScanResult:
        if self._run is not None:
            self._copy_run()
        if self._pending is not None:
            self.tree.add(self._pending)  # type: ignore[union-attr]
            self._pending = None
        self._write(bytes(2 * _BLOCK))
        self.out.flush()
        if self._behind is not None:
            digest, self._behind = self._behind.finish(), None
        else:
            digest = self.hash.hexdigest()  # type: ignore[union-attr]
        return ScanResult(Digest("sha256", digest), self.size, self.content, self.entries)

    def abort(self) -> None:
        """The writer failed: the hashing thread stops."""
        if self._behind is not None:
            self._behind.abort()
            self._behind = None


_READ = os.O_RDONLY | os.O_CLOEXEC


class _FdReader:
    """An open file read by its descriptor (no file object per copied file)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self, n: int) -> bytes:
        return os.read(self._fd, n)

    def readinto(self, view: memoryview) -> int:
        return os.readv(self._fd, (view,))


def _file_descriptor(out: BinaryIO) -> int | None:
    """The descriptor of `out` when it is a regular file."""
    try:
        fd = out.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


class _Body:
    """A file's body as the tree reads it: each chunk is read from the source and written to the
    tar on its way (what the tree does not read is read by the writer after it)."""

    def __init__(self, w: LayerWriter, stream: BinaryIO, size: int) -> None:
        self._w, self._stream, self._left = w, stream, size
        self._view = memoryview(w._buf)
        # a tree that reads the chunks later (in its thread) gets bytes of their own
        self._own = w.tree is not None and w.tree.own_chunks

    def read_body(self) -> memoryview | bytes:
        k = min(self._left, CHUNK)
        if k <= 0:
            return self._view[:0]
        if self._own:
            chunk = self._stream.read(k)
            n = len(chunk)
        else:
            n = self._stream.readinto(self._view[:k])  # type: ignore[attr-defined]
            chunk = self._view[:n]
        if not n:
            raise InvalidParameter("a copied file changed size while it was read")
        self._w._write(chunk)
        self._left -= n
        return chunk


def image_lstat(image_root: Path, rel: str, w: LayerWriter | None = None) -> os.stat_result | None:
    """What the image has at `rel` (a last symlink not followed). With `w`: nothing, below a
    directory the layer puts where the image has none (looking would follow the image's symlink
    there, maybe out of the image, to the host)."""
    if w is not None and rel.rpartition("/")[0] in w.new_dirs:
        return None
    try:
        return os.lstat(image_root / rel)
    except (FileNotFoundError, NotADirectoryError):
        return None


def parent_dirs(w: LayerWriter, image_root: Path, rel: str, plan: CopyPlan, now: int) -> None:
    """Entries for every ancestor of `rel`: existing ones as they are (their mtime changes, as the
    overlay copy-up shows in Docker's diff), missing ones 0755 owned by the --chown user. The
    ancestors of a written directory were written before it: only the missing are looked at."""
    missing = []
    d = rel.rpartition("/")[0]
    while d and d not in w.dirs:
        missing.append(d)
        d = d.rpartition("/")[0]
    for d in reversed(missing):
        dir_entry(w, image_root, d, plan, now)


def dir_entry(w: LayerWriter, image_root: Path, d: str, plan: CopyPlan, now: int) -> None:
    st = image_lstat(image_root, d, w)
    w.note_dir(d, st)
    if st is not None and stat.S_ISDIR(st.st_mode):
        w.header(Header(d + "/", DIR, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, 0, now))
    elif st is not None and not stat.S_ISLNK(st.st_mode):
        # Docker: creating the directory fails on an existing file
        raise InvalidParameter(f"failed to copy files: mkdir /{d}: not a directory")
    else:
        uid, gid = (plan.uid, plan.gid) if plan.chowned else (0, 0)
        w.header(Header(d + "/", DIR, 0o755, uid, gid, 0, now))


def _chowned_file_mode(mode: int) -> int:
    """A context file's mode as Docker's COPY gives it: the daemon unpacks the context tar it
    got and chowns each file after setting its mode, and the kernel then drops set-user-ID, and
    set-group-ID when the group may execute (chown(2)). Directories keep both; files of an image
    (`COPY --from`) or an archive (ADD) keep them too."""
    mode &= ~stat.S_ISUID
    if mode & stat.S_IXGRP:
        mode &= ~stat.S_ISGID
    return mode


def emit(w: LayerWriter, name: str, path: str | os.PathLike[str], st: os.stat_result, plan: CopyPlan,
         mtime: int | None = None, mode: int | None = None, origin: str = "context") -> None:
    fmt = stat.S_IFMT(st.st_mode)
    perm = mode if mode is not None else stat.S_IMODE(st.st_mode)
    if plan.chmod is not None:
        perm = plan.chmod
    uid, gid = (st.st_uid, st.st_gid) if plan.keep_owner and not plan.chowned else (plan.uid, plan.gid)
    h = Header(name, REG, perm, uid, gid, 0, int(st.st_mtime) if mtime is None else mtime)
    if fmt == stat.S_IFREG:
        if origin == "context":
            h.mode = _chowned_file_mode(h.mode)
        if st.st_nlink > 1:  # hard links among the copied files stay hard links (Docker's tar)
            key = (st.st_dev, st.st_ino)
            first = w.links.get(key)
            if first is not None:
                h.type, h.linkname = LNK, first
                w.header(h)
                return
            w.links[key] = name
        h.size = st.st_size
        known = w.sums.content_at(path, st) if w.sums is not None and origin == "context" else None
        if known is not None and w.members is not None and w.copied_member(h, known, path, st):
            w.digests[name] = known
            return
        offset = w.size
        header = w.header(h)
        fd = os.open(path, _READ)
        try:
            linked = w.body(_FdReader(fd), st.st_size, known)  # type: ignore[arg-type]
            if known is not None:
                if same_stat(os.fstat(fd), st):
                    w.digests[name] = known
                    w.index_member(name, offset, header, known, st.st_size)
                elif linked:  # changed while it was read: the tree has what the tar has
                    w.rewrite_in_tree(h)
        finally:
            os.close(fd)
        return
    if fmt == stat.S_IFDIR:
        h.type, h.name = DIR, name.rstrip("/") + "/"
    elif fmt == stat.S_IFLNK:
        h.type, h.linkname = SYM, os.readlink(path)
        if plan.chmod is not None:
            h.mode = stat.S_IMODE(st.st_mode)
    elif fmt == stat.S_IFIFO:
        h.type = FIFO
    else:
        return  # devices and sockets are not copied from a context
    w.header(h)

