"""COPY and ADD: find the sources, checksum them for the cache, and write the layer tar directly
(no container): the copied entries plus the parent directories the copy creates or changes.

Docker behaviour matched (moby builder/dockerfile copy.go, internals.go performCopy):
- Sources are paths in the context (symlinks followed as in a chroot at the context root) or, with
  `--from`, in another stage's or image's filesystem; excluded files do not exist.
- Wildcards use Go's filepath.Match on context-relative paths; each match is its own source.
- A file goes to `dest/<name>` when dest ends with `/` or is an existing directory, else to dest;
  a directory's *contents* go into dest. Several sources need a dest ending in `/`.
- New parent directories are 0755 and owned by the --chown user; copied entries keep their mode
  and mtime, owner 0:0 (the docker CLI sends the context as root) unless --chown.
- ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd) into dest; ADD of an http(s)
  URL downloads to `dest/<last path element>` (mode 0600), verified by `--checksum`.
- The cache checksum of a source covers names, modes, sizes, types, link targets and contents,
  not mtimes, so a touched but unchanged file still hits (Docker's tarsum-like file hash).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from dockyard.archive.diff import DIR, LNK, REG, SYM, FIFO, Header, encode_header
from dockyard.archive.scan import ScanResult
from dockyard.builder.context import resolve_in_context
from dockyard.builder.dockerignore import IgnoreMatcher, MatchInfo, go_clean
from dockyard.digest import CHUNK, Digest
from dockyard.errors import DigestMismatch, InvalidArchive, InvalidParameter, Unavailable

# Imported where used, not here: urllib.request (with http.client, email, ssl: ~15 ms) and
# tempfile for ADD <url> only, the decompressors for ADD of a local archive only. A build whose
# COPY steps are all cached (a `dockyard build` process, `dockyard serve` at start) never needs them.

_WILDCARD = re.compile(r"[*?\[]")
_TYPE_BITS = {REG: 0o100000, LNK: 0o100000, DIR: 0o40000, SYM: 0o120000, FIFO: 0o10000}
_BLOCK = 512
_READ = os.O_RDONLY | os.O_CLOEXEC


# --------------------------------------------------------------------------- sources


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

    @property
    def path(self) -> Path:
        return self.root / self.rel if self.rel else self.root

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _go_match_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match for one path: `*` and `?` stop at `/`, `[^...]` negates."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise InvalidParameter(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:j]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\")
            out.append(f"[{body}]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _excluded(ignore: IgnoreMatcher | None, rel: str) -> bool:
    return bool(ignore) and ignore.matches(rel)  # type: ignore[union-attr]


def walk_source(root: Path, rel: str, ignore: IgnoreMatcher | None) -> Iterator[tuple[str, os.stat_result]]:
    """Entries below the directory `rel` (relative to it), parents first, names sorted bytewise,
    skipping what .dockerignore excludes (an excluded directory is entered only when an exception
    may re-include something inside; it is then listed as a parent of what is included)."""
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
            if is_dir and not ignore.can_skip_excluded_dir(full):  # type: ignore[union-attr]
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
            out += _wildcard(root, clean, ignore)
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
        out.append(Source(root, rel, posixpath.basename(clean) if clean != "." else "", st, ignore))
    if not out:
        raise InvalidParameter(f"{kw} failed: no source files were specified")
    return out


def _wildcard(root: Path, pattern: str, ignore: IgnoreMatcher | None) -> list[Source]:
    depth = pattern.count("/") + 1
    regex = _go_match_regex(pattern)
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
                    found.append(Source(root, child, name, st, ignore))
            elif stat.S_ISDIR(st.st_mode):
                visit(child, level + 1)

    visit("", 1)
    # A matched symlink is followed (as Docker's copyInfoForFile resolves each match).
    for item in found:
        if stat.S_ISLNK(item.st.st_mode):
            path = resolve_in_context(root, item.rel)
            try:
                item.st = os.lstat(path)
                item.rel = path.relative_to(root).as_posix()
            except FileNotFoundError:
                pass
    return found


# --------------------------------------------------------------------------- checksums


_SMALL_READ = 64 << 10


class _ReadBuffer:
    """One read buffer for all the files of a checksum (allocated at the first file: a 1 MiB
    buffer per file cost more than hashing the small files of a typical context). It is 64 KiB
    until a file is bigger, then 1 MiB: zeroing 1 MiB alone costs about as much as hashing
    twenty small files."""

    def __init__(self) -> None:
        self._buf: bytearray | None = None
        self._view: memoryview | None = None

    def get(self, size: int) -> tuple[bytearray, memoryview]:
        """A buffer for reading a file of `size` bytes (by its stat: only a hint)."""
        if self._buf is None or (size >= len(self._buf) and len(self._buf) < CHUNK):
            self._buf = bytearray(CHUNK if size >= _SMALL_READ else _SMALL_READ)
            self._view = memoryview(self._buf)
        return self._buf, self._view  # type: ignore[return-value]


def _entry_digest(h: "hashlib._Hash", name: str, st: os.stat_result, path: str,
                  buffer: _ReadBuffer) -> None:
    mode = st.st_mode
    kind = "d" if stat.S_ISDIR(mode) else "l" if stat.S_ISLNK(mode) else "f" if stat.S_ISREG(mode) else "o"
    link = os.readlink(path) if kind == "l" else ""
    size = st.st_size if kind == "f" else 0
    h.update(f"{name}\0{kind}\0{stat.S_IMODE(mode):o}\0{size}\0{link}\0".encode("utf-8", "surrogateescape"))
    if kind == "f":
        buf, view = buffer.get(size)
        # os.open/readv into the shared buffer: no file object per file (a context's files are
        # mostly small, and an io.open costs more than reading one of them).
        fd = os.open(path, _READ)
        try:
            while True:
                n = os.readv(fd, (buf,))
                if not n:
                    break
                h.update(view[:n])
        finally:
            os.close(fd)


def checksum(source: Source) -> str:
    """`file:<hex>` or `dir:<hex>` over the source's names, metadata and contents."""
    h = hashlib.sha256()
    buffer = _ReadBuffer()
    base = os.fspath(source.path)
    if source.is_dir:
        _entry_digest(h, ".", source.st, base, buffer)
        for rel, st in walk_source(source.root, source.rel, source.ignore):
            _entry_digest(h, rel, st, os.path.join(base, rel), buffer)
        return "dir:" + h.hexdigest()
    _entry_digest(h, source.name, source.st, base, buffer)
    return "file:" + h.hexdigest()


def sources_hash(sources: list[Source]) -> str:
    """One source: its own hash; several: `multi:` + sha256 of the hashes joined by commas."""
    if len(sources) == 1:
        return sources[0].hash
    return "multi:" + hashlib.sha256(",".join(s.hash for s in sources).encode()).hexdigest()


# --------------------------------------------------------------------------- ADD helpers


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


def download(url: str, tmp_dir: Path, checksum_spec: str = "") -> Source:
    """ADD <url>: fetch into a private temp dir; the source is named after the URL's last path
    element, mode 0600, mtime from Last-Modified (Docker's remote source)."""
    import tempfile
    import urllib.parse
    import urllib.request
    from email.utils import parsedate_to_datetime

    work = Path(tempfile.mkdtemp(prefix="build-url-", dir=tmp_dir))
    name = posixpath.basename(urllib.parse.urlparse(url).path.rstrip("/")) or "__unnamed__"
    target = work / name
    h = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310 - the user's URL
    except OSError as exc:
        raise Unavailable(f"failed to GET {url}: {exc}") from None
    with response, open(target, "wb") as out:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            out.write(chunk)
        modified = response.headers.get("Last-Modified")
    mtime = int(time.time())
    if modified:
        try:
            mtime = int(parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            pass
    if checksum_spec:
        try:
            expected = Digest.parse(checksum_spec)
        except (InvalidParameter, ValueError):
            raise InvalidParameter(f"invalid checksum digest format: {checksum_spec}") from None
        actual = Digest("sha256", h.hexdigest())
        if expected != actual:
            shutil.rmtree(work, ignore_errors=True)
            raise DigestMismatch(f"digest mismatch {expected}: {actual}")
    os.chmod(target, 0o600)
    st = os.lstat(target)
    return Source(work, name, name, st, None, mode=0o600, mtime=mtime)


# --------------------------------------------------------------------------- the layer


@dataclass
class CopyPlan:
    """Where and how the sources land in the image."""

    dest: str                  # absolute, as given after WORKDIR resolution (may end with /)
    uid: int = 0
    gid: int = 0
    chmod: int | None = None
    chowned: bool = False      # --chown given: new parent dirs get the ids too
    extract_archives: bool = False


class LayerWriter:
    """Writes a layer tar to a file, hashing it as it goes (the hash is the diff ID)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0
        self.content = 0
        self.entries = 0
        self.dirs: set[str] = set()
        self.links: dict[tuple[int, int], str] = {}
        self._buf = bytearray(CHUNK)

    def _write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.out.write(data)
        self.size += len(data)

    def header(self, h: Header) -> None:
        # Go's tar.FileInfoHeader (so Docker's layers) keeps the file type bits in the mode field.
        h.mode = (h.mode & 0o7777) | _TYPE_BITS.get(h.type, 0)
        self._write(encode_header(h))
        self.entries += 1
        if h.type == DIR:
            self.dirs.add(h.name.rstrip("/"))
        elif h.type == SYM:
            self.content += len(h.linkname.encode())

    def body(self, stream: BinaryIO, size: int) -> None:
        left = size
        view = memoryview(self._buf)
        while left > 0:
            n = stream.readinto(view[: min(left, CHUNK)])  # type: ignore[attr-defined]
            if not n:
                break
            self._write(view[:n])
            left -= n
        if left:
            raise InvalidParameter("a copied file changed size while it was read")
        if size % _BLOCK:
            self._write(bytes(_BLOCK - size % _BLOCK))
        self.content += size

    def finish(self) -> ScanResult:
        self._write(bytes(2 * _BLOCK))
        self.out.flush()
        return ScanResult(Digest("sha256", self.hash.hexdigest()), self.size, self.content, self.entries)


def _image_lstat(image_root: Path, rel: str) -> os.stat_result | None:
    try:
        return os.lstat(image_root / rel)
    except (FileNotFoundError, NotADirectoryError):
        return None


def resolve_dest(image_root: Path, dest: str) -> tuple[str, bool]:
    """The destination inside the image with symlinks of its parents followed as in the container
    (relative, no trailing slash), and whether it names a directory (`/` or an existing dir)."""
    trailing = dest.endswith("/") or dest.endswith("/.") or dest == "."
    clean = go_clean("/" + dest).lstrip("/")
    if not clean:
        return "", True
    parent, base = posixpath.split(clean)
    resolved_parent = resolve_in_context(image_root, parent) if parent else image_root
    rel = (resolved_parent / base).relative_to(image_root).as_posix()
    st = _image_lstat(image_root, rel)
    if st is not None and stat.S_ISLNK(st.st_mode):
        target = resolve_in_context(image_root, rel)
        tst = _image_lstat(image_root, target.relative_to(image_root).as_posix())
        if tst is not None and stat.S_ISDIR(tst.st_mode):
            return target.relative_to(image_root).as_posix(), True
    is_dir = trailing or (st is not None and stat.S_ISDIR(st.st_mode))
    return rel, is_dir


def _parents(w: LayerWriter, image_root: Path, rel: str, plan: CopyPlan, now: int) -> None:
    """Entries for every ancestor of `rel`: existing ones as they are (their mtime changes, as the
    overlay copy-up shows in Docker's diff), missing ones 0755 owned by the --chown user."""
    parts = rel.split("/")[:-1]
    for i in range(len(parts)):
        d = "/".join(parts[: i + 1])
        if d in w.dirs:
            continue
        _dir_entry(w, image_root, d, plan, now)


def _dir_entry(w: LayerWriter, image_root: Path, d: str, plan: CopyPlan, now: int) -> None:
    st = _image_lstat(image_root, d)
    if st is not None and stat.S_ISDIR(st.st_mode):
        w.header(Header(d + "/", DIR, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, 0, now))
    elif st is not None and not stat.S_ISLNK(st.st_mode):
        # Docker: creating the directory fails on an existing file
        raise InvalidParameter(f"failed to copy files: mkdir /{d}: not a directory")
    else:
        uid, gid = (plan.uid, plan.gid) if plan.chowned else (0, 0)
        w.header(Header(d + "/", DIR, 0o755, uid, gid, 0, now))


def _emit(w: LayerWriter, name: str, path: Path, st: os.stat_result, plan: CopyPlan,
          mtime: int | None = None, mode: int | None = None) -> None:
    fmt = stat.S_IFMT(st.st_mode)
    perm = mode if mode is not None else stat.S_IMODE(st.st_mode)
    if plan.chmod is not None:
        perm = plan.chmod
    h = Header(name, REG, perm, plan.uid, plan.gid, 0, int(st.st_mtime) if mtime is None else mtime)
    if fmt == stat.S_IFREG:
        if st.st_nlink > 1:  # hard links among the copied files stay hard links (Docker's tar)
            key = (st.st_dev, st.st_ino)
            first = w.links.get(key)
            if first is not None:
                h.type, h.linkname = LNK, first
                w.header(h)
                return
            w.links[key] = name
        h.size = st.st_size
        w.header(h)
        with open(path, "rb", buffering=0) as f:
            w.body(f, st.st_size)  # type: ignore[arg-type]
        return
    if fmt == stat.S_IFDIR:
        h.type, h.name = DIR, name.rstrip("/") + "/"
    elif fmt == stat.S_IFLNK:
        h.type, h.linkname = SYM, os.readlink(path)
        if plan.chmod is not None:
            h.mode = stat.S_IMODE(st.st_mode)
    elif fmt == stat.S_IFIFO:
        h.type = FIFO
    else:
        return  # devices and sockets are not copied from a context
    w.header(h)


def _extract(w: LayerWriter, source: Source, dest_rel: str, plan: CopyPlan, image_root: Path,
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
                    _parents(w, image_root, name, plan, now)
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


def write_copy_layer(out: BinaryIO, sources: list[Source], plan: CopyPlan, image_root: Path,
                     kw: str) -> ScanResult:
    """The layer of one COPY/ADD, written to `out`."""
    w = LayerWriter(out)
    now = int(time.time())
    dest_rel, dest_is_dir = resolve_dest(image_root, plan.dest)
    if len(sources) > 1 and not plan.dest.endswith("/"):
        raise InvalidParameter(
            f"When using {kw} with more than one source file, the destination must be a directory and end with a /")
    for source in sources:
        extract = plan.extract_archives and not source.is_dir and source.mtime is None \
            and is_local_archive(source.path)
        if source.is_dir or extract:
            if dest_rel:
                _parents(w, image_root, dest_rel, plan, now)
                if dest_rel not in w.dirs:
                    _dir_entry(w, image_root, dest_rel, plan, now)
            if extract:
                _extract(w, source, dest_rel, plan, image_root, now)
                continue
            for rel, st in walk_source(source.root, source.rel, source.ignore):
                name = f"{dest_rel}/{rel}" if dest_rel else rel
                _emit(w, name, source.path / rel, st, plan)
            continue
        target = f"{dest_rel}/{source.name}" if dest_is_dir else dest_rel
        target = target.lstrip("/")
        if not target:
            raise InvalidParameter(f"{kw} failed: cannot copy a file onto /")
        if dest_is_dir and dest_rel and dest_rel not in w.dirs:
            _parents(w, image_root, dest_rel, plan, now)
            _dir_entry(w, image_root, dest_rel, plan, now)
        else:
            _parents(w, image_root, target, plan, now)
        _emit(w, target, source.path, source.st, plan, source.mtime, source.mode)
    return w.finish()


@dataclass
class Downloads:
    """Temp dirs of downloaded ADD sources, removed by `cleanup`."""

    dirs: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        while self.dirs:
            shutil.rmtree(self.dirs.pop(), ignore_errors=True)


def write_dirs_layer(out: BinaryIO, image_root: Path, path: str) -> ScanResult | None:
    """WORKDIR: the directory (and missing parents, 0755 root) when the image lacks it; None
    when it exists (Docker's commit then has an empty diff)."""
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
    _parents(w, image_root, rel, plan, now)
    _dir_entry(w, image_root, rel, plan, now)
    return w.finish()
