"""The `docker save` archive format: write (Docker 25+ layout) and read (old and new layouts).

Written layout, as Docker 25+ writes it (an OCI image layout plus Docker's own files):
    blobs/sha256/<hex>   config, uncompressed layer tars, OCI manifests
    index.json, oci-layout
    manifest.json        [{"Config": ..., "RepoTags": [...], "Layers": [...]}]
    repositories         {"busybox": {"latest": "<top layer hex>"}}
Read: the same, Docker's pre-25 layout (`<id>/layer.tar`, `<id>.json`), and skopeo's
`docker-archive:` (`<hex>.tar`, `<hex>.json`), with layer files possibly compressed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import BinaryIO

from dockyard.archive.tarstream import TarWriter
from dockyard.digest import Digest
from dockyard.errors import InvalidArchive, InvalidReference
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor, oci_index_json, oci_manifest_json
from dockyard.reference import Reference, parse_loaded_name
from dockyard.transport.archive_image import ArchiveImage, ArchiveLayer
from dockyard.transport.spool import SpooledArchive


@dataclass(frozen=True)
class SaveItem:
    image: Image
    tags: list[Reference]


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def write_docker_archive(out: BinaryIO, items: list[SaveItem]) -> None:
    """Stream a `docker save` archive; every blob is written once, bodies are not buffered."""
    tar = TarWriter(out)
    tar.add_dir("blobs")
    tar.add_dir("blobs/sha256")
    written: set[Digest] = set()
    manifest_json: list[dict] = []
    index_entries: list[Descriptor] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        image = item.image
        for layer in image.layers:
            if layer.diff_id in written:
                continue
            with layer.open() as stream:
                tar.add_stream(f"blobs/sha256/{layer.diff_id.hex}", stream, layer.size)
            written.add(layer.diff_id)
        if image.id not in written:
            tar.add_bytes(f"blobs/sha256/{image.id.hex}", image.raw_config)
            written.add(image.id)
        manifest = oci_manifest_json(
            Descriptor(media.OCI_CONFIG, image.id, len(image.raw_config)),
            [Descriptor(media.OCI_LAYER, layer.diff_id, layer.size) for layer in image.layers])
        manifest_digest = Digest.of_bytes(manifest)
        if manifest_digest not in written:
            tar.add_bytes(f"blobs/sha256/{manifest_digest.hex}", manifest)
            written.add(manifest_digest)
        descriptor = Descriptor(media.OCI_MANIFEST, manifest_digest, len(manifest))
        if item.tags:
            for ref in item.tags:
                index_entries.append(replace(descriptor, annotations={
                    media.ANNOTATION_CONTAINERD_NAME: str(ref),
                    media.ANNOTATION_REF_NAME: ref.tag or "",
                }))
        else:
            index_entries.append(descriptor)
        manifest_json.append({
            "Config": f"blobs/sha256/{image.id.hex}",
            "RepoTags": [ref.familiar for ref in item.tags] or None,
            "Layers": [f"blobs/sha256/{layer.diff_id.hex}" for layer in image.layers],
        })
        if image.layers:
            for ref in item.tags:
                repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = \
                    image.layers[-1].diff_id.hex
    tar.add_bytes("index.json", oci_index_json(index_entries))
    tar.add_bytes("manifest.json", _json(manifest_json))
    tar.add_bytes("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    if repositories:
        tar.add_bytes("repositories", _json(repositories))
    tar.close()


def read_docker_archive(spool: SpooledArchive) -> list[ArchiveImage]:
    """Images of an archive that has a `manifest.json` (every `docker save` since 1.10)."""
    try:
        manifest = json.loads(spool.get("manifest.json").read_small())
    except (ValueError, RecursionError) as exc:
        raise InvalidArchive(f"invalid manifest.json: {exc}") from None
    if not isinstance(manifest, list):
        raise InvalidArchive("invalid manifest.json: not a list")
    images = []
    for item in manifest:
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise InvalidArchive("invalid manifest.json: an entry has no Config")
        config_entry = spool.get(item["Config"])
        raw_config = config_entry.read_small()
        image = Image(raw_config)
        diff_ids = image.config.diff_ids
        paths = item.get("Layers") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise InvalidArchive("invalid manifest.json: Layers is not a list of file names")
        if len(paths) != len(diff_ids):
            raise InvalidArchive(
                f"invalid manifest.json: {len(paths)} layers listed, config has {len(diff_ids)}")
        layers = [ArchiveLayer(spool.get(p), d) for p, d in zip(paths, diff_ids)]
        repo_tags = item.get("RepoTags") or []
        if not isinstance(repo_tags, list) or not all(isinstance(t, str) for t in repo_tags):
            raise InvalidArchive("invalid manifest.json: RepoTags is not a list of strings")
        tags = []
        for text in repo_tags:
            try:
                # A name with a digest is refused, as Docker's load refuses it: an archive must
                # not be able to pin a digest (a `run repo@sha256:...` would run its image).
                tags.append(parse_loaded_name(text))
            except InvalidReference as exc:
                raise InvalidArchive(exc.message) from None  # Docker's message, as its load says it
        images.append(ArchiveImage(raw_config, layers, tags))
    return images
