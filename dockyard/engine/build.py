"""`build`: a Dockerfile and a context in, an image in the store out.

The CLI and the API server both call `build_image` (Docker's classic builder, the default) or
`build_image_buildkit` (BuildKit mode, DOCKER_BUILDKIT=1: dockyard.builder.graph); both open the
context the same way. Tag names are validated before any work.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.builder.context import BuildContext, open_context
from dockyard.builder.options import BuildOptions, ImagePuller, Output, check_platform
from dockyard.dataclass import dataclass, replace
from dockyard.digest import CHUNK, Digest
from dockyard.dockerfile import Dockerfile, parse
from dockyard.errors import DockerfileError, DockyardError, InvalidParameter, Unavailable
from dockyard.store.store import Store

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.builder.graph.build import GraphResult
    from dockyard.builder.graph.options import GraphOptions
    from dockyard.builder.graph.progress import Progress


@dataclass
class BuildResult:
    """What a build made: the image and the names it got."""

    image_id: Digest
    tagged: list[str]


def _download_context(url: str, tmp: Path) -> BinaryIO:
    """A context tarball over HTTP(S), spooled to a temp file (streamed, bounded memory)."""
    import shutil
    import tempfile
    from dockyard.urls import open_url  # (urllib.request: a URL context only, tests/test_start_up.py)

    try:
        response = open_url(url)
    except OSError as exc:
        raise Unavailable(f"unable to prepare context: unable to download remote context {url}: {exc}") from None
    spool = tempfile.TemporaryFile(dir=tmp)
    with response:
        shutil.copyfileobj(response, spool, CHUNK)
    spool.seek(0)
    return spool


@contextmanager
def _opened(store: Store, source: str | BinaryIO, dockerfile: str | None, stdin: BinaryIO | None,
            cwd: Path | None) -> Iterator[BuildContext]:
    """The build context of `source` (see build_image), removed afterwards."""
    spool = None
    ctx_source: Path | str | BinaryIO = source
    if not isinstance(source, str):
        pass
    elif urllib.parse.urlparse(source).scheme in ("http", "https"):
        spool = _download_context(source, store.tmp)
        ctx_source = spool
    elif source != "-":
        ctx_source = Path(source)
    # the process's temp folder (store.workspace) only for what is written there: a stream's
    # unpacked context, a Dockerfile from stdin; a directory context writes nothing, and a
    # cached build then makes no folder, lock file or exit-time removal
    aside = not isinstance(ctx_source, Path) or dockerfile == "-"
    try:
        with open_context(ctx_source, dockerfile=dockerfile, stdin=stdin, cwd=cwd,
                          tmp_dir=store.tmp if aside else None) as context:
            yield context
    finally:
        if spool is not None:
            spool.close()


def build_image(store: Store, source: str | BinaryIO, options: BuildOptions, *,
                dockerfile: str | None = None, stdin: BinaryIO | None = None,
                cwd: Path | None = None, write: Callable[[bytes], None] | None = None,
                pull: ImagePuller | None = None) -> BuildResult:
    """Build from `source`: a directory, `-` (read `stdin`), an http(s) URL of a tarball, or a
    binary stream holding a context tar or a lone Dockerfile (an Engine API request body).
    Progress goes to `write` as the classic builder prints it. Images the store lacks are pulled
    with `pull` (default: from their registries with the credentials of the user's config.json)."""
    if pull is None:
        pull = _default_puller(store)
    out = Output(write or (lambda data: None), options.quiet)
    try:
        return _build_classic(store, source, options, out, dockerfile, stdin, cwd, pull)
    except DockyardError:
        out.release()   # -q: the output held back, before the error (as dockerd sends it)
        raise
    finally:
        out.discard()


def _build_classic(store: Store, source: str | BinaryIO, options: BuildOptions, out: Output,
                   dockerfile: str | None, stdin: BinaryIO | None, cwd: Path | None,
                   pull: ImagePuller) -> BuildResult:
    # The lease keeps every image the build stands on or makes until it is tagged (store.leases).
    with store.lease() as lease:
        with _opened(store, source, dockerfile, stdin, cwd) as context:
            try:
                data = context.dockerfile_path.read_bytes()
            except OSError as exc:
                raise InvalidParameter(f"unable to read the Dockerfile: {exc.strerror}") from None
            document = _parse_classic(data)
            # the classic builder for a classic build only: BuildKit mode does not load it
            # (the in-process budget, tests/test_start_up.py)
            from dockyard.builder.classic.builder import Builder
            from dockyard.builder.classic.state import ClassicBuild

            builder = Builder(ClassicBuild(store, context, document, options, out, pull, lease,
                                           steps_done=_release_leftovers))
            try:
                image_id = builder.build()
            finally:
                _release_leftovers()
        out.line(f"Successfully built {image_id.hex[:12]}")
        tagged: list[str] = []
        for ref in options.tags:
            if ref.familiar in tagged:   # -t a -t a:latest: one name (dockerd's sanitizeRepoAndTags)
                continue
            store.tag(image_id, ref)
            tagged.append(ref.familiar)
            out.line(f"Successfully tagged {ref.familiar}")
    return BuildResult(image_id, tagged)


def _parse_classic(data: bytes) -> Dockerfile:
    """The Dockerfile parsed, with a parse error worded as Docker 20.10's classic builder words
    it (builder/classic/messages.py)."""
    try:
        return parse(data, "Dockerfile")
    except DockerfileError as exc:
        from dockyard.builder.classic.messages import classic_error

        raise classic_error(exc) from None


def build_image_buildkit(store: Store, source: str | BinaryIO, options: GraphOptions,
                         progress: Progress, *, dockerfile: str | None = None,
                         stdin: BinaryIO | None = None, cwd: Path | None = None,
                         pull: ImagePuller | None = None, cache_from: list[str] | None = None,
                         cache_to: list[str] | None = None) -> GraphResult:
    """BuildKit mode (DOCKER_BUILDKIT=1): the same sources as build_image; progress as a
    stream of solve statuses (dockyard.builder.graph). `cache_from`/`cache_to`: buildx's
    --cache-from/--cache-to (engine/buildcache.py); a cache that cannot be read is a warning."""
    from dockyard.builder.graph.build import build_graph  # BuildKit mode only: tests/test_start_up.py

    sources, targets = [], []
    if cache_from or cache_to:  # not loaded without them (the in-process budget)
        from dockyard.engine import buildcache

        sources = [buildcache.parse_cache_spec(t, export=False) for t in cache_from or []]
        targets = [buildcache.parse_cache_spec(t, export=True) for t in cache_to or []]
    if pull is None:
        pull = _default_puller(store)
    client_for = _registry_clients() if any(s.type == "registry" for s in sources + targets) else None
    imports = []
    try:
        for spec in sources:
            imported = _import_cache(store, spec, client_for, progress)
            if imported is not None:
                imports.append(imported)
        options = replace(options, cache_imports=tuple(imports))
        with _opened(store, source, dockerfile, stdin, cwd) as context:
            try:
                result = build_graph(store, context, options, progress, pull)
            finally:
                _release_leftovers()
    finally:
        for imported in imports:
            imported.close()
    for spec in targets:
        _export_cache(store, result, spec, client_for, progress)
    return result


def _release_leftovers() -> None:
    """What the build's last RUN step left to be undone while a next runtime runs (its overlay,
    its directory: runtime/leftover.py) goes now, when the build ends: a long-running serve keeps
    nothing mounted between builds. Not loaded: no step ran, nothing was left."""
    leftover = sys.modules.get("dockyard.runtime.leftover")
    if leftover is not None:
        leftover.release()


def _registry_clients() -> Callable:
    import os

    from dockyard.engine import registry

    return registry.default_access(os.environ).client


def _import_cache(store: Store, spec, client_for, progress: Progress):  # noqa: ANN001, ANN202
    """An opened --cache-from, or None after a warning (a cache not there yet is the common
    first run of a CI pipeline)."""
    from dockyard.builder.graph.ops import digest_of
    from dockyard.engine import buildcache
    from dockyard.errors import DockyardError

    digest = str(digest_of({"cache-import": spec.describe()}))
    progress.add(digest, f"importing cache manifest from {spec.describe()}")
    progress.start(digest)
    try:
        opened = buildcache.open_cache(store, spec, client_for)
    except DockyardError as exc:
        progress.log(digest, 2, f"WARNING: cache {spec.describe()} not imported: {exc}\n".encode())
        progress.complete(digest)
        return None
    progress.complete(digest)
    return opened


def _export_cache(store: Store, result: GraphResult, spec, client_for, progress: Progress) -> None:  # noqa: ANN001
    from dockyard.builder.graph.ops import digest_of
    from dockyard.engine import buildcache
    from dockyard.errors import DockyardError

    digest = str(digest_of({"cache-export": spec.describe()}))
    progress.add(digest, f"exporting cache to {spec.type} {spec.describe()}")
    progress.start(digest)
    records = result.all_records if spec.mode == "max" else result.final_records
    try:
        with store.ingesting():
            buildcache.export_cache(store, records, spec, client_for,
                                    lambda text: progress.status(digest, text, done=True))
    except DockyardError as exc:
        progress.complete(digest, error=exc.message)
        raise
    progress.complete(digest)


def _default_puller(store: Store) -> ImagePuller:
    def pull(name: str, line: Callable[[str], None]) -> Digest:
        # The registry client (httpx, TLS) when a FROM image must be pulled only: see the
        # in-process budget, tests/test_start_up.py
        from dockyard.engine import registry

        return registry.image_puller(store, registry.default_access(os.environ))(name, line)
    return pull


__all__ = ["BuildOptions", "BuildResult", "build_image", "build_image_buildkit", "check_platform"]
