"""An image's files for the builder, read-only: COPY/ADD need the parent image's filesystem (is
the destination a directory? which uid has user `daemon`?) and `COPY --from` reads another
image's. A read-only overlayfs mount of the store's unpacked layers (`LayerStore.unpacked`),
named by their short links under `<root>/l/` so that many layers fit in the mount options (as
Docker's overlay2 does); one layer is used as it is, no layer is an empty directory.

Containers (RUN) get their writable rootfs from dockyard.runtime; nothing here stays mounted
after the `with` block, whatever happens inside.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dockyard.digest import Digest
from dockyard.errors import RuntimeFailure
from dockyard.runtime.rootfs import topmost_once
from dockyard.store.store import Store


def _mount_overlay(store: Store, lowers: list[str], target: Path) -> None:
    """Mount a read-only overlayfs at `target`; `lowers` are names under `<root>/l`, top first."""
    opts = "ro,lowerdir=" + ":".join(lowers)
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                          cwd=store.layers.links, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeFailure(f"cannot mount the image filesystem: {proc.stderr.strip()}")


def unmount(target: Path) -> None:
    """Lazy-detach a mount (an exiting process may still hold it for a moment)."""
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


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
    work = Path(tempfile.mkdtemp(prefix="build-ro-", dir=store.tmp))
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
        shutil.rmtree(work, ignore_errors=True)
