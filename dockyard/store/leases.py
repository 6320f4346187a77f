"""Leases: what a running operation uses is kept by the garbage collector until it is done.

A build uses its base image for minutes; an `rmi -f` of that base meanwhile must not delete the
layers the build stands on (issue 16.5: the build ended "Successfully built" with an image whose
layers were gone). As containerd's leases do, an operation takes a lease for its whole run and
records in it every image it uses or makes; the collector (store.gc) keeps the config and layers
of every image in a live lease, whether or not the image still has a record.

A lease is a file `lease-*` in its process's temp folder (store.workspace): it lives while the
`with store.lease()` block runs and, at the latest, while its process lives (a killed process's
folder, leases included, is void and removed at the next start). Nothing is fsynced: a lease does
not outlive a crash. An entry is written under the store's gc lock held shared, so the collector
(which holds it exclusively) sees every entry made before it started, and an image is leased only
if it still exists at that moment. What a collection kept for a lease alone is collected when
the lease ends (store.gc).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from dockyard.atomic import temp_file, write_all
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotFound
from dockyard.store import workspace

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import ContextManager

    from dockyard.store.store import Store

PREFIX = "lease-"
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@dataclass
class Kept:
    """What the live leases keep."""

    images: set[Digest] = field(default_factory=set)
    layers: set[Digest] = field(default_factory=set)


class Lease:
    """A lease that cannot be written (a full disk, a read-only store: a `save` still works
    there) holds the gc lock shared instead, until it ends: the collector waits for it, as it
    waits for an ingest, and keeps everything meanwhile."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._images: set[Digest] = set()
        self._held: ContextManager[None] | None = None
        self.path: Path | None = None
        self._fd = -1
        try:
            self._fd, name = temp_file(store.tmp, PREFIX)
        except OSError as e:
            if e.errno not in _NO_ROOM:
                raise
            self._hold()
            return
        self.path = Path(name)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keep_image(self, image_id: Digest, diff_ids: list[Digest] | None = None) -> None:
        """Keep the image's config and layers (`diff_ids`, read from its config if not given)
        while the lease lives; NotFound if the image is gone. Call it under the store's
        `ingesting` lock, in the same hold that found or made the image."""
        if image_id in self._images:
            return
        if not self._store.records.exists(image_id):
            raise NotFound(f"No such image: {image_id}")
        if diff_ids is None:
            diff_ids = self._store.image(image_id).config.diff_ids
        self._write(" ".join(["image", str(image_id), *map(str, diff_ids)]) + "\n")
        self._images.add(image_id)

    def keep_layers(self, diff_ids: list[Digest]) -> None:
        """Keep layers that no image holds yet (call it under the store's `ingesting` lock,
        in the same hold that found or made them)."""
        if diff_ids:
            self._write(" ".join(["layers", *map(str, diff_ids)]) + "\n")

    def _write(self, line: str) -> None:
        if self._held is not None:
            return
        try:
            write_all(self._fd, line.encode("ascii"))
        except OSError as e:
            if e.errno not in _NO_ROOM:
                raise
            self._hold()   # (a line cut short is skipped by its reader: it names no digest whole)

    def _hold(self) -> None:
        held = self._store.ingesting()
        held.__enter__()
        self._held = held

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            assert self.path is not None
            self.path.unlink(missing_ok=True)
        if self._held is not None:
            held, self._held = self._held, None
            held.__exit__(None, None, None)
        if os.path.exists(self._store.collect_marker):
            # A collection kept what this lease used and nothing else does (store.gc)
            self._store.collect_if_free()


def kept(tmp_root: Path) -> Kept:
    """What the leases of live processes keep (the caller holds the gc lock exclusively)."""
    out = Kept()
    for folder in workspace.live_folders(tmp_root):
        try:
            entries = [e for e in os.listdir(folder) if e.startswith(PREFIX)]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                text = (folder / entry).read_text(encoding="ascii", errors="replace")
            except FileNotFoundError:
                continue
            for line in text.splitlines():
                kind, *values = line.split()
                try:
                    digests = [Digest.parse(v) for v in values]
                except InvalidParameter:
                    continue
                if kind == "image" and digests:
                    out.images.add(digests[0])
                    out.layers.update(digests[1:])
                elif kind == "layers":
                    out.layers.update(digests)
    return out


__all__ = ["Lease", "Kept", "kept"]
