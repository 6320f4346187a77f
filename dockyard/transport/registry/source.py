"""A registry image as a copy source (`pull`): the manifest a reference names (an index resolves
to the platform's manifest), the config, and each layer as its compressed blob.

Nothing from the registry is trusted: the manifest is checked here against the digest it was
asked by (or the one the registry claims), and `copy` checks every blob against its digest and
size, and its content against the config's diff IDs, before the sink keeps it.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from dockyard.archive.compression import open_decompressed
from dockyard.digest import CHUNK, Digest
from dockyard.errors import DigestMismatch, InvalidParameter
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor, ImageIndex, ImageManifest, Platform, choose_platform, \
    parse_manifest
from dockyard.reference import Reference
from dockyard.transport.adapter import MANIFEST_MISMATCH, ImageSource, SourceImage, SourceLayer
from dockyard.transport.pipe import ChunksReader
from dockyard.transport.registry.client import RegistryClient
from dockyard.transport.streams import coalesce, verified_chunks


def tag_or_digest(ref: Reference) -> str:
    return str(ref.digest) if ref.digest else (ref.tag or "latest")


class RegistrySource(ImageSource):
    """The image `ref` names, for `platform` (None: linux/amd64, not checked against the config).
    The manifest is fetched at once, so a missing image fails before anything else."""

    remote = True

    def __init__(self, client: RegistryClient, ref: Reference, platform: Platform | None = None) -> None:
        self.client, self.ref, self.platform = client, ref, platform
        self.repository = ref.repository_path
        fetched = client.get_manifest(self.repository, tag_or_digest(ref), familiar=ref.familiar_name)
        self.named = fetched.data      # what the reference names: an index for a multi-platform tag
        self.digest = fetched.digest   # (its bytes hash to this digest: checked by get_manifest)
        parsed = parse_manifest(fetched.data, fetched.media_type)
        data = fetched.data
        if isinstance(parsed, ImageIndex):
            chosen = choose_platform(parsed, platform)
            inner = client.get_manifest(self.repository, str(chosen.digest), familiar=ref.familiar_name)
            parsed = parse_manifest(inner.data, inner.media_type)
            data = inner.data
            if not isinstance(parsed, ImageManifest):
                raise InvalidParameter("invalid index: an entry is itself an index")
        self.manifest, self.manifest_data = parsed, data

    def images(self) -> list[SourceImage]:
        # Named as Docker names a pulled image: the tag (unless pulled by digest) and the
        # repository digest, which the sink computes from the manifest's bytes.
        tags = [] if self.ref.digest else [self.ref.trimmed().with_tag(self.ref.tag or "latest")]
        return [_RegistryImage(self, tags)]

    def blob_chunks(self, layer: SourceLayer, desc: Descriptor) -> Iterator[bytes] | None:
        return self.client.iter_blob(self.repository, desc.digest, size=desc.size)

    def locations(self, diff_id: Digest, host: str) -> list[str]:
        return [self.repository] if host == self.client.host else []


class _RegistryImage(SourceImage):
    def __init__(self, source: RegistrySource, tags: list[Reference]) -> None:
        super().__init__(source.manifest.config.digest, names=tags, manifests=[source.manifest_data],
                         repo_digests=[(source.ref, source.named)])
        self._source = source
        self._raw_config: bytes | None = None

    def raw_config(self) -> bytes:
        if self._raw_config is None:
            source = self._source
            raw = source.client.read_small_blob(source.repository, self.id, size=source.manifest.config.size)
            config = Image(raw).config
            wanted = source.platform
            if wanted is not None and (config.os, config.architecture) != (wanted.os, wanted.architecture):
                raise InvalidParameter(
                    f"image with reference {source.ref.familiar} was found but does not match the specified "
                    f"platform: wanted {wanted}, actual: {config.os}/{config.architecture}")
            self._raw_config = raw
        return self._raw_config

    def layers(self) -> list[SourceLayer]:
        descriptors = self._source.manifest.layers
        diff_ids = Image(self.raw_config()).config.diff_ids
        if len(diff_ids) != len(descriptors):
            raise DigestMismatch(MANIFEST_MISMATCH)  # (dockerd says so after the downloads)
        return [self._layer(desc, diff_id) for desc, diff_id in zip(descriptors, diff_ids)]

    def _layer(self, desc: Descriptor, diff_id: Digest) -> SourceLayer:
        source = self._source

        @contextmanager
        def uncompressed() -> Iterator[BinaryIO]:
            chunks = verified_chunks(coalesce(source.client.iter_blob(source.repository, desc.digest, size=desc.size)),
                                     desc.digest, desc.size)
            yield open_decompressed(io.BufferedReader(ChunksReader(chunks), CHUNK))  # type: ignore[arg-type]

        return SourceLayer(diff_id, None, uncompressed, (desc,), name=str(desc.digest))
