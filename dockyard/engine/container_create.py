"""`docker create` for both servers: Docker's create request (engine/create_config.py reads it)
becomes a container with its volumes and networks.

- Volumes: named ones are created when missing (as Docker's `-v name:/path`), an anonymous one
  for every mount point of the request or the image (`VOLUME`) that nothing else mounts,
  `--volumes-from` copies another container's mounts; an empty volume gets the image's content at
  its mount point (Docker's copy-up, unless `nocopy`).
- The config's working directory is made when the image lacks it, as Docker's create does.
- Networks: the request is checked against the store's networks and kept in the container's
  directory; a container on bridge networks gets the OCI hooks that join and leave them
  (runtime/network/hook.py).
Bad input changes nothing on disk: volumes made for a container that could not be created are
removed again.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from dockyard.dataclass import replace
from dockyard.engine.create_config import ContainerRequest, VolumeUse, read
from dockyard.errors import InvalidParameter, NotFound
from dockyard.image.manifest import Platform
from dockyard.runtime import bundle, joined
from dockyard.runtime.containers import create as runtime_create
from dockyard.runtime.containers import lookup
from dockyard.runtime.lifecycle import remove
from dockyard.runtime.hostconfig import Mount
from dockyard.runtime.network import endpoints, hook
from dockyard.runtime.state import ContainerRecord
from dockyard.runtime.users import resolve_in_root
from dockyard.runtime.volumes import Volume, Volumes
from dockyard.store.events import Journal
from dockyard.store.store import Store


def create(store: Store, body: dict[str, Any], name: str | None = None,
           platform: str | None = None) -> ContainerRecord:
    """A container from Docker's create JSON (Config + HostConfig + NetworkingConfig); with a
    `platform` (the API's parameter), its image must be of that os/architecture, as dockerd's."""
    request = read(body, name)
    if platform:
        wanted = Platform.parse_specifier(platform)
        config = store.image(store.resolve(request.options.image)).config
        if (config.os, config.architecture) != (wanted.os, wanted.architecture):
            raise NotFound(f"image with reference {request.options.image} was found but does not match "
                           f"the specified platform: wanted {wanted}, actual: {config.os}/{config.architecture}")
    return create_from_request(store, request)


def create_from_request(store: Store, req: ContainerRequest) -> ContainerRecord:
    root = store.root
    network = endpoints.validate(root, req.network)
    opts = req.options
    image_config = store.image(store.resolve(opts.image)).config.config
    uses = _volume_uses(store, req, list(image_config.volumes or {}))
    volumes = Volumes(root)
    existing = {v.name for v in volumes.all()}
    made: list[tuple[Volume, VolumeUse]] = []
    try:
        mounts = list(opts.host.mounts) + _volumes_from(store, req, _targets(opts.host.mounts, uses))
        for use in uses:
            volume = volumes.create(use.name or None, labels=use.labels, options=use.options)
            made.append((volume, use))
            # dockerd's volume service reports a create for each volume a container asks for,
            # one that exists included
            Journal(root).emit("volume", "create", volume.name, {"driver": "local"})
            mounts.append(Mount("volume", use.target, source=volume.mountpoint, name=volume.name,
                                read_only=use.read_only, options=["nocopy"] if use.nocopy else [],
                                subpath=use.subpath))
        for link in opts.host.links:      # dockerd checks a link's container at create
            target = link.partition(":")[0]
            try:
                lookup(store, target)
            except NotFound:
                # a 400 as dockerd's (a 404 would send the docker CLI to pull the image)
                raise InvalidParameter(f"could not get container for {target}: No such container: {target}") from None
        # container:NAME modes name the other container by its full ID from here on
        host, mode = joined.resolve(store, replace(opts.host, mounts=mounts), network.mode)
        host.network_mode = network.mode = mode
        if network.uses_bridge and network.mode != "none":
            host.hooks = hook.hooks_for(root)
        record = runtime_create(store, replace(
            opts, host=host, extensions={**opts.extensions, hook.EXTENSION: network.to_dict()}))
    except BaseException:
        _remove_new(volumes, made, existing)
        raise
    try:
        _copy_up(store, record, made)
        _working_directory(store, record)
    except BaseException:
        remove(store, record.id, force=True)
        _remove_new(volumes, made, existing)
        raise
    return record


def _remove_new(volumes: Volumes, made: list[tuple[Volume, VolumeUse]], existing: set[str]) -> None:
    for volume, _ in made:
        if volume.name not in existing:
            volumes.remove(volume.name, lambda name: [], force=True)


def _working_directory(store: Store, record: ContainerRecord) -> None:
    """Docker's create makes the config's WorkingDir in the container's filesystem when it is
    missing (0755, root's: container.SetupWorkingDirectory), so a container never started has
    it in its diff, its export and its commit too."""
    workdir = record.config.working_dir
    if not workdir or workdir == "/":
        return
    with bundle.mounted(store, lookup(store, record.id)) as rootfs:
        target = resolve_in_root(rootfs, workdir)
        if target is None:
            return
        missing = []
        while not os.path.lexists(target):
            missing.append(target)
            target = target.parent
        if not target.is_dir():
            raise InvalidParameter(f"Cannot mkdir: {workdir} is not a directory")
        for path in reversed(missing):
            os.mkdir(path, 0o755)
            os.chmod(path, 0o755)


def _targets(mounts: list[Mount], uses: list[VolumeUse]) -> set[str]:
    return {os.path.normpath(m.target) for m in mounts} | {os.path.normpath(u.target) for u in uses}


def _volume_uses(store: Store, req: ContainerRequest, image_volumes: list[str]) -> list[VolumeUse]:
    """The request's volumes, then an anonymous one per mount point nothing else covers."""
    uses = list(req.volumes)
    taken = _targets(req.options.host.mounts, uses)
    for path in list(req.options.volumes) + image_volumes:
        target = os.path.normpath(path)
        if target not in taken:
            uses.append(VolumeUse("", target))
            taken.add(target)
    return uses


def _volumes_from(store: Store, req: ContainerRequest, taken: set[str]) -> list[Mount]:
    """`--volumes-from ID[:ro|rw]`: the other container's binds and volumes, read-only with
    `ro`, as they are without a mode."""
    out = []
    for spec in req.volumes_from:
        ref, _, mode = spec.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidParameter(f"invalid mode for volumes-from: {mode}")
        source = lookup(store, ref).read_record()
        for m in source.host.mounts:
            if m.type == "tmpfs" or os.path.normpath(m.target) in taken:
                continue
            read_only = m.read_only if not mode else mode == "ro"
            out.append(replace(m, read_only=read_only, options=[o for o in m.options if o != "nocopy"]))
            taken.add(os.path.normpath(m.target))
    return out


def _copy_up(store: Store, record: ContainerRecord, made: list[tuple[Volume, VolumeUse]]) -> None:
    """What the image has at a new volume's mount point goes into the volume when it is empty;
    with a subpath, into that folder of it when empty (moby's populateVolume: the subpath is
    checked then as at a start, so a missing one fails the create when the image has the
    mount point)."""
    wanted = [(v, u) for v, u in made
              if not u.nocopy and (u.subpath or not any(os.scandir(v.mountpoint)))]
    if not wanted:
        return
    volumes = Volumes(store.root)
    cdir = lookup(store, record.id)
    with bundle.mounted(store, cdir) as rootfs:
        for volume, use in wanted:
            source = resolve_in_root(rootfs, use.target)
            if source is None:
                continue
            try:
                st = os.lstat(source)
            except FileNotFoundError:
                continue
            if use.subpath:
                volumes.copy_up_subpath(volume.name, use.subpath, source, cdir.subpaths / "copy-up")
            elif stat.S_ISDIR(st.st_mode):
                volumes.copy_up(volume.name, source)
