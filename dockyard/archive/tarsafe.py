"""The one place where tar entries are judged safe to extract.

What Docker (moby/go-archive `Unpack`/`UnpackLayer`) does, and we match:
- Entry names: a leading "/" is stripped and the name is cleaned (`path.Clean`), so "/abs" lands
  at "<dest>/abs" and "a/../b" at "<dest>/b". A name that still escapes ("../x") is refused.
  The root itself ("." or "/") is skipped.
- Hard link targets are cleaned the same way and must stay inside the archive root.
- Symlink targets are stored verbatim: they are text and may point anywhere (absolute targets such
  as /usr/lib are normal in images). They are never followed out of the root during extraction:
  intermediate path components are resolved like inside a chroot (Docker extracts layers inside a
  chroot, or with os.Root plus `resolveArchivePath`): ".." stops at the root, absolute symlink
  targets restart at the root. The final component is never followed; it is replaced.
- Device nodes (char, block) and FIFOs are created only when the policy allows them (Docker skips
  them in a user namespace; we refuse them when not allowed, naming the entry).
- Special (PAX/GNU) headers are limited in size by `tarreader` (1 MiB, as Go's archive/tar).
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from dockyard.archive.tarreader import BLK, CHR, FIFO, Entry
from dockyard.errors import InvalidArchive

MAX_SYMLINKS = 40  # like Linux's MAXSYMLINKS


@dataclass(frozen=True)
class Policy:
    allow_devices: bool = False


def clean_name(name: str) -> str | None:
    """The entry's path relative to the root, or None for the root itself."""
    if "\0" in name:
        raise InvalidArchive(f"invalid entry name {name!r}: contains NUL")
    cleaned = posixpath.normpath(name.lstrip("/"))
    if cleaned == ".":
        return None
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArchive(f"invalid entry name {name!r}: path escapes the destination")
    return cleaned


def clean_hardlink_target(entry_name: str, linkname: str) -> str:
    target = posixpath.normpath(linkname.lstrip("/")) if linkname else "."
    if target == "." or target == ".." or target.startswith("../") or "\0" in target:
        raise InvalidArchive(f"invalid hard link {entry_name!r} -> {linkname!r}: target outside the archive")
    return target


def check_entry(entry: Entry, policy: Policy) -> None:
    if entry.type in (CHR, BLK, FIFO) and not policy.allow_devices:
        kind = {CHR: "character device", BLK: "block device", FIFO: "FIFO"}[entry.type]
        raise InvalidArchive(f"{entry.name!r}: {kind} entries are not allowed here")


class RootResolver:
    """Resolves paths inside `root` with chroot semantics, never leaving it.

    `parent(rel)` returns the real, symlink-free path of the directory that will hold `rel`
    (creating missing directories), so that the final component can be created or replaced with
    no-follow operations. Call `invalidate()` whenever a directory or symlink is removed or
    replaced: resolutions are cached.
    """

    def __init__(self, root: Path) -> None:
        self.root = os.fspath(root)
        self._cache: dict[str, str] = {"": ""}

    def invalidate(self) -> None:
        self._cache = {"": ""}

    def parent(self, rel: str, *, create: bool = True, entry: str | None = None) -> tuple[str, str]:
        """(real parent relative to root, base name) for the cleaned relative path `rel`."""
        head, base = posixpath.split(rel)
        return self.resolve_dir(head, create=create, entry=entry or rel), base

    def resolve_dir(self, rel: str, *, create: bool, entry: str) -> str:
        cached = self._cache.get(rel)
        if cached is not None:
            return cached
        real: list[str] = []
        pending = rel.split("/")
        pending.reverse()
        links = 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if real:
                    real.pop()
                continue
            path = os.path.join(self.root, *real, comp)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise InvalidArchive(f"{entry!r}: {'/'.join(real + [comp])} does not exist") from None
                os.mkdir(path, 0o755)
                real.append(comp)
                continue
            if stat.S_ISDIR(st.st_mode):
                real.append(comp)
            elif stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise InvalidArchive(f"{entry!r}: too many levels of symbolic links")
                target = os.readlink(path)
                if target.startswith("/"):
                    real = []
                parts = target.split("/")
                parts.reverse()
                pending.extend(parts)
            else:
                raise InvalidArchive(f"{entry!r}: {'/'.join(real + [comp])} is not a directory")
        result = "/".join(real)
        self._cache[rel] = result
        return result

    def abspath(self, real_rel: str, base: str = "") -> str:
        return os.path.join(self.root, real_rel, base) if base else os.path.join(self.root, real_rel)
