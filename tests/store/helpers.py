"""Small helpers to make tar archives and store snapshots in tests."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path


def make_tar(entries: list[tuple]) -> bytes:
    """entries: (name, bytes) files, (name, None) dirs, or (name, TarInfo-modifier callable)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            name, payload = entry[0], entry[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if payload is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif callable(payload):
                payload(info)
                tar.addfile(info)
            else:
                info.size = len(payload)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under a store (minus lock and tmp dirs) with its size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.split(os.sep)[0] in ("tmp", "locks"):
            continue
        for name in filenames + dirnames:
            if rel == "." and name in ("tmp", "locks"):
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, int(st.st_mtime_ns))
    return out
