"""The build context: walking a directory through .dockerignore, the tar the docker CLI sends,
opening a context (directory, tar stream or lone Dockerfile on stdin) and locating the Dockerfile.

Docker behaviour matched here (docker CLI 28 `docker build`, checked against a recording fake
daemon; moby's builder/remotecontext for contexts that arrive as a tar):
- The CLI walks the context in lexical order, skips excluded files without reading them, skips
  whole excluded directories unless an exception may re-include something inside, and always
  sends the Dockerfile and .dockerignore (TrimBuildFilesFromExcludes); entries are written with
  uid/gid 0 and no user/group names (archive.TarWithOptions with ChownOpts 0:0), mtimes truncated
  to the second, symlinks as symlinks, hard links within the context as hard links.
- BuildKit (the default builder of current Docker) reads `<Dockerfile>.dockerignore` next to the
  Dockerfile instead of the context's .dockerignore when it exists; we do the same.
- A context directory that does not exist: `unable to prepare context: path "x" not found`;
  a file: `unable to prepare context: context must be a directory: /abs/x`.
- `-f` with a directory context is relative to the *current directory* (not the context), may lie
  outside the context; without `-f`, `Dockerfile` then `dockerfile` is looked for in the context.
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
import shutil
import stat
import tarfile
import time
from dataclasses import dataclass, field

from dockyard.archive.tarstream import TarWriter
from dockyard.build.dockerignore import IgnoreMatcher, go_clean
from dockyard.errors import InvalidArchive, InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of a client-mode CLI: type checkers only
if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO, Iterator

    from dockyard.archive.tarreader import Entry as TarEntry
    from dockyard.build.dockerignore import MatchInfo

# The extracting side (tar reader, safe extraction, decompressors: ~10 ms of imports) and tempfile
# are imported when a stream context is opened, so a client that only packs a directory does not
# load them. The same goes for pathlib (with urllib.parse, ~3 ms): finding and packing a directory
# context works on strings (`find_directory_context`, `write_context_tar`); a `BuildContext`, what
# the builder reads from, holds `Path`s.

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
MAX_SYMLINKS = 255  # moby/sys/symlink FollowSymlinkInScope's limit
_TAR_BLOCK = 512


# --------------------------------------------------------------------------- walking


@dataclass(frozen=True)
class ContextEntry:
    """One file, directory, symlink... of the context, as found by `lstat` (never followed)."""

    path: str  # relative to the context root, "/"-separated, no trailing slash
    stat: os.stat_result
    link_target: str | None = None  # for symlinks: the target text, verbatim

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.stat.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.stat.st_mode)


@dataclass
class _Pending:
    """An excluded directory the walk entered; yielded before its first included descendant."""

    path: str
    stat: os.stat_result
    yielded: bool = False


def _clean_relative(path: str) -> str | None:
    cleaned = go_clean("/" + path.replace(os.sep, "/")).lstrip("/")
    return cleaned or None


def _sorted_dir(path: str) -> list[os.DirEntry[str]]:
    """Entries of a directory in Go's lexical (byte) order, like filepath.Walk."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except PermissionError:
        raise InvalidParameter(f"error checking context: no permission to read from '{path}'") from None
    except NotADirectoryError:
        return []
    except OSError as err:
        raise InvalidParameter(f"error checking context: {err}") from None
    entries.sort(key=lambda e: os.fsencode(e.name))
    return entries


def walk_context(
    root: str | os.PathLike[str],
    matcher: IgnoreMatcher,
    *,
    keep: set[str] | frozenset[str] = frozenset(),
    under: str = "",
) -> Iterator[ContextEntry]:
    """The entries of the context under `root` that .dockerignore lets through, parents first,
    siblings sorted. Excluded files are neither opened nor stat'ed; excluded directories are not
    entered when no exception could re-include anything inside (`can_skip_dir`). An excluded
    directory is still yielded (just before its first included descendant) when something inside
    it is included, as BuildKit's walker does, so the tar always has the parents.
    `keep` lists paths sent even when ignored (the Dockerfile, .dockerignore).
    `under` restricts the walk to the contents of that directory (a clean path relative to
    `root`, symlinks already resolved, e.g. a COPY source); paths stay relative to `root`."""
    base = _dir_string(root)
    kept = {p for p in (_clean_relative(k) for k in keep) if p}
    kept_dirs = {p.rsplit("/", i)[0] for p in kept for i in range(1, p.count("/") + 1)}
    start = _clean_relative(under) or ""
    start_info: MatchInfo | None = None
    if start and matcher:
        excluded = False
        for part in [*(start.rsplit("/", i)[0] for i in range(start.count("/"), 0, -1)), start]:
            excluded, start_info = matcher.match_with_parent(part, start_info)
        if excluded and start not in kept_dirs and start not in kept and matcher.can_skip_excluded_dir(start):
            return
    # Each frame: (relative dir, MatchInfo of that dir, its sorted entries, next index).
    stack: list[tuple[str, MatchInfo | None, list[os.DirEntry[str]], list[int]]] = [
        (start, start_info, _sorted_dir(os.path.join(base, start) if start else base), [0])
    ]
    pending: list[_Pending] = []  # excluded directories on the current path of the walk
    while stack:
        rel_dir, dir_info, entries, cursor = stack[-1]
        if cursor[0] >= len(entries):
            stack.pop()
            if pending and pending[-1].path == rel_dir:
                pending.pop()
            continue
        entry = entries[cursor[0]]
        cursor[0] += 1
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if matcher:
            excluded, info = matcher.match_with_parent(rel, dir_info)
        else:
            excluded, info = False, ()
        if excluded and rel in kept:
            excluded = False
        if excluded:
            if is_dir and (rel in kept_dirs or not matcher.can_skip_excluded_dir(rel)):
                try:
                    dir_stat = entry.stat(follow_symlinks=False)
                except OSError as err:
                    raise InvalidParameter(f"error checking context: {err}") from None
                pending.append(_Pending(rel, dir_stat))
                stack.append((rel, info, _sorted_dir(os.path.join(base, rel)), [0]))
            continue
        for item in pending:
            if not item.yielded:
                item.yielded = True
                yield ContextEntry(item.path, item.stat)
        try:
            st = entry.stat(follow_symlinks=False)
            target = os.readlink(os.path.join(base, rel)) if stat.S_ISLNK(st.st_mode) else None
        except OSError as err:
            raise InvalidParameter(f"error checking context: {err}") from None
        yield ContextEntry(rel, st, target)
        if is_dir:
            stack.append((rel, info, _sorted_dir(os.path.join(base, rel)), [0]))


# --------------------------------------------------------------------------- writing the tar


def _tar_info(entry: ContextEntry, hardlinks: dict[tuple[int, int], str]) -> tarfile.TarInfo | None:
    st = entry.stat
    mode = st.st_mode
    info = tarfile.TarInfo(entry.path + "/" if stat.S_ISDIR(mode) else entry.path)
    info.mode = stat.S_IMODE(mode)
    info.uid = info.gid = 0  # ChownOpts 0:0, as the docker CLI sends the context
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    info.size = 0
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link_target or ""
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in hardlinks:
            info.type = tarfile.LNKTYPE
            info.linkname = hardlinks[key]
        else:
            if st.st_nlink > 1:
                hardlinks[key] = entry.path
            info.type = tarfile.REGTYPE
            info.size = st.st_size
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        return None  # sockets: Go's archive/tar cannot represent them; the CLI skips them
    return info


def write_context_tar(
    root: str | os.PathLike[str],
    matcher: IgnoreMatcher,
    out: BinaryIO,
    *,
    keep: set[str] | frozenset[str] = frozenset(),
    replace: dict[str, bytes] | None = None,
) -> None:
    """Stream the context as the tar the docker CLI sends to `POST /build` (file bodies are
    copied in chunks; memory use does not depend on file sizes).
    `replace` maps top-level names to small contents sent instead of the context's file of that
    name, or after the walk when there is none (mode 0600): how the docker CLI adds a Dockerfile
    from outside the context and extends .dockerignore (AddDockerfileToBuildContext)."""
    base = _dir_string(root)
    writer = TarWriter(out)
    hardlinks: dict[tuple[int, int], str] = {}
    pending = dict(replace or {})
    for entry in walk_context(base, matcher, keep=keep):
        info = _tar_info(entry, hardlinks)
        if info is None:
            continue
        if entry.path in pending and info.type in (tarfile.REGTYPE, tarfile.LNKTYPE):
            _add_small(writer, info, pending.pop(entry.path))
        elif info.type == tarfile.REGTYPE:
            path = os.path.join(base, entry.path)
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
            except PermissionError:
                raise InvalidParameter(
                    f"error checking context: no permission to read from '{path}'"
                ) from None
            with handle:
                writer.add_header(info)
                try:
                    writer.copy_body(handle, info.size)
                except OSError as err:
                    raise InvalidParameter(
                        f"error checking context: {entry.path} changed while being read: {err}"
                    ) from None
        else:
            writer.add_header(info)
    for name, data in pending.items():
        info = tarfile.TarInfo(name)
        info.mode = 0o600
        info.mtime = int(time.time())
        info.uname = info.gname = ""
        _add_small(writer, info, data)
    writer.close()


def _dir_string(root: str | os.PathLike[str]) -> str:
    """A directory as a string, written as `Path` writes it (no trailing slash), so messages and
    joined paths read the same whether a `Path` or a string was given."""
    text = os.fspath(root)
    return text.rstrip("/") or ("/" if text.startswith("/") else ".")


def _add_small(writer: TarWriter, info: tarfile.TarInfo, data: bytes) -> None:
    info.type = tarfile.REGTYPE
    info.linkname = ""
    info.size = len(data)
    writer.add_header(info)
    writer.copy_body(io.BytesIO(data), len(data))


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
            shutil.rmtree(self.temporary.pop(), ignore_errors=True)

    def __enter__(self) -> "BuildContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def is_archive(head: bytes) -> bool:
    """The docker CLI's build.IsArchive: compressed (by magic), or starts with a valid tar header."""
    from dockyard.archive.compression import detect

    if detect(head) != "none":
        return True
    if len(head) < _TAR_BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(head[:_TAR_BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _copy_stream(source: BinaryIO, target: Path, mode: int = 0o644) -> None:
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
        check_entry(entry, allow_devices=False)
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


def _locate_in_dir(context: str, dockerfile: str | None, cwd: str) -> tuple[str, str, str]:
    """The docker CLI's getDockerfileRelPath for a directory context (`context` absolute, symlinks
    resolved): the resolved Dockerfile, its name relative to the context (or absolute when
    outside), and the path as named."""
    if dockerfile is None:
        candidate = os.path.join(context, DEFAULT_DOCKERFILE)
        lower = os.path.join(context, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(candidate) and os.path.lexists(lower):
            candidate = lower
    else:
        candidate = os.path.abspath(os.path.join(cwd, dockerfile))
    try:
        resolved = os.path.realpath(candidate, strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidParameter(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {_first_missing(candidate)}: no such file or directory"
        ) from None
    if os.path.isdir(resolved):
        raise InvalidParameter(f"unable to prepare context: {resolved} is a directory, not a Dockerfile")
    inside = context.rstrip("/") + "/"
    name = resolved[len(inside):] if resolved.startswith(inside) else resolved
    return resolved, name, candidate


def _ignore_file_for(context_dir: str, named_dockerfile: str | None) -> str:
    """BuildKit (the default builder of current Docker) prefers `<Dockerfile>.dockerignore` next
    to the Dockerfile over the context's .dockerignore; the legacy builder only reads the latter."""
    if named_dockerfile is not None:
        head, tail = os.path.split(named_dockerfile)
        specific = os.path.join(head, tail + DOCKERIGNORE)
        if os.path.isfile(specific):
            return specific
    return os.path.join(context_dir, DOCKERIGNORE)


def _first_missing(path: str) -> str:
    """The first component of the absolute, clean `path` that does not exist (what Go's
    EvalSymlinks reports)."""
    current = "/"
    for part in path.split("/"):
        if not part:
            continue
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            return current
    return path


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


def _private_dir(tmp_dir: Path | None, prefix: str) -> Path:
    import tempfile  # with random: ~1 ms a client packing a directory does not need
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_dir))


def _open_stream_context(
    stream: BinaryIO, dockerfile: str | None, tmp_dir: Path | None
) -> BuildContext:
    from dockyard.archive.compression import open_decompressed, peek

    head, replay = peek(stream, 2 * _TAR_BLOCK)
    root = _private_dir(tmp_dir, "dockyard-context-")
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
        context_dir = _context_directory(source, cwd)
        ignore = IgnoreMatcher.from_file(os.path.join(context_dir, DOCKERIGNORE))
        if stdin is None:
            raise InvalidParameter("unable to prepare context: no stdin to read the Dockerfile from")
        aside = _private_dir(tmp_dir, "dockyard-dockerfile-")
        _copy_stream(stdin, aside / DEFAULT_DOCKERFILE)
        return BuildContext(Path(context_dir), aside / DEFAULT_DOCKERFILE, "-", ignore, [aside])
    found = find_directory_context(source, dockerfile=dockerfile, cwd=cwd)
    return BuildContext(Path(found.root), Path(found.dockerfile_path), found.dockerfile_name,
                        found.ignore)


@dataclass(frozen=True)
class DirectoryContext:
    """A directory context as the docker CLI finds it before packing it: the directory and the
    Dockerfile (absolute, symlinks resolved), the Dockerfile's name relative to the context
    (absolute when it lies outside) and the .dockerignore that applies."""

    root: str
    dockerfile_path: str
    dockerfile_name: str
    ignore: IgnoreMatcher


def _context_directory(source: str | os.PathLike[str], cwd: str | os.PathLike[str] | None) -> str:
    """The context directory `source` names (relative to `cwd`, default the current directory),
    absolute with symlinks resolved; the docker CLI's errors when it is missing or not a directory."""
    base = os.fspath(cwd) if cwd else os.getcwd()
    context_dir = os.path.abspath(os.path.join(base, source))
    if not os.path.lexists(context_dir):
        raise InvalidParameter(f'unable to prepare context: path "{os.fspath(source)}" not found')
    if not os.path.isdir(context_dir):
        raise InvalidParameter(f"unable to prepare context: context must be a directory: {context_dir}")
    return os.path.realpath(context_dir)


def find_directory_context(
    source: str | os.PathLike[str],
    *,
    dockerfile: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> DirectoryContext:
    """A directory context and its Dockerfile as `docker build DIR [-f FILE]` finds them (`-f`
    relative to `cwd`, not to the context; `-f -` is `open_context`'s). The strings-only half of
    `open_context`, which a client packing the context for a daemon uses as it is."""
    base = os.fspath(cwd) if cwd else os.getcwd()
    context_dir = _context_directory(source, base)
    path, name, named = _locate_in_dir(context_dir, dockerfile, base)
    return DirectoryContext(context_dir, path, name,
                            IgnoreMatcher.from_file(_ignore_file_for(context_dir, named)))
