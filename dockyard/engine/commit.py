"""`docker commit`: a container's storage layer on top of its image, as a new image."""

from __future__ import annotations

from typing import Any

from dockyard import gotypes
from dockyard.digest import Digest
from dockyard.engine.container_config import docker_config
from dockyard.engine.request_types import CONFIG_FIELDS, CONTAINER_CREATE
from dockyard.errors import DockyardError
from dockyard.image.config import ContainerConfig, History, merge_config
from dockyard.image.mutate import append
from dockyard.reference import parse_repository
from dockyard.runtime.containers import current_state, lookup, oci_runtime
from dockyard.runtime.state import RUNNING
from dockyard.store import workspace
from dockyard.store.layer_writer import layer_from_directory
from dockyard.store.store import Store


_STRSLICES = ("Cmd", "Entrypoint", "Shell")


def _request_config(body: dict[str, Any]) -> dict[str, Any]:
    """POST /commit's body, a container.Config decoded as dockerd decodes it (into the create
    request's wrapper): a value of the wrong type is Go's error; fields container.Config lacks
    are dropped, as that decoder does."""
    gotypes.check(body, CONTAINER_CREATE)
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or key not in CONFIG_FIELDS:
            continue
        if key in _STRSLICES and isinstance(value, str):
            value = [value]  # Docker's strslice takes one string for a list of one
        out[key] = value
    return out


def commit(store: Store, name: str, repository: str | None = None, *, pause_container: bool = True,
           message: str = "", author: str = "", changes: list[str] | None = None,
           config: dict[str, Any] | None = None) -> Digest:
    """`docker commit`: the container's storage layer on top of its image, as a new image.

    Works for stopped containers too (as Docker does). An empty diff adds no layer, only a
    history entry with `empty_layer` (as Docker does). The config is Docker's: `config` (the
    request's, or the container's) with the changes, `container` and `container_config` the
    container's.
    """
    target = None if repository is None else parse_repository(repository)
    cdir = lookup(store, name)
    record = cdir.read_record()
    # Docker 20.10 (daemon/commit.go): the request's config (POST /commit's body), else the
    # container's, with the changes applied and completed from the container's by the merge of
    # create, is the image's run config; the container's own config is its container_config
    container_config = docker_config(record)
    own = ContainerConfig.from_dict(_request_config(config) if config else container_config)
    if changes:
        # the Dockerfile frontend and the builder's config rules, for --change only (the
        # in-process budget, tests/test_start_up.py)
        from dockyard.builder.changes import apply_changes

        own = apply_changes(own, changes)
    new_config = merge_config(own, ContainerConfig.from_dict(container_config))
    base_id = Digest.parse(record.image_id)
    base = store.image(base_id)
    runtime = oci_runtime(store, record)
    paused_here = False
    pause_failed: DockyardError | None = None
    current_state(cdir)
    with cdir.locked():
        state = cdir.read_state()
        if pause_container and state.status == RUNNING and not state.paused:
            # Recorded before it is done, with our lock: if we are killed, the next command
            # finds the pause ownerless and undoes it (runtime.containers.current_state).
            state.paused = paused_here = True
            state.pause_owner = workspace.owner_lock(store.tmp_root)
            cdir.write_state(state, durable=False)  # a crash ends the run anyway
            try:
                runtime.pause(record.id)
            except BaseException as exc:
                state.paused = paused_here = False
                state.pause_owner = ""
                cdir.write_state(state, durable=False)
                if not isinstance(exc, DockyardError):
                    raise
                pause_failed = exc
    # a process that ended since the check cannot be paused, and needs no pause: its layer is
    # committed as it is, as dockerd commits a container that exits meanwhile (once the lock
    # is free, its monitor records the exit); any other failure is one
    if pause_failed is not None:
        # the monitor's side, for a failed pause only (the in-process budget, tests/test_start_up.py)
        from dockyard.runtime.lifecycle import wait

        if wait(cdir, timeout=5, through_restarts=True) is None:
            raise pause_failed
    try:
        with store.ingesting():
            layer = layer_from_directory(store.layers, cdir.upper)
            new = append(
                base.config, base.layers, layer,
                # Docker's created_by is the container's Cmd (not its entrypoint)
                History(created_by=" ".join(record.config.cmd or []) or None, author=author or None,
                        comment=message or None),
                config=new_config, author=author or None,
                extra={"container": record.id, "container_config": container_config})
            layers = list(base.layers) + ([layer] if layer is not None else [])
            image = store.add_image(new.raw_config, layers, parent=base_id)
            if target is not None:
                store.tag(image.id, target)
    finally:
        if paused_here:
            with cdir.locked():
                try:
                    runtime.resume(record.id)
                except DockyardError:
                    pass
                st = cdir.read_state()
                st.paused, st.pause_owner = False, ""
                cdir.write_state(st, durable=False)
    return image.id
