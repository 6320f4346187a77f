"""Files in and out of a container (`docker cp`, the archive API), for both servers: the
container's root as it sees it (`/proc/PID/root` while it runs, volumes included; its mounted
rootfs while it does not), read and written by runtime/rootfs_archive's chrooted child."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from dockyard.errors import DockyardError, InvalidParameter, NotFound, go_quote
from dockyard.runtime import bundle, joined, rootfs_archive
from dockyard.runtime.containers import current_state, lookup
from dockyard.runtime.spec import Bind
from dockyard.runtime.state import RUNNING, ContainerDir
from dockyard.store.store import Store


@contextmanager
def _root(store: Store, name: str) -> Iterator[tuple[Path, list[rootfs_archive.Volume], Path | None]]:
    """The root to copy from or into, the volumes and binds the archive's child mounts there
    (none for a running container: its root has them), and the mountinfo of a running one's.
    A running container's root is held for the copy: one that exits meanwhile is still read
    or written whole (as dockerd's, which holds the container's lock for the copy, its exit
    recorded after); one that exited before is copied as a stopped one."""
    cdir = lookup(store, name)
    state = current_state(cdir)
    try:
        if state.status == RUNNING and state.pid:
            with rootfs_archive.running_root(state.pid, cdir.merged) as root:
                if root is not None:
                    yield root, [], Path(f"/proc/{state.pid}/mountinfo")
                    return
        record = cdir.read_record()
        host = record.host
        volumes = [(m.source, m.target, m.read_only) for m in host.mounts if m.type in ("bind", "volume")]
        volumes += [(b.source, b.destination, b.readonly) for b in map(Bind.parse, host.binds)]
        volumes += _network_files(store, cdir, {os.path.normpath(v[1]) for v in volumes})
        with bundle.mounted(store, cdir, volumes=True) as rootfs:
            yield rootfs, volumes, None
    except NotFound as err:
        # dockerd names the container as the client did: "Could not find the file /x in
        # container c1"
        if str(err).endswith(" in container"):
            raise NotFound(f"{err} {name}") from None
        raise


def _network_files(store: Store, cdir: ContainerDir, taken: set[str]) -> list[rootfs_archive.Volume]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf of a stopped container, once a start wrote
    them (its own, or those of the container whose network it joins), unless a mount of its own
    is there: dockerd mounts its NetworkMounts for a copy, where the rootfs has only the empty
    files the runtime binds them onto (`docker cp` of a stopped container's /etc/hosts gave an
    empty file)."""
    files = joined.files_dir(store, cdir)
    return [(str(files / name), f"/etc/{name}", False) for name in ("hostname", "hosts", "resolv.conf")
            if f"/etc/{name}" not in taken and (files / name).is_file()]


def stat(store: Store, name: str, path: str) -> dict[str, Any]:
    with _root(store, name) as (root, volumes, _):
        return rootfs_archive.stat_path(root, path, volumes)


def get(store: Store, name: str, path: str, start: Any) -> None:
    """`start(stat)` is called with the path's stat before the tar is written to what it
    returns (the API sends the stat as a header, before the body)."""
    with _root(store, name) as (root, volumes, mountinfo):
        out: BinaryIO = start(rootfs_archive.stat_path(root, path, volumes))
        rootfs_archive.get_archive(root, path, out, volumes, mountinfo)


def put(store: Store, name: str, path: str, source: BinaryIO, *,
        no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False) -> None:
    """`copy_uid_gid` (`docker cp -a`, the API's copyUIDGID): the owners as the tar has them,
    but every entry the container's user's when it has one (dockerd's tarCopyOptions)."""
    record = lookup(store, name).read_record()
    if record.host.read_only:
        raise InvalidParameter("container rootfs is marked read-only")
    owner = _host_user(record.config.user) if copy_uid_gid and record.config.user else None
    with _root(store, name) as (root, volumes, _):
        rootfs_archive.put_archive(root, path, source, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                                   volumes=volumes, owner=owner)


def _host_user(user: str) -> tuple[int, int]:
    """The uid and gid dockerd 20.10 gives what `cp -a` copies into a container with a USER:
    the whole USER string (`name`, `uid`, even `uid:gid`) looked up in the *host's* passwd
    database (idtools.LookupUser: by name, then `getent passwd`, which takes a uid too), the
    entry's primary group; an entry the host lacks is an error (moby#34142, as 20.10 has it)."""
    import pwd  # cp -a only

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else None
        except (KeyError, OverflowError):
            entry = None
    if entry is None:
        raise DockyardError(f"getent unable to find entry {go_quote(user)} in passwd database")
    return entry.pw_uid, entry.pw_gid
