"""apply_layer creates first and makes room only when the name is taken: whatever was there
(file, directory, symlink into or out of the root, dangling symlink) is replaced exactly as
before, never followed, and a regular file gets its metadata through its descriptor."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.apply import apply_layer


def _tar(name: str, kind: bytes, *, data: bytes = b"", linkname: str = "", mode: int = 0o640,
         mtime: int = 1_600_000_000, uid: int = os.getuid(), xattrs: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.linkname = kind, len(data), linkname
        info.mode, info.mtime, info.uid, info.gid = mode, mtime, uid, os.getgid()
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _prepared(tmp_path: Path, what: str) -> tuple[Path, Path]:
    """A destination holding `x` of kind `what`, and a directory outside it with a victim file."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir(), outside.mkdir()
    (outside / "victim").write_text("original")
    _existing(dest, outside, what)
    return dest, outside


def _untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["victim"] and (outside / "victim").read_text() == "original"


def _existing(dest: Path, outside: Path, what: str) -> None:
    target = dest / "x"
    if what == "file":
        target.write_text("old")
    elif what == "dir":
        target.mkdir()
        (target / "inner").write_text("inner")
    elif what == "symlink-out-dir":
        target.symlink_to(outside)
    elif what == "symlink-out-file":
        target.symlink_to(outside / "victim")
    elif what == "dangling":
        target.symlink_to(outside / "missing")


EXISTING = ["none", "file", "dir", "symlink-out-dir", "symlink-out-file", "dangling"]


@pytest.mark.parametrize("what", EXISTING)
def test_regular_file_over_anything(tmp_path: Path, what: str) -> None:
    dest, outside = _prepared(tmp_path, what)
    apply_layer(io.BytesIO(_tar("x", tarfile.REGTYPE, data=b"new", mode=0o4750)), dest)
    st = os.lstat(dest / "x")
    assert stat.S_ISREG(st.st_mode) and (dest / "x").read_bytes() == b"new"
    assert stat.S_IMODE(st.st_mode) == 0o4750 and st.st_mtime == 1_600_000_000
    _untouched(outside)


@pytest.mark.parametrize("what", EXISTING)
def test_directory_over_anything(tmp_path: Path, what: str) -> None:
    dest, outside = _prepared(tmp_path, what)
    apply_layer(io.BytesIO(_tar("x", tarfile.DIRTYPE, mode=0o751)), dest)
    st = os.lstat(dest / "x")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o751
    assert os.listdir(dest / "x") == (["inner"] if what == "dir" else [])  # directories merge
    _untouched(outside)


@pytest.mark.parametrize("what", EXISTING)
def test_symlink_over_anything(tmp_path: Path, what: str) -> None:
    dest, outside = _prepared(tmp_path, what)
    apply_layer(io.BytesIO(_tar("x", tarfile.SYMTYPE, linkname="/etc/passwd")), dest)
    assert os.readlink(dest / "x") == "/etc/passwd"
    _untouched(outside)


def test_regular_file_xattrs_and_owner_through_the_descriptor(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    tar = _tar("f", tarfile.REGTYPE, data=b"data", xattrs={"user.k": "v", "trusted.overlay.opaque": "y"})
    apply_layer(io.BytesIO(tar), dest)
    path = dest / "f"
    assert path.read_bytes() == b"data" and os.lstat(path).st_uid == os.getuid()
    names = os.listxattr(path)
    assert "trusted.overlay.opaque" not in names  # overlay's own state is never taken from a tar
    if "user.k" in names:  # a filesystem without user xattrs skips them, as Docker does
        assert os.getxattr(path, "user.k") == b"v"
