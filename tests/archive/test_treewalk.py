"""archive.treewalk: a walk by directory descriptors that a tree changing under it cannot lead
outside (issue 16.2; the attack by a real container is in tests/runtime/test_tree_swap_escape.py).
Here the changes are made between two steps of the walk, so every case happens for sure."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.archive import treewalk
from dockyard.archive.treewalk import walk


def _expected(root: Path) -> list[str]:
    """Go's filepath.Walk order: depth first, names sorted bytewise, a directory before its
    contents."""
    out: list[str] = []

    def visit(directory: Path, rel: str) -> None:
        for name in sorted(os.listdir(directory), key=os.fsencode):
            child = f"{rel}/{name}" if rel else name
            out.append(child)
            if (directory / name).is_dir() and not (directory / name).is_symlink():
                visit(directory / name, child)
    visit(root, "")
    return out


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _deep_tree(root: Path, depth: int) -> Path:
    """A chain of `depth` directories, each also holding a file and a sibling directory."""
    current = root
    for level in range(depth):
        (current / f"f{level}").write_bytes(b"x")
        (current / f"s{level}").mkdir()
        (current / f"s{level}" / "leaf").write_bytes(b"y")
        current = current / f"d{level}"
        current.mkdir()
    return current


def test_a_deep_tree_is_walked_in_order_with_a_bounded_number_of_descriptors(tmp_path: Path) -> None:
    depth = treewalk.MAX_OPEN * 3
    _deep_tree(tmp_path, depth)
    before = _open_fds()
    seen, most = [], 0
    for node in walk(tmp_path):
        seen.append(node.rel)
        most = max(most, _open_fds() - before)
    assert seen == _expected(tmp_path)
    assert most <= treewalk.MAX_OPEN + 3
    assert _open_fds() == before  # every descriptor closed at the end


def test_a_walk_abandoned_half_way_closes_its_descriptors(tmp_path: Path) -> None:
    _deep_tree(tmp_path, 20)
    before = _open_fds()
    nodes = walk(tmp_path)
    for _ in range(30):
        next(nodes)
    nodes.close()
    assert _open_fds() == before


def test_a_directory_swapped_for_a_symlink_gives_only_its_own_files(tmp_path: Path) -> None:
    root, host = tmp_path / "root", tmp_path / "host"
    (root / "a").mkdir(parents=True)
    (root / "a" / "mine").write_bytes(b"mine")
    host.mkdir()
    (host / "secret").write_bytes(b"HOST")
    names = []
    for node in walk(root):
        names.append(node.rel)
        if node.rel == "a":
            # Between our look at `a` and our reading of it, `a` becomes a link to the host.
            os.rename(root / "a", root / "moved")
            os.symlink(host, root / "a")
        if node.rel == "a/mine":
            opened = node.open_regular()
            assert opened is not None
            fd, _ = opened
            try:
                assert os.read(fd, 100) == b"mine"  # the directory we opened, wherever it went
            finally:
                os.close(fd)
    assert names == ["a", "a/mine"]


def test_a_file_swapped_for_a_fifo_or_a_link_is_not_opened(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "g").write_bytes(b"x")
    (tmp_path / "host").write_bytes(b"HOST")
    results = {}
    for node in walk(tmp_path):
        if node.rel == "f":
            os.unlink(tmp_path / "f")
            os.mkfifo(tmp_path / "f")  # opening a FIFO for reading would block for ever
            results["f"] = node.open_regular()
        elif node.rel == "g":
            os.unlink(tmp_path / "g")
            os.symlink(tmp_path / "host", tmp_path / "g")
            results["g"] = node.open_regular()
    assert results == {"f": None, "g": None}


def test_an_ancestor_moved_while_we_were_deep_below_it_is_not_followed(tmp_path: Path) -> None:
    root, host = tmp_path / "root", tmp_path / "host"
    root.mkdir()
    host.mkdir()
    _deep_tree(root, treewalk.MAX_OPEN + 20)
    # The host directory mirrors the tree's names, so following a path would find them.
    _deep_tree(host, treewalk.MAX_OPEN + 20)
    (host / "d0" / "zz-host-only").write_bytes(b"HOST")
    names = []
    moved = False
    for node in walk(root):
        names.append(node.rel)
        if not moved and node.rel.count("/") == treewalk.MAX_OPEN + 5:
            # d0's descriptor has been closed by now (we are deep below it): swap it out.
            os.rename(root / "d0", root / "elsewhere")
            os.symlink(host / "d0", root / "d0")
            moved = True
    assert moved
    assert not any("zz-host-only" in n for n in names)
    # What comes after d0's subtree in the root (f0, s0/...) is still walked from the root's
    # descriptor; nothing of d0's remaining names is taken from the link.
    assert names[-3:] == ["f0", "s0", "s0/leaf"]
