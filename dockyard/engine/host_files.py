"""The host's side of `docker cp` (the client's half; the container's is engine/container_files):
where a copy lands on the host or in the container, the tar of a host path, and the extraction of
a container's tar on the host, as the docker CLI 20.10 does them (moby's pkg/archive copy.go:
CopyInfoSourcePath, CopyInfoDestinationPath, PrepareArchiveCopy, RebaseArchiveEntries, CopyTo).

A tar that comes from a daemon is extracted by archive/apply, the one extraction with the
hostile-archive checks (names that climb out, links followed as in a chroot, hard links kept
inside, devices refused unless root), with Docker's NoOverwriteDirNonDir and without the tar's
owners (the docker CLI's NoLchown: the files are the user's).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.dataclass import dataclass
from dockyard.errors import InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


@dataclass(frozen=True)
class CopyInfo:
    """A side of a copy: its path, whether it is there and a directory, and the name its tar
    entries take instead of the path's last element (a followed link's)."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


def _current_dir(path: str) -> bool:
    return path == "." or path.endswith("/.")


def split_dir_entry(path: str) -> tuple[str, str]:
    """(the directory, the entry) of `path`, `/.` kept as the entry "." (SplitPathDirEntry)."""
    cleaned = os.path.normpath(path) if path else "."
    if path.startswith("//") and not path.startswith("///"):
        cleaned = "/" + cleaned.lstrip("/")   # Go's Clean keeps one slash
    if _current_dir(path):
        cleaned = cleaned.rstrip("/") + "/." if cleaned != "/" else "/."
    return os.path.dirname(cleaned) or ".", os.path.basename(cleaned) or "/"


def preserve_trailing(cleaned: str, original: str) -> str:
    """`cleaned` with `original`'s trailing `/.` or `/` (PreserveTrailingDotOrSeparator)."""
    if _current_dir(original) and not _current_dir(cleaned):
        cleaned = cleaned.rstrip("/") + "/."
    if original.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def local_path(path: str) -> str:
    """An absolute host path, its trailing `/` or `/.` kept (the docker CLI's resolveLocalPath)."""
    return preserve_trailing(os.path.abspath(path), path)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """(the resolved path with `path`'s trailing `/.` or `/`, the name to rebase entries to when
    the last element changed) (GetRebaseName)."""
    resolved = preserve_trailing(resolved, path)
    base, resolved_base = os.path.basename(path.rstrip("/")), os.path.basename(resolved.rstrip("/"))
    if _current_dir(path):
        base = "."
    if _current_dir(resolved):
        resolved_base = "."
    return resolved, (base if base != resolved_base else "")


def source_info(path: str, follow_link: bool) -> CopyInfo:
    """The host path to copy into a container (CopyInfoSourcePath): with `follow_link` its
    last element's link followed, the entries named as the link; else only its parents'."""
    if follow_link:
        resolved, rebase = rebase_name(path, os.path.realpath(path))
    else:
        head, base = os.path.split(path)
        resolved = os.path.realpath(head or ".").rstrip("/") + "/" + base
        rebase = os.path.basename(path.rstrip("/")) if path.endswith("/") and \
            os.path.basename(path.rstrip("/")) != os.path.basename(resolved.rstrip("/")) else ""
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        raise InvalidParameter(f"lstat {resolved}: {(exc.strerror or str(exc)).lower()}") from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def destination_info(path: str) -> CopyInfo:
    """Where a copy out of a container lands on the host (CopyInfoDestinationPath): a link at
    `path` is followed (at most 10 times), a missing path is fine when its parent is a
    directory."""
    original = path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    n = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        if n > 10:
            raise InvalidParameter(f"too many symlinks in {original}")
        n += 1
        target = os.readlink(path)
        if not target.startswith("/"):
            target = os.path.join(split_dir_entry(path)[0], target)
        path = os.path.normpath(target)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
    if st is not None:
        return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
    parent = split_dir_entry(path)[0]
    try:
        parent_st = os.stat(parent)
    except OSError as exc:
        raise InvalidParameter(f"stat {parent}: {(exc.strerror or str(exc)).lower()}") from None
    if not stat.S_ISDIR(parent_st.st_mode):
        raise InvalidParameter("not a directory")
    return CopyInfo(path)


def check_output_path(path: str) -> None:
    """The docker CLI's check of a copy's host destination (ValidateOutputPath)."""
    parent = os.path.dirname(os.path.normpath(path))
    if parent and parent != "." and not os.path.exists(parent):
        raise InvalidParameter(f'invalid output path: directory "{parent}" does not exist')
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "an irregular file"
        raise InvalidParameter(f'invalid output path: "{path}" must be a directory or a regular file: got {kind}')


def prepare(source: CopyInfo, dest: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """(the directory to extract into, (old, new) names to rebase the entries to, or None)
    (PrepareArchiveCopy)."""
    dest_dir, dest_base = split_dir_entry(dest.path)
    source_base = source.rebase_name or split_dir_entry(source.path)[1]
    if dest.exists and dest.is_dir:
        return dest.path, None
    if dest.exists and source.is_dir:
        raise InvalidParameter("cannot copy directory")
    if not dest.exists and not source.is_dir and dest.path.endswith(("/", "/.")):
        raise InvalidParameter("no such directory")
    return dest_dir, (source_base, dest_base)


def rebased(name: str, old: str, new: str) -> str:
    """An entry's name rebased as RebaseArchiveEntries does it: the first `old` replaced (the
    root's entries, "/" as `old`, get `new` before their names)."""
    return name.replace("" if old == "/" else old, new, 1)


def extract(stream: BinaryIO, dest_dir: str, rebase: tuple[str, str] | None) -> None:
    """A container's tar (from the archive API) into `dest_dir` on the host, its entries rebased
    (the docker CLI's CopyTo: Untar with NoLchown and NoOverwriteDirNonDir)."""
    from dockyard.archive.apply import apply_layer, no_overwrite_dir_non_dir
    from dockyard.archive.tarreader import LNK

    refuse = no_overwrite_dir_non_dir(dest_dir)

    def check(entry) -> None:  # noqa: ANN001 - an archive Entry
        if rebase is not None:
            entry.name = rebased(entry.name, *rebase)
            if entry.type == LNK:
                entry.linkname = rebased(entry.linkname, *rebase)
        refuse(entry)

    apply_layer(stream, Path(dest_dir), whiteout_format="none", owner=(os.getuid(), os.getgid()), check=check)


def write_tar(source: CopyInfo, out: BinaryIO) -> None:
    """The tar of a host path, its entries named after its last element or its rebase name
    (TarResource)."""
    from dockyard.archive.diff import write_resource

    path = source.path
    base = split_dir_entry(path)[1]
    resource = (path[:-2] or "/") if _current_dir(path) else (path.rstrip("/") or "/")
    write_resource(Path(resource), source.rebase_name or base, out)
