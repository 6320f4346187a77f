"""The store's tmp/ is marked as the top of directory hierarchies (ext4's FS_TOPDIR_FL,
`chattr +T`): each process's folder, and what is made in it, goes to a block group the
allocator chooses, not beside tmp/ where removed trees leave their inodes (store/workspace.py)."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from dockyard.store import workspace

FS_NODUMP_FL = 0x00000040


def _flags(path: Path) -> int:
    ioctls = workspace._FLAG_IOCTLS.get(os.uname().machine)
    if ioctls is None:
        pytest.skip("no generic FS_IOC_GETFLAGS here")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = bytearray(4)
        try:
            fcntl.ioctl(fd, ioctls[0], buf, True)
        except OSError:
            pytest.skip("the file system has no inode flags")
        return int.from_bytes(buf, sys.byteorder)
    finally:
        os.close(fd)


def _set(path: Path, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, workspace._FLAG_IOCTLS[os.uname().machine][1], flags.to_bytes(4, sys.byteorder))
    except OSError:
        pytest.skip("the file system keeps no such flags")
    finally:
        os.close(fd)


def test_tmp_becomes_a_top_directory_and_keeps_its_other_flags(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _set(tmp, _flags(tmp) | FS_NODUMP_FL)
    if _flags(tmp) & workspace.FS_TOPDIR_FL:
        pytest.skip("made with the flag already")
    own = workspace.folder(tmp)
    assert own.parent == tmp
    flags = _flags(tmp)
    assert flags & workspace.FS_TOPDIR_FL
    assert flags & FS_NODUMP_FL
    assert not _flags(own) & workspace.FS_TOPDIR_FL   # only tmp/ itself: not inherited
