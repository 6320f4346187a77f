"""The directory a build step's one-shot container leaves (its bundle: upper, work, merged, the
spec, the runtime's files), once unmounted: removed while the next step's runtime runs.

Handed to the remover thread (archive/fstree.remove_later) as soon as a step ended, its removal
ran beside the next step's preparation and took the interpreter's lock from it at every one of
its dozen syscalls (a step's mount, spec and spawn waited up to ~1 ms for it). While a runtime
runs (~25 ms a `RUN true`), the step's thread only waits on its pipes: `release` hands the
directories over then. What is still left when the process ends goes with its temp folder, where
these directories are (store.workspace), as a kill leaves them.
"""

from __future__ import annotations

import os
import threading

from dockyard.archive.fstree import remove_later

_left: list[str] = []
_lock = threading.Lock()


def leave(path: str | os.PathLike[str]) -> None:
    """`path` (unmounted, used by nobody) goes at the next `release`."""
    with _lock:
        _left.append(os.fspath(path))


def release() -> None:
    """A runtime runs: what was left goes to the remover now."""
    with _lock:
        paths = _left[:]
        del _left[:]
    for path in paths:
        remove_later(path)
