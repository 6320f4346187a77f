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


def test_a_put_killed_before_its_rename_leaves_nothing_after_the_next_start(tmp_path: Path) -> None:
    """The record's temp file is made in the process's temp folder (store/workspace.py), which
    the next start removes when its process is gone; beside the records nothing removed it."""
    import os
    import signal
    import subprocess
    import sys

    from dockyard.store.store import Store

    root = tmp_path / "store"
    Store(root)
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from dockyard.digest import Digest\n"
        "from dockyard.store.buildcache import CacheRecord\n"
        "from dockyard.store.store import Store\n"
        f"store = Store(Path({str(root)!r}))\n"
        "os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        "store.build_cache.put(CacheRecord(Digest.of_bytes(b'k'), None, '2026-12-06T10:00:00Z'))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    records = root / "buildcache" / "records"
    assert records.is_dir()
    start = f"from pathlib import Path\nfrom dockyard.store.store import Store\nStore(Path({str(root)!r}))\n"
    subprocess.run([sys.executable, "-c", start], check=True)   # the next start
    assert list(records.iterdir()) == []
    assert [p.name for p in (root / "tmp").iterdir() if not p.name.startswith(f"{os.getpid()}-")] == []
