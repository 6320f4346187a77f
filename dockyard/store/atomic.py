"""Crash-safe file writes: write to a temp file in the same directory tree, fsync, rename.

`replace_unsynced` is the same without the fsyncs, for the one kind of file whose loss is harmless
(see its docstring); everything the store needs to survive a crash goes through `atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new content, never half."""
    with atomic_file(path, mode=mode) as f:
        f.write(data)


@contextmanager
def atomic_file(path: Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Stream into a temp file; on success it is fsynced and renamed to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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


def replace_unsynced(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically (temp file + rename: a reader sees the old or the new
    content, never a half) but without fsync: after a crash the file may hold the previous
    content, or, on some filesystems, be empty or garbled (a rename can reach the disk before the
    data). Only for advisory values a reader can do without and must check, such as the time of
    the last tag; each of the two fsyncs costs about half a millisecond."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
