"""Image records: `images/<hex>.json`. An image is visible exactly when its record exists.

The record is written last, after the config blob and every layer are in place, so a process
killed while adding an image leaves at most unreferenced content for GC, never a half image.

The parents' index: beside each record an empty file `<hex>.parent-<parent hex>` (`.parent-none`
for an image without a parent) names the record's parent, so one listing of the directory tells
every image's children without reading a record (the classic build cache asks at every build;
a store with many images would otherwise read them all). It can tell more than is true, never
less, and is checked against the listing of the records it comes with:
- an entry is made before its record is written (and, for a new parent, made durable before
  the record is rewritten: `reparent`), and removed after its record is deleted: a crash or a
  concurrent writer leaves at most an entry without a record (no image: ignored) or a second
  entry of a reparented record (two entries: the record is read);
- a record without an entry (a store written before the index, or a crash of the host that kept
  the record's rename but not the entry) is read, and its entry made then;
- the collector's thorough pass (after a crash) drops the entries without a record.
Writers hold the store's meta lock; readers take none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dockyard.atomic import atomic_write, commit_prepared, fsync_dir, prepare_write
from dockyard.dataclass import dataclass
from dockyard.digest import Digest
from dockyard.errors import DockyardError, NotFound
from dockyard.store import workspace
from dockyard.store.blobs import is_file


@dataclass(frozen=True)
class ImageRecord:
    """An image's record: its ID, its parent (the classic builder's chain) and when it was added."""

    id: Digest
    parent: Digest | None
    added: str  # RFC 3339: when it entered this store (Docker's "LastTagTime"-like metadata)

    def to_json(self) -> bytes:
        return json.dumps({"parent": str(self.parent) if self.parent else None,
                           "added": self.added}).encode()


_JSON = ".json"
_PARENT = ".parent-"
_NONE = "none"


class ImageRecords:
    def __init__(self, root: Path, tmp_root: Path) -> None:
        self.root = root
        self.tmp_root = tmp_root

    def path(self, image_id: Digest) -> Path:
        return self.root / f"{image_id.hex}.json"

    def _name(self, image_id: Digest) -> str:
        """`path` as a string: the build cache asks for records at every step."""
        return f"{os.fspath(self.root)}/{image_id.hex}.json"

    def exists(self, image_id: Digest) -> bool:
        return is_file(self._name(image_id))

    def get(self, image_id: Digest) -> ImageRecord:
        try:
            with open(self._name(image_id), "rb") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        parent = data.get("parent")
        return ImageRecord(image_id, Digest.parse(parent) if parent else None, data.get("added", ""))

    def prepare(self, record: ImageRecord) -> str:
        """`record` written to a temp file of this process's folder with its writeback started,
        not fsynced, for `put(record, prepared=)` (the caller removes it if it is not put).
        Written before the image's config blob is made durable, the blob's fsync commits the
        record's blocks too (atomic.prepare_write): two commits an image instead of three.
        Nothing of the store changes."""
        return prepare_write(record.to_json(), workspace.folder(self.tmp_root), f"{record.id.hex}.json")

    def put(self, record: ImageRecord, publish: bool = True, prepared: str | None = None) -> None:
        """Write a new record (its parent's entry first), from the temp file `prepare` made of
        it if given. `publish=False`: the directory is not fsynced (atomic.atomic_file):
        `publish_dir`."""
        self._mark(record.id, record.parent)
        if prepared is None:
            atomic_write(self.path(record.id), record.to_json(), tmp_dir=workspace.folder(self.tmp_root),
                         publish=publish)
            return
        commit_prepared(prepared, self.path(record.id), publish=publish)

    def reparent(self, record: ImageRecord, old: Digest | None) -> None:
        """Rewrite an existing record whose parent was `old`: the new parent's entry is durable
        before the record changes (one entry alone is trusted), the old one goes after."""
        self._mark(record.id, record.parent)
        fsync_dir(self.root)
        atomic_write(self.path(record.id), record.to_json(), tmp_dir=workspace.folder(self.tmp_root))
        self._unmark(record.id, old)

    def publish_dir(self) -> None:
        fsync_dir(self.root)

    def delete(self, image_id: Digest, parent: Digest | None) -> None:
        """Delete the record whose parent is `parent`, then its entry."""
        try:
            os.unlink(self.path(image_id))
        except FileNotFoundError:
            pass
        self._unmark(image_id, parent)

    def _entry(self, image_id: Digest, parent: Digest | None) -> str:
        return f"{os.fspath(self.root)}/{image_id.hex}{_PARENT}{parent.hex if parent else _NONE}"

    def _mark(self, image_id: Digest, parent: Digest | None) -> None:
        os.close(os.open(self._entry(image_id, parent), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))

    def _unmark(self, image_id: Digest, parent: Digest | None) -> None:
        try:
            os.unlink(self._entry(image_id, parent))
        except FileNotFoundError:
            pass

    def drop_stray_entries(self) -> int:
        """Remove the entries whose record is gone (a writer killed between the two, a reader's
        late heal): the caller holds the meta lock, so no record is being written. How many."""
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        records = {name[:64] for name in names if len(name) == 69 and name.endswith(_JSON)}
        dropped = 0
        for name in names:
            if name[64:72] == _PARENT and len(name) in (76, 136) and name[:64] not in records:
                try:
                    os.unlink(f"{os.fspath(self.root)}/{name}")
                    dropped += 1
                except FileNotFoundError:
                    pass
        return dropped

    def parents(self) -> dict[str, list[str]]:
        """parent hex ("" for none) -> children's hexes of every image whose record exists now
        (the index: see above). Hexes, not Digests: a store of 500 images costs 3x the time
        in making Digests the caller asks for a few of."""
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        records: list[str] = []
        entries: dict[str, list[str]] = {}
        for name in names:
            if len(name) == 69 and name.endswith(_JSON):
                records.append(name[:64])
            elif name[64:72] == _PARENT and len(name) in (76, 136):
                entries.setdefault(name[:64], []).append(name[72:])
        out: dict[str, list[str]] = {}
        for hex_ in records:
            marked = entries.get(hex_)
            if marked is not None and len(marked) == 1:
                parent = "" if marked[0] == _NONE else marked[0]
            else:
                image_id = Digest("sha256", hex_)
                try:
                    record = self.get(image_id)
                except (DockyardError, ValueError):
                    continue  # deleted meanwhile (or unreadable: no image to build on)
                parent = record.parent.hex if record.parent else ""
                if not marked:
                    try:
                        self._mark(image_id, record.parent)
                    except OSError:
                        pass  # a store this process may only read: the record is read each time
            if parent in out:
                out[parent].append(hex_)
            else:
                out[parent] = [hex_]
        return out

    def ids(self) -> list[Digest]:
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [Digest("sha256", name[:-5]) for name in names
                if name.endswith(_JSON) and len(name) == 69]

    def children(self, image_id: Digest) -> list[Digest]:
        return [Digest("sha256", h) for h in self.parents().get(image_id.hex, ())]
