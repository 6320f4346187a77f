"""Crash-safe file writes: write to a temp file in the same directory tree, fsync, rename."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def fsync_dir(path: Path) -> None:
    _fsync(path, os.O_DIRECTORY)


def fsync_file(path: Path | str) -> None:
    """Make a file's data durable (before the rename that publishes it: a rename is often
    committed by the next fsync of anything on the file system, the data only by its own)."""
    _fsync(path, 0)


def _fsync(path: Path | str, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path | str) -> None:
    """Make everything written to the file system holding `path` durable: one call for a tree
    of many files (an unpacked layer) instead of an fsync of each. Falls back to sync(2)."""
    import ctypes  # unpacking only: see the in-process budget, tests/test_start_up.py

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fspath(path))
    except AttributeError:
        os.sync()
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: list = []  # [the libc function, or None where there is none], made on first use


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of a file being written to the disk, without waiting
    (sync_file_range(2) SYNC_FILE_RANGE_WRITE): a large file's fsync then waits for little, and
    the disk works while the writer goes on. Durability still needs the fsync; this only
    starts it early. A no-op where the call is missing."""
    if not _sync_file_range:
        import ctypes  # large writes only: see the in-process budget, tests/test_start_up.py

        fn = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
        if fn is not None:
            fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            fn.restype = ctypes.c_int
        _sync_file_range.append(fn)
    fn = _sync_file_range[0]
    if fn is not None:
        fn(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure only means no head start


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, tmp_dir: Path | None = None) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new content, never half."""
    with atomic_file(path, mode=mode, tmp_dir=tmp_dir) as f:
        f.write(data)


@contextmanager
def atomic_file(path: Path, *, mode: int = 0o644, tmp_dir: Path | None = None) -> Iterator[BinaryIO]:
    """Stream into a temp file; on success it is fsynced and renamed to `path`. The temp file is
    made in `tmp_dir` (on the same file system; the store gives its process's temp folder, so
    a kill leaves nothing beside `path`), else beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=tmp_dir or path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
