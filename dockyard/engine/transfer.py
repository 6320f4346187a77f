"""Moving images between the store and archives: save and load."""

from __future__ import annotations

from typing import BinaryIO

from dockyard.digest import Digest
from dockyard.errors import InvalidArchive, NotFound
from dockyard.reference import Reference, parse_reference
from dockyard.store.events import Journal
from dockyard.store.store import Store
from dockyard.transport.docker_archive import SaveItem, read_docker_archive, write_docker_archive
from dockyard.transport.oci_layout import read_oci_layout
from dockyard.transport.spool import SpooledArchive
from dockyard.transport.store_sink import StoredImage, store_images


def _save_items(store: Store, names: list[str]) -> list[SaveItem]:
    """Resolve names as `docker save` does: a repository name alone means all of its tags."""
    by_id: dict[Digest, list[Reference]] = {}
    order: list[Digest] = []

    def add(image_id: Digest, ref: Reference | None) -> None:
        if image_id not in by_id:
            by_id[image_id] = []
            order.append(image_id)
        if ref is not None and ref not in by_id[image_id]:
            by_id[image_id].append(ref)

    for name in names:
        ref = None
        try:
            ref = parse_reference(name)
        except Exception:  # noqa: BLE001 - not a reference: maybe an ID
            ref = None
        if ref is not None and ref.tag is None and ref.digest is None:
            matching = [e for e in store.tags.entries()
                        if e.reference.name == ref.name and e.reference.tag is not None]
            if matching:
                for entry in sorted(matching, key=lambda e: str(e.reference)):
                    add(entry.image_id, entry.reference)
                continue
        image_id = store.resolve(name)
        named = None
        if ref is not None and not image_id.hex.startswith(name) and not name.startswith("sha256:"):
            named = ref if ref.tag else ref.with_tag("latest")
            if ref.digest is not None:
                named = None
        add(image_id, named)
    return [SaveItem(store.image(i), by_id[i]) for i in order]


def save_images(store: Store, names: list[str], out: BinaryIO) -> None:
    if not names:
        raise NotFound("no image given to save")
    items = _save_items(store, names)
    write_docker_archive(out, items)
    for name in names:
        Journal(store.root).emit("image", "save", name, {"name": name})


def load_images(store: Store, stream: BinaryIO) -> list[StoredImage]:
    """`docker load`: a docker-archive or OCI layout tar, plain or compressed, from any stream."""
    with store.ingesting(), SpooledArchive(store.tmp) as spool:
        spool.read(stream)
        if spool.has("manifest.json"):
            images = read_docker_archive(spool)
        elif spool.has("index.json"):
            images = read_oci_layout(spool)
        else:
            raise InvalidArchive("invalid image archive: no manifest.json or index.json found")
        if not images:
            raise InvalidArchive("invalid image archive: it holds no image")
        stored = store_images(store, images, spool.dir)
    for image in stored:
        Journal(store.root).emit("image", "load", str(image.image_id), {"name": str(image.image_id)})
    return stored
