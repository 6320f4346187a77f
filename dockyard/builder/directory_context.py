"""A directory build context as the docker CLI handles it before sending it: finding the context
and its Dockerfile, walking it through .dockerignore, packing it as the tar `POST /build` takes.

This is the client's half of a build context (dockyard.builder.context is the daemon's: opening a
context that arrives as a tar, resolving COPY sources). A client-mode `dockyard -H ... build` runs
this module in a fresh interpreter each time, so it works on strings and imports only light
modules: no pathlib, tarfile (tar headers come from archive/tarheader.py), dataclasses or typing.

Docker behaviour matched here (docker CLI 28 `docker build`, checked against a recording fake
daemon):
- The CLI walks the context in lexical order, skips excluded files without reading them, skips
  whole excluded directories unless an exception pattern, as written, starts with the
  directory's path (`!d/x` enters `d`, `!**/*.keep` does not), never sends an excluded
  directory itself (what an exception re-includes inside comes without it), and always
  sends the Dockerfile and .dockerignore (TrimBuildFilesFromExcludes); entries are written with
  uid/gid 0 and no user/group names (archive.TarWithOptions with ChownOpts 0:0), mtimes truncated
  to the second, symlinks as symlinks, hard links within the context as hard links.
- BuildKit (the default builder of current Docker) reads `<Dockerfile>.dockerignore` next to the
  Dockerfile instead of the context's .dockerignore when it exists; we do the same.
- A context directory that does not exist: `unable to prepare context: path "x" not found`;
  a file: `unable to prepare context: context must be a directory: /abs/x`.
- `-f` with a directory context is relative to the *current directory* (not the context), may lie
  outside the context; without `-f`, `Dockerfile` then `dockerfile` is looked for in the context.
"""

from __future__ import annotations

import io
import os
import stat
import time

from dockyard.builder.dockerignore import IgnoreMatcher, go_clean
from dockyard.errors import InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import BinaryIO, Iterator

    from dockyard.archive.tarheader import TarHeader
    from dockyard.archive.tarstream import TarWriter
    from dockyard.builder.dockerignore import MatchInfo

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"

# --------------------------------------------------------------------------- walking


class ContextEntry:
    """One file, directory, symlink... of the context, as found by `lstat` (never followed).
    Plain classes here rather than dataclasses: see the module's docstring."""

    __slots__ = ("path", "stat", "link_target")

    def __init__(self, path: str, st: os.stat_result, link_target: str | None = None) -> None:
        self.path = path  # relative to the context root, "/"-separated, no trailing slash
        self.stat = st
        self.link_target = link_target  # for symlinks: the target text, verbatim

    def __repr__(self) -> str:
        return f"ContextEntry({self.path!r}, mode={self.stat.st_mode:o})"

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.stat.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.stat.st_mode)


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
    siblings sorted: what the docker CLI puts in the tar (archive.TarWithOptions). Excluded
    files are neither opened nor stat'ed; an excluded directory is never an entry, and is entered
    only when an exception names a path inside it (`cli_enters_excluded_dir`), so what it
    re-includes arrives without its excluded parents (the daemon makes them, 0755).
    `keep` lists paths sent even when ignored (the Dockerfile, .dockerignore): the CLI adds an
    exception for each (TrimBuildFilesFromExcludes).
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
        if excluded and start not in kept_dirs and start not in kept and not matcher.cli_enters_excluded_dir(start):
            return
    # Each frame: (relative dir, MatchInfo of that dir, its sorted entries, next index).
    stack: list[tuple[str, MatchInfo | None, list[os.DirEntry[str]], list[int]]] = [
        (start, start_info, _sorted_dir(os.path.join(base, start) if start else base), [0])
    ]
    while stack:
        rel_dir, dir_info, entries, cursor = stack[-1]
        if cursor[0] >= len(entries):
            stack.pop()
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
            if is_dir and (rel in kept_dirs or matcher.cli_enters_excluded_dir(rel)):
                stack.append((rel, info, _sorted_dir(os.path.join(base, rel)), [0]))
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            target = os.readlink(os.path.join(base, rel)) if stat.S_ISLNK(st.st_mode) else None
        except OSError as err:
            raise InvalidParameter(f"error checking context: {err}") from None
        yield ContextEntry(rel, st, target)
        if is_dir:
            stack.append((rel, info, _sorted_dir(os.path.join(base, rel)), [0]))


# --------------------------------------------------------------------------- writing the tar


def _tar_info(entry: ContextEntry, hardlinks: dict[tuple[int, int], str], tar: ModuleType) -> TarHeader | None:
    """The entry's tar header; `tar`: archive/tarheader (see write_context_tar)."""
    st = entry.stat
    mode = st.st_mode
    # uid/gid 0 and no user or group names: ChownOpts 0:0, as the docker CLI sends the context
    info = tar.TarHeader(name=entry.path + "/" if stat.S_ISDIR(mode) else entry.path,
                         mode=stat.S_IMODE(mode), mtime=int(st.st_mtime))
    if stat.S_ISDIR(mode):
        info.type = tar.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tar.SYMTYPE
        info.linkname = entry.link_target or ""
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in hardlinks:
            info.type = tar.LNKTYPE
            info.linkname = hardlinks[key]
        else:
            if st.st_nlink > 1:
                hardlinks[key] = entry.path
            info.type = tar.REGTYPE
            info.size = st.st_size
    elif stat.S_ISFIFO(mode):
        info.type = tar.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tar.CHRTYPE if stat.S_ISCHR(mode) else tar.BLKTYPE
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
    # Not at the top: the tar encoder is loaded where a context is packed (a client's build, a
    # context sent on), not by an in-process build that reads the directory (tests/test_start_up.py)
    from dockyard.archive import tarheader as tar
    from dockyard.archive.tarstream import TarWriter

    base = _dir_string(root)
    writer = TarWriter(out)
    hardlinks: dict[tuple[int, int], str] = {}
    pending = dict(replace or {})
    for entry in walk_context(base, matcher, keep=keep):
        info = _tar_info(entry, hardlinks, tar)
        if info is None:
            continue
        if entry.path in pending and info.type in (tar.REGTYPE, tar.LNKTYPE):
            _add_small(writer, info, pending.pop(entry.path))
        elif info.type == tar.REGTYPE:
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
        _add_small(writer, tar.TarHeader(name=name, mode=0o600, mtime=int(time.time())), data)
    writer.close()


def _dir_string(root: str | os.PathLike[str]) -> str:
    """A directory as a string, written as `Path` writes it (no trailing slash), so messages and
    joined paths read the same whether a `Path` or a string was given."""
    text = os.fspath(root)
    return text.rstrip("/") or ("/" if text.startswith("/") else ".")


def _add_small(writer: TarWriter, info: TarHeader, data: bytes) -> None:
    from dockyard.archive.tarheader import REGTYPE  # loaded by write_context_tar already

    info.type = REGTYPE
    info.linkname = ""
    info.size = len(data)
    writer.add_header(info)
    writer.copy_body(io.BytesIO(data), len(data))


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



class DirectoryContext:
    """A directory context as the docker CLI finds it before packing it: the directory and the
    Dockerfile (absolute, symlinks resolved), the Dockerfile's name relative to the context
    (absolute when it lies outside) and the .dockerignore that applies."""

    __slots__ = ("root", "dockerfile_path", "dockerfile_name", "ignore")

    def __init__(self, root: str, dockerfile_path: str, dockerfile_name: str,
                 ignore: IgnoreMatcher) -> None:
        self.root = root
        self.dockerfile_path = dockerfile_path
        self.dockerfile_name = dockerfile_name
        self.ignore = ignore


def context_directory(source: str | os.PathLike[str], cwd: str | os.PathLike[str] | None) -> str:
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
    context_dir = context_directory(source, base)
    path, name, named = _locate_in_dir(context_dir, dockerfile, base)
    return DirectoryContext(context_dir, path, name,
                            IgnoreMatcher.from_file(_ignore_file_for(context_dir, named)))

