"""A COPY of the context copies, byte for byte, the members of its unchanged files (and its
header-only members) from the tar the same COPY made last time (builder/copy/reuse.py): the
tar is the one a fresh write gives, only the changed files are read, and the tree made in the
same pass is the unpacked tar, its unchanged files linked from the last tree."""

from __future__ import annotations

import hashlib
import json
import os
import time
import types
from pathlib import Path

import pytest

from dockyard.archive.apply import LayerTree, apply_layer
from dockyard.builder.copy import entries, layer
from dockyard.builder.copy.entries import CopyPlan
from dockyard.builder.copy.layer import write_copy_layer
from dockyard.builder.copy.match import collect_sources
from dockyard.builder.copy.reuse import Members
from dockyard.digest import Digest
from dockyard.store import filesums
from dockyard.store.store import Store
from tests.builder.conftest import fresh_store_image_id
from tests.builder.test_copy_same_pass_tree import _full_snapshot, _image, _Sums


def _ctx(root: Path, files: int = 8) -> Path:
    for i in range(files):
        d = root / f"d{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(bytes([i % 256]) * (700 * (i % 16) + 3))
    (root / "empty").write_bytes(b"")
    for p in [*root.rglob("*"), root]:
        os.utime(p, (1_650_000_000, 1_650_000_000))
    return root


def _digests(ctx: Path) -> dict[str, str]:
    return {os.fspath(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in ctx.rglob("*") if p.is_file()}


def _write(tmp: Path, ctx: Path, image: Path, members: Members | None, like: Path | None = None,
           theirs: dict | None = None, threaded: bool = False) -> tuple[Path, Path, dict[str, str]]:
    tar, tree = tmp / "layer.tar", tmp / "tree"
    tmp.mkdir()
    tree.mkdir()
    digests: dict[str, str] = {}
    lt = LayerTree(tree, like=like, theirs=theirs, threaded=threaded)
    try:
        with open(tar, "wb") as out:
            write_copy_layer(out, collect_sources(ctx, ["."], None, "COPY"), CopyPlan("/srv/app/"), image,
                             "COPY", _Sums(_digests(ctx)), digests, lt, members)  # type: ignore[arg-type]
        lt.finish()
    finally:
        lt.close()
    return tar, tree, digests


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
def test_unchanged_members_are_copied_from_the_last_tar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         threaded: bool) -> None:
    monkeypatch.setattr(layer, "MANY_FILES", 1)   # the tar hashed behind its writer: members are kept
    monkeypatch.setattr(layer, "time", types.SimpleNamespace(time=lambda: 1_700_000_000.5))  # new dirs' mtime
    reads: list[int] = []
    monkeypatch.setattr(entries, "_FdReader", lambda fd, real=entries._FdReader: (reads.append(fd), real(fd))[1])
    ctx = _ctx(tmp_path / "ctx")
    image = _image(tmp_path / "image")
    first = Members()
    old_tar, old_tree, old_digests = _write(tmp_path / "first", ctx, image, first)
    assert len(reads) == 9 and set(first.new) >= {"srv/app/d0/f0", "srv/app/d1/", "srv/app/empty"}
    # one file changed (same size and mtime), one's mode changed: only they are read again
    st = os.lstat(ctx / "d1" / "f4")
    (ctx / "d1" / "f4").write_bytes(b"\xee" * st.st_size)
    os.utime(ctx / "d1" / "f4", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.chmod(ctx / "d2" / "f5", 0o600)
    reads.clear()
    members = Members.of_tar(os.fspath(old_tar), first.new)
    members.of_like = True
    try:
        tar, tree, digests = _write(tmp_path / "second", ctx, image, members, like=old_tree, theirs=old_digests,
                                    threaded=threaded)
    finally:
        members.close()
    assert len(reads) == 2
    fresh, _, _ = _write(tmp_path / "fresh", ctx, image, None)
    assert tar.read_bytes() == fresh.read_bytes()
    assert set(members.new) == set(first.new)
    assert digests == {name: d for name, d in old_digests.items() if name != "srv/app/d1/f4"} | \
        {"srv/app/d1/f4": hashlib.sha256(b"\xee" * st.st_size).hexdigest()}
    (want := tmp_path / "want").mkdir()
    with open(tar, "rb") as f:
        apply_layer(f, want, whiteout_format="overlay")
    strip = lambda snap: {k: v[:5] + v[6:8] for k, v in snap.items()}  # noqa: E731 - no atimes, link groups
    assert strip(_full_snapshot(tree)) == strip(_full_snapshot(want))
    shared = {p.relative_to(tree).as_posix() for p in tree.rglob("f*")
              if os.lstat(p).st_ino == os.lstat(old_tree / p.relative_to(tree)).st_ino}
    assert shared == {f"srv/app/d{i % 3}/f{i}" for i in range(8)} - {"srv/app/d1/f4", "srv/app/d2/f5"}


def test_an_index_that_does_not_fit_is_not_used(tmp_path: Path) -> None:
    """A member is taken only at its name, with its key and length; none without a tar."""
    (tar := tmp_path / "t").write_bytes(b"x" * 2048)
    members = Members.of_tar(os.fspath(tar), {"a": [512, 1024, "k"], "b": ["0", 512, "k"]})
    try:
        assert members.find("a", "k", 1024) == 512
        assert members.find("a", "other", 1024) is None
        assert members.find("a", "k", 1536) is None
        assert members.find("b", "k", 512) is None
        assert members.find("c", "k", 512) is None
    finally:
        members.close()
    assert Members.of_tar(os.fspath(tmp_path / "none"), {"a": [0, 512, "k"]}).find("a", "k", 512) is None


DOCKERFILE = """\
FROM busybox
COPY . /ctx/
RUN cd /ctx && find . -type f | sort | xargs cat | md5sum > /sum
"""


@pytest.mark.parametrize("mode", ["classic", "buildkit"])
def test_a_build_of_a_changed_context_copies_members(dockyard, busybox: str, tmp_path: Path,  # noqa: ANN001
                                                      mode: str) -> None:
    """A context of many files (the COPY keeps its members' index) built, one file changed, built
    again: the second COPY layer's tar is the context (its RUN sees the new file), its tree the
    unpacked tar; in BuildKit mode with SOURCE_DATE_EPOCH the image is the one a fresh store
    builds."""
    ctx = _ctx(tmp_path / "ctx", files=layer.MANY_FILES + 10)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    os.utime(ctx / "Dockerfile", (1_650_000_000, 1_650_000_000))
    time.sleep(filesums.trust_margin(os.lstat(ctx / "Dockerfile")) / 1e9 + 0.1)   # old enough to be recorded
    env = {"DOCKER_BUILDKIT": "1" if mode == "buildkit" else "0", "SOURCE_DATE_EPOCH": "1700000000"}
    dockyard("build", "-q", "-t", "app:1", str(ctx), env=env)
    store = Store(dockyard.root)

    def copy_layer() -> Digest:
        """The layer the COPY made last (the context's records keep it; with SOURCE_DATE_EPOCH
        the image has its times clamped)."""
        [path] = (dockyard.root / "filesums").iterdir()
        [diff_id] = json.loads(path.read_bytes().partition(b"\n")[2])["layers"].values()
        return Digest("sha256", diff_id)

    first = copy_layer()
    assert len(store.layers.members(first)) > layer.MANY_FILES
    st = os.lstat(ctx / "d1" / "f7")
    (ctx / "d1" / "f7").write_bytes(b"\xee" * st.st_size)
    dockyard("build", "-q", "-t", "app:2", str(ctx), env=env)
    second = copy_layer()
    # the changed file's member is written anew; it is indexed only if the file was old enough
    # to be recorded when the build read it (100 ms on this file system: a loaded machine gets
    # there), so the comparison leaves it out
    changed = {"ctx/d1/f7"}
    assert second != first
    assert store.layers.members(second).keys() - changed == store.layers.members(first).keys() - changed
    data = (store.layers.dir(second) / "layer.tar").read_bytes()
    assert hashlib.sha256(data).hexdigest() == second.hex
    (want := tmp_path / "want").mkdir()
    with open(store.layers.dir(second) / "layer.tar", "rb") as f:
        apply_layer(f, want, whiteout_format="overlay")
    assert {p.relative_to(want / "ctx").as_posix(): p.read_bytes() for p in (want / "ctx").rglob("*") if p.is_file()} \
        == {p.relative_to(ctx).as_posix(): p.read_bytes() for p in ctx.rglob("*") if p.is_file()}
    assert store.layers.is_unpacked(second)
    strip = lambda snap: {k: v[:5] + v[6:8] for k, v in snap.items()}  # noqa: E731
    assert strip(_full_snapshot(store.layers.dir(second) / "diff")) == strip(_full_snapshot(want))
    whole = hashlib.md5(b"".join((ctx / p).read_bytes() for p in sorted(
        p.relative_to(ctx).as_posix() for p in ctx.rglob("*") if p.is_file()))).hexdigest()
    assert dockyard("run", "--rm", "app:2", "cat", "/sum").stdout.split()[0] == whole
    if mode == "buildkit":
        assert fresh_store_image_id(dockyard, tmp_path, ctx, "app:2", env) == \
            json.loads(dockyard("image", "inspect", "app:2").stdout)[0]["Id"]
