"""Content-addressed blobs: `blobs/sha256/<hex>`, written atomically, verified on the way in."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.atomic import fsync_dir, start_write_back, temp_file
from dockyard.dataclass import dataclass
from dockyard.digest import Digest, verify
from dockyard.errors import NotFound
from dockyard.store import workspace

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO


def is_file(path: str) -> bool:
    """`Path.is_file` for a string path: a cached build asks it of ~30 store files, and a Path
    join plus `is_file` costs about three times this."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


@dataclass(frozen=True)
class BlobStore:
    """Content-addressed blobs: `<root>/sha256/<hex>`."""

    root: Path      # .../blobs
    tmp_root: Path  # the store's tmp/ (same file system, for renames)

    @property
    def tmp(self) -> Path:
        """This process's temp folder (store.workspace)."""
        return workspace.folder(self.tmp_root)

    def path(self, digest: Digest) -> Path:
        return self.root / digest.algorithm / digest.hex

    def _name(self, digest: Digest) -> str:
        """`path` as a string (lookups take strings: pathlib costs more than the syscall)."""
        return f"{os.fspath(self.root)}/{digest.algorithm}/{digest.hex}"

    def exists(self, digest: Digest) -> bool:
        return is_file(self._name(digest))

    def size(self, digest: Digest) -> int:
        try:
            return os.stat(self._name(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self._name(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def put_bytes(self, data: bytes, expected: Digest | None = None,
                  durable_first: Callable[[], None] | None = None) -> Digest:
        """The blob of `data`. `durable_first`: what must be durable before it (Store.add_image),
        called once the blob's file is written with its writeback started and before its fsync:
        the journal commit of its own fsync then takes the blob's blocks too, and the blob's
        fsync has nothing left to commit (called as well when the blob is there already)."""
        digest = Digest.of_bytes(data)
        if expected is not None:
            verify(expected, digest, "blob")
        if not self.exists(digest):
            self._commit(digest, lambda f: f.write(data), durable_first)
        elif durable_first is not None:
            durable_first()
        return digest

    def adopt(self, tmp_path: Path, digest: Digest) -> None:
        """Move an already written and verified temp file into place (made durable first)."""
        self._place(str(tmp_path), digest)

    def publish(self, synced: list[tuple[Path, Digest]]) -> None:
        """Move written and verified temp files that `make_durable` synced into place: every
        rename, then each folder's fsync once (a batch: a pull's layers)."""
        folders: dict[Path, None] = {}
        for tmp, digest in synced:
            dest = self.path(digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
            folders[dest.parent] = None
        for folder in folders:
            fsync_dir(folder)

    def delete(self, digest: Digest) -> None:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            pass

    def _commit(self, digest: Digest, write, durable_first: Callable[[], None] | None = None) -> None:  # noqa: ANN001
        fd, tmp = temp_file(self.tmp, "blob-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                if durable_first is not None:
                    f.flush()
                    # its mode now, and its writeback started (its blocks allocated): the next
                    # journal commit takes them, and make_durable changes nothing after it
                    os.fchmod(f.fileno(), 0o644)
                    start_write_back(f.fileno())
            if durable_first is not None:
                durable_first()
            self._place(tmp, digest)  # fsyncs
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _place(self, tmp: str, digest: Digest) -> None:
        """Publish a written temp file: its mode and data durable first (whoever wrote it),
        then the rename, then the directory."""
        make_durable(tmp)
        self.publish([(Path(tmp), digest)])


def make_durable(tmp: Path | str, *, drop: bool = False) -> None:
    """A written blob's temp file with a blob's mode and its data durable (whoever wrote it),
    before `BlobStore.publish` renames it. `drop`: its pages leave the page cache once durable
    (a pulled blob, not read again by the pull: see atomic.Writeback)."""
    fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o644:
            os.fchmod(fd, 0o644)  # (a chmod to the same mode would still change the inode: a commit)
        os.fsync(fd)
        if drop:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
