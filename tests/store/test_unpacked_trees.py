"""A layer's unpacked tree is not synced (it is made again from the durable layer.tar): the host's
boot ID recorded with it says in which boot it may be trusted; a tree of another boot (the host
went down since) counts as not unpacked and is made again; without a boot ID it is synced. The
record and the link name are not fsynced: a tree whose record is missing or torn is not trusted,
and a lost link name comes back the same (it follows from the diff ID)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.atomic import read_checked, replace_checked
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


def _boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _other(boot: str) -> str:
    return "0" * 8 + boot[8:] if not boot.startswith("0" * 8) else "f" * len(boot)


def test_a_tree_records_its_boot_and_is_made_again_after_another(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = _layer(store)
    diff = store.layers.unpacked(layer.diff_id)
    record = store.layers.dir(layer.diff_id) / "tree"
    boot = _boot()
    assert read_checked(record) == boot.encode()
    assert store.layers.is_unpacked(layer.diff_id)
    # what a power cut may leave of a tree nobody synced: a file emptied, the link still there
    (diff / "etc" / "app.conf").write_bytes(b"")
    replace_checked(record, _other(boot).encode())
    assert not store.layers.is_unpacked(layer.diff_id)
    again = store.layers.unpacked(layer.diff_id)
    assert again == diff
    assert (diff / "etc" / "app.conf").read_bytes() == b"content\n" * 100
    assert read_checked(record) == boot.encode() and store.layers.is_unpacked(layer.diff_id)


@pytest.mark.parametrize("loss", ["record gone", "record torn", "record empty"])
def test_a_tree_without_a_whole_record_is_made_again(tmp_path: Path, loss: str) -> None:
    """What a power cut may leave of the record it never fsynced, beside a diff/ whose rename
    was written back."""
    store = Store(tmp_path / "store")
    layer = _layer(store)
    diff = store.layers.unpacked(layer.diff_id)
    record = store.layers.dir(layer.diff_id) / "tree"
    (diff / "etc" / "app.conf").write_bytes(b"")
    if loss == "record gone":
        record.unlink()
    elif loss == "record torn":
        record.write_bytes(record.read_bytes()[:-3])
    else:
        record.write_bytes(b"")
    assert not store.layers.is_unpacked(layer.diff_id)
    assert store.layers.unpacked(layer.diff_id) == diff
    assert (diff / "etc" / "app.conf").read_bytes() == b"content\n" * 100
    assert store.layers.is_unpacked(layer.diff_id)


@pytest.mark.parametrize("link", ["", "\0" * 26])
def test_a_lost_link_name_names_the_same_short_link(tmp_path: Path, link: str) -> None:
    store = Store(tmp_path / "store")
    layer = _layer(store)
    store.layers.unpacked(layer.diff_id)
    name = store.layers.link_name(layer.diff_id)
    assert name == layers_module.short_link(layer.diff_id)
    assert (store.root / "l" / name).resolve() == (store.layers.dir(layer.diff_id) / "diff").resolve()
    (store.layers.dir(layer.diff_id) / "link").write_text(link)   # what a power cut may leave
    assert not store.layers.is_unpacked(layer.diff_id)
    store.layers.unpacked(layer.diff_id)
    assert store.layers.link_name(layer.diff_id) == name and store.layers.is_unpacked(layer.diff_id)
    assert os.listdir(store.root / "l") == [name]


def test_an_older_versions_record_is_read(tmp_path: Path) -> None:
    """A tree an older version unpacked: `unsynced` (fsynced) holds the boot ID, no `tree`."""
    store = Store(tmp_path / "store")
    layer = _layer(store)
    store.layers.unpacked(layer.diff_id)
    layer_dir = store.layers.dir(layer.diff_id)
    (layer_dir / "tree").unlink()
    (layer_dir / "unsynced").write_text(_boot())
    assert store.layers.is_unpacked(layer.diff_id)
    (layer_dir / "unsynced").write_text(_other(_boot()))
    assert not store.layers.is_unpacked(layer.diff_id)
    store.layers.unpacked(layer.diff_id)
    assert not (layer_dir / "unsynced").exists() and read_checked(layer_dir / "tree") == _boot().encode()


def test_without_a_boot_id_the_tree_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a host without /proc/sys/kernel/random/boot_id cannot be made here: the reader's answer is set
    monkeypatch.setattr(layers_module, "_boot", [None])
    store = Store(tmp_path / "store")
    layer = _layer(store)
    diff = store.layers.unpacked(layer.diff_id)
    assert read_checked(store.layers.dir(layer.diff_id) / "tree") == b"synced"
    assert (diff / "etc" / "app.conf").read_bytes() == b"content\n" * 100
    assert store.layers.is_unpacked(layer.diff_id)
