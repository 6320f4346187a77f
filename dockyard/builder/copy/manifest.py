"""The file list of COPY/ADD sources, kept with the step's image so a later build can say which
files made its COPY miss the cache (`build --explain-cache`): for every file, directory and link
under the sources, its path (relative to the context, or to the `--from` image), type, mode,
owner, size and content digest (a link: its target). `changes(old, new)` names what differs.

The cache checksum (checksum.py) folds all of this into one hash; this list is made only on a
miss (the step does the copy then anyway) or when a miss is explained. A context file the
context's FileSums (store/filesums.py) has a record of is not read again."""

from __future__ import annotations

import os
import stat

from dockyard.builder.copy.match import Source, source_walk
from dockyard.digest import CHUNK, Sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from dockyard.store.filesums import FileSums

__all__ = ["MAX_ENTRIES", "changes", "source_manifest"]

MAX_ENTRIES = 100_000   # beyond this many entries the list is not kept (a miss is then unexplained)
SHOWN = 10              # changes named in one explanation; the rest are counted

if TYPE_CHECKING:
    Entry = list[Any]   # [type, mode, uid, gid, size, digest or link target]


def _entry(path: str, st: os.stat_result, sums: FileSums | None = None, rel: str = "") -> Entry:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        known = sums.content(rel, st) if sums is not None else None
        if known is not None:
            return ["f", stat.S_IMODE(mode), st.st_uid, st.st_gid, st.st_size, known]
        h = Sha256()
        with open(path, "rb", buffering=0) as f:
            while data := f.read(CHUNK):
                h.update(data)
        return ["f", stat.S_IMODE(mode), st.st_uid, st.st_gid, st.st_size, h.hexdigest()]
    kind = "d" if stat.S_ISDIR(mode) else "l" if stat.S_ISLNK(mode) else "o"
    return [kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, 0, os.readlink(path) if kind == "l" else ""]


def source_manifest(sources: list[Source], sums: FileSums | None = None) -> dict[str, Entry] | None:
    """path -> entry for everything the sources copy; None when there are too many entries.
    `sums`: the records of the context directory (for its sources only)."""
    out: dict[str, Entry] = {}
    for source in sources:
        base = os.fspath(source.path)
        top = source.rel or "."
        known = sums if source.origin == "context" and sums is not None and sums.covers(source.root) else None
        out[top] = _entry(base, source.st, known, source.rel)
        if not source.is_dir:
            continue
        for rel, st in source_walk(source, cli=False):
            path = f"{source.rel}/{rel}" if source.rel else rel
            out[path] = _entry(os.path.join(base, rel), st, known, path)
            if len(out) > MAX_ENTRIES:
                return None
    return out


_TYPES = {"f": "file", "d": "directory", "l": "symlink", "o": "special file"}


def _what(old: Entry, new: Entry) -> list[str]:
    if old[0] != new[0]:
        return [f"type {_TYPES.get(old[0], old[0])} -> {_TYPES.get(new[0], new[0])}"]
    out = []
    if old[0] == "f" and (old[4], old[5]) != (new[4], new[5]):
        out.append("content")
    if old[0] == "l" and old[5] != new[5]:
        out.append(f"link target {old[5]} -> {new[5]}")
    if old[1] != new[1]:
        out.append(f"mode {old[1]:04o} -> {new[1]:04o}")
    if (old[2], old[3]) != (new[2], new[3]):
        out.append(f"owner {old[2]}:{old[3]} -> {new[2]}:{new[3]}")
    return out


def changes(old: dict[str, Entry], new: dict[str, Entry]) -> str:
    """`a.txt (content), d/new (added), d/old (removed), run.sh (mode 0644 -> 0755)`, the first
    SHOWN in path order, then how many more; empty when nothing differs."""
    found = []
    for path in sorted(old.keys() | new.keys()):
        if path not in old:
            found.append(f"{path} (added)")
        elif path not in new:
            found.append(f"{path} (removed)")
        else:
            what = _what(old[path], new[path])
            if what:
                found.append(f"{path} ({', '.join(what)})")
    text = ", ".join(found[:SHOWN])
    if len(found) > SHOWN:
        text += f" and {len(found) - SHOWN} more"
    return text
