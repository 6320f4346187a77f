"""Store-wide views and maintenance for both servers: `docker system df` (what images,
containers, volumes and the build cache take on disk, in Docker's JSON), `dockyard system check`
and `dockyard system prune`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.engine import build_cache, container_views, volumes as engine_volumes
from dockyard.engine.images import image_rows
from dockyard.digest import Digest
from dockyard.errors import Conflict, InvalidParameter, NotFound
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
class PruneReport:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # ("untagged"|"deleted", what)
    build_cache: list[str] = field(default_factory=list)
    reclaimed: int = 0


def check(store: Store) -> CheckReport:
    """Read every image, layer and name back (store.check)."""
    return check_store(store)


def prune(store: Store, root: Path, *, all_images: bool = False, volumes: bool = False) -> PruneReport:
    """`docker system prune`: stopped containers, networks no container uses, dangling images
    (every image no container uses with `all_images`), with `volumes` the volumes no container
    uses, the build cache (engine/build_cache.py: all of it with `all_images`); then the store's garbage collection, which also removes what killed processes left
    (temp folders, blobs nothing references, dead links, older versions' temp files)."""
    from dockyard.engine import containers, images, networks
    from dockyard.engine import volumes as engine_volumes

    report = PruneReport()
    for summary in containers.list_containers(store, True):
        if summary.state.status == "running":
            continue
        try:
            containers.remove(store, summary.id)
        except (NotFound, Conflict):
            continue
        report.containers.append(summary.id)
    report.networks = networks.prune(root, None)
    if volumes:
        removed, freed = engine_volumes.prune(root, None, api_at_least_1_42=True)
        report.volumes, report.reclaimed = removed, report.reclaimed + freed
    # -a is `dangling=false` in the filters, as the docker CLI's system prune sends it
    deleted, freed = images.prune_images(store, '{"dangling":["false"]}' if all_images else None)
    report.reclaimed += freed
    for r in deleted:
        report.images += [("untagged", u) for u in r.untagged] + [("deleted", d) for d in r.deleted]
    report.build_cache, freed = build_cache.prune(store, all_=all_images)   # as the docker CLI's last step
    report.reclaimed += freed
    store.collect(thorough=True)
    return report
