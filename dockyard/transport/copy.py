"""One copy of images between any two transports: `save`, `load`, `pull` and `push` are calls of it.

For each image of the source: skip it when the sink has it; read and check the config; choose
the registry manifest to keep (a pushed image resends the manifest it was pulled with, byte for
byte, when every blob of it is at hand); move the layers the sink lacks, up to `PARALLEL` at once
when the sink takes layers concurrently; then put the image. `finish` makes it all visible.

Every byte from a source that is not trusted (anything but the local store) is verified on the
way: compressed blobs against their digest and size, uncompressed tars against the diff IDs of
the config (and checked entry by entry before the store takes them), configs against the image
ID. Progress is Docker's: a download's statuses when the source is remote, an upload's when the
sink is, none for archives.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.archive.fstree import remove_path
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.dataclass import dataclass
from dockyard.digest import Digest, verify
from dockyard.errors import DigestMismatch, InvalidArchive, InvalidParameter
from dockyard.image import media
from dockyard.image.config import ImageConfig
from dockyard.image.manifest import Descriptor, ImageManifest, parse_manifest
from dockyard.transport.adapter import MANIFEST_MISMATCH, BlobSink, ImageSink, ImageSource, SourceImage, \
    SourceLayer, StagingSink, TarSink
from dockyard.transport.progress import Progress, ProgressSink, throttled
from dockyard.transport.streams import Checked, Compressing, Drained, Relayed, download_scanned

PARALLEL = 3
_Key = tuple[Digest, "Digest | None"]  # a layer's move: its diff ID, a download's blob (`_Copy._key`)
LAYER_TYPES = {"gzip": media.DOCKER_LAYER_GZIP, "zstd": media.OCI_LAYER_ZSTD}


@dataclass(frozen=True)
class _Words:
    """A direction's per-layer statuses, as Docker prints them."""

    queued: str
    exists: str
    moving: str
    done: str


_PULL = _Words("Pulling fs layer", "Already exists", "Downloading", "Pull complete")
_PUSH = _Words("Preparing", "Layer already exists", "Pushing", "Pushed")


@dataclass(frozen=True)
class _Kept:
    """The registry manifest a push sends again, byte for byte, and its parsed form."""

    data: bytes
    manifest: ImageManifest


def copy(source: ImageSource, sink: ImageSink, *, progress: ProgressSink | None = None) -> None:
    """Copy every image of `source` into `sink`."""
    run = _Copy(source, sink, progress)
    for image in source.images():
        run.image(image)
    sink.finish()


class _Copy:
    def __init__(self, source: ImageSource, sink: ImageSink, progress: ProgressSink | None) -> None:
        self.source, self.sink = source, sink
        self.words = _PUSH if sink.remote else _PULL if source.remote else None
        self._progress = progress
        self.moved: dict[_Key, Descriptor] = {}  # layers put in this copy, by `_key`

    def emit(self, status: str, short: str = "", current: int | None = None, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress(Progress(status, short, current, total))

    def bar(self, short: str, total: int | None) -> Callable[[int], None]:
        words = self.words
        if words is None or self._progress is None:
            return lambda n: None
        return throttled(lambda n: self.emit(words.moving, short, n, total), total or 0)

    # -- one image ------------------------------------------------------------------------------
    def image(self, image: SourceImage) -> None:
        if self.sink.has_image(image.id):
            # dockerd's pull of an image it has (under this name or another, loaded or
            # pulled) prints no line of its layers: it reads neither its config nor its blobs
            self.sink.put_image(image, None, [], None)
            return
        raw_config = image.raw_config()
        if not self.source.trusted:
            verify(image.id, Digest.of_bytes(raw_config), "image config")
        config = ImageConfig.parse(raw_config)  # a bad config fails before any layer moves
        layers = image.layers()
        if [layer.diff_id for layer in layers] != config.diff_ids:
            raise InvalidArchive(f"image {image.id.short}: {len(layers)} layers do not match the "
                                 f"{len(config.diff_ids)} diff IDs of its config")
        kept = self._kept_manifest(image, layers) if isinstance(self.sink, BlobSink) else None
        hints = list(kept.manifest.layers) if kept else [None] * len(layers)
        sink = self.sink
        # a registry's config goes beside the layers, not after them: its four round trips
        # (HEAD, POST, PATCH, PUT) were the push's serial end
        early = (lambda: sink.put_config(image.id, raw_config)) if isinstance(sink, BlobSink) else None
        descriptors = self._layers(layers, hints, early)
        self.sink.put_image(image, raw_config, descriptors, kept.data if kept else None)

    def _kept_manifest(self, image: SourceImage, layers: list[SourceLayer]) -> _Kept | None:
        """The newest registry manifest of the image whose every blob the source can read; with
        a compression asked for, only one whose layers all are of that compression."""
        wanted = self.sink.compression  # type: ignore[attr-defined] - a BlobSink
        for data in reversed(image.manifests()):
            try:
                parsed = parse_manifest(data)
            except InvalidParameter:
                continue
            if not isinstance(parsed, ImageManifest) or parsed.config.digest != image.id:
                continue
            if len(parsed.layers) != len(layers):
                continue
            if not all(self._readable(layer, desc) for layer, desc in zip(layers, parsed.layers)):
                continue
            if wanted and any(media.layer_compression(d.media_type) != wanted for d in parsed.layers):
                return None
            return _Kept(data, parsed)
        return None

    def _readable(self, layer: SourceLayer, desc: Descriptor) -> bool:
        return (self.source.blob_file(layer, desc.digest) is not None
                or self.source.blob_chunks(layer, desc) is not None)

    # -- its layers -----------------------------------------------------------------------------
    def _key(self, layer: SourceLayer) -> _Key:
        """What a layer's move is known by: its diff ID, and for a download its blob's digest (as
        dockerd's download, whose key is the blob): two blobs that claim one diff ID are both
        downloaded and checked, and one blob that two diff IDs claim is checked against each."""
        return layer.diff_id, layer.forms[0].digest if self.source.remote and layer.forms else None

    def _have(self, layer: SourceLayer) -> Descriptor | None:
        """What the sink has of the layer already. A download is skipped only for a blob the
        sink has verified to hold the layer: a registry's config may claim any diff ID for a blob
        (dockerd downloads a blob whose digest -> diff ID it has not verified, and refuses the
        image if the content is not the config's)."""
        if self.source.remote and layer.forms:
            return self.sink.has_layer(layer.diff_id, layer.forms[0].digest)
        return self.sink.has_layer(layer.diff_id)

    def _short(self, layer: SourceLayer, hint: Descriptor | None) -> str:
        """The layer's ID in progress lines: a download shows the blob's digest, an upload the diff ID."""
        if self.source.remote and not self.sink.remote and layer.forms:
            return layer.forms[0].digest.short
        return layer.diff_id.short

    def _layers(self, layers: list[SourceLayer], hints: list[Descriptor | None],
                early: Callable[[], None] | None = None) -> list[Descriptor]:
        """Move the layers the sink lacks; `early`, a job of the sink's own (a registry's
        config), runs beside them on a thread of its own when they move in parallel."""
        sink, words = self.sink, self.words
        found: dict[_Key, Descriptor] = {}
        work: dict[_Key, tuple[SourceLayer, Descriptor | None, str]] = {}
        order = list(zip(layers, hints))
        if sink.remote:
            order.reverse()  # Docker lists an upload top layer first
        for layer, hint in order:
            short, key = self._short(layer, hint), self._key(layer)
            have = self.moved.get(key) or self._have(layer)
            if have is not None:
                found[key] = have
                if words:
                    self.emit(words.exists, short)
            elif key not in work:
                work[key] = (layer, hint, short)
                if words:
                    self.emit(words.queued, short)
        queue = list(work.items())
        if self.source.remote and sink.parallel:
            queue.sort(key=lambda item: -_download_size(item[1][0]))
        if words:
            for _, (_, _, short) in queue[PARALLEL:]:
                self.emit("Waiting", short)
        if sink.parallel and len(work) > 1 and isinstance(sink, BlobSink):
            self._uploads(sink, queue, found, early)
        elif sink.parallel and len(work) > 1:
            # a download's slot is free once its bytes are in (what is left, `_download`'s rest,
            # runs on `after`); at most 2 x PARALLEL layers are under way at once, each holding
            # at most its pipe's MiBs (`live`)
            live = threading.BoundedSemaphore(2 * PARALLEL)
            failed = threading.Event()  # a job that waited for `live` starts nothing after a failure

            def job(item: tuple[SourceLayer, Descriptor | None, str]) -> Descriptor | Future[Descriptor]:
                live.acquire()
                try:
                    if failed.is_set():
                        raise CancelledError()
                    moved = self._move(*item)
                except BaseException:
                    live.release()
                    raise
                if not callable(moved):
                    live.release()
                    return moved

                def rest() -> Descriptor:
                    try:
                        return moved()
                    finally:
                        live.release()
                return after.submit(rest)

            # `after` is shut down last: the pool's jobs submit to it until they end
            with ThreadPoolExecutor(max_workers=2 * PARALLEL) as after, \
                    ThreadPoolExecutor(max_workers=PARALLEL) as pool, ThreadPoolExecutor(max_workers=1) as aside:
                side = aside.submit(early) if early is not None else None
                found.update(_results({d: pool.submit(job, item) for d, item in queue}, side, failed))
        else:
            for key, item in work.items():
                moved = self._move(*item)
                found[key] = moved() if callable(moved) else moved
        self.moved.update({k: found[k] for k in work})
        return [found[self._key(layer)] for layer in layers]

    def _uploads(self, sink: BlobSink, queue: list[tuple[_Key, tuple[SourceLayer, Descriptor | None, str]]],
                 found: dict[_Key, Descriptor], early: Callable[[], None] | None) -> None:
        """Up to PARALLEL layers are sent at once, in the queue's order; a layer's turn ends when
        its last byte is sent, not when the registry has answered: the next layer compresses and
        sends while the registry makes the blob durable (distribution fsyncs it at the PATCH's
        end, then the PUT commits it), as a pull's next download starts before the last one's
        scan ends. The bench's push (five 66 MB blobs, three at a time, the registry on this
        disk) had both cores idle 0.3-0.55 s at the end of its first three layers, waiting for
        those fsyncs. At most 2 x PARALLEL uploads wait for their answers at once."""
        turns = _Turns(PARALLEL)
        failed = threading.Event()  # a job whose turn came after a failure starts nothing

        def job(number: int, item: tuple[SourceLayer, Descriptor | None, str]) -> Descriptor:
            turns.take(number)
            sent = _Once(turns.give)
            try:
                if failed.is_set():
                    raise CancelledError()
                return self._upload(sink, *item, sent=sent)
            finally:
                sent()

        with ThreadPoolExecutor(max_workers=2 * PARALLEL) as pool, ThreadPoolExecutor(max_workers=1) as aside:
            side = aside.submit(early) if early is not None else None
            futures: dict[_Key, Future[Descriptor | Future[Descriptor]]] = {
                d: pool.submit(job, n, item) for n, (d, item) in enumerate(queue)}
            found.update(_results(futures, side, failed))

    def _move(self, layer: SourceLayer, hint: Descriptor | None, short: str) -> Descriptor | Callable[[], Descriptor]:
        """The layer moved; or, from a download into the store, its download done and what is
        left to do (see `_download`)."""
        if isinstance(self.sink, BlobSink):
            return self._upload(self.sink, layer, hint, short)
        if isinstance(self.sink, StagingSink):
            return self._stage(self.sink, layer, short)
        assert isinstance(self.sink, TarSink)
        return self._write_tar(self.sink, layer)

    # -- into an archive ------------------------------------------------------------------------
    def _write_tar(self, sink: TarSink, layer: SourceLayer) -> Descriptor:
        if layer.checked is not None:
            self._check_diff_id(layer, layer.checked.diff_id)
        if layer.size is not None and (self.source.trusted or layer.checked is not None):
            with layer.open() as stream:
                return sink.put_tar(layer.diff_id, stream, layer.size)
        # Not known good, or of unknown size (a tar header needs it first): spooled and checked.
        fd, tmp = tempfile.mkstemp(prefix="layer-", dir=sink.tmp)
        try:
            with os.fdopen(fd, "w+b") as f:
                scan = self._scan_into(layer, f)
                f.seek(0)
                return sink.put_tar(layer.diff_id, f, scan.tar_size)
        finally:
            os.unlink(tmp)

    # -- into the store -------------------------------------------------------------------------
    def _stage(self, sink: StagingSink, layer: SourceLayer, short: str) -> Descriptor | Callable[[], Descriptor]:
        if layer.checked is not None and layer.tar_file is not None and _same_filesystem(layer.tar_file, sink.staging):
            self._check_diff_id(layer, layer.checked.diff_id)
            return sink.stage_tar(layer.tar_file, layer.checked)
        if sink.keep_compressed and layer.forms:
            desc = layer.forms[0]
            chunks = self.source.blob_chunks(layer, desc)
            if chunks is not None:
                return self._download(sink, layer, desc, chunks, short)
        fd, tmp = tempfile.mkstemp(prefix="layer-", dir=sink.staging)
        try:
            with os.fdopen(fd, "wb") as f:
                scan = self._scan_into(layer, f)
            return sink.stage_tar(Path(tmp), scan)
        except BaseException:
            os.unlink(tmp)
            raise

    def _download(self, sink: StagingSink, layer: SourceLayer, desc: Descriptor, chunks: Iterator[bytes],
                  short: str) -> Callable[[], Descriptor]:
        """A blob downloaded into the staging dir while a second thread scans its content; both
        checks pass before the sink takes it: the compressed bytes (a push sends them again) and
        the tar the scan decompressed on the way, unpacked as it goes into the layer's tree (so
        the first `run` neither decompresses nor unpacks again, as dockerd unpacks a pull).
        Returns once the download is over and verified, with what is left (the scan's end, its
        diff ID checked, the sink's staging), which `_layers` runs off the download's slot: the
        next layer's download starts at once, as dockerd's does, instead of after this one's
        scan and fsyncs."""
        if desc.media_type and desc.media_type not in media.LAYERS:
            raise InvalidParameter(f"unsupported layer media type: {desc.media_type}")
        fd, tmp = tempfile.mkstemp(prefix="pull-", dir=sink.staging)
        os.close(fd)
        tree = sink.new_tree() if desc.digest != layer.diff_id else None  # compressed: unpack it

        def discard() -> None:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if tree is not None:
                remove_path(tree, ignore_errors=True)

        try:
            scanning = download_scanned(chunks, desc.digest, desc.size, Path(tmp), self.bar(short, desc.size), tree)
        except BaseException:
            discard()
            raise
        if self.words:
            self.emit("Verifying Checksum", short)
            self.emit("Download complete", short)

        def rest() -> Descriptor:
            try:
                if tree is not None:
                    # the blob's fsync waits for the disk while the scan's last MiBs are
                    # inflated and unpacked: the layer's end was the one, then the other
                    sink.settle_blob(Path(tmp))
                scan = scanning.result()
                if scan.diff_id != layer.diff_id and self.words:
                    # dockerd's line: the layer was whole by its own digest; the image's check,
                    # after it, finds it is not the config's
                    self.emit(self.words.done, short)
                self._check_diff_id(layer, scan.diff_id)
                if desc.digest == layer.diff_id:
                    placed = sink.stage_tar(Path(tmp), scan)
                else:
                    placed = sink.stage_blob(Path(tmp), desc, scan, tree)
            except BaseException:
                discard()
                raise
            if self.words:
                self.emit(self.words.done, short)
            return placed
        return rest

    # -- into a registry ------------------------------------------------------------------------
    def _upload(self, sink: BlobSink, layer: SourceLayer, desc: Descriptor | None, short: str,
                sent: Callable[[], None] = lambda: None) -> Descriptor:
        """Skip a blob the registry has, mount it from a repository that has it, send the bytes at
        hand, else compress the layer while it is sent (and remember what it made). A layer's
        compressed digest is remembered after its first push (Docker keeps the same "v2
        metadata"), so a second push finds it with one HEAD and compresses nothing. `sent` is
        called once the last byte of a blob is sent (the registry may not have answered yet)."""
        kind = sink.compression or "gzip"
        if desc is None:
            kinds = _same_kind(LAYER_TYPES[kind])
            desc = next((f for f in layer.forms if f.media_type in kinds), None)
        if desc is not None:
            if sink.has_blob(desc.digest):
                self.emit(_PUSH.exists, short)
                return desc
            for repository in self.source.locations(layer.diff_id, sink.host):
                if sink.mount(desc.digest, repository):
                    self.emit(f"Mounted from {repository}", short)
                    return desc
            path = self.source.blob_file(layer, desc.digest)
            if path is not None:
                sink.put_blob_file(desc, path, _sent_at(self.bar(short, desc.size), desc.size, sent))
                self.emit(_PUSH.done, short)
                return desc
            if self.source.blob_chunks(layer, desc) is not None:
                relayed = desc
                sink.put_blob_stream(lambda: Drained(Relayed(self.source.blob_chunks(layer, relayed) or iter(()),
                                                             relayed.digest, relayed.size), sent),
                                     self.bar(short, desc.size))
                self.emit(_PUSH.done, short)
                return desc
        blob = sink.put_blob_stream(lambda: Drained(Compressing(lambda: self._open(layer), kind), sent),
                                    self.bar(short, layer.size))
        made = Descriptor(LAYER_TYPES[kind], blob.digest, blob.size)
        self.source.note_compressed(layer.diff_id, made)
        self.emit(_PUSH.done, short)
        return made

    # -- checks ---------------------------------------------------------------------------------
    @contextmanager
    def _open(self, layer: SourceLayer) -> Iterator[BinaryIO]:
        """The layer's tar; from a source that is not trusted, checked against its diff ID at the end."""
        with layer.open() as stream:
            if self.source.trusted or layer.checked is not None:
                if layer.checked is not None:
                    self._check_diff_id(layer, layer.checked.diff_id)
                yield stream
            else:
                yield Checked(stream, layer.diff_id, layer.size, f"layer {layer.name or layer.diff_id}")  # type: ignore[misc]

    def _scan_into(self, layer: SourceLayer, out: BinaryIO) -> ScanResult:
        """Copy the layer's tar into `out`, checking every entry and its diff ID (and size)."""
        with layer.open() as stream:
            scan = scan_copy(stream, out)
        self._check_diff_id(layer, scan.diff_id)
        if layer.size is not None and scan.tar_size != layer.size:
            raise DigestMismatch(f"layer {layer.name or layer.diff_id}: {scan.tar_size} bytes, expected {layer.size}")
        return scan

    def _check_diff_id(self, layer: SourceLayer, actual: Digest) -> None:
        if actual == layer.diff_id:
            return
        if self.source.remote:
            raise DigestMismatch(MANIFEST_MISMATCH)
        raise DigestMismatch(f"layer {layer.name or layer.diff_id}: content has digest {actual}, "
                             f"the image config says {layer.diff_id}")


def _results(futures: dict[_Key, Future[Descriptor | Future[Descriptor]]], side: Future[None] | None,
             failed: threading.Event) -> dict[_Key, Descriptor]:
    """Each layer's descriptor (a job may return a Future of it: a download's rest), then the
    side job's end; on a failure, the jobs not begun are cancelled and those waiting for their
    turn begin nothing (`failed`)."""
    found: dict[_Key, Descriptor] = {}
    try:
        for key, future in futures.items():
            done = future.result()
            found[key] = done.result() if isinstance(done, Future) else done
        if side is not None:
            side.result()
    except BaseException:
        failed.set()
        for future in futures.values():
            future.cancel()
        raise
    return found


class _Turns:
    """At most `n` at once, each numbered taker in its number's order."""

    def __init__(self, n: int) -> None:
        self._cond = threading.Condition()
        self._free, self._next = n, 0

    def take(self, number: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next == number and self._free > 0)
            self._next += 1
            self._free -= 1
            self._cond.notify_all()

    def give(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class _Once:
    """`call`, on the first call only (thread-safe)."""

    def __init__(self, call: Callable[[], None]) -> None:
        self._call, self._lock = call, threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            call, self._call = self._call, None
        if call is not None:
            call()


def _sent_at(progress: Callable[[int], None], size: int, sent: Callable[[], None]) -> Callable[[int], None]:
    """`progress`, and `sent` once `size` bytes are sent."""
    def step(n: int) -> None:
        progress(n)
        if n >= size:
            sent()
    return step


def _download_size(layer: SourceLayer) -> int:
    """What a layer's download moves, to start the largest first (the longest jobs first: the
    last to start are the small ones, so no large layer is left to finish alone at the end,
    its scan on one core with the other idle, as when a small first layer let one start late)."""
    return layer.forms[0].size if layer.forms else layer.size or 0


def _same_kind(layer_type: str) -> tuple[str, ...]:
    if layer_type.endswith("zstd"):
        return (media.OCI_LAYER_ZSTD,)
    return (media.DOCKER_LAYER_GZIP, media.OCI_LAYER_GZIP)


def _same_filesystem(path: Path, directory: Path) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(directory).st_dev
    except OSError:
        return False
