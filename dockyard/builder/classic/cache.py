"""The classic builder's cache: a step hits when an image built earlier from the same parent has
the same container config (moby image/cache: getLocalCachedImage and compare).

The probe config carries the step's command in `Cmd` (`#(nop) ENV X=y`, `#(nop) COPY file:<sum>
in /app `, `|1 A=b /bin/sh -c ...`), so the command, the build-arg values and, for COPY/ADD, the
sources' checksum are all part of the comparison. Among several matches the newest wins. For
`FROM scratch` the candidates are the images without a parent.

With `--cache-from IMAGE...` (`CacheFrom`, moby image/cache ImageCache) the sources' history
chains are the cache: a pulled image has no parent chain in this store, only its config's
history, so a step hits when the parent's history and layers are a prefix of a source's and the
source's next history entry was made by the step's command (`created_by` is the joined `Cmd`).
"""

from __future__ import annotations

import json

from dockyard.digest import Digest
from dockyard.image.config import ContainerConfig, History, ImageConfig
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any


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
    """parent -> children of the store's images, read once per build (from the records' index:
    one listing of the records' directory, store/images.py), then kept current with the images
    the build commits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._children: dict[str, list[str]] | None = None  # parent hex ("" for none) -> hexes

    def children(self, parent: Digest | None) -> list[Digest]:
        if self._children is None:
            self._children = self.store.records.parents()
        found = (Digest("sha256", h) for h in self._children.get(parent.hex if parent else "", ()))
        return [c for c in found if self.store.records.exists(c)]

    def add(self, parent: Digest | None, child: Digest) -> None:
        if self._children is not None:
            known = self._children.setdefault(parent.hex if parent else "", [])
            if child.hex not in known:
                known.append(child.hex)


def find_cached_config(store: Store, parent: Digest | None, probe: dict[str, Any],
                       index: ChildIndex | None = None) -> tuple[Digest, ImageConfig] | None:
    """The newest child of `parent` (or parentless image) whose container_config equals `probe`,
    with its config as parsed for the comparison (so a hit is not read and parsed twice)."""
    candidates = (index or ChildIndex(store)).children(parent)
    matching: list[tuple[str, Digest, dict[str, Any]]] = []
    for image_id in candidates:
        # The comparison needs only the JSON: the config is built (ImageConfig, ~2/3 of the
        # parse) for the newest match only, and the next one only if that one's config is
        # broken or its layers are gone (a base image, every build's FROM, has as many matching
        # children as builds of the same first step were made with --no-cache: bench_all's row
        # b store has ~20 of busybox)
        try:
            data = json.loads(store.blobs.read(image_id))
            if not isinstance(data, dict) or not same_config(data.get("container_config"), probe):
                continue
        except Exception:  # noqa: BLE001 - a broken record is simply no cache hit
            continue
        created = data.get("created")
        if created is None or isinstance(created, str):  # else ImageConfig refuses it: no hit
            matching.append((created or "", image_id, data))
    # newest first; among equally new ones, the first found (a stable sort)
    for _, image_id, data in sorted(matching, key=lambda m: m[0], reverse=True):
        try:
            config = ImageConfig.from_dict(data)
        except Exception:  # noqa: BLE001 - a broken record is simply no cache hit
            continue
        if all(store.layers.exists(d) for d in config.diff_ids):
            return image_id, config
    return None


def find_cached(store: Store, parent: Digest | None, probe: dict[str, Any],
                index: ChildIndex | None = None) -> Digest | None:
    """The newest child of `parent` (or parentless image) whose container_config equals `probe`."""
    found = find_cached_config(store, parent, probe, index)
    return found[0] if found else None


class CacheFrom:
    """`--cache-from IMAGE...` as Docker 20.10's classic builder has it (moby image/cache
    ImageCache): a local hit counts only when it is an ancestor of a source in this store's
    parent chain; otherwise a source whose history continues the parent's with this step's
    command gives the hit. Before the last entry of the source that is a new image made from
    the parent and the source's next entry and layer (restoreCachedImage); at the last, the
    source itself, which then gets the parent as its parent (SetParent). Sources that are not
    images (a name that is not in the store) are left out; with none left no step hits, as
    in Docker."""

    def __init__(self, store: Store, sources: list[Digest]) -> None:
        self.store = store
        self.sources: list[tuple[Digest, dict[str, Any]]] = []
        for image_id in sources:
            data = json.loads(store.blobs.read(image_id))
            if isinstance(data, dict):
                self.sources.append((image_id, data))

    def find(self, parent: Digest | None, probe: dict[str, Any],
             index: ChildIndex | None = None) -> tuple[Digest, ImageConfig] | None:
        local = find_cached_config(self.store, parent, probe, index)
        if local is not None and any(self._is_ancestor(local[0], s) for s, _ in self.sources):
            return local
        parent_data: dict[str, Any] = {}
        if parent is not None:
            parent_data = json.loads(self.store.blobs.read(parent))
        parent_history = _history(parent_data)
        parent_diff_ids = _diff_ids(parent_data)
        created_by = " ".join(probe.get("Cmd") or [])
        at = len(parent_history)
        for source_id, data in self.sources:
            history = _history(data)
            diff_ids = _diff_ids(data)
            if not history or len(history) <= at or len(diff_ids) < len(parent_diff_ids):
                continue
            if parent is not None and (parent_history or parent_diff_ids):
                if history[:at] != parent_history or diff_ids[:len(parent_diff_ids)] != parent_diff_ids:
                    continue
            if (history[at].created_by or "") != created_by:
                continue
            if at == len(history) - 1:
                if parent is not None:
                    self.store.set_parent(source_id, parent)
                return source_id, ImageConfig.from_dict(data)
            restored = self._restore(parent, parent_data, data, probe, at)
            if restored is None:
                continue
            self.sources = [(source_id, data)]  # as Docker: this source from here on
            if index is not None:
                index.add(parent, restored[0])
            return restored
        return None

    def _is_ancestor(self, image_id: Digest, of: Digest) -> bool:
        seen: set[Digest] = set()
        current: Digest | None = of
        while current is not None and current not in seen:
            seen.add(current)
            try:
                current = self.store.parent(current)
            except Exception:  # noqa: BLE001 - removed meanwhile: the chain ends
                return False
            if current == image_id:
                return True
        return False

    def _restore(self, parent: Digest | None, parent_data: dict[str, Any], source: dict[str, Any],
                 probe: dict[str, Any], at: int) -> tuple[Digest, ImageConfig] | None:
        """The image of step `at` of `source` on `parent`: the parent's history and layers, the
        source's entry and (unless empty) layer, the probe as its config and the entry's time."""
        history = [*_history(parent_data), _history(source)[at]]
        diff_ids = list(_diff_ids(parent_data))
        layer_index = sum(1 for h in _history(source)[:at] if not h.empty_layer)
        if not history[-1].empty_layer:
            if layer_index >= len(_diff_ids(source)):
                return None  # a history that names more layers than the image has
            diff_ids.append(_diff_ids(source)[layer_index])
        extra = {k: source[k] for k in ("os.version", "os.features") if k in source}
        config = ImageConfig(
            architecture=source.get("architecture") or "amd64", os=source.get("os") or "linux",
            created=history[-1].created, author=source.get("author"),
            config=ContainerConfig.from_dict(probe), diff_ids=diff_ids, history=history,
            variant=source.get("variant"), extra=extra)
        layers = [self.store.layers.get(d) for d in diff_ids]
        image = self.store.add_image(config.to_json(), layers, parent=parent)
        return image.id, image.config


def _history(data: dict[str, Any]) -> list[History]:
    return [History.from_dict(h) for h in data.get("history") or [] if isinstance(h, dict)]


def _diff_ids(data: dict[str, Any]) -> list[Digest]:
    rootfs = data.get("rootfs") or {}
    return [Digest.parse(d) for d in rootfs.get("diff_ids") or []]
