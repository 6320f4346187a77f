"""Push: local store -> registry.

Per layer (top first, as Docker lists them; up to three at once): skip a blob the repository
already has (HEAD), mount it from another repository of the same registry that holds an image
with it, else upload it, compressing it in a second thread while it is sent. The compressed
digest is then remembered with the layer, so a second push asks the registry with one HEAD and
compresses nothing. A manifest the image was pulled with is sent again byte for byte when all of
its blobs are at hand, so its digest does not change.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from dockyard.archive.compression import compressing_writer
from dockyard.digest import CHUNK, Digest, HashingWriter
from dockyard.errors import InvalidParameter
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor, ImageManifest, parse_manifest, registry_manifest_json
from dockyard.reference import Reference
from dockyard.store.layers import CompressedForm, StoredLayer
from dockyard.store.store import Store
from dockyard.transport.pipe import Pipe, PipeClosed
from dockyard.transport.progress import Progress, ProgressSink, throttled
from dockyard.transport.registry.client import RegistryClient, StreamedBlob

PARALLEL = 3
LAYER_TYPES = {"gzip": media.DOCKER_LAYER_GZIP, "zstd": media.OCI_LAYER_ZSTD}


@dataclass(frozen=True)
class PushResult:
    tag: str
    digest: Digest
    size: int


@dataclass(frozen=True)
class _Plan:
    manifest: bytes
    media_type: str
    layers: list[tuple[StoredLayer, Descriptor | None]]


def push_image(client: RegistryClient, store: Store, ref: Reference, image_id: Digest, *,
               progress: ProgressSink, compression: str | None = None) -> PushResult:
    """`compression` None: resend a kept manifest as it is, else gzip; named: layers in that
    compression (a kept manifest only if it already is)."""
    if compression is not None and compression not in LAYER_TYPES:
        raise InvalidParameter(f"unsupported layer compression for push: {compression}")
    image = store.image(image_id)
    repo = ref.repository_path
    with store.ingesting():
        kept = _kept_manifest(store, image)
        if kept and compression and any(d is None or media.layer_compression(d.media_type) != compression
                                        for _, d in kept.layers):
            kept = None
        compression = compression or "gzip"
        pairs: list[tuple[StoredLayer, Descriptor | None]] = (
            list(kept.layers) if kept else [(store.layers.get(l.diff_id), None) for l in image.layers])
        work: dict[Digest, tuple[StoredLayer, Descriptor | None]] = {}
        for layer, desc in reversed(pairs):
            if layer.diff_id not in work:
                work[layer.diff_id] = (layer, desc)
                progress(Progress("Preparing", layer.diff_id.hex[:12]))
        for layer, _ in list(work.values())[PARALLEL:]:
            progress(Progress("Waiting", layer.diff_id.hex[:12]))
        sources = _MountSources(store, ref, client.host)
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            futures = {d: pool.submit(_push_layer, client, store, repo, layer, desc, compression, sources, progress)
                       for d, (layer, desc) in work.items()}
            try:
                pushed = {d: f.result() for d, f in futures.items()}
            except BaseException:
                for future in futures.values():
                    future.cancel()
                raise
        if client.blob_size(repo, image.id, push=True) is None:
            raw = image.raw_config
            client.upload_blob(repo, image.id, len(raw), lambda off: _BytesAt(raw, off))
        if kept:
            manifest, media_type = kept.manifest, kept.media_type
        else:
            manifest, media_type = _new_manifest(image, [pushed[l.diff_id] for l in image.layers], compression)
        tag = ref.tag or "latest"
        digest = client.put_manifest(repo, tag, manifest, media_type)
        store.add_repo_digest(image.id, ref, manifest)
    progress(Progress(f"{tag}: digest: {digest} size: {len(manifest)}"))
    return PushResult(tag, digest, len(manifest))


# -- which manifest ------------------------------------------------------------------------
def _blob_path(store: Store, layer: StoredLayer, digest: Digest) -> Path | None:
    """Where the bytes of a layer's blob `digest` are, if we have them."""
    if any(c.digest == digest for c in layer.compressed) and store.blobs.exists(digest):
        return store.blobs.path(digest)
    if digest == layer.diff_id and layer.source is None:
        return store.layers.dir(layer.diff_id) / "layer.tar"
    return None


def _kept_manifest(store: Store, image: Image) -> _Plan | None:
    for digest in reversed(store.manifests(image.id)):
        if not store.blobs.exists(digest):
            continue
        data = store.blobs.read(digest)
        try:
            parsed = parse_manifest(data)
        except InvalidParameter:
            continue
        if not isinstance(parsed, ImageManifest) or parsed.config.digest != image.id:
            continue
        if len(parsed.layers) != len(image.layers):
            continue
        pairs = list(zip(image.layers, parsed.layers))
        if all(_blob_path(store, layer, desc.digest) for layer, desc in pairs):
            return _Plan(data, parsed.media_type, pairs)  # type: ignore[arg-type]
    return None


def _new_manifest(image: Image, layers: list[Descriptor], compression: str) -> tuple[bytes, str]:
    """Docker's schema 2 manifest (OCI when zstd), as `docker push` writes it."""
    oci = compression == "zstd"
    media_type = media.OCI_MANIFEST if oci else media.DOCKER_MANIFEST
    config = Descriptor(media.OCI_CONFIG if oci else media.DOCKER_CONFIG, image.id, len(image.raw_config))
    return registry_manifest_json(media_type, config, layers), media_type


def _same_kind(layer_type: str) -> tuple[str, ...]:
    if layer_type.endswith("zstd"):
        return (media.OCI_LAYER_ZSTD,)
    return (media.DOCKER_LAYER_GZIP, media.OCI_LAYER_GZIP)


class _CompressedLayer(StreamedBlob):
    """A layer compressed by a worker thread while the uploader sends it (deterministic: the same
    layer and level give the same bytes, so a retry or a later push makes the same digest)."""

    def __init__(self, layer: StoredLayer, kind: str) -> None:
        self._layer, self._kind = layer, kind
        self._pipe = Pipe(depth=8)
        self._hashing = HashingWriter(self._pipe)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._run, name="compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._layer.open() as src:
                out = compressing_writer(self._hashing, self._kind)  # type: ignore[arg-type]
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.close()
            self._pipe.close()
        except PipeClosed:
            return
        except BaseException as exc:  # noqa: BLE001 - raised again in the uploading thread
            self._pipe.fail(exc)

    def chunks(self) -> Iterator[bytes]:
        yield from self._pipe.chunks()
        self._thread.join()
        self.digest, self.size = self._hashing.digest, self._hashing.size

    def cancel(self) -> None:
        self._pipe.cancel()
        self._thread.join()


# -- moving one layer -----------------------------------------------------------------------
class _MountSources:
    """Layer diff ID -> other repositories of this registry known to hold an image with it.
    Worked out on the first layer the registry lacks (reading every tagged image's config), so
    a push whose layers are all there reads none."""

    def __init__(self, store: Store, ref: Reference, host: str) -> None:
        self._store, self._ref, self._host = store, ref, host
        self._map: dict[Digest, list[str]] | None = None
        self._lock = threading.Lock()

    def of(self, diff_id: Digest) -> list[str]:
        with self._lock:
            if self._map is None:
                self._map = self._build()
        return self._map.get(diff_id, [])

    def _build(self) -> dict[Digest, list[str]]:
        out: dict[Digest, list[str]] = {}
        store = self._store
        for entry in store.tags.entries():
            r = entry.reference
            if (r.registry != self._host or r.repository_path == self._ref.repository_path
                    or not store.records.exists(entry.image_id)):
                continue
            for diff_id in Image(store.blobs.read(entry.image_id)).config.diff_ids:
                repos = out.setdefault(diff_id, [])
                if r.repository_path not in repos:
                    repos.append(r.repository_path)
        return out


def _push_layer(client: RegistryClient, store: Store, repo: str, layer: StoredLayer,
                desc: Descriptor | None, compression: str, sources: "_MountSources",
                progress: ProgressSink) -> Descriptor:
    """One layer: skip it if the registry has it, mount it if a sibling repository has it, else
    upload it. A layer's compressed digest is remembered after its first push (Docker keeps the
    same "v2 metadata"), so a second push finds it with one HEAD and compresses nothing."""
    short = layer.diff_id.hex[:12]
    if desc is None:
        kinds = _same_kind(LAYER_TYPES[compression])
        form = next((c for c in layer.compressed if c.media_type in kinds), None)
        desc = Descriptor(form.media_type, form.digest, form.size) if form else None
    if desc is not None:
        if client.blob_size(repo, desc.digest, push=True) is not None:
            progress(Progress("Layer already exists", short))
            return desc
        for source in sources.of(layer.diff_id):
            if client.mount_blob(repo, desc.digest, source):
                progress(Progress(f"Mounted from {source}", short))
                return desc
        path = _blob_path(store, layer, desc.digest)
        if path is not None:
            size = desc.size
            client.upload_blob(repo, desc.digest, size, lambda off: _file_at(path, off),
                               on_progress=throttled(lambda n: progress(Progress("Pushing", short, n, size)), size))
            progress(Progress("Pushed", short))
            return desc
    total = layer.size
    blob = client.upload_stream(repo, lambda: _CompressedLayer(layer, compression),
                                on_progress=throttled(lambda n: progress(Progress("Pushing", short, n, total)), total))
    form = CompressedForm(blob.digest, blob.size, LAYER_TYPES[compression])
    store.layers.add_compressed(layer.diff_id, form)
    progress(Progress("Pushed", short))
    return Descriptor(form.media_type, form.digest, form.size)


def _file_at(path: Path, offset: int) -> BinaryIO:
    f = open(path, "rb")
    f.seek(offset)
    return f


class _BytesAt:
    """`open_at` for a small in-memory blob (the config)."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data = memoryview(data)[offset:]

    def read(self, n: int = -1) -> bytes:
        out, self._data = self._data[: n if n >= 0 else None], self._data[n if n >= 0 else len(self._data):]
        return bytes(out)

    def __enter__(self) -> "_BytesAt":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

