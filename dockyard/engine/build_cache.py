"""BuildKit mode's build cache (store/buildcache.py) as Docker shows and prunes it: the entries of
`docker system df` (`GET /system/df`'s BuildCache), and `docker builder prune` (`POST /build/prune`,
also the last step of `docker system prune`). An entry is a step's record (type `regular`: its
layer's size; `Shared` when an image uses the layer too, so removing the record frees nothing) or a
`RUN --mount=type=cache` directory (type `exec.cachemount`)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dockyard import filters as filters_mod
from dockyard.digest import Digest
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.store.buildcache import CacheRecord
from dockyard.store.store import Store


def _image_layers(store: Store) -> set[Digest]:
    return {d for image_id in store.image_ids() for d in store.diff_ids(image_id) or ()}


def _layer_size(store: Store, layer: Digest | None) -> int:
    if layer is None:
        return 0
    try:
        return store.layers.get(layer).content_size
    except (DockyardError, OSError):
        return 0


def _tree_size(path: Path) -> int:
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue
    return total


def _time(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds or 0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _mount_time(base: Path) -> float:
    try:
        return os.stat(base / "data").st_mtime
    except FileNotFoundError:
        return 0.0


def _record_entry(store: Store, record: CacheRecord, shared: set[Digest]) -> dict[str, Any]:
    return {"ID": record.key.hex, "Parent": "", "Parents": None, "Type": "regular",
            "Description": record.description, "InUse": False,
            "Shared": record.layer is not None and record.layer in shared,
            "Size": _layer_size(store, record.layer), "CreatedAt": record.created,
            "LastUsedAt": _time(store.build_cache.record_time(record.key)), "UsageCount": 1}


def _mount_entry(base: Path) -> dict[str, Any]:
    return {"ID": base.name, "Parent": "", "Parents": None, "Type": "exec.cachemount",
            "Description": "cached mount (RUN --mount=type=cache)", "InUse": False, "Shared": False,
            "Size": _tree_size(base / "data"), "CreatedAt": _time(_mount_time(base)),
            "LastUsedAt": _time(_mount_time(base)), "UsageCount": 1}


def usage(store: Store) -> list[dict[str, Any]]:
    """The build cache's entries, as `GET /system/df` lists them."""
    shared = _image_layers(store)
    return ([_record_entry(store, r, shared) for r in store.build_cache.records()]
            + [_mount_entry(b) for b in store.build_cache.mounts() if (b / "data").is_dir()])


def _until(values: list[str]) -> float | None:
    """`until` as dockerd 20.10's build cache prune reads it: one Go duration (BuildKit's
    KeepDuration), not a time as the other prunes take; the time it names."""
    if len(values) > 1:
        raise InvalidParameter("failed to prune build cache: filters expect only one value")
    if not values:
        return None
    from dockyard.dockerfile.durations import parse_go_duration

    try:
        keep = parse_go_duration(values[0])
    except ValueError as exc:
        raise InvalidParameter(f"failed to prune build cache: \"until\" filter expects a duration (e.g., '24h'): "
                               f"{exc}") from None
    return time.time() - keep / 1e9


def prune(store: Store, *, all_: bool = False, raw_filters: str | None = None,
          keep_storage: int = 0) -> tuple[list[str], int]:
    """`docker builder prune`: every cache mount and every record whose layer no image uses
    (with `all_`, every record); `until` keeps what was used since. The IDs removed and the
    bytes freed (the layers the garbage collection then deletes, and the mounts' files)."""
    f = filters_mod.parse(raw_filters, filters_mod.BUILD_CACHE_PRUNE)
    if keep_storage:
        raise InvalidParameter("keep-storage is not supported by dockyard")
    until = _until(f.get("until"))
    shared = _image_layers(store)
    removed: list[str] = []
    freed = 0
    if not f.match_labels({}):   # `label=...`: a cache record or mount has no labels
        return removed, freed
    for record in store.build_cache.records():
        if not all_ and record.layer is not None and record.layer in shared:
            continue
        if until is not None and (store.build_cache.record_time(record.key) or 0) > until:
            continue
        store.build_cache.remove(record.key)
        removed.append(record.key.hex)
    for base in store.build_cache.mounts():
        if until is not None and _mount_time(base) > until:
            continue
        size = _tree_size(base / "data")
        if store.build_cache.empty_mount(base):
            removed.append(base.name)
            freed += size
    if removed:
        sizes = {d: _layer_size(store, d) for d in store.layers.all()}
        freed += sum(sizes.get(d, 0) for d in store.collect())
    return removed, freed
