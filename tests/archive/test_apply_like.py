"""apply_layer(like=TREE): a layer unpacked next to another layer's tree hard-links the files
that are equal there (mode, owner, mtime, size, xattrs and content) and writes the others; the
tree is the one an unpacking without `like` makes, and stays whole when the other tree goes."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.apply import apply_layer
from dockyard.errors import InvalidArchive

from .conftest import snapshot

MTIME = 1_600_000_000
BIG = 3 << 20   # more than one read chunk: a difference after the first is copied from there


def _tar(files: dict[str, tuple[bytes, int, int, dict[str, str]]], extra=None) -> bytes:  # noqa: ANN001
    """name -> (content, mode, mtime, xattrs), their directories first; `extra(tar)` adds more."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(n) for n in files if os.path.dirname(n)})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for name, (data, mode, mtime, xattrs) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return buf.getvalue()


def _unpack(data: bytes, dest: Path, like: Path | None = None) -> Path:
    dest.mkdir()
    apply_layer(io.BytesIO(data), dest, like=like)
    return dest


def _same_tree(a: Path, b: Path) -> None:
    """Equal but for the link count (the shared files have 2)."""
    strip = lambda snap: {k: v[:7] for k, v in snap.items()}  # noqa: E731
    assert strip(snapshot(a)) == strip(snapshot(b))


def test_equal_files_are_linked_and_the_rest_written(tmp_path: Path) -> None:
    big = os.urandom(BIG)
    old = {
        "a": (b"same\n" * 1000, 0o644, MTIME, {}),
        "big": (big, 0o644, MTIME, {}),
        "head": (b"x" * 5000, 0o644, MTIME, {}),
        "x": (b"xattr", 0o644, MTIME, {"user.k": "1"}),
        "x2": (b"xattr", 0o644, MTIME, {"user.k": "1"}),
        "d/mode": (b"mode", 0o644, MTIME, {}),
        "d/time": (b"time", 0o644, MTIME, {}),
        "d/size": (b"size", 0o644, MTIME, {}),
        "suid": (b"suid", 0o4755, MTIME, {}),
    }
    new = dict(old)
    new["big"] = (big[: BIG - 10] + b"0123456789", 0o644, MTIME, {})   # same header, new tail
    new["head"] = (b"y" + b"x" * 4999, 0o644, MTIME, {})               # differs at byte 0
    new["x"] = (b"xattr", 0o644, MTIME, {"user.k": "2"})
    new["d/mode"] = (b"mode", 0o600, MTIME, {})
    new["d/time"] = (b"time", 0o644, MTIME + 1, {})
    new["d/size"] = (b"sizes", 0o644, MTIME, {})
    new["fresh"] = (b"new", 0o644, MTIME, {})
    like = _unpack(_tar(old), tmp_path / "like")
    layer = _tar(new)
    reference = _unpack(layer, tmp_path / "reference")
    tree = _unpack(layer, tmp_path / "tree", like=like)
    _same_tree(tree, reference)
    shared = {p for p in old if os.lstat(tree / p).st_ino == os.lstat(like / p).st_ino}
    assert shared == {"a", "x2", "suid"}
    assert os.lstat(tree / "a").st_nlink == 2 and os.lstat(tree / "fresh").st_nlink == 1
    assert (tree / "big").read_bytes() == new["big"][0] and (tree / "head").read_bytes() == new["head"][0]
    shutil.rmtree(like)                    # the other tree goes: this one is whole
    _same_tree(tree, reference)


def test_only_regular_files_inside_the_tree_are_shared(tmp_path: Path) -> None:
    """`like`'s names are looked up without following a symlink: its `d` leading to a
    directory outside, whose `e` equals the entry, lends nothing; nor does a FIFO or a
    directory at a file's name, nor a hard-linked name met in the layer."""
    files = {"d/e": (b"eee", 0o644, MTIME, {}), "f": (b"fff", 0o644, MTIME, {}),
             "g": (b"ggg", 0o644, MTIME, {})}
    outside = tmp_path / "outside"
    _unpack(_tar({"e": files["d/e"]}), outside)
    like = tmp_path / "like"
    like.mkdir()
    os.symlink(os.fspath(outside), like / "d")
    os.mkfifo(like / "f")
    (like / "g").mkdir()

    def hardlink(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("h")
        info.type, info.linkname, info.mtime = tarfile.LNKTYPE, "g", MTIME
        tar.addfile(info)

    layer = _tar(files, hardlink)
    tree = _unpack(layer, tmp_path / "tree", like=like)
    _same_tree(tree, _unpack(layer, tmp_path / "reference"))
    assert os.lstat(tree / "d" / "e").st_ino != os.lstat(outside / "e").st_ino
    assert os.lstat(tree / "g").st_ino == os.lstat(tree / "h").st_ino
    assert os.lstat(tree / "g").st_nlink == 2


def test_equal_digests_are_linked_unread_and_others_compared(tmp_path: Path) -> None:
    """With `sums`, a file whose two digests are equal is linked without its body being read or
    compared (the digests are its writer's word: here they claim equal for a body that is not,
    and the tree takes like's file); unequal or unknown digests fall back to comparing."""
    old = {"a": (b"A" * 100, 0o644, MTIME, {}), "b": (b"B" * 100, 0o644, MTIME, {}),
           "c": (b"C" * 100, 0o644, MTIME, {})}
    new = {"a": (b"a" * 100, 0o644, MTIME, {}), "b": (b"b" * 100, 0o644, MTIME, {}),
           "c": (b"C" * 100, 0o644, MTIME, {})}
    like = _unpack(_tar(old), tmp_path / "like")
    tree = tmp_path / "tree"
    tree.mkdir()
    layer = tmp_path / "layer.tar"
    layer.write_bytes(_tar(new))
    with open(layer, "rb") as f:
        apply_layer(f, tree, like=like, sums=({"a": "1", "b": "2"}, {"a": "1", "b": "3"}))
    assert os.lstat(tree / "a").st_ino == os.lstat(like / "a").st_ino     # taken on the digests' word
    assert (tree / "b").read_bytes() == b"b" * 100                          # compared: different
    assert os.lstat(tree / "c").st_ino == os.lstat(like / "c").st_ino     # compared: equal


def test_a_truncated_body_skipped_by_seeking_is_an_error(tmp_path: Path) -> None:
    """The body of a file linked on its digests is skipped by a seek: past the end of the tar
    file that is still truncation."""
    like = _unpack(_tar({"a": (b"A" * 5000, 0o644, MTIME, {})}), tmp_path / "like")
    layer = tmp_path / "layer.tar"
    data = _tar({"a": (b"A" * 5000, 0o644, MTIME, {})})
    cut = data.index(b"A" * 5000) + 100   # inside the body of `a`, which is linked, not read
    layer.write_bytes(data[:cut])
    (tmp_path / "tree").mkdir()
    with open(layer, "rb") as f, pytest.raises(InvalidArchive, match="truncated"):
        apply_layer(f, tmp_path / "tree", like=like, sums=({"a": "1", "b": "2"}, {"a": "1", "b": "2"}))
