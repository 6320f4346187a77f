"""Directory trees of any depth, by directory file descriptors.

A layer may hold thousands of nested directories. Paths from the root then grow with the depth:
every syscall walks them again (quadratic time), they pass PATH_MAX (4096 bytes) at some depth,
and Python's recursive `shutil.rmtree` hits the recursion limit (~1000 levels). Here each step is
one `openat` relative to the directory at hand, with `O_NOFOLLOW` (a symlink is never followed),
and a tree is never held open more than one directory at a time: a `DirCursor` keeps one
descriptor and the names leading to it, and moves up through `..`, which is safe because every
directory on its path was opened by it without following a symlink.
"""

from __future__ import annotations

import atexit
import errno
import os
import threading

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class DirCursor:
    """One open directory below `root`, and the real directories leading to it: `parts` (names)
    and `path` ("a/b", "" for the root).

    The path is symlink-free: every component was opened with O_NOFOLLOW. A cursor stays valid
    while no directory on its path is removed or replaced (callers change only what is below the
    directory they are at)."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fd = os.dup(self.root_fd)
        self.parts: list[str] = []
        self.path = ""

    def close(self) -> None:
        for fd in (self.fd, self.root_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "DirCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Back at the root."""
        if self.parts:
            os.close(self.fd)
            self.fd = os.dup(self.root_fd)
            self.parts = []
            self.path = ""

    def down(self, name: str) -> None:
        """Into the subdirectory `name` (OSError: ENOENT, ENOTDIR, or ELOOP for a symlink)."""
        fd = os.open(name, DIR_FLAGS, dir_fd=self.fd)
        os.close(self.fd)
        self.fd = fd
        self.parts.append(name)
        self.path = f"{self.path}/{name}" if self.path else name

    def up(self, levels: int = 1) -> None:
        """`levels` directories up (never above the root)."""
        levels = min(levels, len(self.parts))
        if levels == 0:
            return
        keep = len(self.parts) - levels
        if keep < levels:
            # Down again from the root costs fewer opens (and is as safe).
            names = self.parts[:keep]
            self.reset()
            for name in names:
                self.down(name)
            return
        for _ in range(levels):
            fd = os.open("..", DIR_FLAGS, dir_fd=self.fd)
            os.close(self.fd)
            self.fd = fd
            self.parts.pop()
        self.path = "/".join(self.parts)

    def goto(self, path: str) -> int:
        """The descriptor of the directory `path` (real, symlink-free, relative to the root).
        Moves are as short as the two paths allow: a tar lists neighbours together."""
        here = self.path
        if path == here:
            return self.fd
        if not here or path.startswith(here + "/"):
            for name in (path[len(here) + 1:] if here else path).split("/"):
                self.down(name)
            return self.fd
        if not path or here.startswith(path + "/"):
            self.up(len(self.parts) if not path else here.count("/", len(path) + 1) + 1)
            return self.fd
        parts = path.split("/")
        n = 0
        limit = min(len(parts), len(self.parts))
        while n < limit and parts[n] == self.parts[n]:
            n += 1
        self.up(len(self.parts) - n)
        for name in parts[n:]:
            self.down(name)
        return self.fd


def remove_tree(parent_fd: int, name: str) -> None:
    """Remove `name` in the directory `parent_fd` and, if it is a directory, everything in it,
    whatever its depth; symlinks are removed, never followed. A missing name is no error."""
    try:
        os.unlink(name, dir_fd=parent_fd)
        return
    except FileNotFoundError:
        return
    except OSError as e:
        if e.errno not in (errno.EISDIR, errno.EPERM):
            raise
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    # For each level below `name`: the directory's name and the subdirectories still to remove.
    names: list[str] = []
    pending: list[list[str]] = [_clear_files(fd)]
    try:
        while pending:
            if pending[-1]:
                sub = pending[-1].pop()
                try:
                    child = os.open(sub, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    continue
                os.close(fd)
                fd = child
                names.append(sub)
                pending.append(_clear_files(fd))
                continue
            pending.pop()
            if not names:
                break
            up = os.open("..", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _clear_files(fd: int) -> list[str]:
    """Unlink everything but subdirectories in the directory `fd`; returns the subdirectories."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                try:
                    os.unlink(entry.name, dir_fd=fd)
                except FileNotFoundError:
                    pass
    return subdirs


def remove_path(path: str | os.PathLike[str], *, ignore_errors: bool = False) -> None:
    """`shutil.rmtree` for trees of any depth: `path` and everything below it (a file or a
    symlink at `path` is removed too, never followed). A missing path is no error; other errors
    are raised unless `ignore_errors` (then as much as can go goes)."""
    head, base = os.path.split(os.fspath(path).rstrip("/"))
    try:
        parent = os.open(head or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError:
        if ignore_errors:
            return
        raise
    try:
        remove_tree(parent, base)
    except FileNotFoundError:
        pass
    except OSError:
        if not ignore_errors:
            raise
    finally:
        os.close(parent)


_later: list = []  # the remover's SimpleQueue, made with it
_remover: list[threading.Thread] = []
_remover_lock = threading.Lock()


def remove_later(path: str | os.PathLike[str]) -> None:
    """`remove_path(path, ignore_errors=True)` in a background thread, for a tree nobody uses
    any more whose removal need not hold up the caller (a build step's container directory, a
    dozen rmdirs and unlinks: 1.5 ms on a quiet disk, 6-8 on a busy one). The process waits
    for the remover at exit, before its other exit handlers (atexit runs the last registered
    first: the store's temp folder, where these trees live, goes after)."""
    with _remover_lock:
        if not _remover:
            # queue.SimpleQueue is _queue's (CPython's C queue): taken from there, without queue's
            # own import (heapq and the Queue classes, ~0.5 ms of a cold build's start)
            from _queue import SimpleQueue
            _later.append(SimpleQueue())
            thread = threading.Thread(target=_remove_queued, name="remove_later", daemon=True)
            _remover.append(thread)
            thread.start()
            atexit.register(_finish_removals, thread)
    _later[0].put(os.fspath(path))


def _remove_queued() -> None:
    while (path := _later[0].get()) is not None:
        remove_path(path, ignore_errors=True)


def _finish_removals(thread: threading.Thread) -> None:
    _later[0].put(None)
    thread.join(30)
