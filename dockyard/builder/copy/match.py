"""COPY/ADD sources in a filesystem (the context, or an image's for `--from`): a path or a Go
filepath.Match wildcard -> Source, and the walk of a directory source, parents first, with what
.dockerignore excludes left out."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from dockyard.builder.context import resolve_in_context
from dockyard.builder.dockerignore import IgnoreMatcher, MatchInfo, go_clean
from dockyard.dataclass import dataclass
from dockyard.errors import InvalidParameter
from dockyard.gopath import compile_pattern

__all__ = ["Source", "collect_sources", "source_walk", "walk_source"]

_WILDCARD = re.compile(r"[*?\[]")


@dataclass
class Source:
    """One resolved source: a file or directory under `root`."""

    root: Path                 # the filesystem it lives in (context or image root)
    rel: str                   # resolved path relative to root ("" for the root itself)
    name: str                  # the name a file source gets in a directory dest
    st: os.stat_result
    ignore: IgnoreMatcher | None = None
    hash: str = ""
    archive: bool = False      # ADD: a local tar to extract
    mtime: int | None = None   # override (downloads)
    mode: int | None = None    # override (downloads)
    cli_excludes: bool = False  # the context as the docker CLI sends it (classic builds)
    origin: str = "context"    # context | image | download: how its hash is taken
    walked: list | None = None  # a directory's walk, kept by source_walk

    @property
    def path(self) -> Path:
        return self.root / self.rel if self.rel else self.root

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _excluded(ignore: IgnoreMatcher | None, rel: str) -> bool:
    return bool(ignore) and ignore.matches(rel)  # type: ignore[union-attr]


def walk_source(root: Path, rel: str, ignore: IgnoreMatcher | None,
                cli: bool = False) -> Iterator[tuple[str, os.stat_result]]:
    """Entries below the directory `rel` (relative to it), parents first, names sorted bytewise,
    skipping what .dockerignore excludes. An excluded directory is entered only when an
    exception may re-include something inside; it is then listed as a parent of what is
    included. `cli`: as dockerd sees the context the docker CLI sent (classic builds): an
    excluded directory is entered only when an exception names a path inside it
    (`cli_enters_excluded_dir`), and since the CLI does not send it, it stands as the daemon's
    extraction makes it: 0755, owned by root. Otherwise as BuildKit's context sync has it."""
    info: MatchInfo | None = None
    if ignore and rel:
        parts = rel.split("/")
        for i in range(len(parts)):
            _, info = ignore.match_with_parent("/".join(parts[: i + 1]), info)
    base = root / rel if rel else root
    stack: list[tuple[str, MatchInfo | None, Iterator[os.DirEntry[str]]]] = []

    def entries(path: Path) -> Iterator[os.DirEntry[str]]:
        with os.scandir(path) as it:
            items = sorted(it, key=lambda e: os.fsencode(e.name))
        return iter(items)

    stack.append(("", info, entries(base)))
    pending: list[tuple[str, os.stat_result]] = []
    while stack:
        sub, dinfo, it = stack[-1]
        entry = next(it, None)
        if entry is None:
            stack.pop()
            if pending and pending[-1][0] == sub:
                pending.pop()
            continue
        child = f"{sub}/{entry.name}" if sub else entry.name
        full = f"{rel}/{child}" if rel else child
        is_dir = entry.is_dir(follow_symlinks=False)
        excluded, cinfo = (ignore.match_with_parent(full, dinfo) if ignore else (False, None))
        if excluded:
            if not is_dir:
                continue
            if cli and ignore.cli_enters_excluded_dir(full):  # type: ignore[union-attr]
                pending.append((child, _made_by_extraction(entry.stat(follow_symlinks=False))))
                stack.append((child, cinfo, entries(base / child)))
            elif not cli and not ignore.can_skip_excluded_dir(full):  # type: ignore[union-attr]
                pending.append((child, entry.stat(follow_symlinks=False)))
                stack.append((child, cinfo, entries(base / child)))
            continue
        for item in pending:
            yield item
        pending.clear()
        st = entry.stat(follow_symlinks=False)
        yield child, st
        if is_dir:
            stack.append((child, cinfo, entries(base / child)))


WALK_KEPT = 100_000   # entries of a directory source whose walk is kept for the next reader


def source_walk(source: Source, cli: bool | None = None) -> Iterable[tuple[str, os.stat_result]]:
    """walk_source of the directory `source` (`cli`: as the docker CLI sends it; default: the
    source's own cli_excludes). A COPY reads its sources' entries three times (its checksum,
    its layer, its file list): the first whole walk of up to WALK_KEPT entries is kept with the
    source and given to the others, the stats it took included (a file changed since is read
    as it is then: the layer's body check and the records' stat check see it). The two ways
    to walk differ only where .dockerignore excludes a directory."""
    cli = source.cli_excludes if cli is None else cli
    if source.walked is not None and (cli == source.cli_excludes or not source.ignore):
        return source.walked
    walk = walk_source(source.root, source.rel, source.ignore, cli)
    if cli != source.cli_excludes:
        return walk
    return _kept(source, walk)


def _kept(source: Source, walk: Iterator[tuple[str, os.stat_result]]) -> Iterator[tuple[str, os.stat_result]]:
    kept: list | None = []
    for item in walk:
        if kept is not None:
            kept.append(item)
            if len(kept) > WALK_KEPT:
                kept = None
        yield item
    if kept is not None:
        source.walked = kept


def _made_by_extraction(st: os.stat_result) -> os.stat_result:
    """An excluded directory's stat as the daemon's copy of it has it: the docker CLI leaves it
    out of the tar and dockerd's untar creates it for what it holds (MkdirAll 0755, root)."""
    fields = list(st[:10])
    fields[0], fields[4], fields[5] = stat.S_IFDIR | 0o755, 0, 0
    return os.stat_result(fields, {name: getattr(st, name) for name in (
        "st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")})


def _not_found(kw: str, src: str, in_context: bool) -> InvalidParameter:
    if in_context:
        return InvalidParameter(f"{kw} failed: file not found in build context or excluded by "
                                f".dockerignore: stat {src}: file does not exist")
    return InvalidParameter(f"{kw} failed: stat {src}: file does not exist")


def collect_sources(root: Path, patterns: list[str], ignore: IgnoreMatcher | None, kw: str,
                    in_context: bool = True) -> list[Source]:
    """Resolve COPY/ADD source arguments (already expanded) to sources, in argument order."""
    out: list[Source] = []
    for src in patterns:
        clean = go_clean(src.lstrip("/")) if src.lstrip("/") else "."
        if clean == ".." or clean.startswith("../"):
            raise InvalidParameter(f"{kw} failed: forbidden path outside the build context: {src} ()")
        if _WILDCARD.search(clean):
            out += _wildcard(root, clean, ignore, kw, in_context)
            continue
        path = resolve_in_context(root, clean)
        rel = path.relative_to(root).as_posix() if path != root else ""
        if rel == ".":
            rel = ""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(kw, src, in_context) from None
        if rel and _excluded(ignore, rel):
            raise _not_found(kw, src, in_context)
        out.append(Source(root, rel, posixpath.basename(clean) if clean != "." else "", st, ignore,
                          origin="context" if in_context else "image"))
    if not out:
        raise InvalidParameter(f"{kw} failed: no source files were specified")
    return out


def _wildcard(root: Path, pattern: str, ignore: IgnoreMatcher | None, kw: str, in_context: bool) -> list[Source]:
    origin = "context" if in_context else "image"
    depth = pattern.count("/") + 1
    regex = compile_pattern(pattern)
    found: list[Source] = []

    def visit(rel: str, level: int) -> None:
        base = root / rel if rel else root
        try:
            names = sorted(os.listdir(base), key=os.fsencode)
        except (NotADirectoryError, FileNotFoundError):
            return
        for name in names:
            child = f"{rel}/{name}" if rel else name
            if _excluded(ignore, child):
                continue
            st = os.lstat(root / child)
            if level == depth:
                if regex.match(child):
                    found.append(Source(root, child, name, st, ignore, origin=origin))
            elif stat.S_ISDIR(st.st_mode):
                visit(child, level + 1)

    visit("", 1)
    # A matched symlink is followed (as Docker's copyInfoForFile resolves each match); one that
    # leads nowhere is a missing source, as in both of dockerd's builders
    for item in found:
        if stat.S_ISLNK(item.st.st_mode):
            path = resolve_in_context(root, item.rel)
            try:
                item.st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise _not_found(kw, item.rel, in_context) from None
            item.rel = path.relative_to(root).as_posix()
    return found

