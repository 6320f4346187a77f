"""Writing images read from an archive into the local store, all or nothing.

Phase 1 verifies every layer against its diff ID (spooled uncompressed tars were already hashed
and checked while they passed; compressed or small ones are decompressed and checked now).
Phase 2 makes them visible: layers by rename, then image records, then tags. A failure in
phase 1 leaves the store exactly as it was.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.archive.compression import open_decompressed
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.digest import Digest
from dockyard.errors import DigestMismatch
from dockyard.image.image import Image
from dockyard.reference import Reference
from dockyard.store.layers import StoredLayer
from dockyard.store.store import Store
from dockyard.transport.archive_image import ArchiveImage, ArchiveLayer


@dataclass
class StoredImage:
    image_id: Digest
    tags: list[Reference]
    messages: list[str] = field(default_factory=list)


def _verify_layer(store: Store, layer: ArchiveLayer, work: Path) -> tuple[Path, ScanResult] | None:
    entry = layer.entry
    if entry.scan is not None and entry.path is not None:
        if entry.scan.diff_id != layer.diff_id:
            raise DigestMismatch(
                f"layer {entry.name}: content has digest {entry.scan.diff_id}, "
                f"the image config says {layer.diff_id}")
        return entry.path, entry.scan
    if store.layers.exists(layer.diff_id) and entry.digest == layer.diff_id:
        return None
    fd, path = tempfile.mkstemp(prefix="layer-", dir=work)
    with os.fdopen(fd, "wb") as out, entry.open() as raw:
        result = scan_copy(open_decompressed(raw), out)
    if result.diff_id != layer.diff_id:
        raise DigestMismatch(
            f"layer {entry.name}: content has digest {result.diff_id}, "
            f"the image config says {layer.diff_id}")
    return Path(path), result


def store_images(store: Store, images: list[ArchiveImage], work: Path) -> list[StoredImage]:
    """Put archive images into the store; `work` is a temp dir on the store's filesystem."""
    verified: dict[Digest, tuple[Path, ScanResult] | None] = {}
    for image in images:
        Image(image.raw_config).config  # parse now: a bad config fails before anything lands
        for layer in image.layers:
            if layer.diff_id not in verified:
                verified[layer.diff_id] = _verify_layer(store, layer, work)
    placed: dict[Digest, StoredLayer] = {}
    for diff_id, found in verified.items():
        if store.layers.exists(diff_id):
            placed[diff_id] = store.layers.get(diff_id)
        else:
            assert found is not None
            placed[diff_id] = store.layers.adopt(found[0], found[1])
    out = []
    for image in images:
        stored = store.add_image(image.raw_config, [placed[l.diff_id] for l in image.layers])
        result = StoredImage(stored.id, image.tags)
        for ref in image.tags:
            previous = store.tags.get(ref)
            if previous is not None and previous != stored.id:
                result.messages.append(
                    f"The image {ref.familiar} already exists, renaming the old one with ID "
                    f"{previous} to empty string")
            store.tag(stored.id, ref)
            result.messages.append(f"Loaded image: {ref.familiar}")
        if not image.tags:
            result.messages.append(f"Loaded image ID: {stored.id}")
        out.append(result)
    return out
