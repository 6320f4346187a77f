"""Moving images between the store and archives: save and load, each one `copy`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from dockyard.digest import Digest
from dockyard.errors import NotFound
from dockyard.reference import Reference, parse_reference
from dockyard.store.events import Journal
from dockyard.store.store import Store
from dockyard.transport.archive import ArchiveSource
from dockyard.transport.copy import copy
from dockyard.transport.docker_archive import DockerArchiveSink
from dockyard.transport.store import StoreSink, StoreSource


@dataclass
class LoadedImage:
    image_id: Digest
    tags: list[Reference]
    messages: list[str]   # what `docker load` prints for it


def _save_items(store: Store, names: list[str]) -> list[tuple[Digest, list[Reference]]]:
    """Resolve names as `docker save` does: a repository name alone means all of its tags."""
    by_id: dict[Digest, list[Reference]] = {}

    def add(image_id: Digest, ref: Reference | None) -> None:
        refs = by_id.setdefault(image_id, [])
        if ref is not None and ref not in refs:
            refs.append(ref)

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
        try:
            image_id = store.resolve(name)
        except NotFound:
            if ref is not None and ref.tag is None and ref.digest is None:
                raise NotFound(f"No such image: {name}") from None   # dockerd's save: the name as given
            raise
        named = None
        if ref is not None and not image_id.hex.startswith(name) and not name.startswith("sha256:"):
            named = ref if ref.tag else ref.with_tag("latest")
            if ref.digest is not None:
                named = None
        add(image_id, named)
    return list(by_id.items())


def save_images(store: Store, names: list[str], out: BinaryIO) -> None:
    """`docker save`: every name is resolved before a byte is written."""
    if not names:
        raise NotFound("no image given to save")
    # A lease keeps what the archive is made of until it is written: an `rmi -f` meanwhile
    # untags and deletes the images, as dockerd's does, and the save still ends whole (dockerd's
    # exporter holds its layers the same way); it failed with the layer's "no such file".
    with store.lease() as lease:
        with store.ingesting():
            source = StoreSource(store, _save_items(store, names))
            for image in source.images():
                lease.keep_image(image.id, [layer.diff_id for layer in image.layers()])
        copy(source, DockerArchiveSink(out))
    for name in names:
        Journal(store.root).emit("image", "save", name, {"name": name})


def load_images(store: Store, stream: BinaryIO) -> list[LoadedImage]:
    """`docker load`: a docker-archive or OCI layout tar, plain or compressed, from any stream.
    All or nothing: no layer, image or name appears unless every one of them checks out."""
    with ArchiveSource(stream, store.tmp) as source:
        # The client's stream is read (spooled and checked) into this process's temp folder
        # before the sink takes the store's gc lock: a slow client must not hold up removals
        # (the lock, shared while the sink is open, blocks them) for as long as it drips.
        source.images()
        with StoreSink(store) as sink:
            copy(source, sink)
    loaded = []
    for stored in sink.stored:
        messages = []
        for ref, previous in stored.previous:
            if previous is not None and previous != stored.image_id:
                messages.append(f"The image {ref.familiar} already exists, renaming the old one with ID "
                                f"{previous} to empty string")
            messages.append(f"Loaded image: {ref.familiar}")
        if not stored.names:
            messages.append(f"Loaded image ID: {stored.image_id}")
        loaded.append(LoadedImage(stored.image_id, stored.names, messages))
        Journal(store.root).emit("image", "load", str(stored.image_id), {"name": str(stored.image_id)})
    return loaded
