from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def snapshot(root: Path, *, with_dir_times: bool = True) -> dict[str, tuple]:
    """Everything about a tree that a layer must preserve, keyed by relative path."""
    out: dict[str, tuple] = {}
    inode_first: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFREG:
                with open(path, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
            elif fmt == stat.S_IFLNK:
                content = os.readlink(path)
            else:
                content = ""
            try:
                xattrs = tuple(sorted((k, os.getxattr(path, k, follow_symlinks=False))
                                      for k in os.listxattr(path, follow_symlinks=False)))
            except OSError:
                xattrs = ()
            link_group = ""
            if fmt != stat.S_IFDIR and st.st_nlink > 1:
                link_group = inode_first.setdefault((st.st_dev, st.st_ino), rel)
            mtime = int(st.st_mtime) if (with_dir_times or fmt != stat.S_IFDIR) else None
            out[rel] = (oct(st.st_mode), st.st_uid, st.st_gid, st.st_rdev, mtime, content, xattrs, link_group)
    return out


@pytest.fixture
def overlay_mount(tmp_path: Path) -> Iterator["callable"]:
    """Mount a real overlayfs; yields a function (lowers topmost first) -> (merged, upper)."""
    mounted: list[Path] = []

    def mount(lowers: list[Path]) -> tuple[Path, Path]:
        n = len(mounted)
        upper, work, merged = tmp_path / f"upper{n}", tmp_path / f"work{n}", tmp_path / f"merged{n}"
        for d in (upper, work, merged):
            d.mkdir()
        opts = f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work}"
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount overlayfs: {r.stderr.decode().strip()}")
        mounted.append(merged)
        return merged, upper

    yield mount
    for m in mounted:
        subprocess.run(["umount", str(m)], check=False)
