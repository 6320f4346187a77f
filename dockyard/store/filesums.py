"""Per-file checksums of build contexts, kept between builds and keyed by each file's stat (as
BuildKit's contenthash keeps them): a COPY of a context in which one file changed reads and
hashes that one file, not all of them.

    <root>/filesums/<sha256 of the context directory's path>   one context's records

A record is `path -> [dev, ino, size, mtime_ns, ctime_ns, mode, uid, gid, content, header,
sum]`: the sha256 of the file's content, and the checksum a COPY's cache key takes of it
(builder/copy/checksum.py) with the hash of the tar header that checksum covered. A record is
used only while everything stat says of the file is what it was when the file was read:
device, inode, size, mtime, ctime (which no user can set: a write, chmod, chown, a new xattr, a
link or a rename all move it), mode and owner. A file changed, or another one renamed over it,
misses. A file whose times are not older than its read by a margin is not recorded: file
times come from a coarse clock, so a second change in the same tick would leave the stat as
the record has it (git's "racily clean" entries). The margin is LOCAL_TRUST_AFTER (100 ms) on
a local file system that stamps times from this kernel's clock to the nanosecond (its tick is
at most 10 ms: HZ >= 100), told by the type /proc/self/mountinfo gives the file's device and by
the file's ctime having a fraction of a second (an ext2/3 inode of 128 bytes keeps whole
seconds); anywhere else (NFS, FUSE, FAT, a device not found) TRUST_AFTER (2 s), the coarsest
tick of a file system and the clock skew a network one may add. A file written just before a
build is then read again by the next one only if it was written less than 100 ms before its
read, not 2 s.

The file is the sha256 of its body, a newline, then the body (JSON; atomic.replace_checked): a
torn, truncated or foreign file is no file, every lookup misses. It is written in the process's
temp folder (store.workspace) and replaces the old one by a rename, without an fsync (a record lost to a
power cut is a miss, never a wrong answer). Two builds of one context may each
replace it: the last one's records stay, the other's are misses next time. Bounded: at most
MAX_RECORDS records per context and MAX_CONTEXTS contexts (the least recently saved go first),
and the store's garbage collector drops the records of contexts that are gone (`trim`).

With the records, the last layer each COPY of the context made (`last_layer`): a hint, only
ever used as the tree to hard-link equal files from when the next one is unpacked.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from dockyard.atomic import read_checked, replace_checked
from dockyard.digest import small_sha256
from dockyard.store import workspace

__all__ = ["FileSums", "LOCAL_TRUST_AFTER", "TRUST_AFTER", "same_stat", "trim", "trust_margin"]

TRUST_AFTER = 2_000_000_000   # ns: files changed this close to their read are not recorded
LOCAL_TRUST_AFTER = 100_000_000   # ns: the same, on a local file system with nanosecond times
# File systems whose times are stamped by this kernel's clock (current_time()), kept to the
# nanosecond when the inode has room: the only ones that get the short margin.
_KERNEL_STAMPED = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "overlay"})
MAX_RECORDS = 500_000
MAX_CONTEXTS = 32
MAX_LAYERS = 64
_DIR = "filesums"


def _key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode,
            st.st_uid, st.st_gid]


def same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    """The same file, unchanged (all that a record is keyed by is equal)."""
    return _key(a) == _key(b)


class FileSums:
    """The records of one context directory, loaded once per build; `save` writes what was
    added."""

    def __init__(self, store_root: Path | None, context: str, trust_after: int | None = None) -> None:
        self.store_root = store_root
        self.context = context
        self.trust_after = trust_after   # None: by the file's file system (trust_margin)
        self._path: str | None = None
        self._records: dict[str, list] = {}
        self._layers: dict[str, str] = {}
        self._dirty = False
        self._lock = threading.Lock()   # a build's steps may run at the same time
        if store_root is not None:
            name = small_sha256(os.fsencode(context)).hexdigest()
            self._path = f"{os.fspath(store_root)}/{_DIR}/{name}"
            self._records, self._layers = _read(self._path, context)

    def covers(self, root: str | os.PathLike[str]) -> bool:
        """These are the records of the directory `root`."""
        return os.fspath(root) == self.context

    def _match(self, rel: str, st: os.stat_result) -> list | None:
        rec = self._records.get(rel)
        if rec is None or rec[:8] != _key(st):
            return None
        return rec

    def content_at(self, path: str | os.PathLike[str], st: os.stat_result) -> str | None:
        """`content` of the file at the absolute `path`, when it is inside the context."""
        path = os.fspath(path)
        prefix = self.context + "/"
        return self.content(path[len(prefix):], st) if path.startswith(prefix) else None

    def content(self, rel: str, st: os.stat_result) -> str | None:
        """The sha256 (hex) of the content of the file at `rel`, if a record of it matches `st`."""
        rec = self._match(rel, st)
        return rec[8] if rec is not None else None

    def checksum(self, rel: str, st: os.stat_result, header: str) -> str | None:
        """The recorded checksum of the file taken with this tar `header`, if one matches."""
        rec = self._match(rel, st)
        return rec[10] if rec is not None and rec[9] == header else None

    def record(self, rel: str, st: os.stat_result, read_at: int, content: str,
               header: str = "", checksum: str = "") -> None:
        """Remember the file at `rel`, read (from `read_at`, time.time_ns()) with stat `st`,
        unless it changed too close to that read to be told apart from a later change."""
        margin = self.trust_after if self.trust_after is not None else trust_margin(st)
        if max(st.st_mtime_ns, st.st_ctime_ns) >= read_at - margin:
            return
        self._records[rel] = [*_key(st), content, header, checksum]
        self._dirty = True

    def last_layer(self, copy: str, diff_id: str | None = None) -> str | None:
        """The layer (hex diff ID) the COPY described by `copy` made last time; with `diff_id`,
        the one it made now is remembered in its place."""
        with self._lock:
            last = self._layers.get(copy)
            if diff_id is not None and diff_id != last:
                self._layers.pop(copy, None)
                self._layers[copy] = diff_id
                while len(self._layers) > MAX_LAYERS:
                    del self._layers[next(iter(self._layers))]
                self._dirty = True
            return last

    def save(self) -> None:
        """Write the records if any were added (a failure to write is no error: a miss later)."""
        if not self._dirty or self._path is None or self.store_root is None:
            return
        self._dirty = False
        records = self._records
        if len(records) > MAX_RECORDS:
            records = dict(list(records.items())[-MAX_RECORDS:])
        body = json.dumps({"context": self.context, "files": records, "layers": self._layers},
                          separators=(",", ":")).encode()
        folder = os.path.dirname(self._path)
        try:
            os.makedirs(folder, exist_ok=True)
            replace_checked(Path(self._path), body, tmp_dir=workspace.folder(self.store_root / "tmp"))
        except OSError:
            return
        _bound(folder)


_stamped_by_kernel: dict[int, bool] = {}


def trust_margin(st: os.stat_result) -> int:
    """How much older than its read a file's times must be for its record to be kept (ns)."""
    if not st.st_ctime_ns % 1_000_000_000:
        return TRUST_AFTER                # whole seconds: a tick of 1 s (or a fraction of 0)
    local = _stamped_by_kernel.get(st.st_dev)
    if local is None:
        local = _stamped_by_kernel[st.st_dev] = _fs_type(st.st_dev) in _KERNEL_STAMPED
    return LOCAL_TRUST_AFTER if local else TRUST_AFTER


def _fs_type(dev: int) -> str:
    """The type of the file system mounted from device `dev` ("" if none is found)."""
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except OSError:
        pass
    return ""


def _read(path: str, context: str) -> tuple[dict[str, list], dict[str, str]]:
    body = read_checked(path)
    if body is None:
        return {}, {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}, {}
    if not isinstance(parsed, dict) or parsed.get("context") != context:
        return {}, {}
    files, layers = parsed.get("files"), parsed.get("layers")
    return (files if isinstance(files, dict) else {}), (layers if isinstance(layers, dict) else {})


def _bound(folder: str) -> None:
    """At most MAX_CONTEXTS contexts: the least recently saved go."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    if len(entries) <= MAX_CONTEXTS:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[:-MAX_CONTEXTS]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass


def trim(store_root: Path) -> None:
    """The store's garbage collection: drop the records of contexts that no longer exist."""
    try:
        entries = list(os.scandir(store_root / _DIR))
    except OSError:
        return
    for entry in entries:
        try:
            with open(entry.path, "rb") as f:
                head = f.read(4096)
            context = json.loads(head.partition(b"\n")[2].split(b',"files"', 1)[0] + b"}")["context"]
            if not os.path.isdir(context):
                os.unlink(entry.path)
        except (OSError, ValueError, KeyError, TypeError):
            try:
                os.unlink(entry.path)
            except OSError:
                pass
