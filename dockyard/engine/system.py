"""Store-wide views and maintenance for both servers: `docker system df` (what images,
containers, volumes and the build cache take on disk, in Docker's JSON), `dockyard system check`
and `dockyard system prune`."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from dockyard import filters as filters_mod
from dockyard.engine import build_cache, container_views, volumes as engine_volumes
from dockyard.engine.images import image_rows
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter
from dockyard.runtime.volumes import Volumes
from dockyard.store.check import CheckReport, check_store
from dockyard.store.store import Store


DISK_USAGE_TYPES = ("container", "image", "volume", "build-cache")


def disk_usage(store: Store, types: list[str] | None = None, *, placeholders: bool = True) -> dict[str, Any]:
    """`docker system df`: what images, containers, volumes and BuildKit mode's cache take; with
    `types` (API 1.42's `type`), only those sections, the others absent as in dockerd's answer;
    `placeholders`: the image rows' fields before API 1.44 (engine.images.image_rows)."""
    for kind in types or []:
        if kind not in DISK_USAGE_TYPES:
            raise InvalidParameter(f"unknown object type: {kind}")
    wanted = set(types or DISK_USAGE_TYPES)
    out: dict[str, Any] = {}
    if "image" in wanted:
        out["LayersSize"] = sum(store.layers.get(d).content_size for d in store.layers.all())
        out["Images"] = _with_shared_sizes(store, image_rows(store, all_images=True, placeholders=placeholders))
    if "container" in wanted:
        out["Containers"] = container_views.rows(store, all_=True, size=True)
    if "volume" in wanted:
        users = engine_volumes.users(store.root)
        volumes = Volumes(store.root)
        out["Volumes"] = [{**v.to_docker(), "UsageData": {"Size": volumes.size(v.name), "RefCount": len(users(v.name))}}
                          for v in volumes.all()]
    if "build-cache" in wanted:
        out["BuildCache"] = build_cache.usage(store)
        out["BuilderSize"] = sum(c["Size"] for c in out["BuildCache"] if not c["Shared"])
    return out


def _with_shared_sizes(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The image rows as dockerd's df gives them: SharedSize, the bytes of the image's layers
    that another image has too (what removing it alone would not free)."""
    layers = {row["Id"]: store.diff_ids(Digest.parse(row["Id"])) or [] for row in rows}
    users = Counter(d for diff_ids in layers.values() for d in set(diff_ids))
    sizes = {d: store.layers.get(d).content_size for d in users}
    return [{**row, "SharedSize": sum(sizes[d] for d in set(layers[row["Id"]]) if users[d] > 1)} for row in rows]


@dataclass
class PruneStep:
    """One kind's prune within `system prune`: the docker CLI's title of what it removed (its
    lines: IDs, names, `untagged: X`/`deleted: ID`) and the bytes it freed."""
    title: str
    items: list[str] = field(default_factory=list)
    freed: int = 0


def check(store: Store) -> CheckReport:
    """Read every image, layer and name back (store.check)."""
    return check_store(store)


def prune(store: Store, root: Path, *, all_images: bool = False, volumes: bool = False,
          raw_filters: str | None = None) -> Iterator[PruneStep]:
    """`docker system prune`, as the docker CLI 20.10 runs it: the prune of each kind in turn,
    each with the same filters (`label`, `label!`, `until`; a key the containers' prune does not
    know is refused there, before anything is removed), each step yielded as it is done (the
    CLI prints each as its prune answers; a step that fails leaves the earlier ones done):
    stopped containers, networks no container uses, with `volumes` the volumes no container
    uses, dangling images (every image no container uses with `all_images`), the build cache
    (engine/build_cache.py: all of it with `all_images`; a record has no labels: `label` keeps
    it, `label!` does not; `until` a duration, as dockerd's); then the store's garbage
    collection, which also removes what killed processes left (temp folders, blobs nothing
    references, dead links, older versions' temp files)."""
    from dockyard.engine import containers, images, networks
    from dockyard.engine import volumes as engine_volumes

    try:
        yield PruneStep("Deleted Containers", *containers.prune(store, raw_filters))
        yield PruneStep("Deleted Networks", networks.prune(root, raw_filters))
        if volumes:
            yield PruneStep("Deleted Volumes", *engine_volumes.prune(root, raw_filters, api_at_least_1_42=True))
        # the images' -a is `dangling=false` beside the filters given, as the docker CLI sends it
        given = filters_mod.parse(raw_filters, filters_mod.CONTAINER_PRUNE)
        image_filters = {**{k: given.get(k) for k in given.keys()}, "dangling": ["false" if all_images else "true"]}
        deleted, freed = images.prune_images(store, json.dumps(image_filters))
        yield PruneStep("Deleted Images", [f"{kind}: {what}" for r in deleted for kind, names in
                                           (("untagged", r.untagged), ("deleted", r.deleted)) for what in names], freed)
        yield PruneStep("Deleted build cache objects",
                        *build_cache.prune(store, all_=all_images, raw_filters=raw_filters))
    finally:
        store.collect(thorough=True)
