"""Walking a directory tree that someone else may be changing while we read it (a running
container's upper or merged dir): by directory file descriptors, never by path.

A walk by path follows whatever the path means at the moment it is used: a process in the
container that swaps a directory for a symlink to `/etc` between our listing and our reads gets
the host's `/etc/shadow` into an export or a layer (issue 16.2). Here every name is looked up
relative to the descriptor of the directory it was listed in, never following a symlink
(fstatat and openat with O_NOFOLLOW, as runc's securejoin does for the same reason), and we never
walk up (".."). A swap can then give us only the container's own files: a directory renamed away
while we walk it is still the container's (a rename cannot leave the mount). A regular file is
first opened as O_PATH (which opens nothing: a device node swapped in under the file's name would
otherwise be opened on the host, and opening some devices acts) and reopened through
/proc/self/fd only when it is a regular file. Extended attributes of what cannot be opened
(symlinks, devices) are read through /proc/self/fd/<dir fd>/<name> without following the name.

Order: depth first, each directory's names sorted bytewise, a directory right before its
contents (Go's filepath.Walk, which Docker's tar writers use); the root is not yielded. At most
MAX_OPEN directory descriptors are held however deep the tree: an ancestor's is closed and, if it
still has names to walk when we come back to it, reopened from the nearest open one, name by name
with the same checks, and must be the same directory (device and inode) as before.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import DockyardError

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Iterator

MAX_OPEN = 64
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# What a name may turn into between two looks at it: we skip it as Go's walk skips what vanished.
_CHANGED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL)


class Node:
    """One entry of the tree. `dir_fd` (and `fd`, for a directory) are valid until the walk
    moves on; `st` describes the entry itself (for a directory, the one we opened)."""

    __slots__ = ("rel", "name", "dir_fd", "st", "fd")

    def __init__(self, rel: str, name: str, dir_fd: int, st: os.stat_result, fd: int | None) -> None:
        self.rel = rel
        self.name = name
        self.dir_fd = dir_fd
        self.st = st
        self.fd = fd

    def open_regular(self) -> tuple[int, os.stat_result] | None:
        """A read descriptor of the regular file at this name and its fstat, or None when the
        name is no longer a regular file. The caller closes the descriptor."""
        try:
            pfd = os.open(self.name, _PATH_FLAGS, dir_fd=self.dir_fd)
        except OSError as e:
            if e.errno in _CHANGED:
                return None
            raise
        try:
            st = os.fstat(pfd)
            if not stat.S_ISREG(st.st_mode):
                return None
            try:
                return os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_CLOEXEC), st
            except FileNotFoundError:
                pass  # no procfs (a chroot into a stopped container's rootfs): see below
        finally:
            os.close(pfd)
        # By name again, never blocking (a FIFO swapped in), and only if it is still the file
        # we saw: the one case where a device node swapped in at that instant would be opened.
        try:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                         | os.O_CLOEXEC, dir_fd=self.dir_fd)
        except OSError as e:
            if e.errno in _CHANGED:
                return None
            raise
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(again.st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return fd, again

    def readlink(self) -> str | None:
        try:
            return os.readlink(self.name, dir_fd=self.dir_fd)
        except OSError as e:
            if e.errno in _CHANGED:
                return None
            raise

    def _xattr_target(self) -> int | str:
        """Where to read xattrs: the open descriptor of a directory, else the name itself seen
        through the directory's descriptor (with follow_symlinks=False)."""
        return self.fd if self.fd is not None else f"/proc/self/fd/{self.dir_fd}/{self.name}"

    def xattr_names(self, fd: int | None = None) -> list[str]:
        target = fd if fd is not None else self._xattr_target()
        try:
            return os.listxattr(target, follow_symlinks=isinstance(target, int))
        except OSError:
            return []  # none, or no procfs to see a symlink's or device's through

    def getxattr(self, key: str, fd: int | None = None) -> bytes | None:
        target = fd if fd is not None else self._xattr_target()
        try:
            return os.getxattr(target, key, follow_symlinks=isinstance(target, int))
        except OSError:
            return None


class _Frame:
    __slots__ = ("rel", "name", "fd", "names", "next", "ident", "root")

    def __init__(self, rel: str, name: str, fd: int, ident: tuple[int, int], root: bool = False,
                 opaque: bool = False) -> None:
        self.rel = rel
        self.name = name
        self.fd: int | None = fd
        self.names = [] if opaque else _sorted_names(fd, rel)
        self.next = 0
        self.ident = ident
        self.root = root  # the walk's root: its descriptor stays open to the end


def _sorted_names(fd: int, rel: str) -> list[str]:
    try:
        return sorted(os.listdir(fd), key=os.fsencode)
    except OSError as e:
        raise DockyardError(f"cannot read directory /{rel}: {e.strerror}") from None


def walk(root: str | os.PathLike[str], *, name: str | None = None,
         opaque_devices: frozenset[int] = frozenset()) -> Iterator[Node]:
    """Every entry under the directory `root`, whose own path the tree's owner must not be able
    to change (the store's path of a container's upper or merged dir). With `name`, `root` is
    one entry (a symlink is not followed) yielded first, named `name`, then, for a directory,
    its entries named `name/...` (`docker cp`'s resource). A directory on one of
    `opaque_devices` is yielded, its entries are not."""
    root = os.fspath(root)
    if name is not None:
        st = os.lstat(root)
        if not stat.S_ISDIR(st.st_mode):
            head, base = os.path.split(root)
            parent = os.open(head or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                yield Node(name, base, parent, st, None)
            finally:
                os.close(parent)
            return
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(root_fd)
        stack = [_Frame(name or "", "", root_fd, (st.st_dev, st.st_ino), root=True,
                        opaque=st.st_dev in opaque_devices)]
    except BaseException:
        os.close(root_fd)
        raise
    try:
        if name is not None:
            yield Node(name, os.path.basename(root), -1, st, root_fd)
        yield from _descend(stack, opaque_devices)
    finally:
        for frame in stack:
            _close(frame, force=True)


def _descend(stack: list[_Frame], opaque_devices: frozenset[int]) -> Iterator[Node]:
    while stack:
        frame = stack[-1]
        if frame.next >= len(frame.names):
            stack.pop()
            _close(frame, force=True)
            continue
        name = frame.names[frame.next]
        frame.next += 1
        dir_fd = frame.fd if frame.fd is not None else _reopen(stack)
        if dir_fd is None:
            continue  # the directory was moved away while we were below it
        rel = f"{frame.rel.rstrip('/')}/{name}" if frame.rel else name   # under "/": "/bin"
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as e:
            if e.errno in _CHANGED:
                continue
            raise
        if not stat.S_ISDIR(st.st_mode):
            yield Node(rel, name, dir_fd, st, None)
            continue
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            if e.errno in _CHANGED:
                continue
            raise
        try:
            st = os.fstat(fd)
            stack.append(_Frame(rel, name, fd, (st.st_dev, st.st_ino),
                                opaque=st.st_dev in opaque_devices))
        except BaseException:
            os.close(fd)
            raise
        if len(stack) > MAX_OPEN + 1:
            _close(stack[-MAX_OPEN - 1])
        yield Node(rel, name, dir_fd, st, fd)


def _close(frame: _Frame, force: bool = False) -> None:
    if frame.fd is not None and (force or not frame.root):
        os.close(frame.fd)
        frame.fd = None


def _reopen(stack: list[_Frame]) -> int | None:
    """Reopen the closed descriptors down to the top frame from the nearest open ancestor; None
    (and the frames left without names) when a directory is no longer where it was."""
    start = max(i for i, f in enumerate(stack) if f.fd is not None)
    top = len(stack) - 1
    for i in range(start + 1, top + 1):
        parent, frame = stack[i - 1], stack[i]
        try:
            fd = os.open(frame.name, _DIR_FLAGS, dir_fd=parent.fd)  # type: ignore[arg-type]
        except OSError as e:
            if e.errno not in _CHANGED:
                raise
            fd = None
        if fd is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != frame.ident:
                os.close(fd)
                fd = None
        if fd is None:
            for lost in stack[i:]:
                lost.next = len(lost.names)
            return None
        frame.fd = fd
        if top - (i - 1) > MAX_OPEN:
            _close(parent)
    return stack[top].fd
