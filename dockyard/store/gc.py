"""Garbage collection: delete what no image, container or running operation needs.

Roots: image records, holds (containers keep their image; a hold whose holder is gone is void and
dropped first), BuildKit mode's cache records (store.buildcache) and live leases (store.leases).
The collector holds the gc lock exclusively, so no content is being added meanwhile (adding holds
it shared from the first byte written to the record that references it).

Every crash point leaves each layer whole or gone (issue 16.4: a kill between deleting a pulled
layer's compressed blob and moving its directory left a layer that "Already exists" but could
neither run nor save): the unneeded layers' directories are first moved, whole, into the
process's temp folder (store.workspace), and that is made durable (fsync of layers/) before
anything they point to is deleted: their compressed blobs and short links, then the directories.
Blobs nothing references any more (configs and manifests of deleted images, blobs a killed
process had put and not yet referenced) go after that, then short links that lead nowhere. What
a kill leaves half done is finished by the next collection, which a start of dockyard runs when
it finds a dead process's temp folder.

What a collection keeps only for a live lease (an image `rmi` deleted while a build stood on it
or a save read it) is owed: a marker (Store.collect_marker) makes the lease's end collect again,
or, if another process holds the gc lock then, the next start or collection.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.atomic import fsync_dir
from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.store import filesums, leases

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from dockyard.store.store import Store

# The temp file of an atomic write made beside its target by older versions (`.NAME.XXXXXXXX`).
_ATOMIC_TEMP = r"\..+\.[a-z0-9_]{8}\Z"  # compiled when first used (re's cache), not at each start
_STALE = 60  # seconds: older temp files of that kind belong to no running write


def collect(store: Store, *, thorough: bool = False) -> list[Digest]:
    """Delete unneeded layers, unreferenced blobs and dead short links; returns the deleted
    layers' diff IDs. The caller holds the gc lock exclusively and the meta lock. `thorough`
    also removes what older versions left beside the store's files."""
    store.tmp  # noqa: B018 - this process's temp folder exists from here: a kill leaves a trace
    try:
        os.unlink(store.collect_marker)  # this collection pays what was owed until now
    except FileNotFoundError:
        pass
    for name in void_holds(store):
        store.release(name)
    configs, needed = own_roots(store)
    kept = leases.kept(store.tmp_root)
    if not (kept.images <= configs and kept.layers <= needed):
        # Kept for a live lease only: owed to the collection its end runs (store.leases)
        open(store.collect_marker, "ab").close()
        configs |= kept.images
        needed |= kept.layers
    doomed = [d for d in store.layers.all() if d not in needed]
    moved = [(d, store.layers.detach(d)) for d in doomed]
    if moved:
        fsync_dir(store.layers.root)  # gone for good before what they point to goes
    deleted = []
    for diff_id, trash in moved:
        if trash is not None:
            store.layers.dispose(trash)
            deleted.append(diff_id)
    for path in unreferenced_blobs(store, configs):
        path.unlink(missing_ok=True)
    for path in dead_links(store):
        path.unlink(missing_ok=True)
    filesums.trim(store.root)  # the per-file checksums of build contexts that are gone
    if thorough:
        store.records.drop_stray_entries()  # a writer killed between a record's entry and it
        for path in old_leftovers(store):
            if path.is_dir() and not path.is_symlink():
                remove_path(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return deleted


def roots(store: Store) -> tuple[set[Digest], set[Digest]]:
    """The image configs and the layers that records, holds, the build cache and live leases
    need."""
    configs, needed = own_roots(store)
    kept = leases.kept(store.tmp_root)
    return configs | kept.images, needed | kept.layers


def own_roots(store: Store) -> tuple[set[Digest], set[Digest]]:
    """The image configs and the layers that records, holds and the build cache need."""
    configs: set[Digest] = set()
    needed: set[Digest] = set(store.build_cache.diff_ids())  # BuildKit mode's cache keeps its layers
    for image_id in [*store.records.ids(), *store.held_images()]:
        diff_ids = store.diff_ids(image_id)
        if diff_ids is not None:
            configs.add(image_id)
            needed.update(diff_ids)
    return configs, needed


def unreferenced_blobs(store: Store, configs: set[Digest]) -> list[Path]:
    """Blobs that are no needed config, no kept manifest and no layer's content or
    compressed form."""
    referenced = set(configs)
    for image_id in store.records.ids():
        referenced.update(store.manifests(image_id))
    for diff_id in store.layers.all():
        try:
            layer = store.layers.get(diff_id)
        except (DockyardError, ValueError, KeyError, TypeError):
            continue
        referenced.update(c.digest for c in layer.compressed)
        if layer.source is not None:
            referenced.add(layer.source.digest)
    folder = store.blobs.root / "sha256"
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [folder / n for n in names if Digest("sha256", n) not in referenced]


def void_holds(store: Store) -> list[str]:
    """Holds whose holder is gone: a process killed between taking the hold and making its
    holder appear (a container being created), or between the holder going and the release
    (a container being removed). Both happen in one `ingesting` hold, so under the gc lock
    held exclusively no live process is half way."""
    return sorted(name for name, (_, holder) in store.holds().items()
                  if holder is not None and not os.path.lexists(holder))


def dead_links(store: Store) -> list[Path]:
    """Short links under l/ to a layer's diff/ that is gone."""
    try:
        names = os.listdir(store.layers.links)
    except FileNotFoundError:
        return []
    return [store.layers.links / n for n in names if not (store.layers.links / n).exists()]


def old_leftovers(store: Store) -> list[Path]:
    """Temp files of atomic writes beside their targets and unpack work trees in layer
    directories (`.diff-*`), as versions before store.workspace made them, older than a
    minute (no running write makes one last that long)."""
    now = time.time()
    folders = [store.root, store.root / "images", store.holds_dir]
    try:
        folders += [store.layers.root / n for n in os.listdir(store.layers.root)]
    except FileNotFoundError:
        pass
    out = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if not (re.match(_ATOMIC_TEMP, name) or name.startswith(".diff-")):
                continue
            try:
                if (folder / name).lstat().st_mtime <= now - _STALE:
                    out.append(folder / name)
            except FileNotFoundError:
                continue
    return out
