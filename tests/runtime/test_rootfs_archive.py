"""The archive API's file access (docker cp): stat, tar out, tar in, inside a chroot of the
container's root, so symlinks and `..` never lead to the host."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter, NotFound
from dockyard.runtime import rootfs_archive


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "hostname").write_text("box\n")
    (r / "dst").mkdir()
    os.symlink("/", r / "up")                      # a container's symlink to its own root
    os.symlink("/etc/hostname", r / "hn")
    os.symlink("../../../../../../../etc", r / "dots")
    return r


def _names(data: bytes) -> list[str]:
    return tarfile.open(fileobj=io.BytesIO(data)).getnames()


def test_stat(root: Path) -> None:
    st = rootfs_archive.stat_path(root, "etc/hostname")
    assert (st["name"], st["size"], st["mode"], st["linkTarget"]) == ("hostname", 4, 0o644, "")
    link = rootfs_archive.stat_path(root, "/hn")
    assert link["mode"] == (1 << 27) | 0o777 and link["linkTarget"] == "/etc/hostname"
    assert rootfs_archive.stat_path(root, "/etc")["mode"] & (1 << 31)
    with pytest.raises(NotFound, match="Could not find the file /nope in container"):
        rootfs_archive.stat_path(root, "/nope")


def test_get_resolves_inside_the_root(root: Path, tmp_path: Path) -> None:
    out = io.BytesIO()
    rootfs_archive.get_archive(root, "/etc", out)
    assert _names(out.getvalue()) == ["etc", "etc/hostname"]
    for path in ("/up/etc/hostname", "/dots/hostname"):    # the host's /etc is never reached
        out = io.BytesIO()
        rootfs_archive.get_archive(root, path, out)
        member = tarfile.open(fileobj=io.BytesIO(out.getvalue())).extractfile("hostname")
        assert member.read() == b"box\n"
    out = io.BytesIO()
    rootfs_archive.get_archive(root, "/etc/.", out)
    assert _names(out.getvalue()) == [".", "./hostname"]


def test_put_stays_inside(root: Path) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tf:
        for name, body in (("new.txt", b"abc"), ("sub/deeper.txt", b"d")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    data.seek(0)
    rootfs_archive.put_archive(root, "/up/dots/../dst", data)   # resolved in the root: /dst
    assert (root / "dst" / "new.txt").read_bytes() == b"abc"
    assert (root / "dst" / "sub" / "deeper.txt").read_bytes() == b"d"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tf:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    evil.seek(0)
    with pytest.raises(InvalidParameter, match="escapes"):
        rootfs_archive.put_archive(root, "/dst", evil)
    with pytest.raises(InvalidParameter, match="not a directory"):
        rootfs_archive.put_archive(root, "/etc/hostname", io.BytesIO(b""))
    assert not (root.parent / "escaped").exists()
