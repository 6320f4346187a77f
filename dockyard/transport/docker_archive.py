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
from typing import BinaryIO

from dockyard.errors import InvalidArchive, InvalidReference
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor
from dockyard.reference import parse_loaded_name
from dockyard.transport.adapter import SourceImage
from dockyard.transport.oci_layout import OciLayoutSink
from dockyard.transport.spool import ArchiveImage, SpooledArchive, spooled_layer


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class DockerArchiveSink(OciLayoutSink):
    """Writes a `docker save` archive: the OCI layout, then manifest.json and repositories."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__(out)
        self.manifest_json: list[dict] = []
        self.repositories: dict[str, dict[str, str]] = {}

    def put_image(self, image: SourceImage, raw_config: bytes | None, layers: list[Descriptor],
                  manifest: bytes | None) -> None:
        super().put_image(image, raw_config, layers, manifest)
        self.manifest_json.append({
            "Config": f"blobs/sha256/{image.id.hex}",
            "RepoTags": [ref.familiar for ref in image.names] or None,
            "Layers": [f"blobs/sha256/{layer.digest.hex}" for layer in layers],
        })
        if layers:
            for ref in image.names:
                self.repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = layers[-1].digest.hex

    def metadata(self) -> list[tuple[str, bytes]]:
        index, layout = super().metadata()
        files = [index, ("manifest.json", _json(self.manifest_json)), layout]
        if self.repositories:
            files.append(("repositories", _json(self.repositories)))
        return files


def read_docker_archive(spool: SpooledArchive) -> list[SourceImage]:
    """Images of an archive that has a `manifest.json` (every `docker save` since 1.10)."""
    try:
        manifest = json.loads(spool.get("manifest.json").read_small())
    except (ValueError, RecursionError) as exc:
        raise InvalidArchive(f"invalid manifest.json: {exc}") from None
    if not isinstance(manifest, list):
        raise InvalidArchive("invalid manifest.json: not a list")
    images: list[SourceImage] = []
    for item in manifest:
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise InvalidArchive("invalid manifest.json: an entry has no Config")
        raw_config = spool.get(item["Config"]).read_small()
        image = Image(raw_config)
        diff_ids = image.config.diff_ids
        paths = item.get("Layers") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise InvalidArchive("invalid manifest.json: Layers is not a list of file names")
        if len(paths) != len(diff_ids):
            raise InvalidArchive(
                f"invalid manifest.json: {len(paths)} layers listed, config has {len(diff_ids)}")
        layers = [spooled_layer(spool.get(p), d) for p, d in zip(paths, diff_ids)]
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
        images.append(ArchiveImage(image.id, raw_config, layers, tags))
    return images
