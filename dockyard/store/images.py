"""Image records: `images/<hex>.json`. An image is visible exactly when its record exists.

The record is written last, after the config blob and every layer are in place, so a process
killed while adding an image leaves at most unreferenced content for GC, never a half image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.atomic import atomic_write, fsync_dir
from dockyard.digest import Digest
from dockyard.errors import NotFound
from dockyard.store import workspace
from dockyard.store.blobs import is_file


@dataclass(frozen=True)
class ImageRecord:
    id: Digest
    parent: Digest | None
    added: str  # RFC 3339: when it entered this store (Docker's "LastTagTime"-like metadata)

    def to_json(self) -> bytes:
        return json.dumps({"parent": str(self.parent) if self.parent else None,
                           "added": self.added}).encode()


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

    def put(self, record: ImageRecord, publish: bool = True) -> None:
        """`publish=False`: the directory is not fsynced (atomic.atomic_file): `publish_dir`."""
        atomic_write(self.path(record.id), record.to_json(), tmp_dir=workspace.folder(self.tmp_root),
                     publish=publish)

    def publish_dir(self) -> None:
        fsync_dir(self.root)

    def delete(self, image_id: Digest) -> None:
        try:
            os.unlink(self.path(image_id))
        except FileNotFoundError:
            pass

    def ids(self) -> list[Digest]:
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [Digest("sha256", name[:-5]) for name in names
                if name.endswith(".json") and len(name) == 69]

    def children(self, image_id: Digest) -> list[Digest]:
        return [r for r in self.ids() if self.get(r).parent == image_id]
