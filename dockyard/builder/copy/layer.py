"""The layer of one COPY/ADD, written as a tar (no container): the destination resolved in the
image (its parents' symlinks followed as in the container), each source copied, a directory's
contents, an archive's entries; and WORKDIR's directories when the image lacks them. A COPY of
the build context has its tree unpacked from the tree of the layer the same COPY made last time
where files are equal (`CopyTree`), made as the tar is written."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from dockyard.archive.scan import ScanResult
from dockyard.builder.context import resolve_in_context
from dockyard.builder.copy.entries import CopyPlan, LayerWriter, dir_entry, emit, image_lstat, parent_dirs
from dockyard.builder.copy.extract import extract_archive, is_local_archive
from dockyard.builder.copy.match import Source, source_walk
from dockyard.builder.dockerignore import go_clean
from dockyard.dataclass import replace
from dockyard.errors import InvalidParameter

__all__ = ["CopyTree", "many_files", "resolve_dest", "write_copy_layer", "write_dirs_layer"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO
    from dockyard.archive.apply import LayerTree
    from dockyard.builder.copy.reuse import Members
    from dockyard.store.filesums import FileSums
    from dockyard.store.layers import LayerStore, StoredLayer


def resolve_dest(image_root: Path, dest: str) -> tuple[str, bool]:
    """The destination inside the image with its symlinks followed as in the container, the last
    one too (relative, no trailing slash), and whether it names a directory (`/`, a trailing
    slash or an existing dir). Both of dockerd 20.10's builders resolve the whole path (moby's
    FollowSymlinkInScope, BuildKit's RootPath): a link to a directory copies into it, a file
    copied onto a link to a file (or to nothing yet) is written at the link's target, which
    stays, and a directory cannot be copied onto a link to a file."""
    trailing = dest.endswith("/") or dest.endswith("/.") or dest == "."
    clean = go_clean("/" + dest).lstrip("/")
    if not clean:
        return "", True
    rel = resolve_in_context(image_root, clean).relative_to(image_root).as_posix()
    if rel == ".":   # a link to /
        return "", True
    st = image_lstat(image_root, rel)
    return rel, trailing or (st is not None and stat.S_ISDIR(st.st_mode))



MANY_FILES = 256          # a COPY of this many entries, or of MANY_BYTES, uses more threads
MANY_BYTES = 16 << 20


def many_files(sources: list[Source]) -> bool:
    """The sources are big enough for the layer's tree and its tar's hash to be worth threads
    of their own (a thread costs ~0.3 ms: a COPY of 20 small files took 1.4 ms without)."""
    count = size = 0
    for s in sources:
        if not s.is_dir:
            count, size = count + 1, size + s.st.st_size
            continue
        if s.walked is None:
            return True   # not walked whole yet (or too many entries to keep)
        count += len(s.walked)
        size += sum(st.st_size for _, st in s.walked)
        if count >= MANY_FILES or size >= MANY_BYTES:
            return True
    return count >= MANY_FILES or size >= MANY_BYTES


def write_copy_layer(out: BinaryIO, sources: list[Source], plan: CopyPlan, image_root: Path,
                     kw: str, sums: FileSums | None = None, digests: dict[str, str] | None = None,
                     tree: LayerTree | None = None, members: Members | None = None) -> ScanResult:
    """The layer of one COPY/ADD, written to `out`. With the context's `sums`, `digests` gets the
    content digest of each file whose record held while it was read, by entry name; none when
    the layer holds a symlink (an entry's name could then lead to another file of its tree).
    With `tree`, the layer's tree is made in the same pass (CopyTree). With `members`
    (CopyTree.members), the files' members the last layer's tar has are copied from it, and
    this tar's are indexed (builder/copy/reuse.py)."""
    w = LayerWriter(out, tree, hash_behind=many_files(sources), members=members)
    try:
        return _write_copy_layer(w, sources, plan, image_root, kw, sums, digests)
    except BaseException:
        w.abort()
        raise


def _write_copy_layer(w: LayerWriter, sources: list[Source], plan: CopyPlan, image_root: Path,
                      kw: str, sums: FileSums | None, digests: dict[str, str] | None) -> ScanResult:
    w.sums = sums
    if digests is not None:
        w.digests = digests
    now = int(time.time())
    dest_rel, dest_is_dir = resolve_dest(image_root, plan.dest)
    if len(sources) > 1 and not plan.dest.endswith("/"):
        raise InvalidParameter(
            f"When using {kw} with more than one source file, the destination must be a directory and end with a /")
    # Several sources may copy to the same name (`COPY a/*/f b/f /d/`): the last one wins, as
    # on the filesystem Docker's layer is the diff of; the others are not written at all.
    last: dict[str, int] = {}
    if len(sources) > 1:
        for index, source in enumerate(sources):
            if source.is_dir:
                for rel, _ in source_walk(source):
                    last[f"{dest_rel}/{rel}" if dest_rel else rel] = index
            else:
                last[(f"{dest_rel}/{source.name}" if dest_is_dir else dest_rel).lstrip("/")] = index
    for index, source in enumerate(sources):
        # hard links stay linked within one source (a directory's tree), not across sources: each
        # source (an argument, a wildcard's match) is a copy of its own in both of dockerd's builders
        w.links.clear()
        extract = plan.extract_archives and not source.is_dir and source.mtime is None \
            and is_local_archive(source.path)
        if source.is_dir or extract:
            # The classic builder creates the missing parents of a directory's destination as
            # root (only the destination itself takes --chown); an archive ADD extracts keeps the
            # archive's owners and ignores --chown altogether (dockerd 20.10). BuildKit's parents
            # take --chown.
            outer = replace(plan, uid=0, gid=0, chowned=False) if plan.classic_owners else plan
            if dest_rel:
                parent_dirs(w, image_root, dest_rel, outer, now)
                if dest_rel not in w.dirs:
                    dir_entry(w, image_root, dest_rel, outer if extract else plan, now)
            if extract:
                extract_archive(w, source, dest_rel, outer, image_root, now)
                continue
            base = os.fspath(source.path)
            for rel, st in source_walk(source):
                name = f"{dest_rel}/{rel}" if dest_rel else rel
                if last.get(name, index) == index:
                    emit(w, name, f"{base}/{rel}", st, plan, origin=source.origin)
            continue
        target = f"{dest_rel}/{source.name}" if dest_is_dir else dest_rel
        target = target.lstrip("/")
        if not target:
            raise InvalidParameter(f"{kw} failed: cannot copy a file onto /")
        if dest_is_dir and dest_rel and dest_rel not in w.dirs:
            parent_dirs(w, image_root, dest_rel, plan, now)
            dir_entry(w, image_root, dest_rel, plan, now)
        else:
            parent_dirs(w, image_root, target, plan, now)
        if last.get(target, index) == index:
            emit(w, target, source.path, source.st, plan, source.mtime, source.mode, source.origin)
    if w.symlinks:
        w.digests.clear()
    return w.finish()


def write_dirs_layer(out: BinaryIO, image_root: Path, path: str, owner: tuple[int, int] | None = None
                     ) -> ScanResult | None:
    """WORKDIR: the directory (and missing parents, 0755, root or `owner`) when the image lacks
    it; None when it exists (Docker's commit then has an empty diff)."""
    rel = go_clean("/" + path).lstrip("/")
    if not rel:
        return None
    target = resolve_in_context(image_root, rel)
    if target.is_dir():
        return None
    rel = target.relative_to(image_root).as_posix()
    w = LayerWriter(out)
    now = int(time.time())
    plan = CopyPlan(dest="/" + rel)
    if owner is not None:
        plan.uid, plan.gid = owner
        plan.chowned = True
    parent_dirs(w, image_root, rel, plan, now)
    dir_entry(w, image_root, rel, plan, now)
    return w.finish()


class CopyTree:
    """The unpacked tree of a COPY's layer, made while the layer's tar is written (the tar is
    never read back): a RUN after the COPY, or a container, finds it there. A COPY of context
    files hard-links the files equal to those of the layer the same COPY (keyword, destination,
    source paths) made last time, when that one's tree is unpacked (by content digest where
    both writers knew it, else comparing bytes as they are read: archive/apply.py), and the
    new layer is remembered as the last one. The tree is made when `wanted` (a later step
    reads the layer's files) or when the last tree lends files (as cheap as links); otherwise
    the layer is unpacked when first used (LayerStore.unpacked), and `tree` is None. The
    last layer's tar lends its members of unchanged files to the new tar (`members`,
    builder/copy/reuse.py), and the new tar's are indexed for the next. Use: write the layer
    with `tree` and `members`, `publish` the layer; `close` always (it removes an unpublished
    tree)."""

    def __init__(self, layers: LayerStore, sums: FileSums | None, kw: str, dest: str,
                 sources: list[Source], wanted: bool = True) -> None:
        from dockyard.archive.apply import LayerTree

        self.layers, self.sums = layers, sums
        self.tree: LayerTree | None = None
        self.work: Path | None = None
        self.copy: str | None = None
        self.members: Members | None = None
        like, theirs = None, None
        if sums is not None and sources and all(s.origin == "context" and sums.covers(s.root) for s in sources):
            from dockyard.builder.copy.reuse import Members

            self.copy = "\n".join([kw, dest, *(s.rel for s in sources)])
            last = sums.last_layer(self.copy)
            self.members = Members()
            if last is not None:
                from dockyard.digest import Digest

                last_id = Digest("sha256", last)
                self.members = Members.of_tar(f"{os.fspath(layers.dir(last_id))}/layer.tar", layers.members(last_id))
                if layers.is_unpacked(last_id):
                    like, theirs = layers.dir(last_id) / "diff", layers.sums(last_id)
                    self.members.of_like = True
        if not wanted and like is None:
            return
        self.work = layers.new_tree()
        try:
            # a thread of its own makes the tree of many files while the tar is written
            self.tree = LayerTree(self.work, like=like, theirs=theirs, threaded=many_files(sources))
        except BaseException:
            self.close()
            raise

    def publish(self, layer: StoredLayer | None, digests: dict[str, str]) -> None:
        """`layer` (what the tar became; None: no layer) gets the tree, and its files' digests
        are kept with it for the next layer of the same COPY."""
        if layer is None:
            return
        if self.tree is not None:
            self.tree.finish()
            self.tree.close()
            work, self.work = self.work, None
            assert work is not None
            self.layers.adopt_tree(layer.diff_id, work)
        if self.copy is not None and self.sums is not None:
            if digests:
                self.layers.put_sums(layer.diff_id, digests)
            if self.members is not None and self.members.new:
                self.layers.put_members(layer.diff_id, self.members.new)
            self.sums.last_layer(self.copy, layer.diff_id.hex)

    def close(self) -> None:
        if self.tree is not None:
            self.tree.close()
        if self.members is not None:
            self.members.close()   # after the tree's thread, which may read it
        if self.work is not None:
            from dockyard.archive.fstree import remove_path

            remove_path(self.work, ignore_errors=True)
            self.work = None
