"""An image's filesystem for the builder: a read-only or writable overlay mount of its layers.

The builder needs the parent image's files for COPY/ADD (is the destination a directory? which
uid has user `daemon`? the sources of `COPY --from`) and for RUN (the container's rootfs). Both
are overlayfs mounts of the store's unpacked layers (`LayerStore.unpacked`), named by their short
links under `<root>/l/` so that many layers fit in the mount options (as Docker's overlay2 does).

This is a thin adapter until `dockyard/runtime` provides rootfs mounts; it keeps nothing mounted
after the `with` block, whatever happens inside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dockyard.digest import Digest
from dockyard.errors import RuntimeFailure
from dockyard.store.store import Store


def _mount_overlay(store: Store, lowers: list[str], target: Path, upper: Path | None,
                   work: Path | None) -> None:
    """Mount overlayfs at `target`; `lowers` are names under `<root>/l` or absolute paths, top first."""
    opts = "lowerdir=" + ":".join(lowers)
    if upper is not None and work is not None:
        opts += f",upperdir={upper},workdir={work}"
    else:
        opts = "ro," + opts
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
    return names


@contextmanager
def image_root(store: Store, diff_ids: list[Digest]) -> Iterator[Path]:
    """The merged, read-only filesystem of an image's layers (an empty directory for none)."""
    work = Path(tempfile.mkdtemp(prefix="build-ro-", dir=store.tmp))
    target = work / "merged"
    target.mkdir()
    mounted = False
    try:
        if len(diff_ids) == 1:
            yield store.layers.unpacked(diff_ids[0])
            return
        if diff_ids:
            lowers = layer_dirs(store, diff_ids)
            if len(lowers) == 1:
                lowers.append(lowers[0])
            _mount_overlay(store, lowers, target, None, None)
            mounted = True
        yield target
    finally:
        if mounted:
            unmount(target)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def writable_root(store: Store, diff_ids: list[Digest], init_dir: Path | None = None
                  ) -> Iterator[tuple[Path, Path]]:
    """A writable overlay over the image's layers: yields (merged, upper). `init_dir`, when
    given, lies between the image and the upper dir (Docker's init layer: mount points and
    /etc/hosts that must not show up in the diff)."""
    work = Path(tempfile.mkdtemp(prefix="build-rw-", dir=store.tmp))
    upper, scratch, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, scratch, merged):
        d.mkdir()
    os.chmod(upper, 0o755)
    empty = work / "empty"
    empty.mkdir()
    lowers = ([str(init_dir)] if init_dir is not None else []) + layer_dirs(store, diff_ids)
    if not lowers:
        lowers = [str(empty)]
    mounted = False
    try:
        _mount_overlay(store, lowers, merged, upper, scratch)
        mounted = True
        yield merged, upper
    finally:
        if mounted:
            unmount(merged)
        shutil.rmtree(work, ignore_errors=True)
