"""The directory a build step's one-shot container leaves (its bundle: upper, work, merged, the
spec, the runtime's files): removed while the next step's runtime runs, and a classic step's
overlay unmounted then too.

Handed to the remover thread (archive/fstree.remove_later) as soon as a step ended, its removal
ran beside the next step's preparation and took the interpreter's lock from it at every one of
its dozen syscalls (a step's mount, spec and spawn waited up to ~1 ms for it). While a runtime
runs (~25 ms a `RUN true`), the step's thread only waits on its pipes: `release` hands the
directories over then. A classic step's overlay is unmounted there as well (0.2-0.5 ms of
umount2 between two runtimes otherwise): nothing reads its merged view once the runtime is gone,
its upper dir was read in place, and no later mount uses that upper dir (BuildKit mode's next
step stands on its step's upper dir: that one is unmounted at once, as overlayfs wants a lower
dir in use by no other mount). What is still left when the process ends goes with its temp
folder, where these directories are (store.workspace: mounts detached first), as a kill leaves
them; a directory whose unmount failed is left to that too, never removed through its mount.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dockyard.archive.fstree import remove_later
from dockyard.errors import DockyardError
from dockyard.runtime import rootfs

_left: list[tuple[str, str | None]] = []
_lock = threading.Lock()


def leave(path: str | os.PathLike[str], mounted: str | os.PathLike[str] | None = None) -> None:
    """`path`, used by nobody, goes at the next `release`; `mounted` (in it), a mount point
    whose mount nobody uses, is unmounted first."""
    with _lock:
        _left.append((os.fspath(path), None if mounted is None else os.fspath(mounted)))


def release() -> None:
    """A runtime runs: what was left is unmounted and goes to the remover now."""
    with _lock:
        left = _left[:]
        del _left[:]
    for path, mounted in left:
        if mounted is not None:
            try:
                rootfs.unmount(Path(mounted))
            except (DockyardError, OSError):
                continue  # still mounted: left to the process's exit (never removed through it)
        remove_later(path)
