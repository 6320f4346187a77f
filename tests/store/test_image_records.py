"""add_image writes the image's record to a temp file before it makes the config blob durable
(ImageRecords.prepare: one journal commit takes both) and renames it into place only after the
blob: the record is whole and names its parent, nothing is left in the process's temp folder
when the image is added, when it was there already, or when the blob cannot be written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.store import workspace
from dockyard.store.store import Store


def _config(n: int) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": [f"N={n}"]},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def _leftovers(store: Store) -> list[str]:
    return [n for n in os.listdir(workspace.folder(store.tmp_root)) if ".json." in n]


def test_a_record_is_written_after_its_blob_and_leaves_no_temp_file(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    parent = store.add_image(_config(1), [])
    child = store.add_image(_config(2), [], parent=parent.id, publish=False)
    assert store.records.get(child.id).parent == parent.id and store.records.get(parent.id).parent is None
    assert store.blobs.read(child.id) == _config(2)
    assert store.add_image(_config(2), [], parent=parent.id).id == child.id  # there already
    assert _leftovers(store) == []

    def fail(*_a: object, **_k: object) -> Digest:  # a full disk at the blob's write
        raise DockyardError("no space left on device")

    monkeypatch.setattr(type(store.blobs), "put_bytes", fail)
    with pytest.raises(DockyardError):
        store.add_image(_config(3), [])
    assert _leftovers(store) == []
    assert sorted(store.image_ids()) == sorted([parent.id, child.id])


def test_a_tag_is_written_before_the_images_fsync_and_put_after_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Store.tag writes the new repositories.json (atomic.prepare_write) before the fsync that
    publishes the image, and puts it in place only after it: a failed publish leaves the names
    as they were and no temp file."""
    from dockyard.reference import parse_normalized

    store = Store(tmp_path / "store")
    image = store.add_image(_config(1), [], publish=False)
    store.tag(image.id, parse_normalized("app:1"))
    assert store.tags.get(parse_normalized("app:1")) == image.id

    def fail(*_a: object, **_k: object) -> None:  # the disk fails at the publishing fsync
        raise OSError(5, "Input/output error")

    other = store.add_image(_config(2), [], publish=False)
    monkeypatch.setattr(type(store), "publish_images", fail)
    with pytest.raises(OSError):
        store.tag(other.id, parse_normalized("app:2"))
    assert store.tags.get(parse_normalized("app:2")) is None
    assert store.tags.get(parse_normalized("app:1")) == image.id
    assert [n for n in os.listdir(workspace.folder(store.tmp_root)) if n.startswith(".")] == []
