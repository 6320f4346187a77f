"""`docker commit`: a container's storage layer on top of its image, as a new image."""

from __future__ import annotations

import threading
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.oci import OciRuntime
    from dockyard.runtime.state import ContainerDir


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
    unpause = _Unpause(cdir, runtime, record.id) if paused_here else None
    try:
        with store.ingesting():
            # the container runs again once its upper dir is read whole (_Unpause)
            layer = layer_from_directory(store.layers, cdir.upper,
                                         read=unpause.start if unpause is not None else None)
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
        if unpause is not None:
            unpause.finish()
    return image.id


class _Unpause:
    """Resumes the container a commit paused. Started (`start`) once its upper dir has been
    read whole, on a thread of its own: the runtime's `resume` (a process, 40-200 ms under load)
    runs while the layer is hashed to its end and made durable, instead of after the image is
    recorded. `finish` waits for it, or resumes now if it was not started (a failure before)."""

    def __init__(self, cdir: ContainerDir, runtime: OciRuntime, container_id: str) -> None:
        self._cdir, self._runtime, self._id = cdir, runtime, container_id
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._resume, name="unpause", daemon=True)
            self._thread.start()

    def finish(self) -> None:
        if self._thread is None:
            self._resume()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error

    def _resume(self) -> None:
        try:
            with self._cdir.locked():
                try:
                    self._runtime.resume(self._id)
                except DockyardError:
                    pass
                st = self._cdir.read_state()
                st.paused, st.pause_owner = False, ""
                self._cdir.write_state(st, durable=False)
        except BaseException as exc:  # noqa: BLE001 - raised by finish, on the commit's thread
            self._error = exc
