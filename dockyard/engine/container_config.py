"""A container's `Config` in Docker's shape: what `docker inspect` shows and `docker commit`
records as the image's `container_config`. A module of its own, so that a commit loads it without
the rest of what both servers show of containers (engine/container_views: networks, mounts, rows;
tests/test_start_up.py)."""

from __future__ import annotations

from typing import Any

from dockyard.runtime.state import ContainerRecord


def docker_config(record: ContainerRecord) -> dict[str, Any]:
    """The container's `Config` as Docker 20.10 shows it (`docker inspect`) and commits it
    (`container_config`): the record's config in container.Config's JSON shape, with its
    Hostname, Attach flags and Image as the user named it."""
    data = record.config.to_dict()
    if "Hostname" not in record.config.extra:  # a record written before its config held these
        data.update(Hostname=record.hostname, Image=record.image_name, Tty=record.tty,
                     OpenStdin=record.open_stdin, StdinOnce=record.stdin_once,
                     AttachStdin=record.open_stdin)
    if data.get("Labels") is None:
        data["Labels"] = {}  # Docker's create always makes the map
    return data
