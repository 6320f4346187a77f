"""COPY, ADD and WORKDIR in BuildKit mode: the layer written directly (no container), with the
copy semantics of dockyard.builder.copy and BuildKit's differences (checked against dockerd 20.10):
- a wildcard that matches nothing copies nothing (no error);
- without `--chown`, files from a stage or an image keep their owner, the context's are 0:0;
- `--chown=name` takes the user's uid and primary gid from the target's /etc/passwd, an unknown
  name is 0:0, `--chown=N` is N:N; new parent directories get that owner;
- `--link` writes the layer against an empty tree (parents are created, nothing below is read),
  so the layer is the same whatever the base;
- WORKDIR makes the directory and its missing parents owned by USER; an existing directory
  still makes a layer, an empty one.
Writing modules are imported when a step runs: a fully cached build never loads them.
The content digest that keys a copy from the context covers names, types, modes, sizes, link
targets and contents of exactly the selected files (after .dockerignore and --exclude), not
mtimes or owners; a copy from a stage or an image is keyed by the same digest of what it copies
with the owners too (they are copied; solver.py's module doc).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path

from dockyard.builder.copy.checksum import checksum, sources_hash
from dockyard.builder.copy.match import Source, collect_sources, walk_source
from dockyard.builder.dockerignore import IgnoreMatcher
from dockyard.builder.graph.ops import CopyOp, MkdirOp
from dockyard.dataclass import dataclass
from dockyard.digest import Digest
from dockyard.errors import InvalidParameter, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.archive.scan import ScanResult
    from dockyard.builder.copy.entries import CopyPlan
    from dockyard.store.filesums import FileSums
    from dockyard.store.layers import StoredLayer
    from dockyard.store.store import Store

_WILDCARD_CHARS = "*?["


@dataclass
class SourceTree:
    """Where a copy reads from: a directory (the context, a mounted stage or image, a
    download), and the .dockerignore matcher that applies to it (the context's)."""

    root: Path
    ignore: IgnoreMatcher | None = None
    in_context: bool = False


class _Both:
    """Two matchers as one: excluded when either excludes (.dockerignore and --exclude)."""

    def __init__(self, a: IgnoreMatcher | None, b: IgnoreMatcher) -> None:
        self.a, self.b = a, b

    def __bool__(self) -> bool:
        return True

    def matches(self, rel: str) -> bool:
        return bool(self.a and self.a.matches(rel)) or self.b.matches(rel)

    def match_with_parent(self, rel: str, info: object) -> tuple[bool, object]:
        ia, ib = info if isinstance(info, tuple) else (None, None)
        ea, na = self.a.match_with_parent(rel, ia) if self.a else (False, None)
        eb, nb = self.b.match_with_parent(rel, ib)
        return ea or eb, (na, nb)

    def can_skip_excluded_dir(self, rel: str) -> bool:
        return (not self.a or self.a.can_skip_excluded_dir(rel)) and self.b.can_skip_excluded_dir(rel)


def buildkit_ids(root: Path | None, spec: str) -> tuple[int, int] | None:
    """`--chown` / USER for WORKDIR as BuildKit's file operations resolve them."""
    if not spec:
        return None
    from dockyard.runtime.users import read_entries

    user, sep, group = spec.partition(":")
    uid = gid = 0
    if user.isdigit():
        uid = gid = int(user)
    elif user:
        for row in read_entries(root, "/etc/passwd") if root else []:
            if len(row) >= 4 and row[0] == user and row[2].isdigit() and row[3].isdigit():
                uid, gid = int(row[2]), int(row[3])
                break
    if sep and group:
        if group.isdigit():
            gid = int(group)
        else:
            for row in read_entries(root, "/etc/group") if root else []:
                if len(row) >= 3 and row[0] == group and row[2].isdigit():
                    gid = int(row[2])
                    break
    return uid, gid


def _has_wildcard(path: str) -> bool:
    return any(c in path for c in _WILDCARD_CHARS)


def collect(tree: SourceTree, patterns: list[str], exclude: tuple[str, ...], kw: str) -> list[Source]:
    """The sources of one copy in one tree; a wildcard matching nothing is no source."""
    out: list[Source] = []
    for pattern in patterns:
        try:
            found = collect_sources(tree.root, [pattern], tree.ignore, kw, in_context=tree.in_context)
        except InvalidParameter as exc:
            if _has_wildcard(pattern) and "no source files" in exc.message:
                continue
            if "file does not exist" in exc.message:
                raise NotFound(f'failed to compute cache key: "{_missing(tree.root, pattern, exc.message)}" '
                               'not found: not found') from None
            raise
        out += found
    if exclude:
        matcher = IgnoreMatcher(exclude)
        kept = []
        for source in out:
            if source.is_dir:
                prefixed = IgnoreMatcher([posixpath.join(source.rel, p) if source.rel else p for p in exclude])
                source.ignore = _Both(source.ignore, prefixed)  # type: ignore[assignment]
                kept.append(source)
            elif not matcher.matches(source.name) and not matcher.matches(source.rel):
                kept.append(source)
        out = kept
    return out


def _missing(root: Path, pattern: str, message: str) -> str:
    """The path BuildKit names for a missing source: where it looked, symlinks followed inside
    the tree (`COPY dir/link` to `../../etc/passwd` is "/etc/passwd"; a wildcard's match to a
    symlink that leads nowhere names where it leads)."""
    from dockyard.builder.context import resolve_in_context

    stated = message.rpartition(" stat ")[2].removesuffix(": file does not exist")
    path = stated if _has_wildcard(pattern) and stated else pattern
    try:
        resolved = resolve_in_context(root, path).relative_to(root).as_posix()
    except (InvalidParameter, ValueError, OSError):
        resolved = path.lstrip("/")
    return posixpath.normpath("/" + resolved.lstrip("/")) if resolved != "." else "/"


def content_digest(sources: list[Source], sums: FileSums | None = None) -> str:
    """What a copy reads, as one digest (names, types, modes, sizes, links, contents); `sums`:
    the context directory's per-file checksums (store/filesums.py)."""
    for s in sources:
        if not s.hash:
            s.hash = checksum(s, sums)
    if not sources:
        return "empty"
    return sources_hash(sources) if len(sources) > 1 else sources[0].hash


def _layer(store: Store, write: Callable[[BinaryIO], ScanResult]) -> StoredLayer:
    from dockyard.store.layer_writer import write_layer

    layer = write_layer(store.layers, write)
    assert layer is not None
    return layer


def _empty_layer(out: BinaryIO) -> ScanResult:
    from dockyard.builder.copy.entries import LayerWriter

    return LayerWriter(out).finish()


def copy_layer(store: Store, op: CopyOp, dest_layers: list[Digest], sources: list[Source],
               kw: str, keep_owner: bool = False, sums: FileSums | None = None,
               make_tree: bool = True) -> StoredLayer:
    """The layer of one COPY/ADD over the tree of `dest_layers`. `keep_owner`: the sources are a
    stage's or an image's files, which keep their owner without --chown (the context's are
    0:0: the docker CLI sends them so). `sums`: the context's records (store/filesums.py), whose
    last layer of the same COPY lends its equal files to this one's tree. `make_tree`: a later
    step reads the layer's files (its tree is made as its tar is written)."""
    import tempfile
    from dockyard.builder.copy.entries import CopyPlan
    from dockyard.builder.copy.layer import CopyTree, write_copy_layer
    from dockyard.builder.rootfs import image_root

    with ExitStack() as stack:
        if op.link:
            root = Path(tempfile.mkdtemp(prefix="bk-link-", dir=store.tmp))
            stack.callback(_rmtree, root)
            lookup = stack.enter_context(image_root(store, dest_layers)) if _named(op.chown) else None
        else:
            root = stack.enter_context(image_root(store, dest_layers))
            lookup = root
        plan = CopyPlan(op.dest, chmod=op.chmod, extract_archives=op.unpack, keep_owner=keep_owner)
        ids = buildkit_ids(lookup, op.chown)
        if ids is not None:
            plan.uid, plan.gid = ids
            plan.chowned = True
        if not sources:
            return _layer(store, _empty_layer)
        if op.parents:
            return _layer(store, lambda out: _parents_layer(out, sources, plan, root, kw, store.tmp))
        digests: dict[str, str] = {}
        tree = stack.enter_context(closing(CopyTree(store.layers, sums, kw, op.dest, sources, make_tree)))
        layer = _layer(store, lambda out: write_copy_layer(out, sources, plan, root, kw, sums, digests, tree.tree,
                                                           tree.members))
        tree.publish(layer, digests)
    return layer


def _parents_layer(out: BinaryIO, sources: list[Source], plan: CopyPlan, root: Path,
                   kw: str, tmp: Path) -> ScanResult:
    """COPY --parents: each source keeps its path from its tree's root under the destination
    (BuildKit's copy with include patterns, whose parent directories are made as the source
    tree has them). The sources are staged as that tree, then written as one plain copy of it.
    The staging lives in the store's temporary folder `tmp` (the collector removes what a crash
    leaves) and keeps what a plain COPY keeps: owners, modes, times, hard links, symlinks,
    fifos, the parent directories' own; what .dockerignore and --exclude leave out stays out."""
    import tempfile
    import dataclasses
    import shutil

    from dockyard.builder.copy.layer import write_copy_layer

    staging = Path(tempfile.mkdtemp(prefix="bk-parents-", dir=tmp))
    try:
        stager = _Stager(staging)
        for source in sources:
            parent = posixpath.dirname(source.rel)
            stager.parents(source.root, parent)
            if not source.is_dir:
                stager.entry(source.path, source.st, posixpath.join(parent, source.name))
                continue
            if source.rel:
                stager.entry(source.path, source.st, source.rel)
            for rel, st in walk_source(source.root, source.rel, source.ignore):
                stager.entry(source.path / rel, st, posixpath.join(source.rel, rel))
        stager.finish()
        staged = collect_sources(staging, ["."], None, kw, in_context=False)
        for item in staged:
            item.origin = sources[0].origin   # a context file's mode rules stay the context's
        dest = plan.dest if plan.dest.endswith("/") else plan.dest + "/"
        return write_copy_layer(out, staged, dataclasses.replace(plan, dest=dest), root, kw)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Stager:
    """A tree made of copies of other trees' entries with their metadata (COPY --parents)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs: list[tuple[Path, os.stat_result]] = []   # their times are set last
        self.links: dict[tuple[int, int], Path] = {}        # (dev, ino) -> staged first name

    def parents(self, tree: Path, rel: str) -> None:
        """The directories of `rel` in `tree`, outermost first, each made once."""
        parts = [p for p in rel.split("/") if p]
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            if not os.path.lexists(self.root / sub):
                self.entry(tree / sub, os.lstat(tree / sub), sub)

    def entry(self, src: Path, st: os.stat_result, rel: str) -> None:
        import shutil
        import stat

        dst = self.root / rel
        parent, root = os.path.realpath(dst.parent), os.path.realpath(self.root)
        if parent != root and not parent.startswith(root + os.sep):
            # never through a staged symlink: its target may be any path of the host
            raise InvalidParameter(f"COPY --parents: {rel} is below a symbolic link of the copy")
        fmt = stat.S_IFMT(st.st_mode)
        if os.path.lexists(dst):
            if fmt == stat.S_IFDIR and dst.is_dir() and not dst.is_symlink():
                return                      # a parent of an earlier source
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            else:
                dst.unlink()                # two sources to one name: the last one wins
        key = (st.st_dev, st.st_ino)
        if fmt == stat.S_IFDIR:
            os.mkdir(dst)
            self.dirs.append((dst, st))
        elif fmt == stat.S_IFREG:
            first = self.links.get(key) if st.st_nlink > 1 else None
            if first is not None and os.path.exists(first):
                os.link(first, dst)         # hard links stay hard links (one inode, its metadata)
                return
            shutil.copyfile(src, dst, follow_symlinks=False)
            if st.st_nlink > 1:
                self.links[key] = dst
        elif fmt == stat.S_IFLNK:
            os.symlink(os.readlink(src), dst)
        elif fmt == stat.S_IFIFO:
            os.mkfifo(dst)
        else:
            return                          # devices and sockets are not copied
        os.lchown(dst, st.st_uid, st.st_gid)
        if fmt != stat.S_IFLNK:
            os.chmod(dst, stat.S_IMODE(st.st_mode))   # after the chown, which drops set-user-ID
        if fmt != stat.S_IFDIR:
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def finish(self) -> None:
        """The directories' times, innermost first (making their entries changed them)."""
        for dst, st in reversed(self.dirs):
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _named(spec: str) -> bool:
    user, _, group = spec.partition(":")
    return bool(spec) and (not user.isdigit() or (bool(group) and not group.isdigit()))


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def mkdir_layer(store: Store, op: MkdirOp, layers: list[Digest]) -> StoredLayer:
    """WORKDIR: the directory and missing parents, owned by USER; an empty layer when it exists."""
    from dockyard.builder.copy.layer import write_dirs_layer
    from dockyard.builder.rootfs import image_root

    with image_root(store, layers) as root:
        owner = buildkit_ids(root, op.user)

        def write(out: BinaryIO) -> ScanResult:
            result = write_dirs_layer(out, root, op.path, owner)
            if result is None:
                out.seek(0)
                out.truncate()
                return _empty_layer(out)
            return result

        return _layer(store, write)


def heredoc_source(work: Path, name: str, data: str, mode: int) -> Source:
    base = posixpath.basename(name)
    path = work / base
    path.write_text(data, errors="surrogateescape")
    os.chmod(path, mode)
    return Source(work, base, base, os.lstat(path))
