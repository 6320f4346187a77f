"""store.layer_writer: the one way dockyard turns what it made (an overlay upper dir, a tar a
build step writes) into a stored layer. Real directories, real whiteouts (a 0/0 character
device, the trusted.overlay.opaque xattr), read back with tarfile."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.scan import scan_copy
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.image.layer import EMPTY_TAR_DIFF_ID
from dockyard.store.layer_writer import layer_from_directory, write_layer
from dockyard.store.store import Store


def tar_members(layer) -> dict[str, tarfile.TarInfo]:  # noqa: ANN001
    with layer.open() as f:
        data = f.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == str(layer.diff_id)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_upper_dir_becomes_a_layer_with_whiteouts(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "app.conf").write_bytes(b"x" * 1000)
    (upper / "link").symlink_to("etc/app.conf")
    os.mknod(upper / "gone", 0o600 | 0o020000, os.makedev(0, 0))  # an overlay whiteout
    (upper / "fresh").mkdir()
    os.setxattr(upper / "fresh", "trusted.overlay.opaque", b"y")
    layer = layer_from_directory(store.layers, upper)
    assert layer is not None
    members = tar_members(layer)
    assert {"etc", "etc/app.conf", "link", ".wh.gone", "fresh", "fresh/.wh..wh..opq"} <= set(members)
    assert members["etc/app.conf"].size == 1000 and members["link"].linkname == "etc/app.conf"
    assert layer.content_size == 1000 + len("etc/app.conf")
    assert store.layers.exists(layer.diff_id)
    assert list(store.tmp.iterdir()) == []


def test_unchanged_upper_dir_is_no_layer(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    (tmp_path / "upper").mkdir()
    assert layer_from_directory(store.layers, tmp_path / "upper") is None
    assert store.layers.all() == [] and list(store.tmp.iterdir()) == []
    # BuildKit mode keeps a step's empty layer: the empty tar (1024 zero bytes)
    empty = layer_from_directory(store.layers, tmp_path / "upper", keep_empty=True)
    assert empty is not None and empty.diff_id == EMPTY_TAR_DIFF_ID and empty.size == 1024


def test_a_producer_writes_the_layer_or_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    source = tmp_path / "src"
    (source / "d").mkdir(parents=True)
    (source / "d" / "f").write_bytes(b"hello")
    upper_layer = layer_from_directory(store.layers, source)
    assert upper_layer is not None

    def copy_of(out):  # noqa: ANN001, ANN202 - a producer hashing what it writes
        with upper_layer.open() as f:
            return scan_copy(f, out)

    again = write_layer(store.layers, copy_of)
    assert again is not None and again.diff_id == upper_layer.diff_id
    assert write_layer(store.layers, lambda out: out.write(b"junk") and None) is None
    assert list(store.tmp.iterdir()) == []


def test_a_failing_producer_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")

    def fail(out):  # noqa: ANN001, ANN202
        out.write(b"\0" * 4096)
        raise InvalidParameter("the copy failed")

    with pytest.raises(InvalidParameter, match="the copy failed"):
        write_layer(store.layers, fail)
    assert store.layers.all() == [] and list(store.tmp.iterdir()) == []


def test_a_directory_that_cannot_be_read_is_an_error_not_a_layer(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(DockyardError, match="is not a directory"):
        layer_from_directory(store.layers, tmp_path / "missing")
    assert store.layers.all() == [] and list(store.tmp.iterdir()) == []


def test_a_large_upper_dir_is_hashed_as_written(tmp_path: Path) -> None:
    """The tar goes straight to its file (bodies by sendfile) while a second thread reads it back
    behind the writer and hashes it: the diff ID is the stored bytes' sha256, the sizes add up,
    across many writeback ranges and across small files between large ones."""
    store = Store(tmp_path / "store")
    upper = tmp_path / "upper"
    (upper / "data").mkdir(parents=True)
    sizes = {}
    for i in range(6):
        body = os.urandom(3 << 20) + bytes([i]) * (i * 1000 + 1)  # not a multiple of 512
        (upper / "data" / f"big{i}").write_bytes(body)
        (upper / "data" / f"small{i}").write_bytes(b"s" * i)
        sizes[f"data/big{i}"], sizes[f"data/small{i}"] = len(body), i
    layer = layer_from_directory(store.layers, upper)
    assert layer is not None
    members = tar_members(layer)  # checks sha256(stored tar) == diff ID
    assert {name: members[name].size for name in sizes} == sizes
    assert layer.content_size == sum(sizes.values())
    with layer.open() as f:
        assert len(f.read()) == layer.size
    assert list(store.tmp.iterdir()) == []


def test_a_symlink_climbing_above_the_root_is_the_layers_data(tmp_path: Path) -> None:
    """`ln -s ../../etc/passwd /up` in a container: dockerd commits it (its chrooted unpack
    resolves the link inside the root, as the kernel does in the container); so does dockyard,
    the link kept verbatim (tests/interop/test_container_ops compares the two engines)."""
    store = Store(tmp_path / "store")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "big").write_bytes(os.urandom(9 << 20))
    (upper / "up").symlink_to("../../etc/passwd")
    layer = layer_from_directory(store.layers, upper)
    assert layer is not None and tar_members(layer)["up"].linkname == "../../etc/passwd"
    assert list(store.tmp.iterdir()) == []


@pytest.mark.parametrize("small", [True, False])
def test_a_writer_that_fails_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   small: bool) -> None:
    """A fault we cannot cause for real (the disk failing mid-tar): the writer's error is the one
    raised, the scanner reading behind it (a large upper) stops, and no layer or temp file is left."""
    from dockyard.store import layer_writer

    def half(upper, out):  # noqa: ANN001, ANN202
        out.write(b"\0" * (10 << 20))
        out.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(layer_writer, "write_overlay_diff", half)
    store = Store(tmp_path / "store")
    (tmp_path / "upper").mkdir()
    if not small:
        (tmp_path / "upper" / "big").write_bytes(b"b" * (layer_writer._SMALL_BYTES + 1))
    assert layer_writer._is_small(tmp_path / "upper") is small
    with pytest.raises(OSError, match="No space left"):
        layer_from_directory(store.layers, tmp_path / "upper")
    assert store.layers.all() == [] and list(store.tmp.iterdir()) == []


def test_a_small_upper_dir_is_the_same_layer_as_through_the_scan_thread(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A small upper dir (a `RUN true`'s few directories, a config file) is scanned after it is
    written, on the caller's thread: the same layer, byte for byte, as the trailing scan thread
    makes of it; every entry is still checked; the bounds on entries and bytes each make an
    upper dir large."""
    from dockyard.store import layer_writer

    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "conf").write_bytes(b"c" * 5000)
    (upper / "dev").mkdir()
    os.mknod(upper / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    assert layer_writer._is_small(upper)
    inline = layer_from_directory(Store(tmp_path / "a").layers, upper)
    monkeypatch.setattr(layer_writer, "_SMALL_ENTRIES", 0)
    assert not layer_writer._is_small(upper)
    threaded = layer_from_directory(Store(tmp_path / "b").layers, upper)
    assert inline is not None and threaded is not None and inline.diff_id == threaded.diff_id
    with inline.open() as f, threaded.open() as g:
        assert f.read() == g.read()
    monkeypatch.undo()
    (upper / "etc" / "more").write_bytes(b"m" * layer_writer._SMALL_BYTES)
    assert not layer_writer._is_small(upper)
    (upper / "etc" / "more").unlink()
    for i in range(layer_writer._SMALL_ENTRIES):
        (upper / "dev" / f"e{i}").touch()
    assert not layer_writer._is_small(upper)
    small = tmp_path / "small"
    small.mkdir()
    (small / "up").symlink_to("../../etc/passwd")
    store = Store(tmp_path / "c")
    layer = layer_from_directory(store.layers, small)
    assert layer is not None and tar_members(layer)["up"].linkname == "../../etc/passwd"


@pytest.mark.parametrize("small", [True, False])
def test_read_is_called_once_the_upper_dir_is_read_whole(tmp_path: Path, small: bool) -> None:
    """`read` (a commit resumes the container it paused there) comes once the tar is written
    whole, before the layer is hashed to its end, made durable and stored."""
    store = Store(tmp_path / "store")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_bytes(os.urandom(100 if small else 9 << 20))
    seen = []

    def read() -> None:
        (tar,) = [p for p in store.tmp.iterdir() if p.name.startswith("layer-")]
        seen.append((tar.stat().st_size, store.layers.all()))

    layer = layer_from_directory(store.layers, upper, read=read)
    assert layer is not None
    assert seen == [(layer.size, [])]   # the whole tar, and no layer yet
    assert store.layers.exists(layer.diff_id)
