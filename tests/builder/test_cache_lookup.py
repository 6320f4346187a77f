"""find_cached_config compares the JSON of each candidate and builds the ImageConfig of a match
only; the newest match wins, a broken candidate is no hit."""

from __future__ import annotations

from pathlib import Path

from dockyard.builder.classic import cache
from dockyard.digest import Digest
from dockyard.image.config import ImageConfig
from dockyard.store.store import Store


def _siblings(dockyard, tmp_path: Path) -> list[str]:  # noqa: ANN001
    ids = []
    for i in range(4):
        (tmp_path / f"c{i}").mkdir()
        (tmp_path / f"c{i}" / "Dockerfile").write_text(f"FROM busybox\nENV N={i}\n")
        out = dockyard("build", "-q", str(tmp_path / f"c{i}")).stdout
        ids.append(out.strip())
    return ids


def _count_built(monkeypatch) -> list[object]:  # noqa: ANN001
    """The configs ImageConfig.from_dict builds from now on."""
    built: list[object] = []
    original = ImageConfig.from_dict.__func__  # type: ignore[attr-defined]

    def counting(cls, data):  # noqa: ANN001, ANN202
        built.append(data)
        return original(cls, data)

    monkeypatch.setattr(ImageConfig, "from_dict", classmethod(counting))
    return built


def test_only_the_matching_sibling_is_built(dockyard, busybox, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    ids = _siblings(dockyard, tmp_path)
    store = Store(dockyard.root)
    probe = ImageConfig.parse(store.blobs.read(Digest.parse(ids[2]))).extra["container_config"]
    built = _count_built(monkeypatch)
    found = cache.find_cached_config(store, Digest.parse(busybox), probe)
    assert found is not None and str(found[0]) == ids[2]
    assert found[1].config.env is not None and "N=2" in found[1].config.env
    assert len(built) == 1
    assert cache.find_cached_config(store, Digest.parse(busybox), {**probe, "Cmd": ["x"]}) is None
    assert len(built) == 1


def test_a_broken_candidate_is_no_hit(dockyard, busybox, tmp_path: Path) -> None:  # noqa: ANN001
    ids = _siblings(dockyard, tmp_path)
    store = Store(dockyard.root)
    probe = ImageConfig.parse(store.blobs.read(Digest.parse(ids[1]))).extra["container_config"]
    blob = store.blobs.path(Digest.parse(ids[1]))
    raw = blob.read_bytes()
    assert b'"rootfs":{"type":"layers"' in raw
    for broken in (b"{not json", b"[1, 2]", raw.replace(b'"rootfs":{"type":"layers"', b'"rootfs":{"type":"x"')):
        blob.write_bytes(broken)
        assert cache.find_cached_config(store, Digest.parse(busybox), probe) is None
    blob.write_bytes(raw)
    assert str(cache.find_cached(store, Digest.parse(busybox), probe)) == ids[1]


def test_of_equal_siblings_the_newest_is_built_alone(dockyard, busybox, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    # the same step built with --no-cache three times: three children of busybox that all match
    # the probe (bench_all's row b store has ~20 of them); the newest wins, and only its config
    # is built, unless it is broken: then the next newest
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "Dockerfile").write_text("FROM busybox\nENV SAME=1\n")
    ids = [dockyard("build", "-q", "--no-cache", str(tmp_path / "c")).stdout.strip() for _ in range(3)]
    assert len(set(ids)) == 3
    store = Store(dockyard.root)
    probe = ImageConfig.parse(store.blobs.read(Digest.parse(ids[0]))).extra["container_config"]
    built = _count_built(monkeypatch)
    found = cache.find_cached_config(store, Digest.parse(busybox), probe)
    assert found is not None and str(found[0]) == ids[2] and len(built) == 1
    blob = store.blobs.path(Digest.parse(ids[2]))
    raw = blob.read_bytes()
    blob.write_bytes(raw.replace(b'"rootfs":{"type":"layers"', b'"rootfs":{"type":"x"'))
    built.clear()
    found = cache.find_cached_config(store, Digest.parse(busybox), probe)
    assert found is not None and str(found[0]) == ids[1] and len(built) == 2
    blob.write_bytes(raw)
