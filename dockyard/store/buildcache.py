"""The build cache of BuildKit mode, kept in the store: what each build step made, by cache key.

    <root>/buildcache/records/<key hex>.json   {"key", "layer", "created", "description"}
    <root>/buildcache/mounts/<id hash>/         the directories of `RUN --mount=type=cache`

A record maps a step's cache key (a content digest computed by the builder, see
dockyard.builder.graph.ops) to the layer the step added (a diff ID in the layer store) and the
time it was made, which goes into the image's history: a rebuild from cache makes the same
image ID. Records are small JSON files written atomically; a record whose layer is gone is no
hit. The layers they name count as used for garbage collection (`Store._gc_layers`), as Docker
keeps its build cache apart from images. Records are self-contained (key, layer, time), so a
set of them and their layers can be exported and imported elsewhere.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from dockyard.atomic import read_checked, replace_checked
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest, small_sha256
from dockyard.store import workspace


@dataclass(frozen=True)
class CacheRecord:
    """One step of BuildKit mode's build cache: its key and the layer it made."""

    key: Digest
    layer: Digest | None        # the diff ID the step added; None: the step adds no layer
    created: str                # RFC 3339, the history time of that layer
    description: str = ""
    # What the key was made of (the builder's: operation, input keys, content digests, the
    # files a copy read), kept so a later miss can say what changed (`--explain-cache`).
    parts: dict | None = field(default=None, compare=False)

    def to_json(self) -> bytes:
        value = {"key": str(self.key), "layer": str(self.layer) if self.layer else None,
                 "created": self.created, "description": self.description}
        if self.parts is not None:
            value["parts"] = self.parts
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "CacheRecord":
        value = json.loads(data)
        layer = value.get("layer")
        parts = value.get("parts")
        return cls(Digest.parse(value["key"]), Digest.parse(layer) if layer else None,
                   str(value["created"]), str(value.get("description", "")),
                   parts if isinstance(parts, dict) else None)


class BuildCache:
    def __init__(self, root: Path, tmp_root: Path | None = None) -> None:
        self.root = root / "buildcache"
        self.records_dir = self.root / "records"
        self.mounts_dir = self.root / "mounts"
        self.tmp_root = tmp_root   # the store's temp space (store.workspace), for the records' temp files

    def _path(self, key: Digest) -> str:
        return os.path.join(self.records_dir, key.hex + ".json")

    def get(self, key: Digest) -> CacheRecord | None:
        return _read(self._path(key))

    def put(self, record: CacheRecord) -> None:
        """Written whole by a rename, but not fsynced: a record is a hint, after its layer
        (which is durable first); one a crash of the host loses or tears is a miss (`get`: the
        file is headed by its body's sha256, atomic.replace_checked), which costs a rebuild of
        that step and nothing else. Two fsyncs fewer per RUN step."""
        os.makedirs(self.records_dir, exist_ok=True)
        # the temp file in this process's folder: what a kill leaves is removed at the next start
        # (beside the records nothing removed it), and it is made where inodes are quick to make
        tmp = workspace.folder(self.tmp_root) if self.tmp_root is not None else None
        replace_checked(Path(self._path(record.key)), record.to_json(), tmp_dir=tmp)

    def records(self) -> Iterator[CacheRecord]:
        try:
            names = os.listdir(self.records_dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".json") and (record := _read(os.path.join(self.records_dir, name))):
                yield record

    def diff_ids(self) -> set[Digest]:
        """The layers the cache refers to (kept by garbage collection)."""
        return {r.layer for r in self.records() if r.layer is not None}

    def record_time(self, key: Digest) -> float | None:
        """When the record was last written (its last use: a hit does not rewrite it)."""
        try:
            return os.stat(self._path(key)).st_mtime
        except FileNotFoundError:
            return None

    def remove(self, key: Digest) -> None:
        """Forget a record (its layer goes at the next garbage collection unless an image or
        another record needs it)."""
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def mounts(self) -> list[Path]:
        """The directories of the cache mounts made so far."""
        try:
            return [self.mounts_dir / name for name in sorted(os.listdir(self.mounts_dir))]
        except FileNotFoundError:
            return []

    def empty_mount(self, base: Path) -> bool:
        """Empty a cache mount's directory unless a build uses it now (it holds the mount's
        lock; the next user makes it again, graph/execute._cache_dir); whether it was emptied."""
        data = base / "data"
        fd = os.open(base / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if not data.is_dir():
                return False
            import shutil   # a prune's only (a cached build loads this module: test_start_up)

            trash = base / f"gone-{os.getpid()}-{os.urandom(4).hex()}"
            os.rename(data, trash)
            shutil.rmtree(trash, ignore_errors=True)
            return True
        finally:
            os.close(fd)

    def mount_dir(self, cache_id: str) -> Path:
        """The directory of a cache mount (not created here); ids of any text map to safe names."""
        return self.mounts_dir / small_sha256(cache_id.encode("utf-8", "surrogateescape")).hexdigest()


def _read(path: str) -> CacheRecord | None:
    """The record at `path`; None when it is missing, torn or damaged (a miss, which the next
    build's put replaces)."""
    body = read_checked(path)
    if body is None:
        return None
    try:
        return CacheRecord.from_json(body)
    except (ValueError, KeyError, TypeError):
        return None
