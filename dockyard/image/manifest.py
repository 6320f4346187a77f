"""Manifests and indexes (Docker schema 2 and OCI): descriptors, platforms, parsing to typed values
and writing them the way Docker writes them. Every transport reads and writes manifests here."""

from __future__ import annotations

import json
from typing import Any, Mapping

from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotFound
from dockyard.gojson import go_json
from dockyard.image import media

MAX_MANIFEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class Platform:
    """An image's os/architecture[/variant], as an index entry or `--platform` names it."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidParameter(f"invalid platform: {text!r} (expected os/arch[/variant])")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def parse_specifier(cls, text: str) -> "Platform":
        """A `--platform` as containerd's platforms.Parse reads it: `os`, `os/arch` or
        `os/arch/variant`, case-insensitive, the kernel's arch names taken for Go's
        (`x86_64` is amd64, `aarch64` arm64), an os alone on this host's arch."""
        parts = text.strip().lower().split("/")
        if not 1 <= len(parts) <= 3 or parts[0] not in _KNOWN_OS or (
                len(parts) > 1 and _ARCH_ALIASES.get(parts[1], parts[1]) not in _KNOWN_ARCH):
            raise InvalidParameter(f'"{text}": unknown operating system or architecture: invalid argument')
        arch = _ARCH_ALIASES.get(parts[1], parts[1]) if len(parts) > 1 else "amd64"
        return cls(parts[0], arch, parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


_KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
                       "linux", "netbsd", "openbsd", "plan9", "solaris", "windows"})
_KNOWN_ARCH = frozenset({"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
                         "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"})
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "i386": "386", "aarch64": "arm64",
                 "armhf": "arm", "armel": "arm"}


DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class Descriptor:
    """What a manifest or index points at: media type, digest, size (and platform, annotations)."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def oci_dict(self) -> dict[str, Any]:
        """In the OCI Go structs' key order (mediaType, digest, size), as `docker save` writes."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def distribution_dict(self) -> dict[str, Any]:
        """In distribution's key order (mediaType, size, digest), as `docker push` writes."""
        return {"mediaType": self.media_type, "size": self.size, "digest": str(self.digest)}


@dataclass(frozen=True)
class ImageManifest:
    """One image's manifest: its config and layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageIndex:
    """A manifest list or OCI index: one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]


def _descriptor(obj: object) -> Descriptor:
    if not isinstance(obj, dict):
        raise InvalidParameter("invalid manifest: descriptor is not an object")
    # As Go's encoding/json reads them into the OCI structs: the size a JSON integer that fits
    # an int64 (int() took "101", 100.9 as 100 and true as 1), the digest a string.
    size, digest = obj.get("size"), obj.get("digest")
    if type(size) is not int or size >= 1 << 63:
        raise InvalidParameter(f"invalid manifest: bad descriptor (size {json.dumps(size)[:40]} is not an integer)")
    if not isinstance(digest, str):
        raise InvalidParameter(f"invalid manifest: bad descriptor (digest {json.dumps(digest)[:80]} is not a string)")
    try:
        digest = Digest.parse(digest)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"invalid manifest: bad descriptor ({exc})") from None
    if size < 0:
        raise InvalidParameter("invalid manifest: negative size")
    plat = obj.get("platform")
    platform = None
    if isinstance(plat, dict):
        platform = Platform(str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", "") or ""))
    annotations = obj.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    return Descriptor(str(obj.get("mediaType", "")), digest, size, platform,
                      {k: v for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)})


def parse_manifest(data: bytes, content_type: str = "") -> ImageManifest | ImageIndex:
    """An image manifest or an index from its exact bytes; the media type comes from the body or header."""
    if len(data) > MAX_MANIFEST:
        raise InvalidParameter(f"manifest too large: more than {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
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


def oci_manifest_json(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """An OCI image manifest as `docker save` writes it into an archive (compact JSON)."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config.oci_dict(),
        "layers": [layer.oci_dict() for layer in layers],
    }, separators=(",", ":")).encode()


def oci_index_json(manifests: list[Descriptor]) -> bytes:
    """An OCI image index (an OCI layout's index.json) as `docker save` writes it."""
    return json.dumps({"schemaVersion": 2, "mediaType": media.OCI_INDEX,
                       "manifests": [m.oci_dict() for m in manifests]}, separators=(",", ":")).encode()


def registry_manifest_json(media_type: str, config: Descriptor, layers: list[Descriptor]) -> bytes:
    """An image manifest as `docker push` writes it: distribution's key order, indented with
    three spaces (Go's MarshalIndent). Docker schema 2, or OCI for zstd layers."""
    return go_json({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.distribution_dict(),
        "layers": [layer.distribution_dict() for layer in layers],
    }, indent="   ")
