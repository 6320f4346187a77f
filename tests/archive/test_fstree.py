"""fstree: trees of any depth by directory descriptors; symlinks are never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.archive.fstree import DirCursor, remove_path, remove_tree


def _nest(root: Path, depth: int, name: str = "d") -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)


def test_remove_path_of_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    (tmp_path / "top").mkdir()
    _nest(tmp_path / "top", 3000)
    remove_path(tmp_path / "top")
    assert os.listdir(tmp_path) == []


def test_symlinks_inside_are_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "link-dir").symlink_to(outside)
    (top / "a" / "b" / "link-file").symlink_to(outside / "victim")
    (top / "a" / "b" / "f").write_text("x")
    os.mkfifo(top / "a" / "fifo")
    (top / "a" / "b").chmod(0o000)
    remove_path(top)
    assert not top.exists()
    assert (outside / "victim").read_text() == "keep"


def test_remove_path_of_a_symlink_to_a_directory_removes_the_link(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    remove_path(tmp_path / "link")
    assert not os.path.lexists(tmp_path / "link") and (tmp_path / "dir" / "f").exists()
    remove_path(tmp_path / "missing")                  # no error
    with pytest.raises(NotADirectoryError):
        remove_path(tmp_path / "dir" / "f" / "below")


def test_remove_tree_of_a_file_and_of_nothing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree(fd, "f")
        remove_tree(fd, "f")
    finally:
        os.close(fd)
    assert os.listdir(tmp_path) == []


def test_cursor_moves_between_branches(tmp_path: Path) -> None:
    for branch in ("a/b/c/d", "a/b/x", "e/f"):
        (tmp_path / branch).mkdir(parents=True)
    (tmp_path / "a" / "b" / "l").symlink_to("x")
    with DirCursor(str(tmp_path)) as cursor:
        for path in ("a/b/c/d", "a/b/x", "e/f", "", "a", "a/b/c/d", "a/b"):
            fd = cursor.goto(path)
            assert cursor.path == path and cursor.parts == (path.split("/") if path else [])
            assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / path))
        with pytest.raises(OSError):
            cursor.down("l")                           # a symlink is never entered
        cursor.up(5)
        assert cursor.path == ""
