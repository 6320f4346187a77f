"""BuildKit mode's build cache between machines: `--cache-to` / `--cache-from` with buildx's syntax.

    type=registry,ref=HOST/REPO:TAG[,mode=min|max]    a manifest in a registry
    type=local,dest=DIR[,mode=min|max] / type=local,src=DIR   the same as an OCI image layout
    REF (only in --cache-from)                         type=registry,ref=REF

The cache is BuildKit's own format: an OCI image manifest whose config is a
`application/vnd.buildkit.cacheconfig.v0` document and whose layers are the cached layers
(gzip). The document lists the layers (`blob`, `parent`, `annotations` with the uncompressed
digest and creation time) and one record per build step, `digest` = the step's cache key and
`results` = its layer; dockyard's own `dockyard` field keeps what a record needs here (the time
its history shows, a step that adds no layer). `mode=min` exports the steps of the final image,
`mode=max` (for cache-to the default is min, as buildx) every step the build ran or reused.

Cache keys are content based (dockyard.builder.graph.ops.cache_key): another machine, with the
context at another path and other mtimes, computes the same keys. On import only the small
config is read; a layer is downloaded when a step hits on it (`RemoteCache.fetch`), checked
against its digests and kept in the store with the record, so the next build hits locally.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.atomic import atomic_write
from dockyard.digest import CHUNK, Digest, HashingWriter, verify
from dockyard.errors import InvalidParameter, NotFound
from dockyard.reference import parse_reference
from dockyard.store.buildcache import CacheRecord
from dockyard.store.store import Store

__all__ = ["CacheSpec", "RemoteCache", "export_cache", "open_cache", "parse_cache_spec"]

CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
UNCOMPRESSED = "containerd.io/uncompressed"
CREATED_AT = "buildkit/createdat"
REF_NAME = "org.opencontainers.image.ref.name"
MAX_CONFIG = 64 << 20


@dataclass(frozen=True)
class CacheSpec:
    type: str                 # registry | local
    ref: str = ""             # registry: HOST/REPO:TAG
    path: str = ""            # local: dest (export) or src (import)
    mode: str = "min"

    def describe(self) -> str:
        return self.ref if self.type == "registry" else self.path


def parse_cache_spec(text: str, *, export: bool) -> CacheSpec:
    """`type=registry,ref=R[,mode=M]`, `type=local,dest=D|src=S[,mode=M]`, or a bare REF
    (--cache-from only). Unknown keys and types are refused."""
    flag = "--cache-to" if export else "--cache-from"
    if "=" not in text:
        if export:
            raise InvalidParameter(f"{flag} {text}: want type=registry,ref=REF or type=local,dest=DIR")
        return CacheSpec("registry", ref=text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"{flag} {text}: invalid field {part!r} (want key=value)")
        fields[key.strip().lower()] = value.strip()
    kind = fields.pop("type", "registry" if "ref" in fields else "")
    mode = fields.pop("mode", "min")
    if mode not in ("min", "max"):
        raise InvalidParameter(f"{flag} {text}: mode must be min or max")
    if kind == "registry":
        ref = fields.pop("ref", "")
        if not ref:
            raise InvalidParameter(f"{flag} {text}: type=registry needs ref=")
        parse_reference(ref)  # a bad name is an error before any work
        spec = CacheSpec("registry", ref=ref, mode=mode)
    elif kind == "local":
        key = "dest" if export else "src"
        path = fields.pop(key, "")
        if not path:
            raise InvalidParameter(f"{flag} {text}: type=local needs {key}=")
        spec = CacheSpec("local", path=os.path.abspath(path), mode=mode)
    else:
        raise InvalidParameter(f"{flag} {text}: unsupported cache type {kind!r} (registry or local)")
    if fields:
        raise InvalidParameter(f"{flag} {text}: unsupported field{'s' if len(fields) > 1 else ''} "
                               f"{', '.join(sorted(fields))}")
    if not export and spec.mode != "min":
        raise InvalidParameter(f"{flag} {text}: mode is an export setting")
    return spec


# -- where the blobs are ---------------------------------------------------------------------------
class _Place:
    """Blobs and the one manifest of a cache, in a registry or an OCI layout directory."""

    def manifest(self) -> bytes: ...
    def blob(self, digest: Digest, size: int | None) -> Iterator[bytes]: ...
    def has(self, digest: Digest) -> bool: ...
    def put_blob(self, digest: Digest, size: int, path: Path | None, data: bytes | None) -> None: ...
    def put_manifest(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class _Registry(_Place):
    def __init__(self, ref_text: str, client_for: Callable) -> None:  # noqa: ANN001
        self.ref = parse_reference(ref_text)
        self.client = client_for(self.ref)
        self.repo = self.ref.repository_path
        self.tag = str(self.ref.digest) if self.ref.digest else (self.ref.tag or "latest")

    def manifest(self) -> bytes:
        return self.client.get_manifest(self.repo, self.tag, familiar=self.ref.familiar_name).data

    def blob(self, digest: Digest, size: int | None) -> Iterator[bytes]:
        return self.client.iter_blob(self.repo, digest, size=size)

    def has(self, digest: Digest) -> bool:
        return self.client.blob_size(self.repo, digest, push=True) is not None

    def put_blob(self, digest: Digest, size: int, path: Path | None, data: bytes | None) -> None:
        if self.has(digest):
            return

        @contextmanager
        def open_at(offset: int) -> Iterator[BinaryIO]:
            if path is not None:
                with open(path, "rb") as f:
                    f.seek(offset)
                    yield f
            else:
                import io

                yield io.BytesIO((data or b"")[offset:])

        self.client.upload_blob(self.repo, digest, size, open_at)

    def put_manifest(self, data: bytes) -> None:
        self.client.put_manifest(self.repo, self.tag, data, OCI_MANIFEST)

    def close(self) -> None:
        self.client.close()


class _Local(_Place):
    """An OCI image layout: oci-layout, index.json (one manifest, ref name `latest`), blobs/."""

    def __init__(self, path: str) -> None:
        self.root = Path(path)

    def _blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def manifest(self) -> bytes:
        try:
            index = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"no cache at {self.root}: no index.json") from None
        except ValueError:
            raise InvalidParameter(f"{self.root}/index.json is not JSON") from None
        entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
        if not entries:
            raise NotFound(f"no cache at {self.root}: index.json lists no manifest")
        chosen = next((m for m in entries if (m.get("annotations") or {}).get(REF_NAME) == "latest"), entries[-1])
        digest = Digest.parse(chosen["digest"])
        data = b"".join(self.blob(digest, None))
        verify(digest, Digest.of_bytes(data), "cache manifest")
        return data

    def blob(self, digest: Digest, size: int | None) -> Iterator[bytes]:
        try:
            f = open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"cache blob {digest} is missing from {self.root}") from None
        with f:
            while data := f.read(CHUNK):
                yield data

    def has(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    def put_blob(self, digest: Digest, size: int, path: Path | None, data: bytes | None) -> None:
        target = self._blob_path(digest)
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if path is not None:
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(path, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        else:
            atomic_write(target, data or b"")

    def put_manifest(self, data: bytes) -> None:
        digest = Digest.of_bytes(data)
        self.put_blob(digest, len(data), None, data)
        atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": str(digest), "size": len(data),
             "annotations": {REF_NAME: "latest"}}]}
        atomic_write(self.root / "index.json", json.dumps(index, indent=2).encode())

    def close(self) -> None:
        pass


def _place(spec: CacheSpec, client_for: Callable | None) -> _Place:  # noqa: ANN001
    if spec.type == "local":
        return _Local(spec.path)
    if client_for is None:
        raise InvalidParameter("a registry cache needs registry access")
    return _Registry(spec.ref, client_for)


# -- import ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    record: CacheRecord
    blob: Digest | None
    size: int | None


class RemoteCache:
    """One --cache-from: the records of its config; `fetch` brings a record's layer into the store."""

    def __init__(self, store: Store, spec: CacheSpec, place: _Place, entries: dict[Digest, _Entry]) -> None:
        self.store, self.spec, self.place, self.entries = store, spec, place, entries

    def get(self, key: Digest) -> CacheRecord | None:
        entry = self.entries.get(key)
        return entry.record if entry is not None else None

    def fetch(self, record: CacheRecord) -> None:
        """The record's layer into the store (downloaded and checked unless already there),
        then the record itself."""
        entry = self.entries[record.key]
        if record.layer is not None and not self.store.layers.exists(record.layer):
            if entry.blob is None:
                raise InvalidParameter(f"cache {self.spec.describe()}: no blob for layer {record.layer}")
            self._download(entry.blob, entry.size, record.layer)
        self.store.build_cache.put(record)

    def _download(self, blob: Digest, size: int | None, diff_id: Digest) -> None:
        from dockyard.archive.compression import open_decompressed

        fd, name = tempfile.mkstemp(prefix="cache-blob-", dir=self.store.tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = HashingWriter(f)
                for chunk in self.place.blob(blob, size):
                    writer.write(chunk)
                verify(blob, writer.digest, "cache layer blob")
            with open(name, "rb") as f:
                self.store.layers.ingest(open_decompressed(f), expected=diff_id)
        finally:
            os.unlink(name)

    def close(self) -> None:
        self.place.close()


def open_cache(store: Store, spec: CacheSpec, client_for: Callable | None) -> RemoteCache:  # noqa: ANN001
    """Read a cache's manifest and config; NotFound when there is none (a warning for the build)."""
    place = _place(spec, client_for)
    try:
        manifest = json.loads(place.manifest())
        config_desc = manifest.get("config") or {}
        if config_desc.get("mediaType") != CACHE_CONFIG:
            raise InvalidParameter(f"{spec.describe()} is not a build cache "
                                   f"(config media type {config_desc.get('mediaType')!r})")
        digest = Digest.parse(config_desc["digest"])
        data = b""
        for chunk in place.blob(digest, config_desc.get("size")):
            data += chunk
            if len(data) > MAX_CONFIG:
                raise InvalidParameter(f"cache config of {spec.describe()} is too large")
        verify(digest, Digest.of_bytes(data), "cache config")
        entries = _entries(json.loads(data), manifest.get("layers") or [])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        place.close()
        raise InvalidParameter(f"cache {spec.describe()} is malformed: {exc}") from None
    except BaseException:
        place.close()
        raise
    return RemoteCache(store, spec, place, entries)


def _entries(config: dict, manifest_layers: list) -> dict[Digest, _Entry]:
    sizes = {d["digest"]: d.get("size") for d in manifest_layers if isinstance(d, dict)}
    layers = config.get("layers") or []
    out: dict[Digest, _Entry] = {}
    for rec in config.get("records") or []:
        mine = rec.get("dockyard")
        if not isinstance(mine, dict):
            continue  # a record of BuildKit's own: its keys are not ours
        key = Digest.parse(rec["digest"])
        results = rec.get("results") or []
        blob, diff_id, size = None, None, None
        if results:
            layer = layers[int(results[0]["layer"])]
            blob = Digest.parse(layer["blob"])
            diff_id = Digest.parse(layer["annotations"][UNCOMPRESSED])
            size = sizes.get(layer["blob"])
        record = CacheRecord(key, diff_id, str(mine["created"]), str(mine.get("description", "")))
        out[key] = _Entry(record, blob, size)
    return out


# -- export ----------------------------------------------------------------------------------------
def export_cache(store: Store, records: list[CacheRecord], spec: CacheSpec,
                 client_for: Callable | None, status: Callable[[str], None]) -> Digest:  # noqa: ANN001
    """Write the cache of `records` to `spec`'s place; returns the manifest's digest."""
    place = _place(spec, client_for)
    work = Path(tempfile.mkdtemp(prefix="cache-export-", dir=store.tmp))
    try:
        layer_index: dict[Digest, int] = {}
        layers: list[dict] = []
        descriptors: list[dict] = []
        config_records: list[dict] = []
        for record in records:
            entry: dict = {"digest": str(record.key),
                           "dockyard": {"created": record.created, "description": record.description}}
            if record.layer is not None:
                if record.layer not in layer_index:
                    status(f"writing layer {record.layer}")
                    blob, size = _blob_of(store, record.layer, work, place)
                    layer_index[record.layer] = len(layers)
                    layers.append({"blob": str(blob), "parent": -1, "annotations": {
                        UNCOMPRESSED: str(record.layer), CREATED_AT: record.created}})
                    descriptors.append({"mediaType": LAYER_GZIP, "digest": str(blob), "size": size,
                                        "annotations": {UNCOMPRESSED: str(record.layer)}})
                entry["results"] = [{"layer": layer_index[record.layer], "createdAt": record.created}]
            config_records.append(entry)
        config = json.dumps({"layers": layers, "records": config_records}, separators=(",", ":")).encode()
        config_digest = Digest.of_bytes(config)
        place.put_blob(config_digest, len(config), None, config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": CACHE_CONFIG, "digest": str(config_digest), "size": len(config)},
            "layers": descriptors}, separators=(",", ":")).encode()
        status(f"writing manifest {Digest.of_bytes(manifest)}")
        place.put_manifest(manifest)
        return Digest.of_bytes(manifest)
    finally:
        place.close()
        shutil.rmtree(work, ignore_errors=True)


def _blob_of(store: Store, diff_id: Digest, work: Path, place: _Place) -> tuple[Digest, int]:
    """The gzip blob of a layer: the one the store keeps (a pulled layer), else made now; sent
    to `place` unless it has it."""
    from dockyard.archive.compression import compressing_writer

    layer = store.layers.get(diff_id)
    for form in ([layer.source] if layer.source else []) + list(layer.compressed):
        if form is not None and "gzip" in form.media_type and store.blobs.exists(form.digest):
            place.put_blob(form.digest, form.size, store.blobs.path(form.digest), None)
            return form.digest, form.size
    path = work / diff_id.hex
    with open(path, "wb") as f:
        counting = HashingWriter(f)
        gz = compressing_writer(counting, "gzip")  # type: ignore[arg-type]
        with layer.open() as src:
            while data := src.read(CHUNK):
                gz.write(data)
        gz.close()
    digest, size = counting.digest, path.stat().st_size
    place.put_blob(digest, size, path, None)
    return digest, size
