"""What `docker diff` prints for a container: changes of its overlay upper dir against its lowers.

Docker's overlay2 driver computes changes with the naive algorithm (moby commit ac5d363e,
"Update overlay2 to use naive diff for changes": the upper-dir walk got opaque directories wrong):
`archive.ChangesDirs(merged, parent_merged)`. We get the same result by walking only the upper
dir, since nothing else can differ, and comparing each entry with the merged view of the lowers:
- A: the path is in the new tree but not in the old one (everything below an added directory is
  A too; so is everything below a directory that replaced a non-directory).
- C: both exist and differ by `statDifferent` (type/permission bits, uid, gid, rdev, and for
  non-directories size and mtime, mtimes being equal when one of them has no sub-second part) or by
  `security.capability`. A directory containing any change is listed as C too (unless it is itself
  A or C), so parents of changed paths appear. The root "/" never appears.
- D: a whiteout (0/0 character device) hiding an existing path; for an opaque directory, every
  old entry of it that the upper dir does not provide again. Below a deleted path nothing is listed.
Paths are absolute ("/etc/passwd") and the list is sorted by path (`docker diff` output order is
not specified; moby's list comes from a map walk).

`lower_dirs` are ordered like overlayfs' `lowerdir=` option: topmost first.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

OPAQUE_XATTR = "trusted.overlay.opaque"
CAPABILITY_XATTR = "security.capability"


@dataclass(frozen=True, order=True)
class Change:
    path: str
    kind: str  # "A" | "C" | "D"

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return None


def _same_time(a: int, b: int) -> bool:
    """moby's sameFsTime: equal, or same second with one side lacking nanoseconds."""
    return a == b or (a // 10**9 == b // 10**9 and (a % 10**9 == 0 or b % 10**9 == 0))


def _stat_different(old: os.stat_result, new: os.stat_result) -> bool:
    if old.st_mode != new.st_mode or old.st_uid != new.st_uid or old.st_gid != new.st_gid:
        return True
    if old.st_rdev != new.st_rdev:
        return True
    if not stat.S_ISDIR(old.st_mode):
        return not _same_time(old.st_mtime_ns, new.st_mtime_ns) or old.st_size != new.st_size
    return False


class _Lowers:
    """The merged (overlay) view of the lower layer dirs, looked up path by path."""

    def __init__(self, lowers: list[Path]) -> None:
        self.roots = [os.fspath(p) for p in lowers]

    def find(self, rel: str) -> tuple[str, os.stat_result] | None:
        """(absolute path in the layer that provides it, lstat) or None when absent/hidden."""
        parts = rel.split("/")
        for root in self.roots:
            stop = False  # an opaque directory or a non-directory here hides the layers below
            cur = root
            for i, comp in enumerate(parts):
                cur = os.path.join(cur, comp)
                st = _lstat(cur)
                if st is None:
                    break
                if _is_whiteout(st):
                    return None
                if i == len(parts) - 1:
                    return cur, st
                if not stat.S_ISDIR(st.st_mode):
                    return None
                if _is_opaque(cur):
                    stop = True
            if stop:
                return None
        return None

    def names(self, rel: str) -> set[str]:
        """Entry names of the directory `rel` in the merged lower view."""
        candidates: set[str] = set()
        for root in self.roots:
            try:
                candidates.update(os.listdir(os.path.join(root, rel)))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return {n for n in candidates if self.find(f"{rel}/{n}" if rel else n) is not None}


def overlay_changes(upper: Path, lower_dirs: list[Path]) -> list[Change]:
    """The `docker diff` list for an overlay upper dir over `lower_dirs` (topmost first)."""
    lowers = _Lowers(lower_dirs)
    changes: list[Change] = []
    _dir_changes(os.fspath(upper), "", lowers, changes, old_visible=True)
    changes.sort()
    return changes


def _add_all(abs_dir: str, rel_dir: str, changes: list[Change]) -> None:
    for name in os.listdir(abs_dir):
        rel = f"{rel_dir}/{name}"
        path = os.path.join(abs_dir, name)
        st = os.lstat(path)
        if _is_whiteout(st):
            continue
        changes.append(Change("/" + rel, "A"))
        if stat.S_ISDIR(st.st_mode):
            _add_all(path, rel, changes)


def _dir_changes(abs_dir: str, rel_dir: str, lowers: _Lowers, changes: list[Change], old_visible: bool) -> bool:
    """Changes inside the upper directory `abs_dir`. `old_visible`: whether the lowers' content
    of this directory is part of the new tree (False under an opaque directory). Returns whether
    anything changed inside."""
    before = len(changes)
    upper_names: set[str] = set()
    whiteouts: set[str] = set()
    for name in os.listdir(abs_dir):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        path = os.path.join(abs_dir, name)
        st = os.lstat(path)
        found = lowers.find(rel)
        old = found[1] if found else None
        if _is_whiteout(st):
            whiteouts.add(name)
            if old is not None:
                changes.append(Change("/" + rel, "D"))
            continue
        upper_names.add(name)
        if old is None:
            changes.append(Change("/" + rel, "A"))
            if stat.S_ISDIR(st.st_mode):
                _add_all(path, rel, changes)
            continue
        listed = False
        if _stat_different(old, st) or _capability(found[0]) != _capability(path):  # type: ignore[index]
            changes.append(Change("/" + rel, "C"))
            listed = True
        if stat.S_ISDIR(st.st_mode):
            if not stat.S_ISDIR(old.st_mode):
                _add_all(path, rel, changes)  # replaced a file: all of its content is new
                inner = True
            else:
                visible = old_visible and not _is_opaque(path)
                inner = _dir_changes(path, rel, lowers, changes, visible)
            if inner and not listed:
                changes.append(Change("/" + rel, "C"))
    if not old_visible:
        # Opaque: the lowers' entries that the upper dir does not provide again are gone.
        for name in lowers.names(rel_dir) - upper_names - whiteouts:
            changes.append(Change("/" + (f"{rel_dir}/{name}" if rel_dir else name), "D"))
    return len(changes) > before


def diff_size(upper: Path) -> int:
    """Bytes used by a container's writable layer as Docker reports it (`docker ps -s`, SizeRw):
    overlay2's DiffSize is `directory.Size(upper)`, the st_size of every non-directory, each inode
    counted once (symlinks count their target's length, whiteouts 0)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    return total
