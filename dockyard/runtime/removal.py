"""A container taken down (its mounts) and away (its folder, its hold on the image, its
cgroups, its anonymous volumes): by `rm`, by its monitor for `--rm`, and by whoever finds that
a `--rm` container's monitor died (runtime/containers.current_state).
"""

from __future__ import annotations

import os

from dockyard.archive.fstree import remove_path
from dockyard.atomic import temp_dir
from dockyard.errors import NotFound
from dockyard.runtime import cgroups, rootfs
from dockyard.runtime.state import ContainerDir
from dockyard.store.events import Journal
from dockyard.store.store import Store


def unmount(cdir: ContainerDir) -> None:
    """What a run mounted: the rootfs, a shareable IPC's /dev/shm (joiners keep their own
    binds), the volume subpaths."""
    rootfs.unmount(cdir.merged)
    rootfs.unmount(cdir.shm)
    rootfs.unmount_each(cdir.subpaths)


def destroy(store: Store, cdir: ContainerDir, volumes: bool = False) -> None:
    """Remove a stopped container: its rootfs, its files, its hold on the image; with `volumes`
    (`docker rm -v`, and --rm's removal, as dockerd's AutoRemove) its anonymous volumes too.
    Waiters learn its final state first (ContainerDir.removal)."""
    unmount(cdir)
    cgroups.remove_left(cdir.id)   # before the folder: a kill between, the next rm does it
    # The directory goes whole, by one rename into this process's temp folder (a kill after it
    # leaves nothing in containers/: the folder goes at the next start), with the hold released
    # in the same hold of the gc lock (a kill between leaves a hold whose holder is gone, which
    # the collector drops).
    trash = temp_dir(store.tmp, "container-")
    try:
        try:
            record = cdir.read_record()
            with cdir.update(durable=False) as state:
                state.removing = True
            if volumes:
                # before the folder goes, which ends the waits for its removal (docker run
                # --rm's): dockerd removes them first too, and the CLI's next `volume ls` saw
                # one still there
                from dockyard.runtime.volumes import Volumes   # not a build's RUN (tests/test_start_up.py)

                Volumes(store.root).remove_anonymous(
                    [m.name for m in record.host.mounts if m.type == "volume"], leaving=cdir.id)
            # under the state lock too: whoever holds it (a monitor recording the exit, a
            # health probe's result, current_state) finishes first, whoever waits for it finds
            # the container gone (NotFound), never writes its state into a folder made again
            with cdir.removal(), cdir.locked(), store.ingesting():
                os.rename(cdir.path, trash / cdir.id)  # gone for lookups and waiters from here
                store.release(cdir.id)
        except (NotFound, FileNotFoundError):
            return  # removed already (by its monitor, for --rm)
        Journal(store.root).emit("container", "destroy", record.id, record.event_attributes())
    finally:
        remove_path(trash, ignore_errors=True)
