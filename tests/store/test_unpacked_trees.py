"""A layer's unpacked tree is not synced (it is made again from the durable layer.tar): the host's
boot ID recorded with it says in which boot it may be trusted; a tree of another boot (the host
went down since) counts as not unpacked and is made again; without a boot ID it is synced."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.store import layers as layers_module
from dockyard.store.store import Store


def _layer(store: Store):  # noqa: ANN202
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"content\n" * 100
        info = tarfile.TarInfo("etc/app.conf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return store.layers.ingest(buf)


def test_a_tree_records_its_boot_and_is_made_again_after_another(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = _layer(store)
    diff = store.layers.unpacked(layer.diff_id)
    marker = store.layers.dir(layer.diff_id) / "unsynced"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert marker.read_text() == boot
    assert store.layers.is_unpacked(layer.diff_id)
    # what a power cut may leave of a tree nobody synced: a file emptied, the link still there
    (diff / "etc" / "app.conf").write_bytes(b"")
    marker.write_text("0" * 8 + boot[8:] if not boot.startswith("0" * 8) else "f" * len(boot))
    assert not store.layers.is_unpacked(layer.diff_id)
    again = store.layers.unpacked(layer.diff_id)
    assert again == diff
    assert (diff / "etc" / "app.conf").read_bytes() == b"content\n" * 100
    assert marker.read_text() == boot and store.layers.is_unpacked(layer.diff_id)


def test_without_a_boot_id_the_tree_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a host without /proc/sys/kernel/random/boot_id cannot be made here: the reader's answer is set
    monkeypatch.setattr(layers_module, "_boot", [None])
    store = Store(tmp_path / "store")
    layer = _layer(store)
    diff = store.layers.unpacked(layer.diff_id)
    assert not (store.layers.dir(layer.diff_id) / "unsynced").exists()
    assert (diff / "etc" / "app.conf").read_bytes() == b"content\n" * 100
    assert store.layers.is_unpacked(layer.diff_id)
