"""`docker system df` for both servers: what images, containers, volumes and the build cache
take on disk, in Docker's JSON."""

from __future__ import annotations

from typing import Any

from dockyard.archive.changes import diff_size
from dockyard.engine import container_views, volumes as engine_volumes
from dockyard.engine.images import image_rows
from dockyard.runtime.containers import all_containers, current_state
from dockyard.runtime.volumes import Volumes
from dockyard.store.store import Store


def disk_usage(store: Store) -> dict[str, Any]:
    images = image_rows(store, all_images=True)
    layers = {str(d): store.layers.get(d).content_size for d in store.layers.all()}
    containers = []
    for row in container_views.rows(store, all_=True):
        cdir = next((c for c in all_containers(store) if c.id == row["Id"]), None)
        size_rw = diff_size(cdir.upper) if cdir is not None else 0
        image_size = next((i["Size"] for i in images if i["Id"] == row["ImageID"]), 0)
        containers.append({**row, "SizeRw": size_rw, "SizeRootFs": size_rw + image_size})
    users = engine_volumes.users(store.root)
    vols = []
    for v in Volumes(store.root).all():
        vols.append({**v.to_docker(), "UsageData": {"Size": Volumes(store.root).size(v.name),
                                                    "RefCount": len(users(v.name))}})
    return {"LayersSize": sum(layers.values()), "Images": images, "Containers": containers,
            "Volumes": vols, "BuildCache": []}
