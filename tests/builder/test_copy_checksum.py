"""The COPY/ADD cache checksum reads files through one growing buffer: the hash must not depend
on file sizes relative to the buffer (64 KiB at first, 1 MiB once a file is bigger)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from dockyard.builder.copy.checksum import checksum
from dockyard.builder.copy.match import collect_sources

SIZES = [0, 1, 65535, 65536, 65537, 10, (1 << 20) + 7, 5, 3 << 20, 100]


def _reference(root: Path) -> str:
    """What the checksum covers, spelled out: per entry (parents first, names bytewise sorted)
    name, kind, permission bits, size, link target, then the content."""
    h = hashlib.sha256()

    def entry(name: str, path: Path) -> None:
        st = os.lstat(path)
        kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
        link = os.readlink(path) if kind == "l" else ""
        size = st.st_size if kind == "f" else 0
        h.update(f"{name}\0{kind}\0{stat.S_IMODE(st.st_mode):o}\0{size}\0{link}\0".encode())
        if kind == "f":
            h.update(path.read_bytes())

    entry(".", root)
    for name in sorted(os.listdir(root), key=os.fsencode):
        entry(name, root / name)
    return "dir:" + h.hexdigest()


def test_checksum_of_small_and_big_files_in_any_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i, size in enumerate(SIZES):
        (src / f"f{i:02d}").write_bytes(os.urandom(size))
    os.symlink("f01", src / "link")
    [source] = collect_sources(tmp_path, ["src"], None, "COPY")
    assert checksum(source) == _reference(src)
    [big] = collect_sources(tmp_path, ["src/f08"], None, "COPY")
    h = hashlib.sha256(f"f08\0f\0{stat.S_IMODE(os.lstat(src / 'f08').st_mode):o}\0{3 << 20}\0\0".encode())
    h.update((src / "f08").read_bytes())
    assert checksum(big) == "file:" + h.hexdigest()
