"""COPY/ADD source hashes as Docker's classic builder computes them (`COPY file:<hex> in /app` in
history, and the cache key): the values below were read from `docker history` of dockerd 20.10
(DOCKER_BUILDKIT=0) for the same files; tests/differential checks every case of its corpus too.

The reading buffer grows from 64 KiB to 1 MiB: the hash must not depend on file sizes relative
to it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from dockyard.builder.copy.checksum import checksum, sources_hash
from dockyard.builder.copy.match import collect_sources

SIZES = [0, 1, 65535, 65536, 65537, 10, (1 << 20) + 7, 5, 3 << 20, 100]


def _tarsum(name: str, path: Path) -> str:
    """tarsum v1 of one context entry as the docker CLI sends it: the header's fields (mode with
    its type bits, owner 0:0, no user names, no mtime) as name+value, then the content."""
    st = os.lstat(path)
    fmt = stat.S_IFMT(st.st_mode)
    typeflag = {stat.S_IFREG: "0", stat.S_IFDIR: "5", stat.S_IFLNK: "2"}[fmt]
    header = (f"name{name + '/' if fmt == stat.S_IFDIR else name}mode{st.st_mode}uid0gid0"
              f"size{st.st_size if fmt == stat.S_IFREG else 0}typeflag{typeflag}"
              f"linkname{os.readlink(path) if fmt == stat.S_IFLNK else ''}"
              "unamegnamedevmajor0devminor0")
    h = hashlib.sha256(header.encode())
    if fmt == stat.S_IFREG:
        h.update(path.read_bytes())
    return h.hexdigest()


def test_hashes_are_dockerds(tmp_path: Path) -> None:
    # Docker: `COPY a.txt /app/`, `COPY sub /app/sub` and `ADD . /ctx` of this context gave
    # file:679c43c7..., dir:f373a255... and dir:c8c74594... in dockerd 20.10's history.
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_text("x\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nARG V=1\nENV A=b\nCOPY a.txt /app/\nCOPY sub /app/sub\nADD . /ctx\n"
        "RUN echo hi $V && mkdir -p /data && echo $V > /data/v\nWORKDIR /w\nUSER 1234:1234\n"
        "RUN id\nCMD [\"sh\"]\n")
    for p in (tmp_path, tmp_path / "sub"):
        os.chmod(p, 0o755)
    for p in (tmp_path / "a.txt", tmp_path / "sub" / "b", tmp_path / "Dockerfile"):
        os.chmod(p, 0o644)
    [a] = collect_sources(tmp_path, ["a.txt"], None, "COPY")
    [sub] = collect_sources(tmp_path, ["sub"], None, "COPY")
    [root] = collect_sources(tmp_path, ["."], None, "ADD")
    assert checksum(a) == "file:679c43c79a56cffbb3b002bda3050542c152a2f09757a0f1a9578871f7cda00d"
    assert checksum(sub) == "dir:f373a25553f19effb8197d01e49b4bde7abbb885c6ead17fbad6463a0ef248fd"
    assert checksum(root) == "dir:c8c74594de82615ca0a933479abf4076d735fdb774101f245f6a0c7ac94b2353"


def test_directory_hash_of_small_and_big_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i, size in enumerate(SIZES):
        (src / f"f{i:02d}").write_bytes(os.urandom(size))
    os.symlink("f01", src / "link")          # a link inside: the hash of what it points to
    os.symlink("missing", src / "dangling")  # nothing there: the path itself
    [source] = collect_sources(tmp_path, ["src"], None, "COPY")
    parts = [_tarsum("src", src)] + [_tarsum(f"src/f{i:02d}", src / f"f{i:02d}") for i in range(len(SIZES))]
    parts += [_tarsum("src/f01", src / "f01"), "src/dangling"]
    expected = "dir:" + hashlib.sha256(",".join(sorted(parts)).encode()).hexdigest()
    assert checksum(source) == expected
    [big] = collect_sources(tmp_path, ["src/f08"], None, "COPY")
    assert checksum(big) == "file:" + _tarsum("src/f08", src / "f08")


def test_touch_keeps_the_hash_and_a_mode_change_does_not(tmp_path: Path) -> None:
    # Docker: a touched file still hits the cache (no mtime in tarsum v1); a chmod misses
    (tmp_path / "f").write_text("x")
    [before] = collect_sources(tmp_path, ["f"], None, "COPY")
    first = checksum(before)
    os.utime(tmp_path / "f", (1, 1))
    [touched] = collect_sources(tmp_path, ["f"], None, "COPY")
    assert checksum(touched) == first
    os.chmod(tmp_path / "f", 0o600)
    [chmodded] = collect_sources(tmp_path, ["f"], None, "COPY")
    assert checksum(chmodded) != first


def test_several_sources(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    sources = collect_sources(tmp_path, ["a", "b"], None, "COPY")
    for s in sources:
        s.hash = checksum(s)
    joined = ",".join(s.hash for s in sources)
    assert sources_hash(sources) == "multi:" + hashlib.sha256(joined.encode()).hexdigest()
    assert sources_hash(sources[:1]) == sources[0].hash


def test_a_second_thread_hashes_every_other_file_to_the_same_sum(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Files of 4 KiB or more that must be read are shared with a second thread: the dir: hash
    is the one hashing them all in order gives; an error in that thread is raised by checksum
    and leaves no thread."""
    import threading

    from dockyard.builder.copy import checksum as module

    for i in range(150):
        (tmp_path / f"d{i % 7}").mkdir(exist_ok=True)
        (tmp_path / f"d{i % 7}" / f"f{i}").write_bytes(bytes([i]) * (4096 + 37 * i))
    (tmp_path / "small").write_text("x")
    [source] = collect_sources(tmp_path, ["."], None, "COPY")
    shared = checksum(source)
    monkeypatch.setattr(module, "_HELPED", 1 << 62)
    [alone] = collect_sources(tmp_path, ["."], None, "COPY")
    assert checksum(alone) == shared
    monkeypatch.setattr(module, "_HELPED", 4096)
    real = module._Hasher.entry

    def failing(self, rel: str, st=None) -> str:  # noqa: ANN001
        if threading.current_thread().name == "checksum":
            raise OSError("unreadable")
        return real(self, rel, st)

    monkeypatch.setattr(module._Hasher, "entry", failing)
    [again] = collect_sources(tmp_path, ["."], None, "COPY")
    with pytest.raises(OSError, match="unreadable"):
        checksum(again)
    assert not [t for t in threading.enumerate() if t.name == "checksum"]
