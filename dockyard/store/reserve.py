"""Room kept for removals on a full disk.

Removing an image writes before it deletes (the name goes first, in a new repositories.json, so
that a crash never leaves a name without its image), and a write needs free blocks: on a full
disk `rmi`, the very command that would free space, failed (issue 16.10). The store keeps a small
file of allocated blocks, `locks/space-reserve`; a removal that finds the disk (nearly) full gives
it back first, and the store takes it again once there is room.
"""

from __future__ import annotations

import os
from pathlib import Path

SIZE = 1 << 20
LOW = 4 * SIZE  # below this much free space, a removal gives the reserve back before it writes


def path(lock_dir: Path) -> str:
    return f"{os.fspath(lock_dir)}/space-reserve"


def ensure(lock_dir: Path) -> None:
    """Allocate the reserve if it is missing and the disk has room for it (and then some)."""
    name = path(lock_dir)
    if os.path.exists(name) or _free(lock_dir) < 2 * LOW:
        return
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except (FileExistsError, OSError):
        return
    try:
        os.posix_fallocate(fd, 0, SIZE)
    except OSError:
        os.unlink(name)
    finally:
        os.close(fd)


def release_if_low(lock_dir: Path) -> None:
    """Give the reserve back when free space is short, so the removal about to run can write."""
    if _free(lock_dir) < LOW:
        try:
            os.unlink(path(lock_dir))
        except FileNotFoundError:
            pass


def _free(lock_dir: Path) -> int:
    try:
        st = os.statvfs(lock_dir)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize
