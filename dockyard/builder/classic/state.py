"""What the classic builder knows while it runs, and the two things every step ends with.

- `StageState`: a stage's image so far (its ID, config and layers: each step's image is the
  child of the previous one) and its `StageConfig` (Docker's dispatchState).
- `ClassicBuild`: what a step reaches beyond its stage: the store, the context, the options, the
  output, the ARGs, the images of the stages built so far; image lookups for FROM and
  `COPY --from`; and `probe` (the image-chain cache: a child of this image made from the same
  config) and `commit` (this step's image), as moby's builder/dockerfile/internals.go.

A step's image is written to the store (the fsync of layers/ that makes its new layer durable,
then its config blob and record, each fsynced) by a worker thread while the build goes on (`StepWrite`): the image's ID and config are known in memory the
moment it is made, and no later step of its stage needs its record. The writes run one after the
other, in the order the images were made (a parent's record before its child's); while a RUN
prepares its container they wait, and start again once the runtime runs (their Python work then
takes no time from the step's own). A RUN's container gets its config from the builder
(runtime/oneshot.py). A probe cannot hit on an image being written: the images being written
are the stage's own chain, ancestors of the image it probes (a new stage waits for them all),
never its children; and an image just made has a new ID (its config holds a new container ID
and the time), with no children of its own, as Docker's classic builder misses every step after
a miss; the local cache lookup reads only the children index, which needs no record of the
parent. What reads these images from the store waits for their writes (`settle`): a
`--cache-from` or `--explain-cache` probe (they read the parent), a hit (its lease), a new stage
(its FROM, its `COPY --from`), a container kept with `--rm=false`, and the end of the build
(before the images are published and the result is named). A step's new layer is leased at
once, under the step's ingest hold, so the collector cannot take it before the image holds it.
A write that fails fails the build with its own error (message and exit status), raised where
the build next waits for the writes; the images after it are not written (none has a record
without its parent's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dockyard.builder.classic.cache import CacheFrom, ChildIndex, find_cached_config
from dockyard.builder.context import BuildContext
from dockyard.builder.options import BuildOptions, ImagePuller, Output
from dockyard.builder.stage import StageConfig
from dockyard.dataclass import dataclass, field, replace
from dockyard.digest import Digest
from dockyard.dockerfile import Dockerfile
from dockyard.dockerfile.args import BuildArgs, platform_args
from dockyard.errors import DockyardError, NotFound
from dockyard.image.config import ContainerConfig, History, ImageConfig
from dockyard.image.image import Image
from dockyard.image.mutate import append
from dockyard.reference import parse_normalized
from dockyard.store.layers import StoredLayer
from dockyard.store.leases import Lease
from dockyard.store.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.filesums import FileSums

__all__ = ["ClassicBuild", "StageState", "stage_index"]


@dataclass
class StageState:
    """What a stage has built so far."""

    name: str | None
    image_id: Digest | None
    image_config: ImageConfig
    layers: list[StoredLayer]
    stage: StageConfig
    changed_at: int | None = None   # the step whose miss made this stage's images new ones

    @property
    def run(self) -> ContainerConfig:
        return self.stage.config

    @property
    def diff_ids(self) -> list[Digest]:
        return [layer.diff_id for layer in self.layers]


class StepWrite:
    """A step's image being written to the store by the build's writer thread (`Writer`), after
    the write of the image made before it (`after`) and while `go` is set (see the module's
    doc)."""

    def __init__(self, image_id: Digest, write: Callable[[], None], after: "StepWrite | None",
                 go: threading.Event, writer: "Writer") -> None:
        self.image_id = image_id
        self.error: BaseException | None = None
        self._done = threading.Event()
        writer.submit(lambda: self._run(write, after, go))

    def _run(self, write: Callable[[], None], after: "StepWrite | None", go: threading.Event) -> None:
        try:
            if after is not None:
                after._done.wait()  # done already: the writer runs the writes in order
                if after.error is not None:
                    self.error = after.error  # not written: its parent's record would be missing
                    return
            go.wait()
            try:
                write()
            except BaseException as exc:  # noqa: BLE001 - raised by wait(), in the build's thread
                self.error = exc
        finally:
            self._done.set()

    def wait(self) -> None:
        """Until this image and the ones before it are written; the first write's error."""
        self._done.wait()
        if self.error is not None:
            raise self.error


class Writer:
    """The thread that runs a build's writes one after the other, in the order they come; it
    ends once it had nothing to do for `IDLE` seconds, and the next write starts another. A
    thread per step cost the step's own thread its start: Thread.start waits until the new
    thread runs, on cores busy with the step's runtime (0.3-2.6 ms a step)."""

    IDLE = 2.0

    def __init__(self) -> None:
        from collections import deque

        self._jobs: deque[Callable[[], None]] = deque()
        self._cond = threading.Condition()
        self._running = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._cond:
            self._jobs.append(job)
            if self._running:
                self._cond.notify()
                return
            self._running = True
        threading.Thread(target=self._run, daemon=True, name="commit-writes").start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._cond.wait(self.IDLE)
                if not self._jobs:
                    self._running = False
                    return
                job = self._jobs.popleft()
            job()
            del job  # what it holds (a step's image, config, sources) is not kept while idle


@dataclass
class ClassicBuild:
    """One classic build: its store, context, Dockerfile, options and cache state."""

    store: Store
    context: BuildContext
    dockerfile: Dockerfile
    options: BuildOptions
    out: Output
    pull: ImagePuller | None = None   # how to get an image the store lacks (a registry pull)
    # Keeps every image a stage stands on from the garbage collector for the whole build (an
    # `rmi -f` of the base meanwhile must not take its layers away): see store.leases.
    lease: Lease | None = None
    args: BuildArgs = field(init=False)
    stage_images: dict[int, Digest | None] = field(default_factory=dict)
    current_stage: int = 0
    children: ChildIndex = field(init=False)
    cache_from: CacheFrom | None = field(init=False, default=None)
    step: int = 0                                  # the step being run (Step n/m)
    stage_changed: dict[int, int | None] = field(default_factory=dict)  # stage -> its changed_at
    _sums: list = field(default_factory=list)      # the context's FileSums, once loaded
    unpublished: bool = False                      # images made that a crash of the host may lose
    writing: StepWrite | None = field(default=None, init=False)  # the last image being written
    _go: threading.Event = field(default_factory=threading.Event, init=False)  # writes may run
    _writer: Writer = field(default_factory=Writer, init=False)          # runs them
    _leasing: threading.Lock = field(default_factory=threading.Lock, init=False)  # one lease writer
    # the layers found unpacked, by their short links (runtime/bundle.lower_dirs): the lease
    # keeps every layer the build uses, with its tree, from the collector
    links: dict[Digest, str] = field(default_factory=dict, init=False)
    # a later step of the build may read the image's files (RUN, COPY, ADD, WORKDIR in this
    # stage; any step of a later stage): a COPY then makes its layer's tree as it writes the tar
    tree_read_later: bool = True
    # called when the last step has ended, before the build waits for its images' writes: what
    # the last RUN left to undo (its overlay, its directory: runtime/leftover.py) goes meanwhile
    steps_done: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.children = ChildIndex(self.store)
        self._go.set()
        if self.options.cache_from and not self.options.no_cache:
            self.cache_from = CacheFrom(self.store, self.cache_sources())
        self.args = BuildArgs(self.options.build_args, platform_args("linux/amd64"))
        self.args.add_meta_args(self.dockerfile.meta_args, self.dockerfile.lex())

    def cache_sources(self) -> list[Digest]:
        """The `--cache-from` images of this store. Docker's daemon only logs a name it cannot
        find; here the build says so in a warning line (its cache is then the other sources')."""
        found = []
        for name in self.options.cache_from:
            try:
                image_id = self.store.find(name)
            except DockyardError:
                image_id = None
            if image_id is None:
                self.out.line(f"[Warning] --cache-from {name}: no such image in the store, skipped")
            elif image_id not in found:
                found.append(image_id)
        return found

    def file_sums(self) -> FileSums | None:
        """The per-file checksums kept for the context directory (store/filesums.py); None for
        a context extracted from a tar for this build (its files are new each time)."""
        if not self._sums:
            self._sums.append(self.store.file_sums(self.context.root) if self.context.in_place else None)
        return self._sums[0]

    # -- stages and images ----------------------------------------------------------------------
    def stage_ref(self, text: str, before: int, by_index: bool = True) -> int | None:
        """The index of the stage `text` names (name, or number for COPY --from), if it is an
        earlier stage. FROM takes names only (`FROM 0` is an image called 0)."""
        index = stage_index(text) if by_index else None
        if index is not None:
            return index if 0 <= index < before else None
        for stage in self.dockerfile.stages[:before]:
            if stage.name is not None and stage.name == text.lower():
                return stage.index
        return None

    def settle(self) -> None:
        """Wait until the images this build made are in the store (see the module's doc); the
        first write's error, if one failed."""
        writing = self.writing
        if writing is not None:
            self._go.set()
            writing.wait()
            self.writing = None

    def hold_writes(self) -> None:
        """A RUN prepares its container: the writes wait (`write_behind`, or `settle`)."""
        self._go.clear()

    def write_behind(self) -> None:
        """The RUN's container runs: the writes go on meanwhile."""
        self._go.set()

    def keep(self, image_id: Digest, diff_ids: list[Digest]) -> None:
        """Lease the image for the rest of the build (steps run under the store's ingest lock)."""
        if self.lease is not None:
            with self._leasing:
                self.lease.keep_image(image_id, diff_ids)

    def resolve_image(self, name: str) -> Digest:
        """An image for FROM / COPY --from: from the store, pulled when missing (or always with
        --pull), as the classic builder does; the pull's status lines go into the output."""
        if self.options.pull and self.pull is not None:
            return self.pull(name, self.out.line)
        try:
            return self.store.resolve(name)
        except NotFound:
            if self.pull is not None:
                return self.pull(name, self.out.line)
            try:
                shown = parse_normalized(name).familiar
            except DockyardError:
                shown = name
            raise NotFound(f"pull access denied for {shown.rsplit(':', 1)[0]}, repository does not "
                           f"exist or may require 'docker login': image {shown} is not in the "
                           "local store") from None

    def base_state(self, name: str | None, image_id: Digest | None) -> StageState:
        """A stage starting from `image_id` (None: scratch)."""
        self.settle()  # its FROM may read an image of the stage before; its probes see them all
        if image_id is None:
            config = ImageConfig(architecture="amd64", os="linux")
            layers: list[StoredLayer] = []
        else:
            image = self.store.image(image_id)
            config = image.config
            layers = list(image.layers)  # type: ignore[arg-type]
            self.keep(image_id, config.diff_ids)
        stage = StageConfig.from_image(config.config, self.args, self.dockerfile.lex())
        return StageState(name, image_id, config, layers, stage)

    # -- the image chain ------------------------------------------------------------------------
    def probe(self, state: StageState, probe: ContainerConfig,
              sources: Callable[[], dict | None] | None = None) -> bool:
        """A cache hit moves the stage to the cached image and prints `Using cache`; a miss
        marks the stage changed from this step on and, with --explain-cache, prints why
        (`sources`: the step's file list, for COPY/ADD)."""
        data = self.container_config_dict(state, probe)
        found = None
        if self.cache_from is not None or self.options.explain_cache:
            self.settle()  # they read the parent from the store
        if self.options.no_cache:
            pass
        elif self.cache_from is not None:
            found = self.cache_from.find(state.image_id, data, self.children)
        else:
            found = find_cached_config(self.store, state.image_id, data, self.children)
        if found is None:
            if self.options.explain_cache:
                from dockyard.builder.classic.explain import explain_miss

                reason = explain_miss(self.store, self.children, state.image_id, data,
                                      no_cache=self.options.no_cache, changed_at=state.changed_at,
                                      sources=sources)
                self.out.line(f" ---> miss: {reason}")
            if state.changed_at is None:
                state.changed_at = self.step
            return False
        hit, config = found
        self.settle()  # (none is being written but in a race: a hit is an image of the store)
        # The hit's layers: the stage's own where the diff IDs agree (a cached step adds at most
        # one), the store's record of the others (what store.image(hit) would read again).
        known = {layer.diff_id: layer for layer in state.layers}
        self.keep(hit, config.diff_ids)
        state.image_id = hit
        state.image_config = config
        state.layers = [known.get(d) or self.store.layers.get(d) for d in config.diff_ids]
        self.out.line(" ---> Using cache")
        return True

    def container_config_dict(self, state: StageState, probe: ContainerConfig) -> dict:
        data = probe.to_dict()
        if state.image_id is not None:
            data["Image"] = str(state.image_id)
        return data

    def commit(self, state: StageState, probe: ContainerConfig, layer: StoredLayer | None,
               container_id: str | None = None, config_container: bool = False,
               step_sources: bytes | None = None) -> Digest:
        """A new image: the parent's config with this step's run config, history and layer.
        `config_container`: the step's container was created with the probe config itself (a
        metadata step or WORKDIR), so its container_config is what the daemon made of it.
        `step_sources`: a COPY's file list, kept with the image (store.put_step_sources)."""
        parent = state.image_config
        run = replace(state.run, extra=dict(state.run.extra))
        if state.image_id is not None:
            run.extra["Image"] = str(state.image_id)
        step: dict[str, object] = {}
        container_config = self.container_config_dict(state, probe)
        if container_id:
            step["container"] = container_id
        if container_id and config_container:
            # Docker creates the container of a metadata step (and WORKDIR's) with the very config
            # it then commits as container_config, which the daemon filled in: the hostname is
            # the container's short ID, labels a map, never null. RUN commits its probe config.
            container_config["Hostname"] = container_id[:12]
            if container_config.get("Labels") is None:
                container_config["Labels"] = {}
        step["container_config"] = container_config
        # Docker writes the MAINTAINER (the image's author) into every history entry after it.
        new = append(
            replace(parent, architecture=parent.architecture or "amd64", os=parent.os or "linux"),
            state.layers, layer,
            History(author=state.stage.meta.author or None, created_by=" ".join(probe.cmd or [])),
            config=run, author=state.stage.meta.author,
            drop=("container", "container_config", "docker_version", "parent"), extra=step)
        layers = state.layers + ([layer] if layer is not None else [])
        image = Image(new.raw_config, tuple(layers))
        if layer is not None and self.lease is not None:
            # under this step's ingest hold: the collector keeps the layer until the image does
            with self._leasing:
                self.lease.keep_layers([layer.diff_id])
        parent_id = state.image_id
        diff_ids = [l.diff_id for l in layers]

        def write() -> None:
            # Not published one by one (store.add_image): Builder.build publishes them all once
            # the build has made its image. The step's layer was renamed into layers/ without
            # the fsync of that folder (LayerStore.adopt's publish=False: it was on the step's
            # own path, three per build): made durable here, before the record that names it,
            # once the image's config blob and record are written, so that its journal commit
            # takes them too (the blob's fsync then commits nothing: one commit fewer a layer).
            with self.store.ingesting():
                self.store.add_image(image.raw_config, layers, parent=parent_id, publish=False,
                                     durable_first=self.store.layers.publish_dir if layer is not None else None)
                self.keep(image.id, diff_ids)
            if step_sources is not None:
                self.store.put_step_sources(image.id, step_sources)

        self.unpublished = True
        self.writing = StepWrite(image.id, write, self.writing, self._go, self._writer)
        self.children.add(parent_id, image.id)
        state.image_id = image.id
        state.image_config = image.config
        state.layers = layers
        return image.id


def stage_index(text: str) -> int | None:
    """A COPY --from value that is a stage's number, read as dockerd reads it (strconv.Atoi:
    `+0`, `00`, `-1` too); None for a name."""
    from dockyard.gotypes import go_atoi  # a COPY --from only (typing: the start-up budget)

    try:
        return go_atoi(text)
    except DockyardError:
        return None
