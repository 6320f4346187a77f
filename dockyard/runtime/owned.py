"""The OCI runtime's names for the containers that live only as long as the process that runs
them (a build step's, runtime/oneshot.py and BuildKit mode's RUN), and the sweep of those whose
process died.

Such a container has no record in the store: if its runtime is killed with its owner (a kill of
the process group), the runtime's state (and the container's cgroup) would stay for ever. So its
runtime name carries the owner's temp folder name (store.workspace: `<pid>-<random>`, whose lock
says whether that process lives), and the first one-shot container of any process deletes the
runtime containers whose owner is gone. Their cgroups are named after that name too
(`/dockyard/oneshot-...`), so those a runtime killed mid-create left go as well.
"""

from __future__ import annotations

import os

from dockyard.archive.fstree import remove_path
from dockyard.runtime import cgroups
from dockyard.runtime.oci import for_store
from dockyard.store import workspace
from dockyard.store.store import Store

PREFIX = "oneshot-"
_swept: set[str] = set()


def runtime_id(store: Store) -> str:
    """A new runtime name for a container this process runs and removes itself."""
    return f"{PREFIX}{store.tmp.name}-{os.urandom(8).hex()}"


def sweep(store: Store) -> None:
    """Delete the runtime containers of dead owners (once per process and store): `runtime
    delete --force` kills what still runs of them and removes their state and cgroups."""
    key = os.fspath(store.root)
    if key in _swept:
        return
    _swept.add(key)
    runtime = for_store(store.root)
    try:
        names = os.listdir(runtime.state_root)
    except FileNotFoundError:
        return
    for name in names:
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX):].rsplit("-", 1)[0]
        if not workspace.alive(store.tmp_root / f"{owner}.lock"):
            runtime.delete(name)
            # a runtime killed while it made the container (its cgroups made, its state not yet
            # saved) left a state folder its delete does not know, and empty cgroups: named
            # after the runtime's name, this store's, they go with it
            cgroups.remove_left(name)
            remove_path(runtime.state_root / name, ignore_errors=True)
