"""An image's files for the builder, read-only: COPY/ADD need the parent image's filesystem (is
the destination a directory? which uid has user `daemon`?) and `COPY --from` reads another
image's. A read-only overlayfs mount of the store's unpacked layers (`LayerStore.unpacked`),
named by their short links under `<root>/l/` so that many layers fit in the mount options (as
Docker's overlay2 does); one layer is used as it is, no layer is an empty directory.

Containers (RUN) get their writable rootfs from dockyard.runtime; nothing here stays mounted
after the `with` block, whatever happens inside.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import temp_dir
from dockyard.digest import Digest
from dockyard.errors import RuntimeFailure
from dockyard.runtime.rootfs import MNT_DETACH, MOUNT_DATA_MAX, topmost_once
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Iterator


MS_RDONLY = 1


def _mount_overlay(store: Store, lowers: list[str], target: Path) -> None:
    """Mount a read-only overlayfs at `target`; `lowers` are names under `<root>/l`, top first.
    By mount(2) itself when the absolute paths fit its one page of options (a COPY's mount and
    unmount cost two processes, `mount` and `umount`, ~5 ms each, otherwise); else `mount` with
    the short names, from `<root>/l` (this process's threads share one current directory)."""
    import ctypes  # a mount only (the in-process budget, tests/test_start_up.py)

    data = os.fsencode("lowerdir=" + ":".join(os.path.join(store.layers.links, name) for name in lowers))
    if len(data) < MOUNT_DATA_MAX:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"overlay", os.fsencode(target), b"overlay", ctypes.c_ulong(MS_RDONLY), data) != 0:
            raise RuntimeFailure(f"cannot mount the image filesystem: {os.strerror(ctypes.get_errno())}")
        return
    opts = "ro,lowerdir=" + ":".join(lowers)
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                          cwd=store.layers.links, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeFailure(f"cannot mount the image filesystem: {proc.stderr.strip()}")


def unmount(target: Path) -> None:
    """Lazy-detach a mount (an exiting process may still hold it for a moment)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(target), MNT_DETACH)


def layer_dirs(store: Store, diff_ids: list[Digest]) -> list[str]:
    """The short link names of the layers, top (last) layer first, unpacking as needed."""
    names = []
    for diff_id in reversed(diff_ids):
        store.layers.unpacked(diff_id)
        names.append(store.layers.link_name(diff_id))
    return topmost_once(names)


@contextmanager
def image_root(store: Store, diff_ids: list[Digest]) -> Iterator[Path]:
    """The merged, read-only filesystem of an image's layers (an empty directory for none)."""
    work = temp_dir(store.tmp, "build-ro-")
    target = work / "merged"
    target.mkdir()
    mounted = False
    try:
        if len(set(diff_ids)) == 1:  # one layer (perhaps repeated): no overlay needed
            yield store.layers.unpacked(diff_ids[0])
            return
        if diff_ids:
            _mount_overlay(store, layer_dirs(store, diff_ids), target)
            mounted = True
        yield target
    finally:
        if mounted:
            unmount(target)
        remove_path(work, ignore_errors=True)
