"""Inter-process locks on the store (flock): what two dockyard processes share, they lock.

Lock order, always: `gc` before `meta`. Ingestion holds `gc` shared for its whole run so garbage
collection (which holds it exclusive) never deletes content that is being written but not yet
referenced; `meta` guards the small metadata files (tags, image records) for read-modify-write.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


@contextmanager
def flock(path: Path | str, *, shared: bool = False) -> Iterator[None]:
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def try_flock(path: Path | str) -> Iterator[bool]:
    """An exclusive lock if it is free now: yields True holding it, False (not waiting) if not."""
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _open(path: Path | str) -> int:
    # A build takes a lock at every step: the lock directory is made only when it is missing
    # (a mkdir that fails with EEXIST each time cost as much as the lock itself).
    try:
        return os.open(path, _FLAGS, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
        return os.open(path, _FLAGS, 0o600)
