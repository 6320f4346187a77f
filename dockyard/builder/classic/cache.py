"""The classic builder's cache: a step hits when an image built earlier from the same parent has
the same container config (moby image/cache: getLocalCachedImage and compare).

The probe config carries the step's command in `Cmd` (`#(nop) ENV X=y`, `#(nop) COPY file:<sum>
in /app `, `|1 A=b /bin/sh -c ...`), so the command, the build-arg values and, for COPY/ADD, the
sources' checksum are all part of the comparison. Among several matches the newest wins. For
`FROM scratch` the candidates are the images without a parent.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.digest import Digest
from dockyard.image.config import ImageConfig
from dockyard.store.store import Store


def _len(value: Any) -> int:
    return len(value) if value else 0


def same_config(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """moby image/cache compare(): the fields Docker compares, with nil equal to empty."""
    if a is None or b is None or a.get("OpenStdin") or b.get("OpenStdin"):
        return False
    for key in ("AttachStdout", "AttachStderr", "Tty"):
        if bool(a.get(key)) != bool(b.get(key)):
            return False
    if (a.get("User") or "") != (b.get("User") or ""):
        return False
    for key in ("Cmd", "Env", "Entrypoint"):
        if list(a.get(key) or []) != list(b.get(key) or []):
            return False
    for key in ("Labels", "ExposedPorts", "Volumes"):
        av, bv = a.get(key) or {}, b.get(key) or {}
        if _len(av) != _len(bv):
            return False
        if key == "Labels":
            if any(bv.get(k) != v for k, v in av.items()):
                return False
        elif any(k not in bv for k in av):
            return False
    return True


class ChildIndex:
    """parent -> children of the store's images, read once per build (the store keeps only each
    image's parent), then kept current with the images the build commits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._children: dict[Digest | None, list[Digest]] | None = None

    def children(self, parent: Digest | None) -> list[Digest]:
        if self._children is None:
            self._children = {}
            for image_id in self.store.image_ids():
                try:
                    key = self.store.parent(image_id)
                except Exception:  # noqa: BLE001 - removed meanwhile
                    continue
                self._children.setdefault(key, []).append(image_id)
        return [c for c in self._children.get(parent, []) if self.store.records.exists(c)]

    def add(self, parent: Digest | None, child: Digest) -> None:
        if self._children is not None and child not in self._children.setdefault(parent, []):
            self._children[parent].append(child)


def find_cached_config(store: Store, parent: Digest | None, probe: dict[str, Any],
                       index: ChildIndex | None = None) -> tuple[Digest, ImageConfig] | None:
    """The newest child of `parent` (or parentless image) whose container_config equals `probe`,
    with its config as parsed for the comparison (so a hit is not read and parsed twice)."""
    candidates = (index or ChildIndex(store)).children(parent)
    best: tuple[str, Digest, ImageConfig] | None = None
    for image_id in candidates:
        # The comparison needs only the JSON: the config is built (ImageConfig, ~2/3 of the
        # parse) for a matching candidate only, which an image with many children (a base
        # image, every build's FROM) makes the rare case.
        try:
            data = json.loads(store.blobs.read(image_id))
            if not isinstance(data, dict) or not same_config(data.get("container_config"), probe):
                continue
            config = ImageConfig.from_dict(data)
        except Exception:  # noqa: BLE001 - a broken record is simply no cache hit
            continue
        if any(not store.layers.exists(d) for d in config.diff_ids):
            continue
        created = config.created or ""
        if best is None or created > best[0]:
            best = (created, image_id, config)
    return (best[1], best[2]) if best else None


def find_cached(store: Store, parent: Digest | None, probe: dict[str, Any],
                index: ChildIndex | None = None) -> Digest | None:
    """The newest child of `parent` (or parentless image) whose container_config equals `probe`."""
    found = find_cached_config(store, parent, probe, index)
    return found[0] if found else None
