"""The per-file checksums kept for a build context (store/filesums.py) and their use by COPY's
cache checksum (builder/copy/checksum.py) and file list (manifest.py).

A record is used only while the file's stat is what it was: each test that changes a file
first plants a wrong checksum in the record of the file as it was (proving the record is read:
the unchanged file gives the planted value), then changes the file one way (content with size
and mtime put back, mode, owner, an xattr, another inode renamed over it) and shows the planted
value is no longer used. Records are made here with trust_after=0 (files written by the test
are younger than the margins); one test shows a margin refuses such a young file, others which
margin a file system gets."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from dockyard.builder.copy.checksum import checksum
from dockyard.builder.copy.manifest import source_manifest
from dockyard.builder.copy.match import collect_sources
from dockyard.store import filesums
from dockyard.store.filesums import FileSums

PLANTED = "0" * 64


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "d").mkdir(parents=True)
    (ctx / "d" / "a").write_bytes(b"alpha\n" * 100)
    (ctx / "d" / "b").write_bytes(b"beta\n" * 100)
    (ctx / "c").write_bytes(b"gamma\n")
    return ctx


def _sum(ctx: Path, sums: FileSums | None, path: str = ".") -> str:
    [source] = collect_sources(ctx, [path], None, "COPY")
    return checksum(source, sums)


def _plant(sums: FileSums, rel: str) -> None:
    """Replace the checksum recorded for `rel` with a wrong one (same stat key, same header)."""
    rec = sums._records[rel]
    rec[10] = PLANTED


def _loaded(store_root: Path, ctx: Path) -> FileSums:
    return FileSums(store_root, os.fspath(ctx), trust_after=0)


def _recorded(store_root: Path, ctx: Path, rel: str) -> FileSums:
    """Records of the whole context saved, then reloaded with `rel`'s checksum planted."""
    sums = _loaded(store_root, ctx)
    _sum(ctx, sums)
    sums.save()
    again = _loaded(store_root, ctx)
    assert rel in again._records
    _plant(again, rel)
    return again


def test_records_give_the_same_checksums_and_are_used(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    plain = _sum(ctx, None)
    sums = _loaded(tmp_path / "store", ctx)
    assert _sum(ctx, sums) == plain
    sums.save()
    again = _loaded(tmp_path / "store", ctx)
    assert len(again._records) == 3
    assert _sum(ctx, again) == plain
    _plant(again, "d/a")
    assert _sum(ctx, again) != plain      # the record is what the checksum took


@pytest.mark.parametrize("change", ["content", "chmod", "chown", "xattr", "swap"])
def test_a_changed_file_misses(tmp_path: Path, change: str) -> None:
    ctx = _context(tmp_path)
    store = tmp_path / "store"
    sums = _recorded(store, ctx, "d/a")
    path = ctx / "d" / "a"
    st = os.lstat(path)
    if change == "content":               # same size, mtime put back: only the ctime moves
        path.write_bytes(b"ALPHA\n" * 100)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "chmod":
        os.chmod(path, 0o600)
    elif change == "chown":
        os.chown(path, 1234, 1234)
    elif change == "xattr":
        os.setxattr(path, "user.x", b"1")
    else:                                 # another inode, same size and times, renamed over it
        other = ctx / "d" / "other"
        other.write_bytes(b"ALPHA\n" * 100)
        os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(other, st.st_mode & 0o7777)
        os.rename(other, path)
    after = os.lstat(path)
    assert after.st_size == st.st_size
    assert _sum(ctx, sums) == _sum(ctx, None)
    # recorded again, as it is now
    assert sums.content("d/a", after) == hashlib.sha256(path.read_bytes()).hexdigest()
    # the unchanged files still hit
    assert sums.content("d/b", os.lstat(ctx / "d" / "b")) is not None


def test_a_file_changed_just_before_its_read_is_not_recorded(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    sums = FileSums(tmp_path / "store", os.fspath(ctx), trust_after=filesums.TRUST_AFTER)
    _sum(ctx, sums)
    assert not sums._records
    st = os.lstat(ctx / "c")
    old = st.st_mtime_ns - 10_000_000_000
    os.utime(ctx / "c", ns=(old, old))    # the ctime is still now: not recorded either
    _sum(ctx, sums)
    assert "c" not in sums._records


def test_the_margin_is_short_only_where_times_come_from_this_kernel_in_nanoseconds(
        tmp_path: Path, ramfs: Path) -> None:
    """A file written 0.3 s before its read is recorded on the test's ext4 (or tmpfs), whose
    times the kernel stamps to the nanosecond; not on a ramfs (a type not known to do so) nor
    on an ext2 with 128-byte inodes (whole seconds), where a second change in the same tick
    could keep the stat: those keep TRUST_AFTER."""
    import subprocess

    image, ext2 = tmp_path / "ext2.img", tmp_path / "ext2"
    subprocess.run(["mkfs.ext2", "-q", "-F", "-I", "128", str(image), "4M"], check=True)
    ext2.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(ext2)], check=True)
    try:
        contexts = {"local": _context(tmp_path / "local"), "ramfs": _context(ramfs / "ctx"),
                    "ext2": _context(ext2 / "ctx")}
        margins = {name: filesums.trust_margin(os.lstat(ctx / "c")) for name, ctx in contexts.items()}
        assert margins == {"local": filesums.LOCAL_TRUST_AFTER, "ramfs": filesums.TRUST_AFTER,
                           "ext2": filesums.TRUST_AFTER}
        assert os.lstat(contexts["ext2"] / "c").st_ctime_ns % 1_000_000_000 == 0
        time.sleep(filesums.LOCAL_TRUST_AFTER / 1e9 + 0.2)
        recorded = {}
        for name, ctx in contexts.items():
            sums = FileSums(tmp_path / "store", os.fspath(ctx))
            _sum(ctx, sums)
            recorded[name] = sorted(sums._records)
        assert recorded == {"local": ["c", "d/a", "d/b"], "ramfs": [], "ext2": []}
    finally:
        subprocess.run(["umount", str(ext2)], check=False)


def test_torn_or_foreign_records_are_misses(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    store = tmp_path / "store"
    sums = _loaded(store, ctx)
    _sum(ctx, sums)
    sums.save()
    [path] = (store / "filesums").iterdir()
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], b"", data.replace(b"\"d/a\"", b"\"d/A\""), b"x\n{}"):
        path.write_bytes(damaged)
        assert _loaded(store, ctx)._records == {}
    # intact records of another directory are not this one's
    path.write_bytes(data)
    moved = tmp_path / "elsewhere"
    ctx.rename(moved)
    other = FileSums(store, os.fspath(moved), trust_after=0)
    assert other._records == {}
    assert not other.covers(ctx) and other.covers(moved)


def test_writers_of_one_context_leave_a_whole_file(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    store = tmp_path / "store"
    one, two = _loaded(store, ctx), _loaded(store, ctx)
    _sum(ctx, one, "d")
    _sum(ctx, two, "c")
    one.save()
    two.save()                            # the last one wins, whole
    assert set(_loaded(store, ctx)._records) == {"c"}
    assert not [p for p in (store / "tmp").rglob("*") if p.is_file() and p.suffix != ".lock"]  # no temp file


def test_bounded_and_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesums, "MAX_CONTEXTS", 2)
    store = tmp_path / "store"
    contexts = []
    for i in range(3):
        ctx = _context(tmp_path / str(i))
        sums = _loaded(store, ctx)
        _sum(ctx, sums)
        sums.save()
        contexts.append(ctx)
        os.utime(store / "filesums", None)
    names = {hashlib.sha256(os.fsencode(c)).hexdigest() for c in contexts[1:]}
    assert {p.name for p in (store / "filesums").iterdir()} == names   # the oldest went
    os.rename(contexts[1], tmp_path / "gone")
    filesums.trim(store)
    assert {p.name for p in (store / "filesums").iterdir()} == {
        hashlib.sha256(os.fsencode(contexts[2])).hexdigest()}


def test_the_file_list_takes_recorded_contents(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    [source] = collect_sources(ctx, ["."], None, "COPY")
    plain = source_manifest([source])
    sums = _loaded(tmp_path / "store", ctx)
    checksum(source, sums)
    assert source_manifest([source], sums) == plain
    sums._records["d/a"][8] = PLANTED
    assert source_manifest([source], sums)["d/a"][5] == PLANTED
    (ctx / "d" / "a").write_bytes(b"changed")
    [source] = collect_sources(ctx, ["."], None, "COPY")
    assert source_manifest([source], sums)["d/a"][5] == hashlib.sha256(b"changed").hexdigest()


def _copy_hash(dockyard, image: str) -> str:  # noqa: ANN001
    lines = dockyard("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout.splitlines()
    [line] = [x for x in lines if " COPY " in x]
    return line.split("COPY ", 1)[1].split(" in ", 1)[0]


def _copy_cached(progress: str) -> bool:
    [step] = [line.split()[0] for line in progress.splitlines() if line.endswith("COPY . /ctx/")]
    return f"{step} CACHED" in progress.splitlines()


def test_builds_keep_and_use_records(dockyard, busybox: str, tmp_path: Path) -> None:
    """A build of a context directory records its files; the next build takes a recorded
    checksum (a planted one shows in the classic history), and after a change (same size,
    mtime put back) the classic history has the file's true checksum and BuildKit mode's COPY
    misses its cache."""
    ctx = _context(tmp_path)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\n")
    time.sleep(filesums.trust_margin(os.lstat(ctx / "Dockerfile")) / 1e9 + 0.1)   # old enough to be recorded
    truth = _sum(ctx, None)
    dockyard("build", "-q", "-t", "one", str(ctx))
    assert _copy_hash(dockyard, "one") == truth
    [path] = (dockyard.root / "filesums").iterdir()
    body = json.loads(path.read_bytes().partition(b"\n")[2])
    assert body["context"] == os.fspath(ctx) and "d/a" in body["files"]
    body["files"]["d/a"][10] = PLANTED
    data = json.dumps(body).encode()
    path.write_bytes(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
    dockyard("build", "-q", "-t", "two", str(ctx))
    assert _copy_hash(dockyard, "two") != truth
    st = os.lstat(ctx / "d" / "a")
    (ctx / "d" / "a").write_bytes(b"ALPHA\n" * 100)
    os.utime(ctx / "d" / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    dockyard("build", "-q", "-t", "three", str(ctx))
    assert _copy_hash(dockyard, "three") == _sum(ctx, None) != truth
    env = {"DOCKER_BUILDKIT": "1"}
    dockyard("build", "-q", "-t", "bk", str(ctx), env=env)
    again = dockyard("build", "--progress=plain", "-t", "bk", str(ctx), env=env).stderr
    assert _copy_cached(again)
    (ctx / "d" / "a").write_bytes(b"ALPHa\n" * 100)
    os.utime(ctx / "d" / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = dockyard("build", "--progress=plain", "-t", "bk", str(ctx), env=env).stderr
    assert "COPY . /ctx/" in changed and not _copy_cached(changed)


def test_the_layer_writer_gives_digests_only_of_unchanged_recorded_files(tmp_path: Path) -> None:
    """The COPY layer's writer takes a file's digest from its record only when the file did not
    change from the lookup to the end of its read, and gives none at all for a layer holding a
    symlink (a later entry's name could lead through it to another file of the tree)."""
    import io

    from dockyard.builder.copy.entries import CopyPlan
    from dockyard.builder.copy.layer import write_copy_layer

    ctx = _context(tmp_path)
    sums = _loaded(tmp_path / "store", ctx)
    _sum(ctx, sums)
    image = tmp_path / "image"
    image.mkdir()

    def digests() -> dict[str, str]:
        [source] = collect_sources(ctx, ["."], None, "COPY")
        out: dict[str, str] = {}
        write_copy_layer(io.BytesIO(), [source], CopyPlan("/ctx/"), image, "COPY", sums, out)
        return out

    assert digests() == {f"ctx/{rel}": sums._records[rel][8] for rel in ("c", "d/a", "d/b")}
    (ctx / "c").write_bytes(b"other\n")       # no record matches it now
    assert set(digests()) == {"ctx/d/a", "ctx/d/b"}
    os.symlink("d", ctx / "link")
    assert digests() == {}
