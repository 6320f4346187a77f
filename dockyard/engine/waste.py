"""Layer waste of an image (`dockyard image waste`, `build --waste`, `GET /images/{name}/waste`):
the files a layer adds that a later layer deletes or overwrites (archive/waste.py reads the
layers), each with the steps that added and removed it (the history entries of the layers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

from dockyard.archive.waste import find_waste
from dockyard.digest import Digest
from dockyard.store.store import Store

__all__ = ["WasteItem", "WasteReport", "image_waste"]


@dataclass(frozen=True)
class WasteItem:
    path: str
    bytes: int
    added_in: str       # the step (history `created_by`) whose layer added the file
    removed_in: str     # the step whose layer deleted or overwrote it
    added_layer: int    # the layers' indexes, bottom = 0
    removed_layer: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "bytes": self.bytes, "added_in": self.added_in,
                "removed_in": self.removed_in, "added_layer": self.added_layer,
                "removed_layer": self.removed_layer}


@dataclass(frozen=True)
class WasteReport:
    image_id: Digest
    items: list[WasteItem]

    @property
    def total(self) -> int:
        return sum(item.bytes for item in self.items)


def image_waste(store: Store, name: str) -> WasteReport:
    image_id = store.resolve(name)
    image = store.image(image_id)
    layers = list(image.layers)
    steps = [h.created_by or "" for h in image.config.history if not h.empty_layer]
    if len(steps) != len(layers):  # a history that does not tell the layers' steps
        steps = [f"layer {i}" for i in range(len(layers))]

    def streams() -> Iterator[BinaryIO]:
        for layer in layers:
            with layer.open() as stream:  # type: ignore[attr-defined]
                yield stream

    items = [WasteItem(w.path, w.bytes, steps[w.added], steps[w.removed], w.added, w.removed)
             for w in find_waste(streams())]
    return WasteReport(image_id, items)
