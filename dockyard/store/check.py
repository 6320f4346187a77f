"""Checking the store's content against its own promises: every listed image whole.

An image record promises its config blob (whose sha256 is the ID) and every layer of the config's
diff IDs; a layer promises content (layer.tar, or the compressed blob it came as) whose
uncompressed sha256 is its diff ID; a name promises an image. `check_store` reads everything
back and reports what breaks a promise; `dockyard system check` prints it. Reading every layer
is the point (it is what a power cut or a crash may have broken), so it takes as long as
reading the store.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from dockyard.digest import CHUNK, Digest
from dockyard.errors import DockyardError
from dockyard.image.config import ImageConfig
from dockyard.store import gc, workspace
from dockyard.store.store import Store


@dataclass
class CheckReport:
    images: int = 0
    layers: int = 0
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # garbage a collection would remove
    broken_layers: set[Digest] = field(default_factory=set)
    broken_images: set[Digest] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def _layer_problem(store: Store, diff_id: Digest) -> str | None:
    """Why the stored layer does not deliver its diff ID's content, or None."""
    try:
        layer = store.layers.get(diff_id)
    except (DockyardError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable info.json ({exc})"
    if layer.diff_id != diff_id:
        return f"info.json names {layer.diff_id}"
    digest, size = hashlib.sha256(), 0
    try:
        with layer.open() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (OSError, DockyardError, EOFError, ValueError) as exc:
        return f"content unreadable ({exc})"
    if Digest("sha256", digest.hexdigest()) != diff_id:
        return f"content has digest sha256:{digest.hexdigest()} ({size} bytes, {layer.size} expected)"
    return None


def check_store(store: Store) -> CheckReport:
    """Read every image, layer and name back; report what does not hold (changes nothing)."""
    report = CheckReport()
    layer_ids = store.layers.all()
    report.layers = len(layer_ids)
    for diff_id in layer_ids:
        problem = _layer_problem(store, diff_id)
        if problem is not None:
            report.broken_layers.add(diff_id)
            report.problems.append(f"layer {diff_id}: {problem}")
    for image_id in store.records.ids():
        report.images += 1
        problem = _image_problem(store, image_id, report.broken_layers)
        if problem is not None:
            report.broken_images.add(image_id)
            report.problems.append(f"image {image_id}: {problem}")
    try:
        entries = store.tags.entries()
    except (ValueError, DockyardError) as exc:
        report.problems.append(f"repositories.json: unreadable ({exc})")
        entries = []
    for entry in entries:
        if not store.records.exists(entry.image_id):
            report.problems.append(f"name {entry.reference.familiar}: no image {entry.image_id}")
    report.leftovers = leftovers(store)
    return report


def leftovers(store: Store) -> list[str]:
    """What crashed processes left: temp folders of dead processes, blobs nothing references,
    dead short links, holds whose holder is gone, older versions' temp files. A start after a
    crash removes them."""
    configs, _ = gc.roots(store)
    live = {os.fspath(f) for f in workspace.live_folders(store.tmp_root)}
    out = []
    try:
        names = os.listdir(store.tmp_root)
    except FileNotFoundError:
        names = []
    for name in names:
        path = store.tmp_root / name
        if os.fspath(path) in live or (name.endswith(".lock") and os.fspath(path)[:-5] in live):
            continue
        out.append(f"temp {path}")
    out += [f"blob {p}" for p in gc.unreferenced_blobs(store, configs)]
    out += [f"link {p}" for p in gc.dead_links(store)]
    out += [f"hold {store.holds_dir / n}" for n in gc.void_holds(store)]
    out += [f"leftover {p}" for p in gc.old_leftovers(store)]
    return out


def _image_problem(store: Store, image_id: Digest, broken_layers: set[Digest]) -> str | None:
    try:
        raw = store.blobs.read(image_id)
    except DockyardError:
        return "config blob missing"
    if Digest.of_bytes(raw) != image_id:
        return "config blob does not hash to the image ID"
    try:
        config = ImageConfig.parse(raw)
        store.records.get(image_id)
    except (DockyardError, ValueError, json.JSONDecodeError) as exc:
        return f"unreadable ({exc})"
    for diff_id in config.diff_ids:
        if not store.layers.exists(diff_id):
            return f"layer {diff_id} missing"
        if diff_id in broken_layers:
            return f"layer {diff_id} broken"
    return None
