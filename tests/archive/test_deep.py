"""Deeply nested layers (issue 16.7): a 41 KB gzip layer of 2,000 nested directories took more
than 600 s to unpack (each entry walked its whole path from the root again, ~cubic in the
depth). Unpacking now works through directory descriptors: the test counts the system calls of
a real unpack under strace (no timing): a bounded number per entry, and no path argument longer
than one name, so the work is linear in the tar whatever the depth. The deep tree is also
removed (rmi) without Python's recursion limit getting in the way.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.apply import apply_layer
from dockyard.archive.fstree import DirCursor, remove_path
from dockyard.digest import Digest
from tests.conftest import REPO, Dockyard

DEPTH = 2000


def nested_tar(depth: int = DEPTH) -> bytes:
    """`d/`, `d/d/`, ... `depth` directories, and a file at the bottom."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        name = ""
        for _ in range(depth):
            name = f"{name}/d" if name else "d"
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o750, 1_600_000_000
            tar.addfile(info)
        info = tarfile.TarInfo(f"{name}/bottom")
        info.size, info.mtime = 6, 1_600_000_000
        tar.addfile(info, io.BytesIO(b"deep!\n"))
    return buf.getvalue()


def _bottom(root: Path, depth: int = DEPTH) -> tuple[bytes, list[os.stat_result]]:
    """The bottom file's content and every directory's stat, read by descriptors."""
    with DirCursor(str(root)) as cursor:
        stats = []
        for _ in range(depth):
            stats.append(os.stat("d", dir_fd=cursor.fd, follow_symlinks=False))
            cursor.down("d")
        fd = os.open("bottom", os.O_RDONLY, dir_fd=cursor.fd)
        try:
            return os.read(fd, 100), stats
        finally:
            os.close(fd)


def test_two_thousand_nested_directories_unpack(tmp_path: Path) -> None:
    layer = nested_tar()
    assert 30_000 < len(gzip.compress(layer)) < 60_000          # the 41 KB layer of the issue
    dest = tmp_path / "dest"
    dest.mkdir()
    try:
        apply_layer(io.BytesIO(layer), dest)
        content, stats = _bottom(dest)
        assert content == b"deep!\n"
        assert {oct(s.st_mode & 0o7777) for s in stats} == {"0o750"}
        assert {int(s.st_mtime) for s in stats} == {1_600_000_000}  # set after the content
    finally:
        remove_path(dest)                                        # no RecursionError
    assert not dest.exists()


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("depth", [500, DEPTH])
def test_unpack_is_linear_in_the_entries(tmp_path: Path, depth: int) -> None:
    (tmp_path / "layer.tar").write_bytes(nested_tar(depth))
    (tmp_path / "dest").mkdir()
    code = ("import sys\nfrom pathlib import Path\nfrom dockyard.archive.apply import apply_layer\n"
            "f = open(sys.argv[1], 'rb')\nprint('START', flush=True)\n"
            "apply_layer(f, Path(sys.argv[2]))\n")
    trace = tmp_path / "trace"
    try:
        subprocess.run(["strace", "-f", "-qq", "-s", "65536", "-o", str(trace), sys.executable, "-c", code,
                        str(tmp_path / "layer.tar"), str(tmp_path / "dest")], check=True, cwd=REPO,
                       capture_output=True)
    finally:
        remove_path(tmp_path / "dest")    # pytest's own clean-up would recurse too deep
    lines = trace.read_text(errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if "START" in line)
    calls = [line for line in lines[start:] if re.match(r"\d+ +\w+\(", line)]
    entries = depth + 1
    assert len(calls) < 12 * entries, len(calls)                 # a few calls per entry
    paths = [m.group(1) for line in calls for m in re.finditer(r'"([^"]*)"', line)
             if re.match(r"\d+ +(open|mkdir|newfstatat|stat|lstat|utime|chown|fchown|chmod|fchmod|"
                         r"symlink|readlink|unlink|link|mknod|setxattr|lsetxattr)", line)]
    assert paths and max(len(p) for p in paths) < 300, max(paths, key=len)[:200]


def test_deep_layer_through_the_store(dockyard: Dockyard, store_root: Path, tmp_path: Path) -> None:
    """import (checked at the door), unpack for a container, then rmi: the layer's directory of
    2,000 levels is removed too."""
    layer = nested_tar()
    (tmp_path / "deep.tar.gz").write_bytes(gzip.compress(layer))
    dockyard("import", str(tmp_path / "deep.tar.gz"), "deep:1")
    diff_id = Digest.of_bytes(layer)
    try:
        _unpack_then_rmi(dockyard, store_root, diff_id)
    finally:
        remove_path(store_root / "layers")


def _unpack_then_rmi(dockyard: Dockyard, store_root: Path, diff_id: Digest) -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom dockyard.store.store import Store\n"
            "from dockyard.digest import Digest\n"
            "print(Store(Path(sys.argv[1])).layers.unpacked(Digest.parse(sys.argv[2])))\n")
    out = subprocess.run([sys.executable, "-c", code, str(store_root), str(diff_id)], check=True,
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    content, _ = _bottom(Path(out.stdout.strip()))
    assert content == b"deep!\n"
    dockyard("rmi", "deep:1")
    assert not (store_root / "layers" / diff_id.hex).exists()
    assert not list((store_root / "layers").iterdir())
