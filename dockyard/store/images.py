"""Image records: `images/<hex>.json`. An image is visible exactly when its record exists.

The record is written last, after the config blob and every layer are in place, so a process
killed while adding an image leaves at most unreferenced content for GC, never a half image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.digest import Digest
from dockyard.errors import NotFound
from dockyard.store.atomic import atomic_write


@dataclass(frozen=True)
class ImageRecord:
    id: Digest
    parent: Digest | None
    added: str  # RFC 3339: when it entered this store (Docker's "LastTagTime"-like metadata)

    def to_json(self) -> bytes:
        return json.dumps({"parent": str(self.parent) if self.parent else None,
                           "added": self.added}).encode()


class ImageRecords:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, image_id: Digest) -> Path:
        return self.root / f"{image_id.hex}.json"

    def exists(self, image_id: Digest) -> bool:
        return self.path(image_id).is_file()

    def get(self, image_id: Digest) -> ImageRecord:
        try:
            data = json.loads(self.path(image_id).read_bytes())
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        parent = data.get("parent")
        return ImageRecord(image_id, Digest.parse(parent) if parent else None, data.get("added", ""))

    def put(self, record: ImageRecord) -> None:
        atomic_write(self.path(record.id), record.to_json())

    def delete(self, image_id: Digest) -> None:
        try:
            os.unlink(self.path(image_id))
        except FileNotFoundError:
            pass

    def ids(self) -> list[Digest]:
        if not self.root.is_dir():
            return []
        return [Digest("sha256", p.name[:-5]) for p in self.root.iterdir()
                if p.name.endswith(".json") and len(p.name) == 69]

    def children(self, image_id: Digest) -> list[Digest]:
        return [r for r in self.ids() if self.get(r).parent == image_id]
