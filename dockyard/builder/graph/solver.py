"""Solving a build graph: every vertex the target needs, each as soon as its inputs are done, so
independent stages run at the same time; each step first looks up its cache key.

A vertex runs in its own thread and waits for its inputs' results; steps that do work (RUN,
COPY, WORKDIR) are limited to `parallel` at once. A step's result is the chain of layers of its
filesystem: its first input's chain plus the layer it made. The cache key (ops.cache_key) is
computed from the inputs' keys and, for what a step reads from the context, the content digest
of exactly those files; a hit in the store's build cache (dockyard.store.buildcache) reuses the
layer and its time, so a fully cached rebuild makes the same image. `--no-cache` (or the stages
of `--no-cache-filter`) runs the steps again and replaces their records.

A copy from a stage or an image (COPY --from) is keyed, as BuildKit keys it, by the content of
what it copies (names, types, modes, owners, sizes, links, contents; not mtimes), not by the
key of the stage it reads: a stage that runs again and makes the same files leaves the copy and
the steps after it cached. That content is known once the stage is done, so such a copy's key is
*deferred*: found in its own thread when its inputs are done (then looked up, and CACHED or run),
and so are the keys of the steps that read it. An alias record keyed by what the copy selects in
its sources' layer chains (diff IDs: what the stage's files are) keeps the content digests found,
so a rebuild whose stages hit the cache knows every key when it plans, without reading a file.

After the first failure no new step starts; the steps already running finish; the failure is
raised (the first one).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from dockyard.builder.copy.checksum import checksum
from dockyard.builder.copy.match import Source, collect_sources, walk_source
from dockyard.builder.graph import files
from dockyard.builder.graph.ops import (
    KEY_VERSION, ContextOp, CopyOp, ExecOp, HttpOp, ImageOp, MkdirOp, Vertex, cache_key, digest_of,
)
from dockyard.builder.graph.progress import Progress
from dockyard.builder.graph.session import Session
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.builder.graph.image import go_time
from dockyard.image.layer import chain_ids
from dockyard.store.buildcache import CacheRecord
from dockyard.store.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from dockyard.store.filesums import FileSums

    # for type checkers only: the engine's --cache-from objects (engine/buildcache.py)
    class CacheImport(Protocol):
        """A cache from elsewhere (`--cache-from`): records by key, and the layer of one brought
        into the store (and the record with it) when a step uses it."""

        def get(self, key: Digest) -> CacheRecord | None: ...
        def fetch(self, record: CacheRecord) -> None: ...


@dataclass
class Result:
    """A filesystem: its layers, and for each the time it was made (None: a base image's)."""

    layers: list[Digest] = field(default_factory=list)
    times: list[str | None] = field(default_factory=list)

    def plus(self, layer: Digest, created: str) -> "Result":
        return Result(self.layers + [layer], self.times + [created])


SCRATCH = Result()


@dataclass
class Context:
    """The build context as the solver reads it."""

    root: Path
    ignore: object | None = None
    paths: list[str] = field(default_factory=list)   # what the build reads (for its size)
    sums: FileSums | None = None   # its per-file checksums kept in the store (store/filesums.py)


class Cancelled(DockyardError):
    pass


class Future:
    """A vertex's result, set once by the thread that makes it, waited for by the steps that
    read it: what concurrent.futures.Future does here, without loading that package (it loads
    logging: ~3 ms of every BuildKit-mode build's start, tests/test_start_up.py)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Result | None = None
        self._error: BaseException | None = None

    def set_result(self, value: Result) -> None:
        self._value = value
        self._done.set()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def result(self) -> Result:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


@dataclass
class _Plan:
    """What the solver decided for a vertex: its cache key, a hit or a run."""

    key: Digest | None
    record: CacheRecord | None = None      # a usable cache hit
    imported: CacheImport | None = None    # where the hit's record comes from, when not local
    parts: dict | None = None              # what the key is made of (kept with the record)
    executes: bool = False
    sources: list[list[Source] | None] = field(default_factory=list)  # a copy's, by source
    deferred: bool = False                 # the key waits for the inputs' results (module doc)
    content: list[str] = field(default_factory=list)  # the content digests known at planning
    found: dict[int, list[Source]] | None = None  # a deferred copy's stage sources, by source index


def _ancestors(v: Vertex) -> list[Vertex]:
    return [a for a in v.walk() if a is not v]


class Solver:
    def __init__(self, store: Store, context: Context | None, progress: Progress, session: Session,
                 parallel: int | None = None, imports: tuple[CacheImport, ...] = (),
                 explain: Callable[[list[str]], None] | None = None,
                 build_args: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.imports = imports
        self.explain = explain          # --explain-cache: gets one `miss` line per missing step
        self.build_args = build_args    # the names given with --build-arg (for those lines)
        self.cache = store.build_cache
        self.context = context
        self.progress = progress
        self.session = session
        self._futures: dict[Digest, Future] = {}
        self._lock = threading.Lock()
        self._work = threading.BoundedSemaphore(parallel or max(4, (os.cpu_count() or 2) * 2))
        self._failed = threading.Event()
        self._errors: list[BaseException] = []
        self.keys: dict[Digest, Digest] = {}
        self.records: dict[Digest, CacheRecord] = {}
        self._downloads: Path | None = None
        self.failed_vertex: Vertex | None = None
        self._http_sources: dict[Digest, Source] = {}
        self.plans: dict[Digest, _Plan] = {}
        self._read_as_trees: set[Digest] = set()   # vertices whose files a step that runs reads
        self._unpacking: list[threading.Thread] = []
        self._planned: dict[Digest, Result | None] = {}   # results known at planning (hits)
        self._links: dict[Digest, str] = {}   # layers found unpacked: their short links (execute._lowers)

    @property
    def downloads(self) -> Path:
        """The build's folder for downloaded sources and heredocs, made when first used (a
        cached build makes none, and loads no tempfile)."""
        if self._downloads is None:
            import tempfile
            self._downloads = Path(tempfile.mkdtemp(prefix="bk-dl-", dir=self.store.tmp))
        return self._downloads

    def close(self) -> None:
        for thread in self._unpacking:
            thread.join()
        if self._downloads is not None:
            import shutil
            shutil.rmtree(self._downloads, ignore_errors=True)

    # -- driving ---------------------------------------------------------------------------
    def solve(self, target: Vertex | None) -> Result:
        """Plan (every key and cache lookup, in order), then run what missed, in parallel."""
        if target is None:
            return SCRATCH
        order = target.walk()
        for v in order:
            self.progress.add(str(v.digest), v.name, [str(i.digest) for i in v.inputs if i is not None])
        for v in order:
            try:
                self._plan(v)
            except DockyardError as exc:
                self.failed_vertex = v
                self.progress.complete(str(v.digest), error=exc.message)
                raise
        self._read_as_trees = {i.digest for v in order if self.plans[v.digest].executes for i in v.inputs
                               if i is not None}
        if self.explain is not None:
            from dockyard.builder.graph.explain import explain_misses

            self.explain(explain_misses(self, order))
        self._report_planned(order)
        if not any(self.plans[v.digest].executes or self.plans[v.digest].imported for v in order):
            # Every step hits the local cache: each result follows from its inputs' in order,
            # here, without a thread per vertex (nothing runs, nothing is fetched, none can fail).
            done: dict[Digest, Result] = {}
            for v in order:
                done[v.digest] = self._hit(v, [done[i.digest] if i is not None else SCRATCH for i in v.inputs])
            return done[target.digest]
        future = self._future(target)
        try:
            return future.result()
        except BaseException:
            # Wait for every started step before reporting, so none runs after the build says
            # it failed.
            with self._lock:
                pending = list(self._futures.values())
            for f in pending:
                try:
                    f.result()
                except BaseException:
                    pass
            if self._errors:
                raise self._errors[0] from None
            raise

    def _report_planned(self, order: list[Vertex]) -> None:
        """Cache hits are known before anything runs: report them (and the base images: DONE
        when a step that runs needs their files, else CACHED, as BuildKit shows them)."""
        needed: set[Digest] = set()
        for v in order:
            if self.plans[v.digest].executes:
                needed |= {a.digest for a in _ancestors(v)}
        for v in order:
            digest = str(v.digest)
            plan = self.plans[v.digest]
            if isinstance(v.op, ImageOp):
                self.progress.start(digest)
                self.progress.complete(digest, cached=v.digest not in needed)
            elif v.adds_layer and not plan.executes:
                self.progress.start(digest)
                self.progress.complete(digest, cached=True)

    def _future(self, vertex: Vertex) -> Future:
        with self._lock:
            future = self._futures.get(vertex.digest)
            if future is not None:
                return future
            future = Future()
            self._futures[vertex.digest] = future
        thread = threading.Thread(target=self._run, args=(vertex, future), daemon=True,
                                  name=f"vertex-{vertex.digest.hex[:8]}")
        thread.start()
        return future

    def _run(self, vertex: Vertex, future: Future) -> None:
        try:
            future.set_result(self._result(vertex))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            if not isinstance(exc, Cancelled):
                with self._lock:
                    if not self._errors:
                        self.failed_vertex = vertex
                    self._errors.append(exc)
                self._failed.set()
            future.set_exception(exc)

    # -- planning: keys and cache lookups --------------------------------------------------------
    def _plan(self, v: Vertex) -> None:
        op = v.op
        digest = str(v.digest)
        if isinstance(op, ContextOp):
            self.progress.start(digest)
            size = self._context_size()
            self.progress.status(digest, f"transferring context: {size}B", done=True)
            self.progress.complete(digest)
            self.plans[v.digest] = _Plan(None)
            return
        if isinstance(op, ImageOp):
            self.plans[v.digest] = _Plan(cache_key(v, [], []))
            self._planned[v.digest] = Result(list(op.diff_ids), [None] * len(op.diff_ids))
            return
        if isinstance(op, HttpOp):
            from dockyard.builder.copy.download import download

            self.progress.start(digest)
            source = download(op.url, self.downloads, op.checksum)
            self._http_sources[v.digest] = source
            self.progress.complete(digest)
            self.plans[v.digest] = _Plan(Digest("sha256", checksum(source).split(":", 1)[1]))
            return
        content: list[str] = []
        plan = _Plan(None)
        if isinstance(op, CopyOp):
            plan.sources = self._context_copy_sources(v, op, content)
        elif isinstance(op, ExecOp):
            for m in op.mounts:
                if m.input >= 0 and isinstance(_op_of(v, m.input), ContextOp):
                    content.append(self._context_digest(m.selector))
        plan.content = content
        self.plans[v.digest] = plan
        input_keys, trees = self._input_keys(v, plan)
        if any(self.plans[v.inputs[n].digest].deferred for n in _used(v, trees)):
            plan.deferred = plan.executes = True     # an input's key is found when it is done
            self._planned[v.digest] = None
            return
        if trees:
            results = [self._planned.get(i.digest) if i is not None else SCRATCH for i in v.inputs]
            known = None
            if all(results[n] is not None for n in trees):
                alias = self.cache.get(_alias_key(v, plan, results))
                known = alias.parts if alias is not None and alias.parts else None
            if known is None or not isinstance(known.get("trees"), list):
                plan.deferred = plan.executes = True   # keyed by the files, read once they are there
                self._planned[v.digest] = None
                return
            content = content + [str(t) for t in known["trees"]]
        self._keyed(v, plan, input_keys, content)
        self._planned[v.digest] = self._planned_result(v, plan)

    def _input_keys(self, v: Vertex, plan: _Plan) -> tuple[list[Digest | None], list[int]]:
        """The inputs' keys as the step's key takes them, and the inputs read as trees (a
        stage's or an image's files that a copy copies or a bind mount shows: keyed by their
        content, so their keys are left out)."""
        input_keys = [self.plans[i.digest].key if i is not None else None for i in v.inputs]
        if isinstance(v.op, CopyOp) and v.op.link:
            input_keys[0] = None
        trees = _trees(v, plan)
        for n in trees:
            input_keys[n] = None
        return input_keys, trees

    def _keyed(self, v: Vertex, plan: _Plan, input_keys: list[Digest | None], content: list[str]) -> None:
        """Set the step's key and look it up (the local cache, then --cache-from's)."""
        op = v.op
        plan.key = cache_key(v, input_keys, content)
        plan.parts = {"kind": op.kind, "op": op.definition(),  # type: ignore[attr-defined]
                      "inputs": [str(k) if k is not None else None for k in input_keys],
                      "content": content}
        self.keys[v.digest] = plan.key
        if not v.ignore_cache:
            record = self.cache.get(plan.key)
            if record is not None and (record.layer is None or self.store.layers.exists(record.layer)):
                plan.record = record
                self.records[v.digest] = record
            else:
                for source in self.imports:
                    record = source.get(plan.key)
                    if record is not None:
                        plan.record, plan.imported = record, source
                        self.records[v.digest] = record
                        break
        plan.executes = plan.record is None

    def _planned_result(self, v: Vertex, plan: _Plan) -> Result | None:
        """The result of a step that hits, known at planning from the records (None: it runs)."""
        if plan.record is None:
            return None
        base = self._planned.get(v.inputs[0].digest) if v.inputs and v.inputs[0] is not None else SCRATCH
        if base is None or plan.record.layer is None:
            return base
        return base.plus(plan.record.layer, plan.record.created)

    def _resolve(self, v: Vertex, inputs: list[Result], plan: _Plan, held: ExitStack) -> None:
        """The key of a deferred step, once its inputs are done: a copy's sources from stages
        and images read and digested (their content is the key; the trees stay mounted in
        `held` and what was found is kept for the copy), the alias record written (the next
        build knows the key when it plans), then the lookup."""
        input_keys, trees = self._input_keys(v, plan)
        content = plan.content
        if trees:
            digests = self._tree_digests(v, inputs, plan, held)
            self.cache.put(CacheRecord(_alias_key(v, plan, inputs), None, "", "alias: " + v.name,
                                       {"trees": digests}))
            content = content + digests
        self._keyed(v, plan, input_keys, content)

    def _tree_digests(self, v: Vertex, inputs: list[Result], plan: _Plan, held: ExitStack) -> list[str]:
        """The content digest of what each selection in a stage or an image names (owners
        included: a copy keeps them, a mount shows them); what a copy's sources name is kept in
        `plan.found` for the copy."""
        op = v.op
        kw = "ADD" if isinstance(op, CopyOp) and op.unpack else "COPY"
        exclude = op.exclude if isinstance(op, CopyOp) else ()
        out: list[str] = []
        plan.found = {}
        trees: dict[int, files.SourceTree] = {}
        for index, (n, path) in _selections(v, plan):
            found = files.collect(self._source_tree(trees, n, inputs, held), [path], exclude, kw)
            plan.found[index] = found
            out.append(files.content_digest(found))
        return out

    def _source_tree(self, trees: dict[int, files.SourceTree], index: int, inputs: list[Result],
                     stack: ExitStack) -> files.SourceTree:
        """Input `index`'s files (a stage's or an image's), mounted once per step."""
        tree = trees.get(index)
        if tree is None:
            from dockyard.builder.rootfs import image_root

            root = stack.enter_context(image_root(self.store, inputs[index].layers))
            tree = trees[index] = files.SourceTree(root)
        return tree

    # -- results ----------------------------------------------------------------------------------
    def _hit(self, v: Vertex, inputs: list[Result]) -> Result:
        """The result of a vertex that does not run (a source, or a cache hit) from its inputs'."""
        op = v.op
        if isinstance(op, ImageOp):
            return Result(list(op.diff_ids), [None] * len(op.diff_ids))
        if isinstance(op, (ContextOp, HttpOp)):
            return SCRATCH
        plan = self.plans[v.digest]
        assert plan.record is not None
        if plan.imported is not None:
            with self._work:
                plan.imported.fetch(plan.record)
        base = inputs[0]
        if plan.record.layer is None:
            return base
        return base.plus(plan.record.layer, plan.record.created)

    def _result(self, v: Vertex) -> Result:
        op = v.op
        plan = self.plans[v.digest]
        if isinstance(op, (ImageOp, ContextOp, HttpOp)):
            return self._hit(v, [])
        futures = [self._future(i) if i is not None else None for i in v.inputs]  # all start now
        inputs = [f.result() if f is not None else SCRATCH for f in futures]
        with ExitStack() as held:   # a deferred copy's source trees: mounted once, for its key and its copy
            return self._step(v, plan, inputs, held)

    def _step(self, v: Vertex, plan: _Plan, inputs: list[Result], held: ExitStack) -> Result:
        op = v.op
        base = inputs[0]
        digest = str(v.digest)
        if plan.deferred:
            if self._failed.is_set():
                raise Cancelled("canceled")
            try:
                with self._work:
                    self._resolve(v, inputs, plan, held)
            except DockyardError as exc:
                self.progress.start(digest)
                self.progress.complete(digest, error=exc.message)
                raise
            if not plan.executes:
                hit = self._hit(v, inputs)
                self.progress.start(digest)
                self.progress.complete(digest, cached=True)
                return hit
        if not plan.executes:
            return self._hit(v, inputs)
        with self._work:
            if self._failed.is_set():
                raise Cancelled("canceled")
            self.progress.start(digest)
            try:
                with ExitStack() as stack:
                    layer = self._execute(v, op, base, inputs, plan, stack)
            except DockyardError as exc:
                self.progress.complete(digest, error=exc.message)
                raise
        if v.digest in self._read_as_trees and not self.store.layers.is_unpacked(layer.diff_id):
            self._unpack_ahead(layer.diff_id)
        assert plan.key is not None
        parts = plan.parts
        planned = [s for group in plan.sources if group is not None for s in group]
        if parts is not None and planned and isinstance(op, CopyOp):
            from dockyard.builder.copy.manifest import source_manifest

            parts = {**parts, "files": source_manifest(planned)}
        record = CacheRecord(plan.key, layer.diff_id, go_time(), v.name, parts)
        self.cache.put(record)
        self.records[v.digest] = record
        self.progress.complete(digest)
        return base.plus(layer.diff_id, record.created)

    def _execute(self, v: Vertex, op: object, base: Result, inputs: list[Result], plan: "_Plan",
                 stack: ExitStack):  # noqa: ANN202
        from dockyard.builder.rootfs import image_root

        if isinstance(op, ExecOp):
            from dockyard.builder.graph import execute

            sources: dict[int, "execute.MountSource"] = {}
            for m in op.mounts:
                if m.input < 0 or m.input in sources:
                    continue
                if isinstance(_op_of(v, m.input), ContextOp):
                    sources[m.input] = execute.MountSource(self._context_tree(m.selector, stack))
                else:
                    layers = inputs[m.input].layers
                    tree = stack.enter_context(image_root(self.store, layers))
                    sources[m.input] = execute.MountSource(tree, str(chain_ids(layers)[-1]) if layers else "scratch")
            digest = str(v.digest)
            return execute.run_exec(self.store, op, base.layers, sources, self.session,
                                    lambda stream, data: self.progress.log(digest, stream, data), self._links,
                                    make_tree=v.digest in self._read_as_trees)
        if isinstance(op, CopyOp):
            kw = "ADD" if op.unpack else "COPY"
            sources = self._tree_copy_sources(v, op, inputs, plan, stack)
            from_tree = any(planned is None for planned in plan.sources)  # a stage's or an image's
            return files.copy_layer(self.store, op, base.layers, sources, kw, keep_owner=from_tree,
                                    sums=self.context.sums if self.context is not None else None,
                                    make_tree=v.digest in self._read_as_trees)
        if isinstance(op, MkdirOp):
            return files.mkdir_layer(self.store, op, base.layers)
        raise InvalidParameter(f"unknown operation {type(op).__name__}")

    def _unpack_ahead(self, diff_id: Digest) -> None:
        """Unpack a layer that a later step will read as a tree (its root, a COPY --from, a
        mount) while this step writes its cache record and other steps run: two stages' RUNs
        end together, and the second's layer is unpacked while the first is copied from.
        store.layers.unpacked takes a lock per layer, so the step that needs it waits for this or
        unpacks it itself (and reports what fails); close() waits for these threads."""
        def unpack() -> None:
            try:
                self.store.layers.unpacked(diff_id)
            except BaseException:  # noqa: BLE001 - the step that reads the layer reports it
                pass

        thread = threading.Thread(target=unpack, daemon=True, name=f"unpack-{diff_id.hex[:8]}")
        thread.start()
        self._unpacking.append(thread)

    # -- what steps read -------------------------------------------------------------------------
    def _require_context(self) -> Context:
        if self.context is None:
            raise InvalidParameter("this build has no context")
        return self.context

    def _context_size(self) -> int:
        """The bytes of what the build reads from the context (as BuildKit reports the
        transfer of the paths it needs)."""
        ctx = self._require_context()
        total = 0
        for path in ctx.paths:
            rel = path.strip("/") or "."
            try:
                sources = collect_sources(ctx.root, [rel], ctx.ignore, "COPY")  # type: ignore[arg-type]
            except InvalidParameter:
                continue
            for source in sources:
                if source.is_dir:
                    total += sum(st.st_size for _rel, st in walk_source(source.root, source.rel, source.ignore)
                                 if stat.S_ISREG(st.st_mode))
                else:
                    total += source.st.st_size
        return total

    def _context_digest(self, selector: str) -> str:
        ctx = self._require_context()
        rel = selector.strip("/") or "."
        try:
            sources = collect_sources(ctx.root, [rel], ctx.ignore, "RUN")  # type: ignore[arg-type]
        except InvalidParameter:
            raise InvalidParameter(f'failed to compute cache key: "{selector}" not found: not found') from None
        return files.content_digest(sources, ctx.sums)

    def _context_tree(self, selector: str, stack: ExitStack) -> Path:
        """The context (or a path in it) as a directory to bind: the directory itself when
        nothing is excluded, else a copy of what .dockerignore lets through."""
        import shutil
        import tempfile
        ctx = self._require_context()
        ignore = ctx.ignore
        if not ignore:
            return ctx.root
        work = Path(tempfile.mkdtemp(prefix="bk-ctx-", dir=self.store.tmp))
        stack.callback(shutil.rmtree, work, True)
        rel = selector.strip("/")
        sources = collect_sources(ctx.root, [rel or "."], ignore, "RUN")  # type: ignore[arg-type]
        plan_root = work / "tree"
        plan_root.mkdir()
        for source in sources:
            target = plan_root / rel if rel else plan_root
            if source.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                for sub, st in walk_source(source.root, source.rel, source.ignore):
                    src = source.path / sub
                    dst = target / sub
                    if os.path.isdir(src) and not os.path.islink(src):
                        dst.mkdir(parents=True, exist_ok=True)
                    else:
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, dst, follow_symlinks=False)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source.path, target, follow_symlinks=False)
        return plan_root

    def _context_copy_sources(self, v: Vertex, op: CopyOp, content: list[str]) -> list[list[Source] | None]:
        """At planning, for each source of the copy: what it names in the context, a heredoc or
        a download (their content digests go into the key), or None for a path in a stage or an
        image (keyed by that input's key and the path; read at execution)."""
        kw = "ADD" if op.unpack else "COPY"
        out: list[list[Source] | None] = []
        for source in op.sources:
            if source.heredoc is not None:
                import tempfile
                work = Path(tempfile.mkdtemp(prefix="bk-heredoc-", dir=self.downloads))
                item = files.heredoc_source(work, source.path, source.heredoc, source.heredoc_mode)
                content.append(files.content_digest([item]))
                out.append([item])
                continue
            producer = v.inputs[source.input]
            if producer is not None and isinstance(producer.op, HttpOp):
                out.append([self._http_sources[producer.digest]])
                continue
            if producer is not None and isinstance(producer.op, ContextOp):
                ctx = self._require_context()
                tree = files.SourceTree(ctx.root, ctx.ignore, in_context=True)  # type: ignore[arg-type]
                found = files.collect(tree, [source.path], op.exclude, kw)
                content.append(files.content_digest(found, ctx.sums))
                out.append(found)
                continue
            out.append(None)
        return out

    def _tree_copy_sources(self, v: Vertex, op: CopyOp, inputs: list[Result], plan: "_Plan",
                           stack: ExitStack) -> list[Source]:
        """At execution: the planned sources, and those of stages and images read from their
        mounted trees."""
        kw = "ADD" if op.unpack else "COPY"
        trees: dict[int, files.SourceTree] = {}
        out: list[Source] = []
        for index, (source, planned) in enumerate(zip(op.sources, plan.sources)):
            if planned is not None:
                out += planned
            elif plan.found is not None:
                out += plan.found[index]       # read for the key (its trees are still mounted)
            else:
                out += files.collect(self._source_tree(trees, source.input, inputs, stack), [source.path],
                                     op.exclude, kw)
        return out


def _selections(v: Vertex, plan: _Plan) -> list[tuple[int, tuple[int, str]]]:
    """What a step reads from stages and images by content, in order: (its index among the
    copy's sources or the RUN's mounts, (the input, the path in it)). A copy's sources from a
    stage or an image; a RUN's bind mounts of a stage or an image, read-only or writable (their
    writes are discarded: dockerd 20.10's BuildKit keys both by content; the root and a cache
    mount's `from` by the key)."""
    op = v.op
    if isinstance(op, CopyOp):
        return [(i, (s.input, s.path)) for i, (s, planned) in enumerate(zip(op.sources, plan.sources))
                if planned is None]
    if isinstance(op, ExecOp):
        # an input the RUN also needs whole (its root, a cache mount's from) keeps its key
        whole = {0} | {m.input for m in op.mounts if m.input >= 0 and m.type != "bind"}
        return [(i, (m.input, m.selector)) for i, m in enumerate(op.mounts)
                if m.type == "bind" and m.input not in whole
                and isinstance(_op_of(v, m.input), (ImageOp, ExecOp, CopyOp, MkdirOp))]
    return []


def _trees(v: Vertex, plan: _Plan) -> list[int]:
    """The inputs a step reads only by content (_selections)."""
    return sorted({n for _, (n, _path) in _selections(v, plan)})


def _used(v: Vertex, trees: list[int]) -> list[int]:
    """The inputs whose keys the step's key takes (not a --link copy's base, not the trees a
    step reads by content: their content is taken)."""
    link = isinstance(v.op, CopyOp) and v.op.link
    return [n for n, i in enumerate(v.inputs)
            if i is not None and n not in trees and not (n == 0 and link)]


def _alias_key(v: Vertex, plan: _Plan, results: list[Result | None]) -> Digest:
    """The key of an alias record: what a step selects in stages and images (each path in its
    tree, the tree named by its chain of layers: diff IDs, its files exactly; a copy's excludes
    and COPY or ADD), not where it copies to nor onto what: the same selection of the same
    files has the same content digests on any base."""
    op = v.op
    sources = []
    for _, (n, path) in _selections(v, plan):
        result = results[n]
        assert result is not None
        sources.append([path, [str(d) for d in result.layers]])
    copy = op if isinstance(op, CopyOp) else None
    return digest_of({"v": KEY_VERSION, "alias": "copied content" if copy else "mounted content",
                      "sources": sources, "exclude": list(copy.exclude) if copy else [],
                      "unpack": copy.unpack if copy else False})


def _op_of(v: Vertex, index: int) -> object:
    producer = v.inputs[index]
    return producer.op if producer is not None else None
