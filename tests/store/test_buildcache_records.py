"""BuildKit mode's cache records are hints written without fsync (store/buildcache.py): what a
crash of the host could leave of one (nothing, a torn file) is a miss, never an error, and the
next put replaces it."""

from __future__ import annotations

from pathlib import Path

from dockyard.digest import Digest
from dockyard.store.buildcache import BuildCache, CacheRecord


def test_a_lost_or_torn_record_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    key = Digest.of_bytes(b"step")
    record = CacheRecord(key, Digest.of_bytes(b"layer"), "2026-12-06T10:00:00Z", "RUN true")
    assert cache.get(key) is None
    cache.put(record)
    assert cache.get(key) == record and list(cache.records()) == [record]
    path = Path(cache._path(key))
    for torn in (b"", record.to_json()[:20]):
        path.write_bytes(torn)
        assert cache.get(key) is None and list(cache.records()) == []
        cache.put(record)
        assert cache.get(key) == record
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
