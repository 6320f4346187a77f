"""`docker commit`: a container's storage layer on top of its image, as a new image."""

from __future__ import annotations

from dockyard.builder.changes import apply_changes
from dockyard.digest import Digest
from dockyard.engine.images import parse_target
from dockyard.errors import DockyardError
from dockyard.image.config import History
from dockyard.image.mutate import append
from dockyard.runtime.containers import current_state, lookup, oci_runtime
from dockyard.runtime.state import RUNNING
from dockyard.store import workspace
from dockyard.store.layer_writer import layer_from_directory
from dockyard.store.store import Store


def commit(store: Store, name: str, repository: str | None = None, *, pause_container: bool = True,
           message: str = "", author: str = "", changes: list[str] | None = None) -> Digest:
    """`docker commit`: the container's storage layer on top of its image, as a new image.

    Works for stopped containers too (as Docker does). An empty diff adds no layer, only a
    history entry with `empty_layer` (as Docker does).
    """
    target = parse_target(repository)
    cdir = lookup(store, name)
    record = cdir.read_record()
    config = record.config
    if changes:
        config = apply_changes(config, changes)
    base_id = Digest.parse(record.image_id)
    base = store.image(base_id)
    runtime = oci_runtime(store, record)
    paused_here = False
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
            except BaseException:
                state.paused = paused_here = False
                state.pause_owner = ""
                cdir.write_state(state, durable=False)
                raise
    try:
        with store.ingesting():
            layer = layer_from_directory(store.layers, cdir.upper)
            new = append(
                base.config, base.layers, layer,
                History(created_by=" ".join(record.command), author=author or None, comment=message or None),
                config=config, author=author or None, drop=("container", "container_config"))
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
