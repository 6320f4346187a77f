"""Manifest and index parsing (Docker schema 2, OCI), platform choice, size-capped reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotFound
from dockyard.transport import media

MAX_MANIFEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidParameter(f"invalid platform: {text!r} (expected os/arch[/variant])")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None


@dataclass(frozen=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]


def read_capped(stream: BinaryIO, limit: int = MAX_MANIFEST) -> bytes:
    """Read at most `limit` bytes; more is refused without reading the rest."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidParameter(f"manifest too large: more than {limit} bytes")
    return data


def _descriptor(obj: object) -> Descriptor:
    if not isinstance(obj, dict):
        raise InvalidParameter("invalid manifest: descriptor is not an object")
    try:
        size = int(obj["size"])
        digest = Digest.parse(str(obj["digest"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParameter(f"invalid manifest: bad descriptor ({exc})") from None
    if size < 0:
        raise InvalidParameter("invalid manifest: negative size")
    plat = obj.get("platform")
    platform = None
    if isinstance(plat, dict):
        platform = Platform(str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", "") or ""))
    return Descriptor(str(obj.get("mediaType", "")), digest, size, platform)


def parse_manifest(data: bytes, content_type: str = "") -> ImageManifest | ImageIndex:
    """An image manifest or an index from its exact bytes; the media type comes from the body or header."""
    if len(data) > MAX_MANIFEST:
        raise InvalidParameter(f"manifest too large: more than {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("invalid manifest: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid manifest: not an object")
    mt = str(doc.get("mediaType") or content_type.split(";")[0].strip())
    if not mt:
        mt = media.OCI_INDEX if "manifests" in doc else media.OCI_MANIFEST
    if mt in media.INDEXES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise InvalidParameter("invalid index: no manifests")
        return ImageIndex(mt, tuple(_descriptor(m) for m in items))
    if mt in media.MANIFESTS:
        if doc.get("schemaVersion") != 2:
            raise InvalidParameter("invalid manifest: schemaVersion is not 2")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidParameter("invalid manifest: no layers")
        return ImageManifest(mt, _descriptor(doc.get("config")), tuple(_descriptor(l) for l in layers))
    raise InvalidParameter(f"unsupported manifest media type: {mt}")


def choose_platform(index: ImageIndex, wanted: Platform | None = None) -> Descriptor:
    """The manifest of the index for `wanted` (default linux/amd64), like docker pull.

    A variant is only compared when one is asked for.
    """
    want = wanted or DEFAULT_PLATFORM
    candidates = [d for d in index.manifests if d.media_type in media.MANIFESTS or not d.media_type]
    for d in candidates:
        p = d.platform
        if p and p.os == want.os and p.architecture == want.architecture and (not want.variant or p.variant == want.variant):
            return d
    raise NotFound(f"no matching manifest for {want} in the manifest list entries")
