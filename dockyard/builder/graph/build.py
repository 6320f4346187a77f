"""One BuildKit-mode build: Dockerfile -> graph -> solve -> export, reported on a Progress.

The steps BuildKit shows around the graph are reported the same way: `[internal] load build
definition from Dockerfile`, `[internal] load .dockerignore`, `[internal] load metadata for
IMAGE` (pulling it when the store lacks it), and `exporting to image` (`writing image sha256:...`,
`naming to docker.io/library/NAME`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dockyard.builder.context import BuildContext
from dockyard.builder.graph.options import GraphOptions
from dockyard.builder.graph.convert import (
    BuildGraph, ConvertOptions, ResolvedImage, convert, display_ref, frontend_error,
)
from dockyard.builder.graph.image import config_json, go_time, normalize_history
from dockyard.builder.graph.ops import digest_of
from dockyard.builder.graph.progress import Progress, SolveFailed, dockerfile_excerpt
from dockyard.builder.graph.solver import Context, Result, Solver
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.dockerfile import parse
from dockyard.errors import DockerfileError, DockyardError, InvalidParameter, NotFound
from dockyard.store.buildcache import CacheRecord
from dockyard.store.store import Store

# Pulls an image by name into the store, reporting status lines; returns the image ID.
ImagePuller = Callable[[str, Callable[[str], None]], Digest]


@dataclass
class GraphResult:
    """What a BuildKit-mode build made."""

    image_id: Digest
    tagged: list[str]
    metadata: dict[str, object]
    stored: bool
    # The cache records the build used or made: of the final image's steps (mode=min), of
    # every step (mode=max), in the order the steps come.
    final_records: list[CacheRecord] = field(default_factory=list)
    all_records: list[CacheRecord] = field(default_factory=list)


def _internal(progress: Progress, name: str, status: str | None = None) -> str:
    digest = str(digest_of({"internal": name}))
    progress.add(digest, name)
    progress.start(digest)
    if status:
        progress.status(digest, status, done=True)
    progress.complete(digest)
    return digest


class _Resolver:
    def __init__(self, store: Store, progress: Progress, pull: ImagePuller | None, always_pull: bool) -> None:
        self.store = store
        self.progress = progress
        self.pull = pull
        self.always = always_pull

    def __call__(self, name: str) -> ResolvedImage:
        from dockyard.reference import parse_normalized

        shown = str(parse_normalized(name))
        digest = str(digest_of({"metadata": shown}))
        self.progress.add(digest, f"[internal] load metadata for {shown}")
        self.progress.start(digest)
        try:
            image_id = self._resolve(name, digest)
        except DockyardError as exc:
            self.progress.complete(digest, error=exc.message)
            raise
        self.progress.complete(digest)
        image = self.store.image(image_id)
        import json

        return ResolvedImage(image_id, list(image.config.diff_ids), json.loads(image.raw_config))

    def _resolve(self, name: str, digest: str) -> Digest:
        def line(text: str) -> None:
            self.progress.log(digest, 1, (text + "\n").encode())

        if self.always and self.pull is not None:
            return self.pull(name, line)
        try:
            return self.store.resolve(name)
        except NotFound:
            if self.pull is None:
                raise
            return self.pull(name, line)


def build_graph(store: Store, context: BuildContext, options: GraphOptions, progress: Progress,
                pull: ImagePuller | None = None) -> GraphResult:
    """Build from an opened context; steps and their output go to `progress`."""
    try:
        raw = context.dockerfile_path.read_bytes()
    except OSError as exc:
        raise DockyardError(f"failed to read dockerfile: {exc.strerror}") from None
    _internal(progress, "[internal] load build definition from Dockerfile",
              f"transferring dockerfile: {len(raw)}B")
    ignore_size = _dockerignore_size(context)
    _internal(progress, "[internal] load .dockerignore", f"transferring context: {ignore_size}B")
    try:
        dockerfile = parse(raw, "Dockerfile")
    except DockerfileError as exc:
        raise frontend_error(exc) from None
    text = raw.decode("utf-8", "replace")
    source_date_epoch(options.build_args)  # a bad value is refused before any work
    resolver = _Resolver(store, progress, pull, options.pull)
    with store.ingesting():
        graph = convert(dockerfile, ConvertOptions(
            build_args=options.build_args, target=options.target, labels=options.labels,
            no_cache=options.no_cache, no_cache_filter=options.no_cache_filter,
            platform=options.platform, network=options.network,
            extra_hosts=tuple(options.extra_hosts)), resolver)
        explain = None
        if options.explain_cache:
            def explain(lines: list[str]) -> None:
                digest = str(digest_of({"internal": "explain cache"}))
                progress.add(digest, "[internal] explain cache")
                progress.start(digest)
                for line in lines:
                    progress.log(digest, 1, (line + "\n").encode())
                progress.complete(digest)
        sums = store.file_sums(context.root) if context.in_place else None
        solver = Solver(store, Context(context.root, context.ignore, graph.context_paths, sums), progress,
                        options.session, imports=options.cache_imports, explain=explain,
                        build_args=frozenset(options.build_args))
        try:
            result = solver.solve(graph.target)
        except DockyardError as exc:
            raise _failure(exc, solver, progress, text) from None
        finally:
            solver.close()
            options.session.close()
            if sums is not None:
                sums.save()
        built = _export(store, graph, result, options, progress)
        built.final_records, built.all_records = _records(graph, solver)
        return built


def _records(graph: BuildGraph, solver: Solver) -> tuple[list[CacheRecord], list[CacheRecord]]:
    """The records of the final image's steps (the vertices of its layers) and of every step,
    each list in the order of the steps."""
    if graph.target is None:
        return [], []
    order = graph.target.walk()
    final = {v.digest for v in graph.layer_vertices}
    every = [solver.records[x.digest] for x in order if x.digest in solver.records]
    mine = [solver.records[x.digest] for x in order if x.digest in solver.records and x.digest in final]
    return mine, every


def _dockerignore_size(context: BuildContext) -> int:
    try:
        return (Path(context.root) / ".dockerignore").stat().st_size
    except OSError:
        return 2  # what BuildKit reports for a missing .dockerignore


def _failure(exc: DockyardError, solver: Solver, progress: Progress, text: str) -> SolveFailed:
    vertex = solver.failed_vertex
    if vertex is None:
        return SolveFailed(exc.message)
    lines = progress.last_lines(str(vertex.digest))
    excerpt = None
    if vertex.location is not None:
        first, last = vertex.location
        excerpt = dockerfile_excerpt(text, "Dockerfile", first, last)
    return SolveFailed(exc.message, vertex.name, lines, excerpt)


def image_config(graph: BuildGraph, result: Result, epoch: int | None = None,
                 clamp: Callable[[Digest], Digest] | None = None) -> tuple[bytes, list[Digest]]:
    """The config and layers of the built image. With SOURCE_DATE_EPOCH (`epoch`) this build's
    history entries and the image's `created` are that time and its layers go through `clamp`
    (their tar times clamped); the base image's layers and history stay as they are."""
    times, layers = result.times, result.layers
    if epoch is not None:
        stamp = go_time(epoch * 1_000_000_000)
        times = [stamp if t is not None else None for t in result.times]
        if clamp is not None:
            layers = [clamp(d) if t is not None else d for d, t in zip(result.layers, result.times)]
    history = normalize_history(graph.history, times)
    return config_json(graph.image, layers, history), layers


def source_date_epoch(build_args: dict[str, str | None]) -> int | None:
    """SOURCE_DATE_EPOCH (a build arg; the CLI passes the environment's as one, as buildx does):
    seconds since 1970, or None."""
    value = build_args.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 12:
        raise InvalidParameter(f"invalid SOURCE_DATE_EPOCH {value!r}: want seconds since 1970")
    return int(value)


def clamped_layer(store: Store, diff_id: Digest, epoch: int) -> Digest:
    """The layer with its tar times clamped to `epoch`, made once and kept (a build cache
    record names it: the next build with the same epoch reuses it)."""
    from dockyard.archive.clamp import clamp_times
    from dockyard.store.layer_writer import write_layer

    key = digest_of({"clamp-times": str(diff_id), "epoch": epoch})
    record = store.build_cache.get(key)
    if record is not None and record.layer is not None and store.layers.exists(record.layer):
        return record.layer
    with store.layers.get(diff_id).open() as src:
        layer = write_layer(store.layers, lambda out: clamp_times(src, out, epoch))
    assert layer is not None
    store.build_cache.put(CacheRecord(key, layer.diff_id, go_time(), "SOURCE_DATE_EPOCH"))
    return layer.diff_id


def _export(store: Store, graph: BuildGraph, result: Result, options: GraphOptions,
            progress: Progress) -> GraphResult:
    digest = str(digest_of({"export": "image"}))
    progress.add(digest, "exporting to image")
    progress.start(digest)
    epoch = source_date_epoch(options.build_args)
    raw, layers = image_config(graph, result, epoch, lambda d: clamped_layer(store, d, epoch))  # type: ignore[arg-type]
    image_id = Digest.of_bytes(raw)
    metadata: dict[str, object] = {"containerimage.config.digest": str(image_id)}
    tagged: list[str] = []
    spec = options.output
    stored = spec.stores_image
    try:
        progress.status(digest, "exporting layers", done=True)
        if spec.type in ("tar", "local"):
            from dockyard.builder.graph import export  # an --output only (the in-process budget)

            progress.status(digest, f"copying files to {spec.dest}")
            export.write_filesystem(store, layers, spec)
            progress.status(digest, f"copying files to {spec.dest}", done=True)
        else:
            stored_layers = [store.layers.get(d) for d in layers]
            from dockyard.image.image import Image

            image = Image(raw, tuple(stored_layers))
            if stored:
                progress.status(digest, f"writing image {image_id}")
                store.add_image(raw, stored_layers)
                progress.status(digest, f"writing image {image_id}", done=True)
                names = options.tag_names or [str(r) for r in options.tags]
                for ref, name in zip(options.tags, names):
                    shown = f"naming to {display_ref(name)}"
                    progress.status(digest, shown)
                    store.tag(image_id, ref)
                    tagged.append(ref.familiar)
                    progress.status(digest, shown, done=True)
            else:
                progress.status(digest, f"exporting to {spec.dest}")
                from dockyard.builder.graph import export  # an --output only (the in-process budget)

                manifest = export.write_archive(store, image, options.tags, spec)
                metadata["containerimage.digest"] = str(manifest)
                progress.status(digest, f"exporting to {spec.dest}", done=True)
        if options.tags:
            metadata["image.name"] = ",".join(str(r) for r in options.tags)
    except DockyardError as exc:
        progress.complete(digest, error=exc.message)
        raise
    progress.complete(digest)
    return GraphResult(image_id, tagged, metadata, stored)
