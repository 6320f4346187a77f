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
  targets restart at the root, at most MAX_SYMLINKS are met (apply does this resolution, by
  directory descriptors). The final component is never followed; it is replaced.
- Device nodes (char, block) and FIFOs are created only when the policy allows them (Docker skips
  them in a user namespace; we refuse them when not allowed, naming the entry).
- Special (PAX/GNU) headers are limited in size by `tarreader` (1 MiB, as Go's archive/tar).
"""

from __future__ import annotations

import posixpath

from dockyard.archive.tarreader import BLK, CHR, FIFO, Entry
from dockyard.dataclass import dataclass
from dockyard.errors import InvalidArchive

MAX_SYMLINKS = 40  # like Linux's MAXSYMLINKS


@dataclass(frozen=True)
class Policy:
    """What an extraction allows beyond regular files, directories and links."""

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
