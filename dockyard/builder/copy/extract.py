"""ADD of a local tar archive (plain, gzip, bzip2, xz, zstd): detected as Docker's IsArchivePath
does, and its entries written into the layer under the destination (`..` cannot climb out;
missing parent directories are created as the untar does).

The archive is read by the project's one tar reader (archive/tarreader), with the limits of load
and import: extended headers bounded, no sparse files, metadata bombs refused. Devices are
skipped. Entries named `.wh.*` are refused: in a layer such a name is a deletion. Docker 20.10's
classic builder writes them into the container, so they become whiteouts of the committed layer
(`.wh.etc` deletes the image's /etc) while its tar-split still lists them as files: `docker
save` of the image then fails (tests/builder/test_add_tar.py runs it on dockerd).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program

from dockyard.archive.diff import DIR, FIFO, LNK, REG, SYM, Header
from dockyard.builder.copy.entries import CopyPlan, LayerWriter, image_lstat, parent_dirs
from dockyard.builder.copy.match import Source
from dockyard.builder.dockerignore import go_clean
from dockyard.errors import InvalidArchive

if TYPE_CHECKING:
    from dockyard.archive.tarreader import Entry, TarReader

__all__ = ["extract_archive", "is_local_archive"]

_BLOCK = 512
WHITEOUT_PREFIX = ".wh."


def is_local_archive(path: Path) -> bool:
    """Docker's IsArchivePath: the (decompressed) file starts with a tar header."""
    from dockyard.archive.compression import detect, open_decompressed
    from dockyard.archive.tarreader import is_header

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            stream = open_decompressed(f) if detect(head) != "none" else f
            block = stream.read(_BLOCK)
    except (OSError, InvalidArchive, EOFError, ValueError):
        return False
    return is_header(block)


def extract_archive(w: LayerWriter, source: Source, dest_rel: str, plan: CopyPlan, image_root: Path,
                    now: int) -> None:
    """ADD of a local archive: its entries re-rooted under dest."""
    from dockyard.archive.compression import open_decompressed
    from dockyard.archive.tarreader import TarReader

    with open(source.path, "rb") as f:
        reader = TarReader(open_decompressed(f))
        try:
            for m in reader:
                _entry(w, reader, m, dest_rel, plan, image_root, now)
            reader.drain()
        except InvalidArchive as err:
            raise InvalidArchive(f"failed to extract {source.name}: {err}") from None


def _entry(w: LayerWriter, reader: TarReader, m: Entry, dest_rel: str, plan: CopyPlan,
           image_root: Path, now: int) -> None:
    from dockyard.archive.tarreader import BLK, CHR

    rel = go_clean("/" + m.name).lstrip("/")
    if not rel:
        return
    if posixpath.basename(rel).startswith(WHITEOUT_PREFIX):
        raise InvalidArchive(f"{m.name!r} is a whiteout name: a layer cannot hold it as a file "
                             "(it would delete what it names)")
    if m.type in (CHR, BLK):
        return
    name = f"{dest_rel}/{rel}" if dest_rel else rel
    uid, gid = (plan.uid, plan.gid) if plan.chowned else (m.uid, m.gid)
    seconds = m.mtime_ns // 1_000_000_000 if m.mtime_ns >= 0 else -(-m.mtime_ns // 1_000_000_000)
    h = Header(name, REG, m.mode & 0o7777, uid, gid, 0, seconds)
    if m.type == DIR:
        h.type, h.name = DIR, name + "/"
    elif m.type == SYM:
        if not m.linkname.startswith("/"):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.linkname))
            if joined == ".." or joined.startswith("../"):
                raise InvalidArchive(f"symlink {m.name} -> {m.linkname} breaks out of the archive")
        # a symlink's mode is 0777 on Linux whatever the archive says: dockerd's layer, read from
        # the files it extracted, has that (an archive written by Python's tarfile says 0644)
        h.type, h.linkname, h.mode = SYM, m.linkname, 0o777
    elif m.type == LNK:
        target = go_clean("/" + m.linkname).lstrip("/")
        h.type, h.linkname = LNK, f"{dest_rel}/{target}" if dest_rel else target
    elif m.type == FIFO:
        h.type = FIFO
    parent_dirs(w, image_root, name, plan, now)
    if m.type == DIR:
        w.note_dir(name, image_lstat(image_root, name, w))
    elif m.type == REG:
        h.size = m.size
    w.header(h)
    if m.type == REG:
        w.body(reader.body(), m.size)  # type: ignore[arg-type]
