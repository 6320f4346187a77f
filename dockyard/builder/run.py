"""RUN: one process in a temporary container over the previous step's image, through the
container runtime (dockyard.runtime: create, run attached, remove), and the
container's storage layer as the step's layer.

A thin adapter over the containers API; what it adds for the builder (Docker behaviour matched):
- VOLUME mount points missing in the image are created in the container before the command runs
  (Docker's daemon does; they show in the step's diff); what the command writes or deletes under
  a VOLUME path is not in the step's layer (Docker mounts a volume there, then discards it).
- The command's stdout and stderr are streamed to the build output as they come (stderr in red).
- The container is removed afterwards unless `keep` (`--rm=false` after a successful step, as
  Docker keeps intermediate containers then); a failed step's container is always removed.
- On a network of the store's or in another container's (`build --network NAME|container:NAME`)
  the container joins it as `docker run --network`'s does (`_joining`); on the host's network
  or none it is a one-shot container (runtime/oneshot.py) unless kept.
The container runs attached in this process, on any thread (the monitor puts the caller's
signal handlers back, and forwards signals only when on the main thread).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from dockyard.archive.fstree import remove_path
from dockyard.dataclass import dataclass, field, replace
from dockyard.digest import CHUNK, Digest
from dockyard.errors import DockyardError, RuntimeFailure, go_quote
from dockyard.image.config import ContainerConfig
from dockyard.runtime import containers, oneshot
from dockyard.runtime.hostconfig import HostConfig
from dockyard.store.layer_writer import layer_from_directory
from dockyard.store.layers import StoredLayer
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Callable


@dataclass
class RunSpec:
    """What a RUN step runs: its command, environment, user, directory, network."""

    args: list[str]
    env: list[str]                   # the step's Env plus the build args
    user: str = ""
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    # host | none | a network of the store's (bridge, a name or ID) | container:NAME
    network: str = "host"
    host: dict[str, object] = field(default_factory=dict)   # more HostConfig (BuildOptions.run_host)

    @property
    def joins(self) -> bool:
        """Whether the container joins a network of the store's or another container's: it is
        then a container of the store's, as `docker run --network`'s (see `_joining`)."""
        return self.network not in ("host", "none")


@dataclass
class RunResult:
    """A finished RUN step: its container, exit code and layer."""

    container_id: str
    exit_code: int
    # None: the command changed nothing (an empty layer). Not yet published (LayerStore.adopt's
    # publish=False): the builder fsyncs layers/ before the step's image record names it.
    layer: StoredLayer | None = None


def _lower_stat(store: Store, diff_ids: list[Digest], rel: str) -> os.stat_result | None:
    for diff_id in reversed(diff_ids):
        try:
            return os.lstat(store.layers.unpacked(diff_id) / rel)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _make_volume_dirs(store: Store, diff_ids: list[Digest], upper: Path, volumes: list[str]) -> None:
    """Create missing VOLUME directories in the storage layer before the container starts;
    parents that the image has are made with the image's owner and mode (as a copy-up would)."""
    for volume in volumes:
        parts = [p for p in volume.split("/") if p not in ("", ".", "..")]
        if not parts or _lower_stat(store, diff_ids, "/".join(parts)) is not None:
            continue
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            target = upper / rel
            if target.exists():
                continue
            target.mkdir(mode=0o755)
            st = _lower_stat(store, diff_ids, rel) if i < len(parts) else None
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.chown(target, st.st_uid, st.st_gid)
                os.chmod(target, stat.S_IMODE(st.st_mode))
            else:
                os.chmod(target, 0o755)


def _discard_volume_writes(store: Store, diff_ids: list[Digest], upper: Path, volumes: list[str]) -> None:
    """What the command changed under a VOLUME path is not part of the step's layer: Docker runs
    the step with a volume mounted there, so its writes and deletions land in the volume, which
    is thrown away (checked with dockerd 20.10). A mount point the image lacked stays, empty, as
    Docker creates it in the container's own layer."""
    for volume in volumes:
        parts = [p for p in volume.split("/") if p not in ("", ".", "..")]
        if not parts:
            continue
        rel = "/".join(parts)
        target = upper / rel
        if not os.path.lexists(target):
            continue
        in_image = _lower_stat(store, diff_ids, rel) is not None
        if in_image or not target.is_dir() or target.is_symlink():
            if target.is_dir() and not target.is_symlink():
                remove_path(target)
            else:
                target.unlink()
            continue
        for child in os.listdir(target):
            path = target / child
            if path.is_dir() and not path.is_symlink():
                remove_path(path)
            else:
                path.unlink()


def _pump(fd: int, output: Callable[[bytes], None]) -> None:
    with os.fdopen(fd, "rb", buffering=0) as reader:
        while True:
            data = reader.read(CHUNK)
            if not data:
                return
            output(data)


def _run_attached(store: Store, container_id: str, output: Callable[[bytes], None]) -> int:
    """Run in this process, stdout and stderr streamed through a pipe each. Docker's classic
    builder writes what the command prints on stderr in red: each chunk as it comes between
    `ESC[91m` and `ESC[0m` (moby pkg/streamformatter's stderr formatter)."""
    from dockyard.runtime.lifecycle import run_attached  # a kept container only: see tests/test_start_up.py
    from dockyard.runtime.monitor import Attach

    def red(data: bytes) -> None:
        output(b"\x1b[91m" + data + b"\x1b[0m")

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pumps = [threading.Thread(target=_pump, args=(out_r, output), daemon=True),
             threading.Thread(target=_pump, args=(err_r, red), daemon=True)]
    for pump in pumps:
        pump.start()
    try:
        return run_attached(store, container_id, Attach(None, out_w, err_w))
    finally:
        os.close(out_w)
        os.close(err_w)
        for pump in pumps:
            pump.join()


def run_step(store: Store, image_id: Digest | None, diff_ids: list[Digest], spec: RunSpec,
             output: Callable[[bytes], None], announce: Callable[[str], None],
             keep: bool = False, image_config: ContainerConfig | None = None,
             running: Callable[[], None] | None = None,
             links: dict[Digest, str] | None = None) -> RunResult:
    """Run `spec` in a new container of `image_id`; `announce(container_id)` is called once it
    exists. The storage layer becomes a layer in the store when the command succeeds. The
    container is a one-shot one (runtime/oneshot.py: nothing durable, one runtime process)
    unless it is to be `keep`t, as a container of the store's. `image_config`: the image's
    config (a one-shot container then does not read the image from the store, where a build's
    step image may still be being written); `running()` is called once the runtime runs the
    one-shot container (the builder's work behind it starts then); `links`: the build's table of
    layers found unpacked (runtime/bundle.lower_dirs; the build's lease keeps them)."""
    if image_id is None:
        raise RuntimeFailure(f"failed to run {go_quote(spec.args[0])}: the image is empty (FROM scratch)")
    options = containers.CreateOptions(
        image=str(image_id), cmd=list(spec.args), entrypoint=[], env=list(spec.env),
        workdir=spec.workdir or None, user=spec.user, host=HostConfig(network_mode=spec.network, **spec.host))  # type: ignore[arg-type]
    if not keep and not spec.joins:
        return _run_once(store, diff_ids, spec, options, output, announce, image_config, running, links)
    record = containers.create(store, _joining(store, options) if spec.joins else options)
    announce(record.id)
    cdir = containers.lookup(store, record.id)
    succeeded = False
    try:
        _make_volume_dirs(store, diff_ids, cdir.upper, spec.volumes)
        code = _run_attached(store, record.id, output)
        if code != 0:
            return RunResult(record.id, code)
        _discard_volume_writes(store, diff_ids, cdir.upper, spec.volumes)
        layer = layer_from_directory(store.layers, cdir.upper, publish=False)
        succeeded = True
        return RunResult(record.id, 0, layer)
    finally:
        if not (succeeded and keep):
            from dockyard.runtime.lifecycle import remove  # a kept container only: see tests/test_start_up.py

            try:
                remove(store, record.id, force=True)
            except DockyardError:
                pass


def _joining(store: Store, options: containers.CreateOptions) -> containers.CreateOptions:
    """RUN on a network (`build --network NAME`): its container joins it as a container of
    `docker run --network NAME` does, through the runtime's network code (the request checked,
    kept in the record, the hooks that join and leave it at the start and the exit; a
    container: mode by the target's full ID), as dockerd's builder makes a container in the
    network for the step. A network that does not exist is the start's error, as dockerd's
    (`network NAME not found`, after `Running in`)."""
    from dockyard.runtime import joined
    from dockyard.runtime.network import endpoints, hook

    request = endpoints.validate(store.root, endpoints.NetworkRequest(mode=options.host.network_mode))
    host, mode = joined.resolve(store, options.host, request.mode)
    host.network_mode = request.mode = mode
    if request.uses_bridge:
        host.hooks = hook.hooks_for(store.root)
    return replace(options, host=host, extensions={**options.extensions, hook.EXTENSION: request.to_dict()})


def _run_once(store: Store, diff_ids: list[Digest], spec: RunSpec,
              options: containers.CreateOptions, output: Callable[[bytes], None],
              announce: Callable[[str], None], image_config: ContainerConfig | None,
              running: Callable[[], None] | None, links: dict[Digest, str] | None) -> RunResult:
    """The step in a one-shot container: its stdout and stderr into the build output as they
    come, stderr in red (see _run_attached)."""
    def red(data: bytes) -> None:
        output(b"\x1b[91m" + data + b"\x1b[0m")

    with oneshot.made(store, options, diff_ids, image_config, links) as shot:
        announce(shot.id)
        _make_volume_dirs(store, diff_ids, shot.upper, spec.volumes)
        code = shot.run(output, red, running)
        if code != 0:
            return RunResult(shot.id, code)
        _discard_volume_writes(store, diff_ids, shot.upper, spec.volumes)
        with os.scandir(shot.upper) as entries:
            if next(entries, None) is None:  # nothing changed: no layer (no tar to make)
                return RunResult(shot.id, 0)
        return RunResult(shot.id, 0, layer_from_directory(store.layers, shot.upper, publish=False))
