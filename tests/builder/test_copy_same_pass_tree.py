"""A COPY's layer tree is made in the same pass as its tar (archive.apply.LayerTree fed by the
COPY's LayerWriter, builder/copy/layer.CopyTree): the tree must be exactly what unpacking the
written tar gives (apply_layer, overlay format): owners, modes, times, hard links, symlinks,
FIFOs, long and non-ASCII names, --chown/--chmod, an ADD's extracted archive, the image's
existing directories; and where it links the last tree's files by content digest, a file that
changed while it was read ends up as the tar has it."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.apply import LayerTree, apply_layer, entry_of
from dockyard.archive.diff import DIR, FIFO, LNK, REG, SYM, Header, encode_header
from dockyard.archive.tarreader import TarReader
from dockyard.builder.copy import entries
from dockyard.builder.copy.entries import CopyPlan
from dockyard.builder.copy.layer import write_copy_layer
from dockyard.builder.copy.match import collect_sources
from dockyard.errors import InvalidArchive


def _full_snapshot(root: Path) -> dict[str, tuple]:
    """Everything a tree holds, times to the nanosecond (all taken before any file is read:
    a read moves a relatime atime), hard links as groups."""
    stats = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            stats[os.path.relpath(path, root)] = (path, os.lstat(path))
    out: dict[str, tuple] = {}
    first: dict[tuple[int, int], str] = {}
    for rel, (path, st) in sorted(stats.items()):
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFREG:
            content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        elif fmt == stat.S_IFLNK:
            content = os.readlink(path)
        else:
            content = ""
        xattrs = tuple(sorted((k, os.getxattr(path, k, follow_symlinks=False))
                              for k in os.listxattr(path, follow_symlinks=False)))
        group = first.setdefault((st.st_dev, st.st_ino), rel) if fmt != stat.S_IFDIR and st.st_nlink > 1 else ""
        out[rel] = (oct(st.st_mode), st.st_uid, st.st_gid, st.st_rdev, st.st_mtime_ns,
                    None if fmt == stat.S_IFLNK else st.st_atime_ns, content, xattrs, group)
    return out


def _context(root: Path) -> Path:
    rng = random.Random(7)
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "empty").mkdir()
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "zero").write_bytes(b"")
    (root / "big").write_bytes(rng.randbytes((2 << 20) + 123))   # more than one chunk
    (root / "d" / "sub" / "f").write_bytes(rng.randbytes(5000))
    os.link(root / "d" / "sub" / "f", root / "d" / "hard")          # a hard link in the context
    (root / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "suid", 0o6755)                                  # COPY drops set-id bits
    (root / ("long-" + "n" * 120)).write_bytes(b"long name\n")
    (root / "d" / "ünïcødé").write_bytes(b"utf-8 name\n")
    os.symlink("sub/f", root / "d" / "link")
    os.symlink("/nowhere", root / "dangling")
    os.mkfifo(root / "fifo")
    os.chmod(root / "d" / "empty", 0o700)
    for i, p in enumerate(sorted([*root.rglob("*"), root])):
        os.utime(p, ns=(1_600_000_000_000_000_000 + i, 1_650_000_000_123_456_789 + i), follow_symlinks=False)
    return root


def _image(root: Path) -> Path:
    """An image tree the COPY lands in: /srv exists (its owner and mode are kept), /opt is a
    symlink to it."""
    (root / "srv").mkdir(parents=True)
    os.chown(root / "srv", 7, 8)
    os.chmod(root / "srv", 0o750)
    os.symlink("srv", root / "opt")
    return root


def _write(tmp: Path, plan: CopyPlan, patterns: list[str], ctx: Path, image: Path,
           like: Path | None = None, theirs: dict | None = None, sums: object = None,
           kw: str = "COPY", threaded: bool = False) -> tuple[Path, Path, dict[str, str]]:
    """The layer's tar (written with its tree) and the tree; the digests the writer kept."""
    tar, tree = tmp / "layer.tar", tmp / "tree"
    tree.mkdir()
    sources = collect_sources(ctx, patterns, None, kw)
    digests: dict[str, str] = {}
    lt = LayerTree(tree, like=like, theirs=theirs, threaded=threaded)
    try:
        with open(tar, "wb") as out:
            write_copy_layer(out, sources, plan, image, kw, sums, digests, lt)  # type: ignore[arg-type]
        lt.finish()
    finally:
        lt.close()
    return tar, tree, digests


def _unpacked(tar: Path, dest: Path) -> Path:
    dest.mkdir()
    with open(tar, "rb") as f:
        apply_layer(f, dest, whiteout_format="overlay")
    return dest


@pytest.mark.parametrize("plan", [
    CopyPlan("/srv/app/"),
    CopyPlan("/opt/app/", uid=1000, gid=1001, chowned=True),
    CopyPlan("/new/deep/", uid=5, gid=6, chowned=True, chmod=0o640),
    CopyPlan("/srv/", keep_owner=True, classic_owners=True),
], ids=["existing-parent", "through-symlink-chown", "new-parents-chmod", "keep-owner"])
@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
def test_the_tree_is_the_unpacked_tar(tmp_path: Path, plan: CopyPlan, threaded: bool) -> None:
    ctx = _context(tmp_path / "ctx")
    image = _image(tmp_path / "image")
    tar, tree, _ = _write(tmp_path, plan, ["."], ctx, image, threaded=threaded)
    want = _full_snapshot(_unpacked(tar, tmp_path / "want"))
    assert len(want) > 12
    assert _full_snapshot(tree) == want


def test_an_added_archive_is_the_unpacked_tar(tmp_path: Path) -> None:
    """ADD of a local tar: its entries (owners, modes, times, a hard link, a symlink) pass
    through the same writer."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in [("top/", tarfile.DIRTYPE, b""), ("top/f", tarfile.REGTYPE, b"x" * 3000),
                                 ("top/h", tarfile.LNKTYPE, b""), ("top/s", tarfile.SYMTYPE, b"")]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.uid, info.gid = kind, 0o4711, 1_234_567_890, 33, 44
            if kind == tarfile.REGTYPE:
                info.size = len(data)
            if kind == tarfile.LNKTYPE:
                info.linkname = "top/f"
            if kind == tarfile.SYMTYPE:
                info.linkname = "f"
            t.addfile(info, io.BytesIO(data) if data else None)
    (ctx / "a.tar").write_bytes(buf.getvalue())
    image = _image(tmp_path / "image")
    tar, tree, _ = _write(tmp_path, CopyPlan("/srv/x/", extract_archives=True, classic_owners=True),
                          ["a.tar"], ctx, image, kw="ADD")
    want = _full_snapshot(_unpacked(tar, tmp_path / "want"))
    assert want["srv/x/top/f"][8] == "srv/x/top/f" == want["srv/x/top/h"][8]  # one inode
    assert _full_snapshot(tree) == want


class _Sums:
    """The context's records as a FileSums answers content_at: a digest per path."""

    def __init__(self, digests: dict[str, str]) -> None:
        self.digests = digests

    def content_at(self, path: str, st: os.stat_result) -> str | None:
        return self.digests.get(os.fspath(path))


def _digests(ctx: Path) -> dict[str, str]:
    return {os.fspath(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in ctx.rglob("*") if p.is_file() and not p.is_symlink()}


def _plain_context(root: Path) -> Path:
    (root / "d").mkdir(parents=True)
    for i in range(6):
        (root / "d" / f"f{i}").write_bytes(bytes([i]) * (3000 + i))
    for p in [*root.rglob("*"), root]:
        os.utime(p, (1_650_000_000, 1_650_000_000))
    return root


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
def test_like_files_are_linked_by_digest_and_the_tree_is_the_tar(tmp_path: Path, threaded: bool) -> None:
    ctx = _plain_context(tmp_path / "ctx")
    image = _image(tmp_path / "image")
    (first := tmp_path / "first").mkdir()
    _, old_tree, old_digests = _write(first, CopyPlan("/srv/"), ["."], ctx, image, sums=_Sums(_digests(ctx)))
    assert len(old_digests) == 6
    st = os.lstat(ctx / "d" / "f2")
    (ctx / "d" / "f2").write_bytes(b"\xee" * st.st_size)          # same size and mtime, new content
    os.utime(ctx / "d" / "f2", ns=(st.st_atime_ns, st.st_mtime_ns))
    (second := tmp_path / "second").mkdir()
    tar, tree, digests = _write(second, CopyPlan("/srv/"), ["."], ctx, image, like=old_tree,
                                theirs=old_digests, sums=_Sums(_digests(ctx)), threaded=threaded)
    shared = {p.name for p in (tree / "srv" / "d").iterdir()
              if os.lstat(p).st_ino == os.lstat(old_tree / "srv" / "d" / p.name).st_ino}
    assert shared == {f"f{i}" for i in range(6)} - {"f2"}
    # link groups aside, and atimes (the reads above move them)
    strip = lambda snap: {k: v[:5] + v[6:8] for k, v in snap.items()}  # noqa: E731
    assert strip(_full_snapshot(tree)) == strip(_full_snapshot(_unpacked(tar, second / "want")))


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
def test_a_file_changed_while_read_is_rewritten_from_the_tar(tmp_path: Path, monkeypatch,  # noqa: ANN001
                                                             threaded: bool) -> None:
    """Its record's digest said "like's file" (so the tree linked it before reading), but the
    file was not the same once read (fstat differs: here a fault injected into the stat check,
    a race otherwise): the tree's file is made again from the body the tar got, and no digest
    is kept for it."""
    ctx = _plain_context(tmp_path / "ctx")
    image = _image(tmp_path / "image")
    (first := tmp_path / "first").mkdir()
    _, old_tree, old_digests = _write(first, CopyPlan("/srv/"), ["."], ctx, image, sums=_Sums(_digests(ctx)))
    stale = _Sums(_digests(ctx))                                     # f4's record: its old content
    (ctx / "d" / "f4").write_bytes(b"\x01" * 3004)
    monkeypatch.setattr(entries, "same_stat", lambda a, b: False)
    (second := tmp_path / "second").mkdir()
    tar, tree, digests = _write(second, CopyPlan("/srv/"), ["."], ctx, image, like=old_tree,
                                theirs=old_digests, sums=stale, threaded=threaded)
    assert digests == {}
    assert (tree / "srv" / "d" / "f4").read_bytes() == b"\x01" * 3004
    assert os.lstat(tree / "srv" / "d" / "f4").st_nlink == 1
    assert (old_tree / "srv" / "d" / "f4").read_bytes() == bytes([4]) * 3004   # like's untouched
    strip = lambda snap: {k: v[:5] + v[6:8] for k, v in snap.items()}  # noqa: E731
    assert strip(_full_snapshot(tree)) == strip(_full_snapshot(_unpacked(tar, second / "want")))


HEADERS = [
    Header("a", REG, 0o644, 0, 0, 10, 1_650_000_000),
    Header("dir/", DIR, 0o40755, 1000, 1000, 0, 0),
    Header("x/" + "long" * 40, REG, 0o104755, 2 ** 21 + 5, 3, 7, 1),          # PAX path and uid
    Header("ünï/çødé", SYM, 0o120777, 0, 0, 0, 1_650_000_000, linkname="tärget/" + "l" * 120),
    Header("h", LNK, 0o100644, 0, 0, 0, 5, linkname="a"),
    Header("p", FIFO, 0o10600, 0, 0, 0, -12),                                 # before 1970: PAX mtime
    Header("far", REG, 0o644, 0, 0, 0, 8 ** 11 + 3),                          # beyond ustar: PAX mtime
    Header("x", REG, 0o644, 0, 0, 3, 0, xattrs={"user.a": b"\x00\xff", "security.capability": b"c"}),
    Header("bad\udcff", REG, 0o644, 0, 0, 0, 0),                              # a non-UTF-8 name
]


@pytest.mark.parametrize("h", HEADERS, ids=lambda h: h.name[:12])
def test_entry_of_is_what_a_reader_reads(h: Header) -> None:
    data = encode_header(h) + bytes(-(-h.size // 512) * 512 if h.type == REG else 0) + bytes(1024)
    [read] = list(TarReader(io.BytesIO(data)))
    assert entry_of(h.name, h.type, h.mode, h.uid, h.gid, h.size, h.mtime, h.linkname,
                    h.devmajor, h.devminor, h.xattrs) == read


def test_entry_of_refuses_what_a_reader_refuses() -> None:
    with pytest.raises(InvalidArchive, match="uid"):
        entry_of("a", REG, 0o644, 1 << 40, 0, 0, 0)
    with pytest.raises(InvalidArchive, match="empty entry name"):
        entry_of("", REG, 0o644, 0, 0, 0, 0)


@pytest.mark.parametrize("mode", ["classic", "buildkit"])
def test_a_build_publishes_the_copy_tree_its_tar_unpacks_to(dockyard, busybox: str, tmp_path: Path,  # noqa: ANN001
                                                              mode: str) -> None:
    """Both builders: the COPY layer's published tree (made as the tar was written; the RUN
    after it used it) is what apply_layer makes of the stored layer.tar. BuildKit mode with
    SOURCE_DATE_EPOCH (so that a build is reproducible): a fresh store gives the same image ID
    as this one, whose COPY linked the files of its first build's tree."""
    import json

    from dockyard.store.store import Store
    from tests.builder.conftest import fresh_store_image_id

    ctx = _context(tmp_path / "ctx")
    os.unlink(ctx / "fifo")   # the docker CLI refuses to send one; keep the two modes alike
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --chown=7:8 . /srv/app/\nRUN test -s /srv/app/big\n")
    env = {"DOCKER_BUILDKIT": "1" if mode == "buildkit" else "0"}
    dockyard("build", "-q", "-t", "app:1", str(ctx), env=env)
    from dockyard.digest import Digest

    store = Store(dockyard.root)
    image_id = json.loads(dockyard("image", "inspect", "app:1").stdout)[0]["Id"]
    image = store.image(Digest.parse(image_id))
    copy = [d for d in image.config.diff_ids if (store.layers.dir(d) / "layer.tar").is_file()
            and b"srv/app/big" in (store.layers.dir(d) / "layer.tar").read_bytes()]
    assert len(copy) == 1
    assert store.layers.is_unpacked(copy[0])
    want = _unpacked(store.layers.dir(copy[0]) / "layer.tar", tmp_path / "want")
    assert _full_snapshot(store.layers.dir(copy[0]) / "diff") == _full_snapshot(want)
    assert not [p for p in Path(store.layers.tmp).glob("diff-*")]
    if mode == "classic":
        return
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    (ctx / "a.txt").write_bytes(b"changed\n")
    dockyard("build", "-q", "-t", "app:2", str(ctx), env=env)
    assert fresh_store_image_id(dockyard, tmp_path, ctx, "app:2", env) == \
        json.loads(dockyard("image", "inspect", "app:2").stdout)[0]["Id"]


@pytest.mark.parametrize("mode", ["classic", "buildkit"])
def test_no_tree_for_a_copy_no_later_step_reads(dockyard, busybox: str, tmp_path: Path, mode: str) -> None:  # noqa: ANN001
    """A COPY whose files no later step reads (the last step; no tree of the same COPY to lend
    files) makes no tree: the layer is unpacked when a container first needs it. After a
    RUN-less step such as CMD too; a WORKDIR after it reads the image."""
    import json

    from dockyard.digest import Digest
    from dockyard.store.store import Store

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").write_text("a\n")
    (ctx / "b").write_text("b\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a /a\nWORKDIR /w\nCOPY b /b\nCMD [\"sh\"]\n")
    env = {"DOCKER_BUILDKIT": "1" if mode == "buildkit" else "0"}
    dockyard("build", "-q", "-t", "app:1", str(ctx), env=env)
    store = Store(dockyard.root)
    image = store.image(Digest.parse(json.loads(dockyard("image", "inspect", "app:1").stdout)[0]["Id"]))
    *_, copy_a, workdir, copy_b = image.config.diff_ids
    assert store.layers.is_unpacked(copy_a)
    assert not store.layers.is_unpacked(copy_b)
    assert dockyard("run", "--rm", "app:1", "cat", "/a", "/b").stdout == "a\nb\n"
    assert store.layers.is_unpacked(copy_b)


def test_the_trees_thread_reports_what_it_fails_on(tmp_path: Path) -> None:
    """Threaded: an entry the tree refuses (a hard link to nothing) is raised by a later `add`
    or by `finish`, in the writer's thread; nothing hangs, and close() stops the thread."""
    import threading

    tree = LayerTree(tmp_path, threaded=True)
    try:
        tree.add(entry_of("h", LNK, 0o644, 0, 0, 0, 0, linkname="missing"))
        with pytest.raises(InvalidArchive, match="does not exist"):
            for i in range(100):
                tree.add(entry_of(f"f{i}", REG, 0o644, 0, 0, 0, 0))
            tree.finish()
    finally:
        tree.close()
    assert not [t for t in threading.enumerate() if t.name == "layer-tree"]


def test_a_writer_failing_in_a_body_leaves_no_thread(tmp_path: Path) -> None:
    """The writer stops in the middle of a file's body (the source shrank): close() ends the
    thread that waits for the rest of it."""
    import threading

    class Failing:
        def __init__(self) -> None:
            self.n = 0

        def read_body(self) -> bytes:
            self.n += 1
            if self.n > 2:
                raise OSError("the source went away")
            return b"x" * (1 << 20)

    tree = LayerTree(tmp_path, threaded=True)
    try:
        with pytest.raises(OSError, match="went away"):
            tree.add(entry_of("big", REG, 0o644, 0, 0, 5 << 20, 0), Failing())
    finally:
        tree.close()
    assert not [t for t in threading.enumerate() if t.name == "layer-tree"]


def test_a_sources_walk_is_kept_for_its_next_reader(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """source_walk: the first whole walk is kept with the source and given again (the same
    entries a new walk finds, stats included); not when it is cut short, longer than
    WALK_KEPT, or asked for the other way (.dockerignore's excluded directories)."""
    from dockyard.builder.copy import match
    from dockyard.builder.dockerignore import IgnoreMatcher

    ctx = _plain_context(tmp_path / "ctx")
    [source] = collect_sources(ctx, ["."], None, "COPY")
    walk = match.source_walk(source)
    next(iter(walk))
    assert source.walked is None                                   # cut short: nothing kept
    first = list(match.source_walk(source))
    assert source.walked is not None and match.source_walk(source) is source.walked
    key = lambda walk: [(rel, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns) for rel, st in walk]  # noqa: E731
    assert key(first) == key(match.walk_source(ctx, "", None)) == key(source.walked)
    monkeypatch.setattr(match, "WALK_KEPT", 3)
    [other] = collect_sources(ctx, ["."], None, "COPY")
    assert len(list(match.source_walk(other))) == 7 and other.walked is None
    ignore = IgnoreMatcher(["d", "!d/f1"])
    [ignored] = collect_sources(ctx, ["."], ignore, "COPY")
    ignored.cli_excludes = True
    cli = list(match.source_walk(ignored))
    assert ignored.walked == cli
    assert match.source_walk(ignored, cli=False) is not ignored.walked


def test_the_diff_id_hashed_behind_the_writer_is_the_tars(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A COPY of a directory hashes its tar in a thread reading it back behind the writer: the
    diff ID is the sha256 of the file written (and what hashing in the writer gives); a writer
    that fails leaves no hashing thread."""
    import threading

    from dockyard.builder.copy import entries

    from dockyard.builder.copy import layer
    from dockyard.store import layer_writer

    monkeypatch.setattr(layer, "MANY_FILES", 1)   # this small context too
    started = []
    monkeypatch.setattr(layer_writer.HashBehind, "_run", lambda self, real=layer_writer.HashBehind._run:
                        (started.append(1), real(self))[1])
    ctx = _context(tmp_path / "ctx")
    image = _image(tmp_path / "image")
    sources = collect_sources(ctx, ["."], None, "COPY")
    with open(tmp_path / "a.tar", "wb") as out:
        behind = write_copy_layer(out, sources, CopyPlan("/srv/"), image, "COPY")
    assert started
    data = (tmp_path / "a.tar").read_bytes()
    assert behind.diff_id.hex == hashlib.sha256(data).hexdigest() and behind.tar_size == len(data)
    w = entries.LayerWriter(io.BytesIO(), hash_behind=False)
    w._write(data[:-1024])
    assert w.finish().diff_id == behind.diff_id
    monkeypatch.setattr(layer, "emit", lambda *a, **k: (_ for _ in ()).throw(OSError("source gone")))
    with open(tmp_path / "b.tar", "wb") as out, pytest.raises(OSError, match="source gone"):
        write_copy_layer(out, collect_sources(ctx, ["."], None, "COPY"), CopyPlan("/srv/"), image, "COPY")
    assert not [t for t in threading.enumerate() if t.name == "hash-behind"]


def test_threads_only_for_many_files(tmp_path: Path) -> None:
    """many_files: a directory walked whole with few small files is made inline; many entries,
    many bytes, or a walk not kept, use the threads."""
    from dockyard.builder.copy import layer
    from dockyard.builder.copy.match import source_walk

    ctx = _plain_context(tmp_path / "ctx")
    [source] = collect_sources(ctx, ["."], None, "COPY")
    assert layer.many_files([source])                     # not walked yet
    list(source_walk(source))
    assert not layer.many_files([source])                 # 7 entries, 18 KB
    (ctx / "big").write_bytes(b"\0" * layer.MANY_BYTES)
    [bigger] = collect_sources(ctx, ["."], None, "COPY")
    list(source_walk(bigger))
    assert layer.many_files([bigger])
    for i in range(layer.MANY_FILES):
        (ctx / "d" / f"n{i}").write_bytes(b"")
    [more] = collect_sources(ctx, ["d"], None, "COPY")
    list(source_walk(more))
    assert layer.many_files([more])
