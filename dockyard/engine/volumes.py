"""Volumes for both servers: create, list, inspect, remove, prune in Docker's JSON, with the
containers that use a volume (any container that mounts it, running or not, as Docker counts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard import filters as filters_mod
from dockyard.errors import InvalidParameter
from dockyard.runtime.state import ContainerDir
from dockyard.runtime.volumes import Volume, Volumes, users_of
from dockyard.store.events import Journal


def users(root: Path):  # noqa: ANN201 - Callable[[str], list[str]]
    """volume name -> IDs of the containers that mount it (runtime/volumes.users_of)"""
    return users_of(root)


def create(root: Path, body: dict[str, Any]) -> Volume:
    name = body.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise InvalidParameter("invalid volume name: want a string")
    volumes = Volumes(root)
    existed = name is not None and any(v.name == name for v in volumes.all())
    volume = volumes.create(name, driver=body.get("Driver") or "local",
                            labels=dict(body.get("Labels") or {}),
                            options=dict(body.get("DriverOpts") or {}))
    if not existed:
        Journal(root).emit("volume", "create", volume.name, {"driver": "local"})
    return volume


def list_volumes(root: Path, raw_filters: str | None) -> list[dict[str, Any]]:
    f = filters_mod.parse(raw_filters, filters_mod.VOLUMES)
    used_by = users(root)
    out = []
    for v in Volumes(root).all():
        if not (f.match("name", [v.name], "regex") and f.match("driver", [v.driver])
                and f.match_labels(v.labels)):
            continue
        dangling = f.bool_value("dangling")
        if dangling is not None and dangling == bool(used_by(v.name)):
            continue
        out.append(v.to_docker())
    return out


def inspect(root: Path, name: str) -> dict[str, Any]:
    return Volumes(root).get(name).to_docker()


def remove(root: Path, name: str, force: bool = False) -> None:
    Volumes(root).remove(name, users(root), force=force)
    Journal(root).emit("volume", "destroy", name, {"driver": "local"})


def prune(root: Path, raw_filters: str | None, api_at_least_1_42: bool) -> tuple[list[str], int]:
    f = filters_mod.parse(raw_filters, filters_mod.VOLUME_PRUNE)
    every = f.bool_value("all")
    anonymous_only = api_at_least_1_42 and not every
    removed, freed = Volumes(root).prune(users(root), anonymous_only=anonymous_only,
                                        keep=lambda v: not f.match_labels(v.labels))
    for name in removed:
        Journal(root).emit("volume", "destroy", name, {"driver": "local"})
    return removed, freed
