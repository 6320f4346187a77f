"""The build context as the daemon side of a build sees it: opening a context (a directory, a tar
stream, a lone Dockerfile on stdin), and resolving COPY sources inside it. Finding, walking and
packing a directory context, the docker CLI's half, is dockyard.builder.directory_context.

Docker behaviour matched here (moby's builder/remotecontext for contexts that arrive as a tar):
- `docker build -` reads stdin: a tar (plain or compressed, by magic) is the context; anything
  else is a lone Dockerfile and the context is empty besides it.
- A tar context (Engine API): the Dockerfile is found inside it (`Cannot locate specified
  Dockerfile: X`), and the Dockerfile and .dockerignore are removed from the context when the
  context's .dockerignore lists them.
- COPY sources resolve symlinks inside the context as in a chroot (moby FollowSymlinkInScope);
  a source that leaves the context lexically is refused: `forbidden path outside the build
  context: ../x ()`.
"""

from __future__ import annotations

import io
import os
import stat

from dockyard.archive.fstree import remove_path
from dockyard.builder.directory_context import (DEFAULT_DOCKERFILE, DOCKERIGNORE, context_directory,
                                              find_directory_context, walk_context,
                                              write_context_tar)
from dockyard.builder.dockerignore import IgnoreMatcher, go_clean
from dockyard.dataclass import dataclass, field
from dockyard.errors import DockyardError, InvalidArchive, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO, Iterator

    from dockyard.archive.tarreader import Entry as TarEntry
    from dockyard.builder.directory_context import ContextEntry

# The extracting side (tar reader, safe extraction, decompressors: ~10 ms of imports) and tempfile
# are imported when a stream context is opened.

MAX_SYMLINKS = 255  # moby/sys/symlink FollowSymlinkInScope's limit
_TAR_BLOCK = 512
# Contexts that arrive as a plain tar of at most this size are unpacked in memory-backed storage
# (see `_context_dir`); the rest in the store's tmp directory.
_MEMORY_CONTEXT_MAX = 16 << 20
_MEMORY_DIR = "/dev/shm"


# --------------------------------------------------------------------------- scoped paths


def resolve_in_context(root: Path, relpath: str) -> Path:
    """The path of `relpath` inside the context, with symlinks followed as inside a chroot at
    `root` (`..` stops at the root, absolute targets restart at it), so the result never leaves
    `root`. A path that leaves the context lexically (`../x`) is refused as Docker's COPY does.
    The result need not exist."""
    from pathlib import Path

    root = Path(root)
    text = relpath.replace(os.sep, "/")
    cleaned = go_clean(text.lstrip("/")) if text.lstrip("/") else "."
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidParameter(f"forbidden path outside the build context: {relpath} ()")
    todo = [part for part in cleaned.split("/") if part not in ("", ".")]
    todo.reverse()  # a stack: next component at the end
    current: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = root.joinpath(*current, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            is_link = False
        if not is_link:
            current.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise InvalidParameter(f"{relpath}: too many levels of symbolic links in the build context")
        target = os.readlink(candidate)
        if target.startswith("/"):
            current = []
        todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return root.joinpath(*current)


# --------------------------------------------------------------------------- opening a context


@dataclass
class BuildContext:
    """An opened build context. Use as a context manager, or call `cleanup()`."""

    root: Path  # the directory COPY/ADD read from
    dockerfile_path: Path  # the Dockerfile to read (may lie outside `root`)
    dockerfile_name: str  # its name relative to the context, as given (for messages)
    ignore: IgnoreMatcher = field(default_factory=IgnoreMatcher)  # still to apply to `root`
    temporary: list[Path] = field(default_factory=list)  # removed by cleanup()

    def is_ignored(self, relpath: str) -> bool:
        """Excluded by .dockerignore (already false for everything in an extracted tar)."""
        return self.ignore.matches(relpath)

    def walk(self) -> Iterator[ContextEntry]:
        return walk_context(self.root, self.ignore)

    @property
    def in_place(self) -> bool:
        """The user's own directory, read where it is (not a tar extracted for this build)."""
        return self.root not in self.temporary

    def resolve(self, relpath: str) -> Path:
        return resolve_in_context(self.root, relpath)

    @property
    def send_always(self) -> frozenset[str]:
        """Paths the docker CLI sends even when .dockerignore lists them (`keep` of the walk)."""
        inside = self.dockerfile_name not in ("-",) and not self.dockerfile_name.startswith("/")
        return frozenset({DOCKERIGNORE, self.dockerfile_name} if inside else {DOCKERIGNORE})

    def write_tar(self, out: BinaryIO) -> None:
        """The context tar the docker CLI would send for this context."""
        write_context_tar(self.root, self.ignore, out, keep=self.send_always)

    def cleanup(self) -> None:
        while self.temporary:
            remove_path(self.temporary.pop(), ignore_errors=True)

    def __enter__(self) -> "BuildContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def is_archive(head: bytes) -> bool:
    """The docker CLI's build.IsArchive: compressed (by magic), or starts with a valid tar header."""
    from dockyard.archive.compression import detect

    from dockyard.archive.tarreader import is_header

    if detect(head) != "none":
        return True
    return is_header(head[:_TAR_BLOCK])


def _copy_stream(source: BinaryIO, target: Path, mode: int = 0o644) -> None:
    import shutil
    from dockyard.digest import CHUNK

    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
    os.chmod(target, mode)


def _bad(message: str) -> InvalidArchive:
    return InvalidArchive(f"invalid build context: {message}")


def _check_context_entry(entry: TarEntry) -> None:
    """The door rules of the store (absolute names, escaping links) plus: no device nodes."""
    from dockyard.archive.scan import check_entry

    try:
        check_entry(entry, allow_devices=False, climbing_links=False)
    except InvalidArchive as exc:
        raise _bad(str(exc)) from None


def extract_context_tar(stream: BinaryIO, dest: Path) -> None:
    """Extract a (decompressed) context tar into the empty directory `dest` with the project's one
    extractor: nothing is written outside `dest` (symlinks on the way resolve inside it, as in
    Docker's chrooted untar); absolute or `..` names, links whose target leaves the context and
    device nodes are refused. `.wh.` names are plain files here."""
    from pathlib import Path

    from dockyard.archive.apply import apply_layer

    try:
        apply_layer(stream, Path(dest), whiteout_format="none", allow_devices=False,
                    check=_check_context_entry)
    except InvalidArchive as exc:
        message = str(exc)
        raise exc if message.startswith("invalid build context") else _bad(message) from None


def _locate_in_extracted(root: Path, dockerfile: str | None) -> tuple[Path, str]:
    """moby remotecontext: the Dockerfile inside an extracted context, `dockerfile` then, for the
    default name only, its lowercase form. Returns the resolved file and its clean relative name."""
    name = dockerfile or DEFAULT_DOCKERFILE
    for candidate_name in (name, name.lower()) if name == DEFAULT_DOCKERFILE else (name,):
        try:
            candidate = resolve_in_context(root, candidate_name)
        except InvalidParameter:
            break
        if candidate.is_file():
            return candidate, go_clean("/" + candidate_name).lstrip("/")
    raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}")


def _private_dir(tmp_dir: Path | str | None, prefix: str) -> Path:
    import tempfile  # with random: ~1 ms a client packing a directory does not need
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_dir))


def _memory_dir_for(head: bytes, complete: bool) -> str | None:
    """Where to unpack a context whose first bytes are `head` (all of it when `complete`) in
    memory-backed storage, or None for the store's tmp directory.

    Unpacking a context creates and later removes every file of it; on the store's disk (ext4)
    that is ~2.8 ms for the 22 files of a small context, two thirds of a fully cached build, and
    ~0.9 ms on tmpfs. Only a context already read whole into memory and not compressed goes there,
    so what it takes in RAM is bounded by `_MEMORY_CONTEXT_MAX`: no bigger than what was read;
    and only when the tmpfs has room for it twice over (a container's /dev/shm may be 64 MiB)."""
    from dockyard.archive.compression import detect

    if not complete or detect(head) != "none":
        return None
    try:
        fs = os.statvfs(_MEMORY_DIR)
    except OSError:
        return None
    return _MEMORY_DIR if fs.f_bavail * fs.f_frsize >= 2 * len(head) + (1 << 20) else None


def _open_stream_context(
    stream: BinaryIO, dockerfile: str | None, tmp_dir: Path | None
) -> BuildContext:
    from dockyard.archive.compression import peek

    head, replay = peek(stream, _MEMORY_CONTEXT_MAX + 1)
    memory = _memory_dir_for(head, len(head) <= _MEMORY_CONTEXT_MAX)
    if memory is not None:
        try:
            return _unpack_context(head, replay, dockerfile, memory, tmp_dir)
        except (DockyardError, OSError) as exc:
            if isinstance(exc, InvalidParameter):
                raise  # the context's fault, wherever it is unpacked
            # The tmpfs filled up under us (ENOSPC...) or has no room for a private directory:
            # the whole tar is in `head`, unpack it again on the store's disk.
            replay = io.BytesIO(head)
    return _unpack_context(head, replay, dockerfile, tmp_dir, tmp_dir)


def _unpack_context(head: bytes, replay: BinaryIO, dockerfile: str | None,
                    where: Path | str | None, tmp_dir: Path | None) -> BuildContext:
    """The context read from `replay` (a stream starting with `head`: a tar, else a lone
    Dockerfile) in a new private directory under `where`."""
    from dockyard.archive.compression import open_decompressed

    root = _private_dir(where, "dockyard-context-")
    # A context tar has no entry for its root (the docker CLI sends none): give the root the mode
    # a context directory has, so `COPY .` hashes as it does for the same directory in-process.
    os.chmod(root, 0o755)
    context = BuildContext(root, root / DEFAULT_DOCKERFILE, DEFAULT_DOCKERFILE, temporary=[root])
    try:
        if not is_archive(head):
            if dockerfile == "-":
                raise InvalidParameter("build context is not an archive")
            # A lone Dockerfile on stdin: the context is a directory holding just it.
            _copy_stream(replay, root / DEFAULT_DOCKERFILE)
            return context
        extract_context_tar(open_decompressed(replay), root)
        path, name = _locate_in_extracted(root, dockerfile)
        context.dockerfile_path, context.dockerfile_name = path, name
        _remove_ignored_build_files(context, tmp_dir)
        return context
    except BaseException:
        context.cleanup()
        raise


def _remove_ignored_build_files(context: BuildContext, tmp_dir: Path | None) -> None:
    """moby remotecontext removeDockerfile: when the context's .dockerignore lists .dockerignore
    or the Dockerfile, they are removed from the context (after the Dockerfile is kept aside)."""
    import shutil
    ignore_file = context.root / DOCKERIGNORE
    if not ignore_file.is_file() or ignore_file.is_symlink():
        return
    matcher = IgnoreMatcher.from_file(ignore_file)
    name = context.dockerfile_name
    if matcher.matches(name):
        aside = _private_dir(tmp_dir, "dockyard-dockerfile-")
        context.temporary.append(aside)
        moved = aside / DEFAULT_DOCKERFILE
        shutil.copyfile(context.dockerfile_path, moved)
        parent, _, base = name.rpartition("/")
        entry = resolve_in_context(context.root, parent) / base  # the named entry, inside root
        if os.path.lexists(entry) and not entry.is_dir():
            os.unlink(entry)
        context.dockerfile_path = moved
    if matcher.matches(DOCKERIGNORE):
        os.unlink(ignore_file)


def open_context(
    source: Path | str | BinaryIO,
    *,
    dockerfile: str | None = None,
    stdin: BinaryIO | None = None,
    cwd: Path | None = None,
    tmp_dir: Path | None = None,
) -> BuildContext:
    """Open a build context as `docker build` does.

    `source` is a directory, `"-"` (read `stdin`), or a binary stream (Engine API request body):
    a tar (plain, gzip, bzip2, xz or zstd; found by magic) is extracted safely into a temporary
    directory; a stream that is not a tar is a lone Dockerfile.
    `dockerfile` is the `-f` value: for a directory context it is relative to `cwd` (the current
    directory by default, as in the docker CLI) and may lie outside the context; `"-"` reads the
    Dockerfile from `stdin`; for a stream context it is a path inside the context.
    """
    if isinstance(source, str) and source == "-":
        if stdin is None:
            raise InvalidParameter("unable to prepare context: no stdin to read the context from")
        if dockerfile == "-":
            raise InvalidParameter("invalid argument: can't use stdin for both build context and dockerfile")
        source = stdin
    if not isinstance(source, (str, os.PathLike)):
        if dockerfile == "-":
            raise InvalidParameter("invalid argument: can't use stdin for both build context and dockerfile")
        return _open_stream_context(source, dockerfile, tmp_dir)

    from pathlib import Path

    if dockerfile == "-":
        context_dir = context_directory(source, cwd)
        ignore = IgnoreMatcher.from_file(os.path.join(context_dir, DOCKERIGNORE))
        if stdin is None:
            raise InvalidParameter("unable to prepare context: no stdin to read the Dockerfile from")
        aside = _private_dir(tmp_dir, "dockyard-dockerfile-")
        _copy_stream(stdin, aside / DEFAULT_DOCKERFILE)
        return BuildContext(Path(context_dir), aside / DEFAULT_DOCKERFILE, "-", ignore, [aside])
    found = find_directory_context(source, dockerfile=dockerfile, cwd=cwd)
    return BuildContext(Path(found.root), Path(found.dockerfile_path), found.dockerfile_name,
                        found.ignore)


