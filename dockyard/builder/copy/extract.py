"""ADD of a local tar archive (plain, gzip, bzip2, xz, zstd): detected as Docker's IsArchivePath
does, and its entries written into the layer under the destination (`..` cannot climb out;
missing parent directories are created as the untar does)."""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from dockyard.archive.diff import DIR, FIFO, LNK, REG, SYM, Header
from dockyard.builder.copy.entries import CopyPlan, LayerWriter, parent_dirs
from dockyard.builder.copy.match import Source
from dockyard.builder.dockerignore import go_clean
from dockyard.errors import InvalidArchive

__all__ = ["extract_archive", "is_local_archive"]

_BLOCK = 512


def is_local_archive(path: Path) -> bool:
    """Docker's IsArchivePath: the (decompressed) file starts with a tar header."""
    from dockyard.archive.compression import detect, open_decompressed

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            stream = open_decompressed(f) if detect(head) != "none" else f
            block = stream.read(_BLOCK)
    except (OSError, InvalidArchive, EOFError, ValueError):
        return False
    if len(block) < _BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def extract_archive(w: LayerWriter, source: Source, dest_rel: str, plan: CopyPlan, image_root: Path,
             now: int) -> None:
    """ADD of a local archive: its entries re-rooted under dest (`..` cannot climb out); missing
    parent directories are created as the untar does."""
    from dockyard.archive.compression import open_decompressed

    with open(source.path, "rb") as f:
        stream = open_decompressed(f)
        try:
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
                for m in tar:
                    rel = go_clean("/" + m.name).lstrip("/")
                    if not rel:
                        continue
                    name = f"{dest_rel}/{rel}" if dest_rel else rel
                    uid, gid = (plan.uid, plan.gid) if plan.chowned else (m.uid, m.gid)
                    h = Header(name, REG, m.mode & 0o7777, uid, gid, 0, int(m.mtime))
                    if m.isdir():
                        h.type, h.name = DIR, name + "/"
                    elif m.issym():
                        if not m.linkname.startswith("/"):
                            joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.linkname))
                            if joined == ".." or joined.startswith("../"):
                                raise InvalidArchive(f"failed to extract {source.name}: symlink "
                                                     f"{m.name} -> {m.linkname} breaks out of the archive")
                        h.type, h.linkname = SYM, m.linkname
                    elif m.islnk():
                        target = go_clean("/" + m.linkname).lstrip("/")
                        h.type, h.linkname = LNK, f"{dest_rel}/{target}" if dest_rel else target
                    elif m.isfifo():
                        h.type = FIFO
                    elif not m.isreg():
                        continue
                    parent_dirs(w, image_root, name, plan, now)
                    if m.isreg():
                        h.size = m.size
                        w.header(h)
                        body = tar.extractfile(m)
                        assert body is not None
                        w.body(body, m.size)  # type: ignore[arg-type]
                    else:
                        w.header(h)
        except (tarfile.TarError, EOFError) as err:
            raise InvalidArchive(f"failed to extract {source.name}: {err}") from None
