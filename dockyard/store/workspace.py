"""The store's temp space: every process works in a folder of its own under tmp/, owned by a lock.

    tmp/<pid>-<random>/         a process's folder, made when it first writes
    tmp/<pid>-<random>.lock     flock'ed by that process for as long as it lives (linked from an
                                O_TMPFILE already locked, then the folder is made)

Whatever a process writes before it publishes it by a rename (spooled archives, layer tars,
blobs, the temp file of an atomic metadata write, a tree being unpacked, a layer being deleted)
is made in its folder, on the store's file system. So what a killed process leaves behind is in
one place and is known to be garbage: at the next start, a folder whose lock can be taken belongs
to no live process, and is removed. Its existence also says that a process died
mid-way, which is when the store looks for other leftovers (store.gc.sweep).

A process that ends normally removes its folder. A forked child that goes on using the store
makes a folder of its own (the lock is inherited with the descriptor, so the parent's stays
owned while the child lives, which is what is wanted).
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import re
import sys
import threading
import time
from pathlib import Path

from dockyard.archive.fstree import remove_path

_LOCK = re.compile(r"(\d+-[0-9a-f]{8})\.lock\Z")
_FOLDER = re.compile(r"\d+-[0-9a-f]{8}\Z")
# Entries a store written by older versions left in tmp/ without an owner: kept a day.
_UNOWNED_MAX_AGE = 86400

_lock = threading.Lock()
_folders: dict[tuple[str, int], Path] = {}  # (tmp root, pid) -> this process's folder
_cleaned: set[str] = set()                    # tmp roots whose dead folders this process removed


def folder(tmp_root: Path) -> Path:
    """This process's folder under `tmp_root`, made (and locked) on first use."""
    key = (os.fspath(tmp_root), os.getpid())
    found = _folders.get(key)
    if found is not None:
        return found
    with _lock:
        found = _folders.get(key)
        if found is None:
            found = _make(tmp_root)
            _folders[key] = found
    return found


def _make(tmp_root: Path) -> Path:
    tmp_root.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    fd = _new_lock(tmp_root)  # held until this process ends (the descriptor stays open)
    dir_fd = os.open(tmp_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        spread_subdirs(dir_fd)
        while True:
            name = f"{pid}-{os.urandom(4).hex()}"  # secrets.token_hex(4), without loading secrets+random
            try:
                _name_lock(fd, dir_fd, f"{name}.lock")
                break
            except FileExistsError:
                continue
    finally:
        os.close(dir_fd)
    path = tmp_root / name
    path.mkdir(mode=0o700)
    atexit.register(_remove_own, path, pid, fd)
    return path


# FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (_IOR/_IOW('f', 1/2, long)) where the ioctl numbers are the
# generic ones, and ext4's "top of a directory hierarchy" flag (chattr +T)
_FLAG_IOCTLS = {"x86_64": (0x80086601, 0x40086602), "aarch64": (0x80086601, 0x40086602)}
FS_TOPDIR_FL = 0x00020000


def spread_subdirs(dir_fd: int) -> None:
    """Mark tmp/ as the top of directory hierarchies (ext4's FS_TOPDIR_FL, `chattr +T`), so that
    each process's folder is placed in a block group of its own choosing (the Orlov allocator's
    rule for top directories) instead of beside tmp/, and so is everything made in it: the trees
    a build unpacks and writes, its layer tars. On an ext4 without a journal, making an inode
    skips, one by one, every inode of its group deleted in the last minutes (fs/ext4/ialloc.c,
    recently_deleted): where the store's tests and builds come and go (tmp/ is where everything
    is made and removed), a symlink or mkdir took 0.3-0.7 ms instead of ~13 us, and the first
    build on busybox spent 30-190 ms making its 280 entries. A hint only: left alone where it
    is set already, and where the file system has no such flag."""
    ioctls = _FLAG_IOCTLS.get(os.uname().machine)
    if ioctls is None:
        return
    get_flags, set_flags = ioctls
    try:
        buf = bytearray(4)      # the kernel reads and writes an int
        fcntl.ioctl(dir_fd, get_flags, buf, True)
        flags = int.from_bytes(buf, sys.byteorder)
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(dir_fd, set_flags, (flags | FS_TOPDIR_FL).to_bytes(4, sys.byteorder))
    except OSError:
        pass


def _new_lock(tmp_root: Path) -> int:
    """A locked, nameless file on the store's file system (O_TMPFILE), to be given its name by
    a link: no other process ever sees the lock before it is held, and a kill before the link
    leaves nothing."""
    fd = os.open(tmp_root, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _name_lock(fd: int, dir_fd: int, name: str) -> None:
    # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: os.link uses linkat (not link(2), which
    # would link the /proc symlink itself) when it is given a directory descriptor.
    os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)


def _remove_own(path: Path, pid: int, fd: int) -> None:
    if os.getpid() != pid:
        return  # a forked child exiting: the folder is its parent's
    if _remove_tree(path):
        Path(f"{path}.lock").unlink(missing_ok=True)
    try:
        os.close(fd)
    except OSError:
        pass


def remove_dead(tmp_root: Path) -> bool:
    """Remove the folders of processes that are gone (once per process and store); True when
    there were any, i.e. some process died before it could clean up after itself."""
    key = os.fspath(tmp_root)
    if key in _cleaned:
        return False
    _cleaned.add(key)
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return False
    found = False
    now = time.time()
    locked = {m.group(1) for m in map(_LOCK.match, names) if m}
    for name in names:
        path = tmp_root / name
        match = _LOCK.match(name)
        if match:
            found |= _remove_if_dead(tmp_root / match.group(1), path)
        elif name in locked:
            continue  # a folder with its lock: decided by the lock
        elif _FOLDER.match(name):
            # Its lock went: a cleaner was killed between the folder and the lock (the lock is
            # linked before the folder is made; look again, a listing is no snapshot).
            if not os.path.exists(f"{path}.lock"):
                _remove_tree(path)
                found = True
        else:
            _remove_if_old(path, now)  # an entry an older version left without an owner
    return found


def owner_lock(tmp_root: Path) -> str:
    """The lock file that says this process lives (its folder's, made if need be): a mark
    another process can later test with `alive` (a pause a commit made and must undo)."""
    return f"{folder(tmp_root)}.lock"


def alive(lock: str | Path) -> bool:
    """Whether the process whose folder lock this is lives."""
    if not os.path.exists(lock):
        return False
    fd = _take(Path(lock), fcntl.LOCK_SH)
    if fd is None:
        return os.path.exists(lock)  # held (or removed just now by a cleaner: then dead)
    os.close(fd)
    return False


def live_folders(tmp_root: Path) -> list[Path]:
    """The folders of the processes that live now (this one's included)."""
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        match = _LOCK.match(name)
        if match is None:
            continue
        fd = _take(tmp_root / name, fcntl.LOCK_SH)
        if fd is None:
            out.append(tmp_root / match.group(1))
        else:
            os.close(fd)
    return out


def _take(lock: Path, how: int) -> int | None:
    """The lock taken (its descriptor, for the caller to close), or None while a live process
    holds it (or it is gone)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


def _remove_if_dead(path: Path, lock: Path) -> bool:
    fd = _take(lock, fcntl.LOCK_EX)
    if fd is None:
        return False  # its process lives (or another process is removing it)
    try:
        if _remove_tree(path):
            lock.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> bool:
    """Remove a dead process's folder, first detaching what it had mounted in it (a build's
    view of an image, killed before it unmounted): removal must never go through a mount.
    False (the folder kept, for a later try) if a mount would not go."""
    prefix = os.fspath(path) + "/"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        points = []
    mounted = sorted((p for p in map(_unescape, points) if p.startswith(prefix)), key=len, reverse=True)
    for point in mounted:
        if _umount_detach(point) != 0:
            return False
    remove_path(path, ignore_errors=True)
    return True


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (\\040 for a space...)."""
    if "\\" not in field:  # (most: no expression compiled at each exit of a build)
        return field
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _umount_detach(point: str) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.umount2(os.fsencode(point), 2)  # MNT_DETACH


def _remove_if_old(path: Path, now: float, max_age: float = _UNOWNED_MAX_AGE) -> bool:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if st.st_mtime >= now - max_age:
        return False
    if path.is_dir() and not path.is_symlink():
        remove_path(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True
