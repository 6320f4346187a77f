"""A registry repository as a copy sink (`push`): blobs it has are skipped (HEAD), blobs another
repository of the same registry has are mounted, the rest uploaded (from a file, resuming where
the registry stopped, or as they are made); then the config and the manifest under a tag.
"""

from __future__ import annotations

from dockyard.dataclass import dataclass, field
from pathlib import Path
from typing import Callable

from dockyard.digest import Digest
from dockyard.errors import InvalidParameter
from dockyard.image import media
from dockyard.image.manifest import Descriptor, parse_manifest, registry_manifest_json
from dockyard.reference import Reference
from dockyard.transport.adapter import BlobSink, SourceImage, StreamedBlob
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.streams import BytesAt, file_at

COMPRESSIONS = ("gzip", "zstd")


@dataclass(frozen=True)
class PushResult:
    """A pushed tag: its manifest's digest and size."""

    tag: str
    digest: Digest
    size: int
    manifest: bytes = field(default=b"", repr=False)  # the bytes whose digest `digest` is


class RegistrySink(BlobSink):
    remote = True
    parallel = True

    def __init__(self, client: RegistryClient, ref: Reference, compression: str | None = None) -> None:
        """`compression` None: resend a kept manifest as it is, else make gzip layers; named:
        layers in that compression (a kept manifest only if it already is)."""
        if compression is not None and compression not in COMPRESSIONS:
            raise InvalidParameter(f"unsupported layer compression for push: {compression}")
        self.client, self.host, self.compression = client, client.host, compression
        self.repository = ref.repository_path
        self.tag = ref.tag or "latest"
        self.pushed: list[PushResult] = []
        self._configs: set[Digest] = set()  # configs the registry has now (put_config)

    def has_blob(self, digest: Digest) -> bool:
        return self.client.blob_size(self.repository, digest, push=True) is not None

    def mount(self, digest: Digest, repository: str) -> bool:
        if repository == self.repository:
            return False
        return self.client.mount_blob(self.repository, digest, repository)

    def put_blob_file(self, desc: Descriptor, path: Path, on_progress: Callable[[int], None]) -> None:
        self.client.upload_blob(self.repository, desc.digest, desc.size, lambda offset: file_at(path, offset),
                                on_progress=on_progress)

    def put_blob_stream(self, start: Callable[[], StreamedBlob],
                        on_progress: Callable[[int], None]) -> StreamedBlob:
        return self.client.upload_stream(self.repository, start, on_progress=on_progress)

    def put_config(self, image_id: Digest, raw_config: bytes) -> None:
        if image_id in self._configs:
            return
        if not self.has_blob(image_id):
            self.client.upload_blob(self.repository, image_id, len(raw_config),
                                    lambda offset: BytesAt(raw_config, offset))
        self._configs.add(image_id)

    def put_image(self, image: SourceImage, raw_config: bytes | None, layers: list[Descriptor],
                  manifest: bytes | None) -> None:
        assert raw_config is not None
        self.put_config(image.id, raw_config)  # done already when copy sent it beside the layers
        if manifest is not None:
            data, media_type = manifest, parse_manifest(manifest).media_type
        else:
            # Docker's schema 2 manifest (OCI when zstd), as `docker push` writes it.
            oci = self.compression == "zstd"
            media_type = media.OCI_MANIFEST if oci else media.DOCKER_MANIFEST
            config = Descriptor(media.OCI_CONFIG if oci else media.DOCKER_CONFIG, image.id, len(raw_config))
            data = registry_manifest_json(media_type, config, layers)
        digest = self.client.put_manifest(self.repository, self.tag, data, media_type)
        self.pushed.append(PushResult(self.tag, digest, len(data), data))
