"""Pull: registry -> local store.

Manifest (an index resolves to the platform's manifest), config, then the layers the store lacks,
up to three at once. Each blob streams into a temp file while it is hashed; it must match its
digest, and its decompressed content its diff ID, before it becomes a layer. The compressed blob
is kept as the layer's content, so pushing the image again sends the same bytes. Only when every
layer is in place does the image record appear, then the tags.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from dockyard.archive.compression import open_decompressed
from dockyard.archive.scan import ScanResult, scan_copy
from dockyard.digest import Digest, verify
from dockyard.errors import DigestMismatch, InvalidParameter
from dockyard.image import media
from dockyard.image.image import Image
from dockyard.image.manifest import Descriptor, ImageIndex, ImageManifest, Platform, \
    choose_platform, parse_manifest
from dockyard.reference import Reference
from dockyard.store.layers import CompressedForm, StoredLayer
from dockyard.store.store import Store
from dockyard.transport.pipe import Pipe, PipeClosed
from dockyard.transport.progress import Progress, ProgressSink, throttled
from dockyard.transport.registry.client import FetchedManifest, RegistryClient, write_verified

PARALLEL = 3


@dataclass(frozen=True)
class PullResult:
    image_id: Digest
    digest: Digest          # of what the reference named (an index's digest for a multi-platform tag)
    changed: bool           # False when the reference already pointed at this image


def resolve_manifest(client: RegistryClient, ref: Reference, platform: Platform | None
                     ) -> tuple[FetchedManifest, bytes, ImageManifest]:
    """What the reference names (its bytes hash to its digest), and the image manifest (bytes
    and parsed) for the platform."""
    repo = ref.repository_path
    fetched = client.get_manifest(repo, _tag_or_digest(ref), familiar=ref.familiar_name)
    top = fetched
    parsed = parse_manifest(fetched.data, fetched.media_type)
    data = fetched.data
    if isinstance(parsed, ImageIndex):
        chosen = choose_platform(parsed, platform)
        inner = client.get_manifest(repo, str(chosen.digest), familiar=ref.familiar_name)
        parsed = parse_manifest(inner.data, inner.media_type)
        data = inner.data
        if not isinstance(parsed, ImageManifest):
            raise InvalidParameter("invalid index: an entry is itself an index")
    return top, data, parsed


def _tag_or_digest(ref: Reference) -> str:
    return str(ref.digest) if ref.digest else (ref.tag or "latest")


def pull_image(client: RegistryClient, store: Store, ref: Reference, *,
               platform: Platform | None, progress: ProgressSink) -> PullResult:
    top, manifest_data, manifest = resolve_manifest(client, ref, platform)
    repo = ref.repository_path
    # Docker says this once the manifest is known: a missing image fails before any output.
    progress(Progress("Pulling from " + repo, _tag_or_digest(ref)))
    with store.ingesting():
        image_id = manifest.config.digest
        if store.records.exists(image_id):
            image = store.image(image_id)
        else:
            raw_config = client.read_small_blob(repo, manifest.config.digest, size=manifest.config.size)
            config = Image(raw_config).config
            if len(config.diff_ids) != len(manifest.layers):
                raise InvalidParameter(
                    f"invalid manifest: {len(manifest.layers)} layers but the config lists "
                    f"{len(config.diff_ids)} diff IDs")
            if platform is not None and (config.os, config.architecture) != (platform.os, platform.architecture):
                raise InvalidParameter(
                    f"image with reference {ref.familiar} was found but does not match the specified "
                    f"platform: wanted {platform}, actual: {config.os}/{config.architecture}")
            layers = _fetch_layers(client, store, repo, manifest.layers, config.diff_ids, progress)
            image = store.add_image(raw_config, layers)
        store.add_manifest(image.id, manifest_data)
        changed = _tag(store, ref, image.id, top)
    return PullResult(image.id, top.digest, changed)


def _tag(store: Store, ref: Reference, image_id: Digest, top: FetchedManifest) -> bool:
    """Tag as Docker does: the tag (unless pulled by digest) and the repository digest, which
    the store records from the manifest's verified bytes."""
    changed = store.tags.get(ref.trimmed().with_digest(top.digest)) != image_id
    store.add_repo_digest(image_id, ref, top.data)
    if ref.digest is None:
        tag = ref.trimmed().with_tag(ref.tag or "latest")
        if store.tags.get(tag) != image_id:
            store.tag(image_id, tag)
            changed = True
    return changed


def _fetch_layers(client: RegistryClient, store: Store, repo: str, descriptors: tuple[Descriptor, ...],
                  diff_ids: list[Digest], progress: ProgressSink) -> list[StoredLayer]:
    wanted: dict[Digest, Descriptor] = {}
    for desc, diff_id in zip(descriptors, diff_ids):
        short = desc.digest.hex[:12]
        if store.layers.exists(diff_id):
            progress(Progress("Already exists", short))
        elif diff_id not in wanted:
            wanted[diff_id] = desc
            progress(Progress("Pulling fs layer", short))
    if len(wanted) > PARALLEL:
        for desc in list(wanted.values())[PARALLEL:]:
            progress(Progress("Waiting", desc.digest.hex[:12]))
    fetched: dict[Digest, StoredLayer] = {}
    if wanted:
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            futures = {d: pool.submit(_fetch_layer, client, store, repo, desc, d, progress)
                       for d, desc in wanted.items()}
            try:
                for diff_id, future in futures.items():
                    fetched[diff_id] = future.result()
            except BaseException:
                for future in futures.values():
                    future.cancel()
                raise
    return [fetched[d] if d in fetched else store.layers.get(d) for d in diff_ids]


def _fetch_layer(client: RegistryClient, store: Store, repo: str, desc: Descriptor, diff_id: Digest,
                 progress: ProgressSink) -> StoredLayer:
    """Download one blob into a temp file while a second thread decompresses and scans the same
    bytes (the diff ID check), so the two stages overlap; both checks pass before it is stored."""
    short = desc.digest.hex[:12]
    if desc.media_type and desc.media_type not in media.LAYERS:
        raise InvalidParameter(f"unsupported layer media type: {desc.media_type}")
    pipe = Pipe(depth=8)  # 1 MiB pieces: at most ~8 MiB in flight per layer
    scanned: dict[str, object] = {}
    scanner = threading.Thread(target=_scan, args=(pipe, scanned), name=f"scan-{short}", daemon=True)
    scanner.start()
    fd, tmp = tempfile.mkstemp(prefix="pull-", dir=store.tmp)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                size = write_verified(coalesce(client.iter_blob(repo, desc.digest, size=desc.size)), _Tee(f, pipe), desc.digest,
                                      throttled(lambda n: progress(Progress("Downloading", short, n, desc.size)), desc.size))
                f.flush()
                os.fsync(f.fileno())
            _close_quietly(pipe)
        except BaseException as exc:
            pipe.fail(exc)
            raise
        finally:
            scanner.join()
        if size != desc.size:
            raise DigestMismatch(f"blob {desc.digest}: {size} bytes, the manifest says {desc.size}")
        progress(Progress("Verifying Checksum", short))
        progress(Progress("Download complete", short))
        if "error" in scanned:
            raise scanned["error"]  # type: ignore[misc]
        result = scanned["result"]
        assert isinstance(result, ScanResult)
        verify(diff_id, result.diff_id, "layer")
        if desc.digest == diff_id:
            layer = store.layers.adopt(Path(tmp), result)
        else:
            form = CompressedForm(desc.digest, size, desc.media_type or media.DOCKER_LAYER_GZIP)
            layer = store.layers.adopt_compressed(Path(tmp), form, result)
        progress(Progress("Pull complete", short))
        return layer
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def coalesce(chunks: Iterator[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """Network reads come in 64 KiB pieces; hashing, writing and handing over 1 MiB at a time
    costs a sixteenth of the calls (one extra copy, far cheaper than the syscalls it saves)."""
    parts: list[bytes] = []
    held = 0
    for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


def _scan(pipe: Pipe, out: dict[str, object]) -> None:
    try:
        with open(os.devnull, "wb") as null:
            out["result"] = scan_copy(open_decompressed(pipe.reader()), null)
    except BaseException as exc:  # noqa: BLE001 - handed to the downloading thread
        out["error"] = exc
    finally:
        pipe.cancel()


class _Tee:
    """Writes to the temp file and, while the scanner still listens, into the pipe."""

    def __init__(self, f: BinaryIO, pipe: Pipe) -> None:
        self._f, self._pipe, self._piping = f, pipe, True

    def write(self, data: bytes) -> int:
        self._f.write(data)
        if self._piping:
            try:
                self._pipe.write(data)
            except PipeClosed:
                self._piping = False
        return len(data)

    def flush(self) -> None:
        self._f.flush()


def _close_quietly(pipe: Pipe) -> None:
    try:
        pipe.close()
    except PipeClosed:
        pass
