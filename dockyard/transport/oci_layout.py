"""Reading an OCI image layout (as in skopeo's `oci-archive:`) from a spooled archive."""

from __future__ import annotations

import json
from typing import Any

from dockyard.digest import Digest, verify
from dockyard.errors import InvalidArchive, InvalidParameter, InvalidReference
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.reference import Reference, parse_loaded_name, parse_reference
from dockyard.transport.archive_image import ArchiveImage, ArchiveLayer
from dockyard.transport.spool import Entry, SpooledArchive


def _blob(spool: SpooledArchive, descriptor: dict[str, Any]) -> Entry:
    try:
        digest = Digest.parse(descriptor["digest"])
    except (KeyError, TypeError, InvalidParameter):
        raise InvalidArchive(f"OCI layout: invalid descriptor {descriptor!r}") from None
    entry = spool.get(f"blobs/{digest.algorithm}/{digest.hex}")
    verify(digest, entry.digest, f"OCI layout blob {digest}")
    return entry


def _json_blob(spool: SpooledArchive, descriptor: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(_blob(spool, descriptor).read_small())
    except ValueError as exc:
        raise InvalidArchive(f"OCI layout: invalid JSON in {descriptor.get('digest')}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArchive("OCI layout: a manifest is not a JSON object")
    return data


def _platform_matches(descriptor: dict[str, Any], os_name: str, arch: str) -> bool:
    platform = descriptor.get("platform") or {}
    return platform.get("os", os_name) == os_name and platform.get("architecture", arch) == arch


def _name_of(annotations: object) -> Reference | None:
    if not isinstance(annotations, dict):
        return None
    text = annotations.get(media.ANNOTATION_CONTAINERD_NAME)
    if not text:
        ref_name = annotations.get(media.ANNOTATION_REF_NAME, "")
        # A bare tag ("latest") names no repository; a full name ("busybox:latest") does.
        text = ref_name if isinstance(ref_name, str) and (":" in ref_name or "/" in ref_name) else ""
    if not text or not isinstance(text, str):
        return None
    try:
        parse_reference(text)
    except InvalidParameter:
        return None  # ref.name is free text in an OCI layout: what is not an image name names none
    try:
        return parse_loaded_name(text, default_tag=True)
    except InvalidReference as exc:
        raise InvalidArchive(exc.message) from None  # a digest: the whole load is refused


def read_oci_layout(spool: SpooledArchive, os_name: str = "linux",
                    arch: str = "amd64") -> list[ArchiveImage]:
    try:
        index = json.loads(spool.get("index.json").read_small())
    except ValueError as exc:
        raise InvalidArchive(f"invalid index.json: {exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArchive("invalid index.json: no manifests")
    found: dict[Digest, ArchiveImage] = {}
    order: list[Digest] = []
    for top in index["manifests"]:
        manifests = [top]
        if top.get("mediaType") in media.INDEXES:
            nested = _json_blob(spool, top).get("manifests") or []
            manifests = [m for m in nested if _platform_matches(m, os_name, arch)][:1]
        for descriptor in manifests:
            manifest = _json_blob(spool, descriptor)
            config_entry = _blob(spool, manifest.get("config") or {})
            raw_config = config_entry.read_small()
            image = Image(raw_config)
            layer_descs = manifest.get("layers") or []
            if len(layer_descs) != len(image.config.diff_ids):
                raise InvalidArchive("OCI layout: manifest layers do not match the config")
            layers = [ArchiveLayer(_blob(spool, d), diff_id)
                      for d, diff_id in zip(layer_descs, image.config.diff_ids)]
            if image.id not in found:
                found[image.id] = ArchiveImage(raw_config, layers, [])
                order.append(image.id)
            name = _name_of(top.get("annotations") or {})
            if name is not None and name not in found[image.id].tags:
                found[image.id].tags.append(name)
    return [found[i] for i in order]
