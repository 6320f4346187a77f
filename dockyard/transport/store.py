"""The local store as a transport: a source of images (save, push) and a sink (load, pull).

The source is trusted (everything in the store was verified on the way in), offers each layer's
tar as the file it is kept in (save sends it with sendfile), the compressed blobs it knows (kept
from a pull, or made by an earlier push: their digests alone let a push skip a layer with one
HEAD) and the registry manifests an image was pulled with.

The sink stages: `copy` fills and checks files in its staging directory (or hands it a file the
store's filesystem already holds, spooled from an archive); nothing is visible until `finish`,
which places layers (by rename), then image records, kept manifests, then names. A failure before
leaves the store as it was. The sink holds the store's ingest lock while open, so garbage
collection never removes what it wrote before an image refers to it.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.archive.scan import ScanResult
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor
from dockyard.reference import Reference
from dockyard.store.blobs import make_durable
from dockyard.store.layers import CompressedForm, StoredLayer
from dockyard.store.store import Store
from dockyard.transport.adapter import ImageSource, SourceImage, SourceLayer, StagingSink


class StoreSource(ImageSource):
    """The images `images` names (ID, names to give them), looked up now: a missing one fails
    before anything is written. The caller holds the store's ingest lock when the copy may add to
    the store (a push remembers compressed digests). `built` are images whose layers the store
    holds but whose record it does not (a build exported to an archive only)."""

    trusted = True

    def __init__(self, store: Store, images: list[tuple[Digest, list[Reference]]],
                 built: list[tuple[Image, list[Reference]]] | None = None) -> None:
        self.store = store
        self._layers: dict[Digest, StoredLayer] = {}
        self._locations: dict[str, dict[Digest, list[str]]] = {}
        self._lock = threading.Lock()
        self._images: list[SourceImage] = [_StoredImage(self, i, names) for i, names in images]
        self._images += [_StoredImage(self, image.id, names, image) for image, names in built or []]

    def images(self) -> list[SourceImage]:
        return self._images

    def layer(self, stored: StoredLayer) -> SourceLayer:
        self._layers[stored.diff_id] = stored
        forms = tuple(Descriptor(c.media_type, c.digest, c.size) for c in stored.compressed)
        return SourceLayer(stored.diff_id, stored.size, stored.open, forms, name=str(stored.diff_id))

    def blob_file(self, layer: SourceLayer, digest: Digest) -> Path | None:
        stored = self._layers[layer.diff_id]
        blobs = self.store.blobs
        if any(c.digest == digest for c in stored.compressed) and blobs.exists(digest):
            return blobs.path(digest)
        if digest == stored.diff_id and stored.source is None:
            return self.store.layers.dir(stored.diff_id) / "layer.tar"
        return None

    def note_compressed(self, diff_id: Digest, desc: Descriptor) -> None:
        self.store.layers.add_compressed(diff_id, CompressedForm(desc.digest, desc.size, desc.media_type))

    def locations(self, diff_id: Digest, host: str) -> list[str]:
        """Repositories of registry `host` whose tagged images have the layer. Worked out on the
        first layer a registry lacks (reading every such image's config), so a push whose layers
        are all there reads none."""
        with self._lock:
            if host not in self._locations:
                self._locations[host] = self._repositories_on(host)
        return self._locations[host].get(diff_id, [])

    def _repositories_on(self, host: str) -> dict[Digest, list[str]]:
        out: dict[Digest, list[str]] = {}
        store = self.store
        for entry in store.tags.entries():
            ref = entry.reference
            if ref.registry != host or not store.records.exists(entry.image_id):
                continue
            for diff_id in Image(store.blobs.read(entry.image_id)).config.diff_ids:
                repositories = out.setdefault(diff_id, [])
                if ref.repository_path not in repositories:
                    repositories.append(ref.repository_path)
        return out


class _StoredImage(SourceImage):
    def __init__(self, source: StoreSource, image_id: Digest, names: list[Reference],
                 image: Image | None = None) -> None:
        super().__init__(image_id, names=names)
        self._source = source
        self._image = image if image is not None else source.store.image(image_id)

    def raw_config(self) -> bytes:
        return self._image.raw_config

    def layers(self) -> list[SourceLayer]:
        return [self._source.layer(layer) for layer in self._image.layers]  # type: ignore[arg-type]

    def manifests(self) -> list[bytes]:
        blobs = self._source.store.blobs
        return [blobs.read(d) for d in self._source.store.manifests(self.id) if blobs.exists(d)]


@dataclass
class StoredImage:
    """An image `StoreSink` made visible, and what its names pointed at before."""

    image_id: Digest
    names: list[Reference]  # its tags
    previous: list[tuple[Reference, Digest | None]] = field(default_factory=list)  # per name and repo digest


class StoreSink(StagingSink):
    parallel = True

    def __init__(self, store: Store, *, keep_compressed: bool = False, refresh_tags: bool = True) -> None:
        """`keep_compressed`: a layer that arrives as a compressed blob keeps it (pulled layers:
        a push sends the same bytes) as its content, with the tree the copy unpacked on the way. `refresh_tags`: names that already point at an image are tagged again, which sets
        its tag time (load does, pull does not)."""
        self.store = store
        self.keep_compressed = keep_compressed
        self.refresh_tags = refresh_tags
        self.stored: list[StoredImage] = []
        self._tars: dict[Digest, tuple[Path, ScanResult]] = {}
        # blob temp file, form, scan, tree, the layer's prepared folder
        self._blobs: dict[Digest, tuple[Path, CompressedForm, ScanResult, Path | None, Path]] = {}
        self._images: list[tuple[SourceImage, bytes | None]] = []
        self._settled: set[Path] = set()  # blob temp files whose data is durable (settle_blob)
        self._stack = ExitStack()

    def __enter__(self) -> "StoreSink":
        self._stack.enter_context(self.store.ingesting())
        self.store.tmp.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix="staging-", dir=self.store.tmp))
        self._stack.callback(shutil.rmtree, self.staging, True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def has_image(self, image_id: Digest) -> bool:
        return self.store.records.exists(image_id)

    def has_layer(self, diff_id: Digest, blob: Digest | None = None) -> Descriptor | None:
        """A `blob` the layer was verified to hold is one of its compressed forms (a pull's kept
        blob, a push's made one): as dockerd's v2 metadata, which only a verified download or a
        push writes, a loaded layer has none."""
        if not self.store.layers.exists(diff_id):
            return None
        stored = self.store.layers.get(diff_id)
        if blob not in (None, diff_id) and not any(c.digest == blob for c in stored.compressed):
            return None
        return Descriptor(media.OCI_LAYER, diff_id, stored.size)

    def stage_tar(self, path: Path, scan: ScanResult) -> Descriptor:
        self._tars[scan.diff_id] = (path, scan)
        return Descriptor(media.OCI_LAYER, scan.diff_id, scan.tar_size)

    def settle_blob(self, path: Path) -> None:
        make_durable(path, drop=True)
        self._settled.add(path)

    def stage_blob(self, path: Path, desc: Descriptor, scan: ScanResult, tree: Path | None = None) -> Descriptor:
        """Made durable here (a pull's layer thread, while others download; the blob's data
        already when `settle_blob` had it), published by `finish`."""
        form = CompressedForm(desc.digest, desc.size, desc.media_type)
        work = self.store.layers.prepare_compressed(path, form, scan, durable=path in self._settled)
        self._stack.callback(remove_path, work, ignore_errors=True)  # unless `finish` publishes it
        self._blobs[scan.diff_id] = (path, form, scan, tree, work)
        return desc

    def new_tree(self) -> Path | None:
        tree = self.store.layers.new_tree()
        self._stack.callback(remove_path, tree, ignore_errors=True)  # unless `finish` publishes it
        return tree

    def put_image(self, image: SourceImage, raw_config: bytes | None, layers: list[Descriptor],
                  manifest: bytes | None) -> None:
        self._images.append((image, raw_config))

    def finish(self) -> None:
        store = self.store
        for path, scan in self._tars.values():
            store.layers.adopt(path, scan)
        # the blobs (durable), the layers that point at them, then their trees, unsynced as any
        # unpacked tree (a kill in between leaves spare blobs, or layers unpacked again from their
        # blobs when first used); one fsync per folder for the batch (a pull: 5 per layer before)
        blobs = list(self._blobs.values())
        store.layers.publish_compressed([(path, form, scan, work) for path, form, scan, _, work in blobs])
        for _, _, scan, tree, _ in blobs:
            if tree is not None:
                store.layers.adopt_tree(scan.diff_id, tree)
        for image, raw_config in self._images:
            if raw_config is not None:
                diff_ids = Image(raw_config).config.diff_ids
                store.add_image(raw_config, [store.layers.get(d) for d in diff_ids])
            for data in image.manifests():
                store.add_manifest(image.id, data)
            result = StoredImage(image.id, image.names)
            for repository, data in image.repo_digests:
                pinned = repository.trimmed().with_digest(Digest.of_bytes(data))
                result.previous.append((pinned, store.tags.get(pinned)))
                store.add_repo_digest(image.id, repository, data)
            for name in image.names:
                previous = store.tags.get(name)
                result.previous.append((name, previous))
                if self.refresh_tags or previous != image.id:
                    store.tag(image.id, name)
            self.stored.append(result)
