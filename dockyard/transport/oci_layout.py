"""The OCI image layout in a tar (skopeo's `oci-archive:`, and the base of `docker save`'s format):
read from a spooled archive, and written as a stream.

    blobs/sha256/<hex>   configs, layers, manifests (and nested indexes)
    index.json           the top index; an entry's annotations name the image
    oci-layout           {"imageLayoutVersion": "1.0.0"}

Written as Docker 25+ writes its part of `docker save`: uncompressed layers, one compact OCI
manifest per image, one index entry per name (annotated with containerd's full name and the
tag), blobs in the order they are first needed, each once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import BinaryIO, Mapping

from dockyard.archive.tarstream import TarWriter
from dockyard.digest import Digest, verify
from dockyard.errors import InvalidArchive, InvalidParameter, InvalidReference
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.image.manifest import DEFAULT_PLATFORM, Descriptor, ImageIndex, ImageManifest, Platform, \
    oci_index_json, oci_manifest_json, parse_manifest
from dockyard.reference import Reference, parse_loaded_name, parse_reference
from dockyard.transport.adapter import SourceImage, TarSink
from dockyard.transport.spool import ArchiveImage, Entry, SpooledArchive, spooled_layer

LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


# -- reading ------------------------------------------------------------------------------------
def _blob(spool: SpooledArchive, desc: Descriptor) -> Entry:
    entry = spool.get(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}")
    verify(desc.digest, entry.digest, f"OCI layout blob {desc.digest}")
    if entry.size != desc.size:  # a descriptor's size is a promise too (image-spec descriptor.md)
        raise InvalidArchive(f"OCI layout blob {desc.digest}: {entry.size} bytes, its descriptor says {desc.size}")
    return entry


def _parsed(data: bytes, what: str) -> ImageManifest | ImageIndex:
    try:
        return parse_manifest(data)
    except InvalidParameter as exc:
        raise InvalidArchive(f"OCI layout: {what}: {exc}") from None


def _platform_matches(desc: Descriptor, wanted: Platform) -> bool:
    p = desc.platform
    return p is None or (p.os in ("", wanted.os) and p.architecture in ("", wanted.architecture))


def _name_of(annotations: Mapping[str, str]) -> Reference | None:
    text = annotations.get(media.ANNOTATION_CONTAINERD_NAME)
    if not text:
        ref_name = annotations.get(media.ANNOTATION_REF_NAME, "")
        # A bare tag ("latest") names no repository; a full name ("busybox:latest") does.
        text = ref_name if (":" in ref_name or "/" in ref_name) else ""
    if not text:
        return None
    try:
        parse_reference(text)
    except InvalidParameter:
        return None  # ref.name is free text in an OCI layout: what is not an image name names none
    try:
        return parse_loaded_name(text, default_tag=True)
    except InvalidReference as exc:
        raise InvalidArchive(exc.message) from None  # a digest: the whole load is refused


def read_oci_layout(spool: SpooledArchive, platform: Platform = DEFAULT_PLATFORM) -> list[SourceImage]:
    """The images of the layout, each once with every name it has; an index entry that is itself
    an index gives its manifest for `platform`."""
    index = _parsed(spool.get("index.json").read_small(), "index.json")
    if not isinstance(index, ImageIndex):
        raise InvalidArchive("invalid index.json: no manifests")
    found: dict[Digest, ArchiveImage] = {}
    for top in index.manifests:
        manifests = [top]
        if top.media_type in media.INDEXES:
            nested = _parsed(_blob(spool, top).read_small(), f"index {top.digest}")
            if not isinstance(nested, ImageIndex):
                raise InvalidArchive(f"OCI layout: {top.digest} is not an index")
            manifests = [m for m in nested.manifests if _platform_matches(m, platform)][:1]
        for desc in manifests:
            manifest = _parsed(_blob(spool, desc).read_small(), f"manifest {desc.digest}")
            if not isinstance(manifest, ImageManifest):
                raise InvalidArchive(f"OCI layout: {desc.digest} is not an image manifest")
            raw_config = _blob(spool, manifest.config).read_small()
            image = Image(raw_config)
            if len(manifest.layers) != len(image.config.diff_ids):
                raise InvalidArchive("OCI layout: manifest layers do not match the config")
            if image.id not in found:
                layers = [spooled_layer(_blob(spool, d), diff_id)
                          for d, diff_id in zip(manifest.layers, image.config.diff_ids)]
                found[image.id] = ArchiveImage(image.id, raw_config, layers, [])
            name = _name_of(top.annotations)
            if name is not None and name not in found[image.id].names:
                found[image.id].names.append(name)
    return list(found.values())


# -- writing ------------------------------------------------------------------------------------
class OciLayoutSink(TarSink):
    """Writes an OCI layout as a tar stream; every blob once, bodies not buffered."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = TarWriter(out)
        self.tar.add_dir("blobs")
        self.tar.add_dir("blobs/sha256")
        self.index: list[Descriptor] = []
        self._written: dict[Digest, Descriptor] = {}

    def has_layer(self, diff_id: Digest, blob: Digest | None = None) -> Descriptor | None:
        return self._written.get(diff_id) if blob in (None, diff_id) else None

    def put_tar(self, diff_id: Digest, stream: BinaryIO, size: int) -> Descriptor:
        self.tar.add_stream(f"blobs/sha256/{diff_id.hex}", stream, size)
        desc = Descriptor(media.OCI_LAYER, diff_id, size)
        self._written[diff_id] = desc
        return desc

    def _add_blob(self, data: bytes, digest: Digest) -> None:
        if digest not in self._written:
            self.tar.add_bytes(f"blobs/sha256/{digest.hex}", data)
            self._written[digest] = Descriptor("", digest, len(data))

    def put_image(self, image: SourceImage, raw_config: bytes | None, layers: list[Descriptor],
                  manifest: bytes | None) -> None:
        assert raw_config is not None
        self._add_blob(raw_config, image.id)
        data = oci_manifest_json(Descriptor(media.OCI_CONFIG, image.id, len(raw_config)), layers)
        digest = Digest.of_bytes(data)
        self._add_blob(data, digest)
        desc = Descriptor(media.OCI_MANIFEST, digest, len(data))
        if not image.names:
            self.index.append(desc)
        for ref in image.names:
            self.index.append(replace(desc, annotations={
                media.ANNOTATION_CONTAINERD_NAME: str(ref),
                media.ANNOTATION_REF_NAME: ref.tag or "",
            }))

    def metadata(self) -> list[tuple[str, bytes]]:
        """The files written after the blobs, in order."""
        return [("index.json", oci_index_json(self.index)), ("oci-layout", LAYOUT)]

    def finish(self) -> None:
        for name, data in self.metadata():
            self.tar.add_bytes(name, data)
        self.tar.close()
