"""builder/rootfs.image_root: an image's layers as one read-only tree for COPY, mounted by
mount(2) itself with the layers' absolute paths, or by `mount` with their short names from
`<root>/l` when the absolute paths do not fit mount(2)'s one page of options; unmounted after."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.builder.rootfs import image_root
from dockyard.digest import Digest
from dockyard.runtime.rootfs import MOUNT_DATA_MAX, is_mounted
from dockyard.store.store import Store


def _layer(store: Store, index: int) -> Digest:
    """A layer that adds f<index> and replaces `top` (the topmost layer's wins)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in (f"f{index}", "top"):
            data = f"{index}\n".encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return store.layers.ingest(buf).diff_id


def _check(store: Store, count: int) -> bool:
    """The merged tree of `count` layers; whether mount(2)'s options could name them absolutely."""
    layers = [_layer(store, i) for i in range(count)]
    with image_root(store, layers) as root:
        assert is_mounted(root)
        assert sorted(os.listdir(root)) == sorted([f"f{i}" for i in range(count)] + ["top"])
        assert (root / "top").read_text() == f"{count - 1}\n"
        with pytest.raises(OSError) as err:
            (root / "new").write_text("x")
        assert err.value.errno == errno.EROFS
    assert not is_mounted(root) and not root.exists()
    names = ":".join(str(store.layers.links / store.layers.link_name(d)) for d in layers)
    return len("lowerdir=" + names) < MOUNT_DATA_MAX


def test_a_few_layers_are_mounted_by_their_absolute_paths(tmp_path: Path) -> None:
    assert _check(Store(tmp_path / "store"), 3)


def test_layers_whose_paths_do_not_fit_are_mounted_by_their_short_names(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 200) / ("e" * 200) / "store"
    assert not _check(Store(deep), 12)  # the fallback was taken, and gives the same tree
