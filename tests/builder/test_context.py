"""Build contexts with real directories and tars. Expected values come from the docker CLI 28
(legacy builder) talking to a recording fake daemon, unless a test says otherwise."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard
from isal import igzip

from dockyard.builder.context import (
    BuildContext,
    extract_context_tar,
    is_archive,
    open_context,
    resolve_in_context,
)
from dockyard.builder.directory_context import (
    DirectoryContext,
    find_directory_context,
    walk_context,
    write_context_tar,
)
from dockyard.builder.dockerignore import IgnoreMatcher
from dockyard.errors import InvalidArchive, InvalidParameter


def make_tree(root: Path, files: dict[str, str | None]) -> Path:
    """None makes a directory, a string a file with that content."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return root


def tar_members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()


def context_tar(root: Path, lines: list[str], keep: frozenset[str] = frozenset()) -> bytes:
    out = io.BytesIO()
    write_context_tar(root, IgnoreMatcher.from_lines(lines), out, keep=keep)
    return out.getvalue()


def make_tar(entries: list[tuple[str, bytes | None, bytes]], **kw: object) -> bytes:
    """entries: (name, type, payload); type None = regular file; payload = content or link target."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind is None:
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
                continue
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload.decode()
            if kind == tarfile.DIRTYPE:
                info.mode = 0o755
            archive.addfile(info)
    return out.getvalue()


# --------------------------------------------------------------------------- walk and tar


def test_walk_is_sorted_parents_first_and_filtered(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "b.txt": "b", "a/z": "z", "a/y.log": "y", "B": "B", "_": "_", "c/d/e.log": "e",
        "node_modules/m/index.js": "m", "Dockerfile": "FROM scratch\n",
    })
    matcher = IgnoreMatcher.from_lines(["*.log", "**/*.log", "node_modules"])
    paths = [e.path for e in walk_context(tmp_path, matcher)]
    # Go's lexical byte order: "B" < "Dockerfile" < "_" < "a" < "b.txt"; parents before children.
    assert paths == ["B", "Dockerfile", "_", "a", "a/z", "b.txt", "c", "c/d"]


def test_keep_sends_dockerfile_and_dockerignore_even_if_ignored(tmp_path: Path) -> None:
    # docker CLI TrimBuildFilesFromExcludes: with "*" ignored, the tar still has both files.
    make_tree(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "*\n", "x": "x", "sub/Dockerfile.dev": "d"})
    names = [m.name for m in tar_members(context_tar(tmp_path, ["*"], frozenset({"Dockerfile", ".dockerignore"})))]
    assert names == [".dockerignore", "Dockerfile"]
    # A kept file inside an excluded directory comes without its directory, as the docker CLI
    # (20.10 and 28, classic builder) sends `-f sub/Dockerfile.dev` with `sub` ignored.
    names = [m.name for m in tar_members(context_tar(tmp_path, ["sub"], frozenset({"sub/Dockerfile.dev"})))]
    assert names == [".dockerignore", "Dockerfile", "sub/Dockerfile.dev", "x"]


def test_exception_inside_excluded_dir_comes_without_its_parents(tmp_path: Path) -> None:
    """The docker CLI's archive.TarWithOptions: an excluded directory is entered when an
    exception, as written, starts with its path, and is never sent itself; a wildcard exception
    that does not start with the directory's path re-includes nothing inside it (recorded from
    docker CLI 20.10 and 28 with DOCKER_BUILDKIT=0: test_cli_client.test_excluded_directories)."""
    make_tree(tmp_path, {"d/keep/x": "1", "d/other": "2", "d/sub/y.keep": "3", "e/f": "4", "e/z.keep": "5"})
    prefix = [e.path for e in walk_context(tmp_path, IgnoreMatcher.from_lines(["d", "!d/keep/x"]))]
    assert prefix == ["d/keep/x", "e", "e/f", "e/z.keep"]
    wild = [e.path for e in walk_context(tmp_path, IgnoreMatcher.from_lines(["d", "!**/*.keep"]))]
    assert wild == ["e", "e/f", "e/z.keep"]
    both = [e.path for e in walk_context(tmp_path, IgnoreMatcher.from_lines(["d", "!d/*", "d/other"]))]
    assert both == ["d/keep", "d/keep/x", "d/sub", "d/sub/y.keep"] + ["e", "e/f", "e/z.keep"]


def test_walk_under_a_subdirectory(tmp_path: Path) -> None:
    # What a COPY of a directory needs: its contents, filtered with paths relative to the root.
    make_tree(tmp_path, {"src/a.py": "a", "src/b.log": "b", "src/keep/c.log": "c", "other/x": "x", "d/e/f": "f"})
    matcher = IgnoreMatcher.from_lines(["**/*.log", "!src/keep/*.log", "d"])
    assert [e.path for e in walk_context(tmp_path, matcher, under="src")] == [
        "src/a.py", "src/keep", "src/keep/c.log",
    ]
    assert [e.path for e in walk_context(tmp_path, matcher, under="./src/keep/")] == ["src/keep/c.log"]
    assert list(walk_context(tmp_path, matcher, under="d/e")) == []  # inside an excluded dir
    assert [e.path for e in walk_context(tmp_path, IgnoreMatcher(), under="d")] == ["d/e", "d/e/f"]


def test_excluded_directory_is_never_entered(tmp_path: Path) -> None:
    # A tree deeper than PATH_MAX cannot even be stat'ed by path: walking into it fails, so a
    # walk that succeeds proves the excluded directory was skipped unseen.
    (tmp_path / "deep").mkdir()
    (tmp_path / "keep.txt").write_text("k")
    fd = os.open(tmp_path / "deep", os.O_RDONLY)
    try:
        for _ in range(20):
            os.mkdir("d" * 250, dir_fd=fd)
            nfd = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    assert [e.path for e in walk_context(tmp_path, IgnoreMatcher.from_lines(["deep"]))] == ["keep.txt"]
    with pytest.raises(InvalidParameter, match="^error checking context: .*File name too long"):
        list(walk_context(tmp_path, IgnoreMatcher()))


def test_symlinks_are_entries_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_tree(outside, {"secret": "s"})
    ctx = make_tree(tmp_path / "ctx", {"real/f": "f"})
    (ctx / "to_outside").symlink_to(outside)
    (ctx / "abs").symlink_to("/etc/passwd")
    (ctx / "rel").symlink_to("real/f")
    entries = {e.path: e for e in walk_context(ctx, IgnoreMatcher())}
    assert sorted(entries) == ["abs", "real", "real/f", "rel", "to_outside"]
    assert entries["to_outside"].is_symlink and entries["to_outside"].link_target == str(outside)
    assert entries["rel"].link_target == "real/f"


def test_tar_headers_like_the_docker_cli(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path, {"Dockerfile": "FROM scratch\n", "dir/file": "hello", "empty": ""})
    os.chown(ctx / "dir/file", 1234, 5678)  # (chown clears setuid: chmod after it)
    os.chmod(ctx / "dir/file", 0o4755)
    os.utime(ctx / "dir/file", (1_700_000_000.75, 1_700_000_000.75))
    (ctx / "link").symlink_to("dir/file")
    os.link(ctx / "dir/file", ctx / "hard")
    os.mkfifo(ctx / "fifo")
    data = context_tar(ctx, [])
    members = {m.name: m for m in tar_members(data)}
    # (tarfile drops the trailing "/" of directory names when reading; the header has it.)
    assert list(members) == ["Dockerfile", "dir", "dir/file", "empty", "fifo", "hard", "link"]
    assert data[1024:1029] == b"dir/\0"  # after the Dockerfile header and body
    for m in members.values():  # ChownOpts 0:0, no user or group names
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
    assert members["dir"].isdir()
    f = members["dir/file"]
    assert f.isreg() and f.size == 5 and f.mode == 0o4755 and f.mtime == 1_700_000_000
    assert members["hard"].islnk() and members["hard"].linkname == "dir/file"
    assert members["link"].issym() and members["link"].linkname == "dir/file"
    assert members["fifo"].isfifo()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert archive.extractfile("dir/file").read() == b"hello"  # type: ignore[union-attr]
    assert len(data) % 512 == 0 and data.endswith(b"\0" * 1024)


def test_big_file_is_streamed(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as out:
        out.truncate(64 << 20)  # sparse: 64 MiB of zeros, cheap to create
    sink = tmp_path / "ctx.tar"
    with open(sink, "wb") as out:  # a real file: bodies go through sendfile or chunks
        write_context_tar(tmp_path, IgnoreMatcher.from_lines(["ctx.tar"]), out)
    with tarfile.open(sink) as archive:
        member = archive.getmember("big")
        assert member.size == 64 << 20


def test_context_tar_memory_is_bounded(tmp_path: Path) -> None:
    # 128 MiB streamed through a pipe by a child process whose peak RSS is reported by itself:
    # VmHWM, the peak of its own memory. (ru_maxrss would not do: Linux carries it over from the
    # forked parent across exec, and pytest itself passes 100 MiB in a full run.)
    import subprocess
    import sys

    with open(tmp_path / "big", "wb") as out:
        out.truncate(128 << 20)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dockyard.builder.directory_context import write_context_tar\n"
        "from dockyard.builder.dockerignore import IgnoreMatcher\n"
        f"write_context_tar(Path({str(tmp_path)!r}), IgnoreMatcher(), sys.stdout.buffer)\n"
        "sys.stdout.flush()\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0], file=sys.stderr)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    total = 0
    while chunk := child.stdout.read(1 << 20):
        total += len(chunk)
    peak_kib = int(child.stderr.read().split()[-1])
    assert child.wait() == 0
    assert total == 512 + (128 << 20) + 1024  # header, body, end-of-archive
    assert peak_kib < 100 * 1024


# --------------------------------------------------------------------------- scoped resolution


def test_resolve_in_context(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "ctx", {"a/b/file": "x", "etc/passwd": "mine"})
    (ctx / "abs").symlink_to("/etc")  # absolute targets restart at the context root
    (ctx / "up").symlink_to("../../../..")  # ".." stops at the root
    (ctx / "a/chain").symlink_to("b")
    (ctx / "loop1").symlink_to("loop2")
    (ctx / "loop2").symlink_to("loop1")
    assert resolve_in_context(ctx, "abs/passwd") == ctx / "etc/passwd"
    assert resolve_in_context(ctx, "up/etc/passwd") == ctx / "etc/passwd"
    assert resolve_in_context(ctx, "a/chain/file") == ctx / "a/b/file"
    assert resolve_in_context(ctx, "/a/./b/../b/file") == ctx / "a/b/file"
    assert resolve_in_context(ctx, ".") == ctx
    assert resolve_in_context(ctx, "missing/x") == ctx / "missing/x"
    for bad in ("../x", "..", "a/../../x"):
        # COPY ../x . -> "forbidden path outside the build context: ../x ()"
        with pytest.raises(InvalidParameter, match=r"^forbidden path outside the build context: .* \(\)$"):
            resolve_in_context(ctx, bad)
    with pytest.raises(InvalidParameter, match="too many levels of symbolic links"):
        resolve_in_context(ctx, "loop1/x")


# --------------------------------------------------------------------------- directory contexts


def test_open_directory_context_defaults(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", ".dockerignore": "*.log\n", "x.log": "l"})
    with open_context(ctx) as bc:
        assert bc.root == ctx.resolve() and bc.dockerfile_path == ctx.resolve() / "Dockerfile"
        assert bc.dockerfile_name == "Dockerfile"
        assert bc.is_ignored("x.log") and not bc.is_ignored("Dockerfile")
        assert [e.path for e in bc.walk()] == [".dockerignore", "Dockerfile"]
    assert ctx.exists()  # a user's directory is never removed


def test_lowercase_dockerfile_fallback(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path, {"dockerfile": "FROM scratch\n"})
    assert open_context(ctx).dockerfile_name == "dockerfile"


def test_dockerfile_flag_is_relative_to_cwd(tmp_path: Path) -> None:
    # docker CLI: "-f sub/Dockerfile ctx" resolves sub/Dockerfile against the current directory.
    ctx = make_tree(tmp_path / "ctx", {"sub/Dockerfile": "FROM scratch\n"})
    bc = open_context(ctx, dockerfile="sub/Dockerfile", cwd=ctx)
    assert bc.dockerfile_path == ctx.resolve() / "sub/Dockerfile" and bc.dockerfile_name == "sub/Dockerfile"
    with pytest.raises(InvalidParameter) as info:
        open_context(ctx, dockerfile="sub/Dockerfile", cwd=tmp_path)
    assert str(info.value) == (
        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
        f"lstat {tmp_path}/sub: no such file or directory"
    )
    outside = make_tree(tmp_path, {"Dockerfile.out": "FROM scratch\n"}) / "Dockerfile.out"
    bc = open_context(ctx, dockerfile=str(outside))
    assert bc.dockerfile_path == outside.resolve() and bc.send_always == frozenset({".dockerignore"})


def test_dockerfile_specific_ignore_file(tmp_path: Path) -> None:
    # BuildKit: sub/app.Dockerfile.dockerignore replaces the context's .dockerignore.
    ctx = make_tree(tmp_path, {
        ".dockerignore": "a\n", "sub/app.Dockerfile": "FROM scratch\n",
        "sub/app.Dockerfile.dockerignore": "b\n", "Dockerfile": "FROM scratch\n",
    })
    specific = open_context(ctx, dockerfile="sub/app.Dockerfile", cwd=ctx)
    assert specific.is_ignored("b") and not specific.is_ignored("a")
    default = open_context(ctx)
    assert default.is_ignored("a") and not default.is_ignored("b")


def test_find_directory_context_is_open_context_on_strings(tmp_path: Path) -> None:
    """What a client packs (find_directory_context, strings, no pathlib) is what open_context
    opens for the builder: the same directory, Dockerfile, name and .dockerignore, and the same
    tar whether the root is given as a string or a Path."""
    real = make_tree(tmp_path / "real", {
        "Dockerfile": "FROM scratch\n", ".dockerignore": "*.log\n", "x.log": "l", "keep": "k",
        "sub/app.Dockerfile": "FROM scratch\n", "sub/app.Dockerfile.dockerignore": "keep\n",
    })
    (tmp_path / "link").symlink_to(real)  # the context named through a symlink: resolved
    outside = make_tree(tmp_path / "out", {"Dockerfile": "FROM scratch\n"}) / "Dockerfile"
    cases = [("link", None, tmp_path), ("link", "link/sub/app.Dockerfile", tmp_path),
             (str(tmp_path / "link"), str(outside), real), ("..", "../Dockerfile", real / "sub")]
    for context, dockerfile, cwd in cases:
        found = find_directory_context(context, dockerfile=dockerfile, cwd=cwd)
        opened = open_context(context, dockerfile=dockerfile, cwd=cwd)
        assert isinstance(found, DirectoryContext) and isinstance(found.root, str)
        assert (Path(found.root), Path(found.dockerfile_path)) == (opened.root, opened.dockerfile_path)
        assert found.dockerfile_name == opened.dockerfile_name
        assert found.ignore.patterns == opened.ignore.patterns
        as_string, as_path = io.BytesIO(), io.BytesIO()
        write_context_tar(found.root + "/", found.ignore, as_string)
        write_context_tar(opened.root, opened.ignore, as_path)
        assert as_string.getvalue() == as_path.getvalue()
    assert find_directory_context("link", cwd=tmp_path).root == str(real.resolve())
    assert find_directory_context(str(real), dockerfile=str(outside)).dockerfile_name == str(outside)
    with pytest.raises(InvalidParameter, match='^unable to prepare context: path "nosuch" not found$'):
        find_directory_context("nosuch", cwd=tmp_path)


def test_directory_context_errors(tmp_path: Path) -> None:
    empty = make_tree(tmp_path / "empty", {"x": "x"})
    with pytest.raises(InvalidParameter) as info:
        open_context(empty)
    assert str(info.value) == (
        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
        f"lstat {empty}/Dockerfile: no such file or directory"
    )
    with pytest.raises(InvalidParameter, match='^unable to prepare context: path "nosuch" not found$'):
        open_context("nosuch", cwd=tmp_path)
    with pytest.raises(InvalidParameter, match="^unable to prepare context: context must be a directory: "):
        open_context(empty / "x")


def test_dockerfile_from_stdin_with_directory_context(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "ctx", {"f": "f"})
    with open_context(ctx, dockerfile="-", stdin=io.BytesIO(b"FROM scratch\nCOPY f /\n")) as bc:
        assert bc.dockerfile_path.read_bytes() == b"FROM scratch\nCOPY f /\n"
        assert not bc.dockerfile_path.is_relative_to(ctx)  # not part of what COPY sees
        aside = bc.dockerfile_path.parent
    assert not aside.exists()
    with pytest.raises(InvalidParameter, match="can't use stdin for both build context and dockerfile"):
        open_context("-", dockerfile="-", stdin=io.BytesIO(b""))


# --------------------------------------------------------------------------- stream contexts


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return igzip.compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@pytest.mark.parametrize("kind", ["none", "gzip", "bzip2", "xz", "zstd"])
def test_tar_stream_context_round_trip(tmp_path: Path, kind: str) -> None:
    src = make_tree(tmp_path / "src", {"Dockerfile": "FROM scratch\n", "a/b": "bee", "c": "sea"})
    (src / "lnk").symlink_to("a/b")
    (src / "abslnk").symlink_to("/a/b")
    os.chmod(src / "c", 0o600)
    data = _compress(kind, context_tar(src, []))
    with open_context(io.BytesIO(data), tmp_dir=tmp_path) as bc:
        root = bc.root
        assert bc.dockerfile_path == root / "Dockerfile"
        assert (root / "a/b").read_text() == "bee" and (root / "c").stat().st_mode & 0o777 == 0o600
        assert os.readlink(root / "lnk") == "a/b" and os.readlink(root / "abslnk") == "/a/b"
        assert resolve_in_context(root, "abslnk") == root / "a/b"
        assert not bc.ignore  # what arrived in the tar is the context
    assert not root.exists()


def test_small_plain_contexts_are_unpacked_in_memory(tmp_path: Path, monkeypatch) -> None:
    """A plain tar read whole (at most _MEMORY_CONTEXT_MAX) is unpacked on tmpfs (/dev/shm); a
    compressed one (it may expand) or a bigger one in the store's tmp directory; all are removed."""
    from dockyard.builder import context as context_module

    data = make_tar([("Dockerfile", None, b"FROM scratch\n"), ("f", None, b"x" * 5000)])
    with open_context(io.BytesIO(data), tmp_dir=tmp_path) as bc:
        root = bc.root
        assert root.parent == Path("/dev/shm") and (root / "f").read_bytes() == b"x" * 5000
        assert stat.S_IMODE(root.stat().st_mode) == 0o755 and root.stat().st_uid == os.getuid()
    assert not root.exists()
    with open_context(io.BytesIO(igzip.compress(data)), tmp_dir=tmp_path) as bc:
        assert bc.root.parent == tmp_path
    monkeypatch.setattr(context_module, "_MEMORY_CONTEXT_MAX", 4096)
    with open_context(io.BytesIO(data), tmp_dir=tmp_path) as bc:
        assert bc.root.parent == tmp_path and (bc.root / "f").read_bytes() == b"x" * 5000
    assert os.listdir(tmp_path) == []


def test_a_full_tmpfs_falls_back_to_the_disk(tmp_path: Path, monkeypatch) -> None:
    """A tmpfs that fills up while a context is unpacked there (ENOSPC): the context, whole in
    memory, is unpacked again in the store's tmp directory; nothing stays on the tmpfs."""
    import subprocess

    from dockyard.builder import context as context_module

    small, disk = tmp_path / "shm", tmp_path / "tmp"
    small.mkdir(), disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        monkeypatch.setattr(context_module, "_memory_dir_for", lambda head, complete: str(small))
        data = make_tar([("Dockerfile", None, b"FROM scratch\n"), ("big", None, os.urandom(2 << 20))])
        with open_context(io.BytesIO(data), tmp_dir=disk) as bc:
            assert bc.root.parent == disk and (bc.root / "big").stat().st_size == 2 << 20
            assert os.listdir(small) == []
        assert os.listdir(disk) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_lone_dockerfile_on_stdin(tmp_path: Path) -> None:
    # docker build - < Dockerfile: the context holds just the Dockerfile.
    with open_context("-", stdin=io.BytesIO(b"FROM scratch\n"), tmp_dir=tmp_path) as bc:
        assert sorted(os.listdir(bc.root)) == ["Dockerfile"]
        assert bc.dockerfile_path.read_bytes() == b"FROM scratch\n"
    with open_context(io.BytesIO(b""), tmp_dir=tmp_path) as bc:  # empty stdin: empty Dockerfile
        assert bc.dockerfile_path.read_bytes() == b""


def test_is_archive() -> None:
    assert is_archive(make_tar([("x", None, b"1")])[:1024])
    assert is_archive(b"\x1f\x8b\x08rest")
    assert not is_archive(b"FROM scratch\n" + b"\0" * 1100)
    assert not is_archive(b"\0" * 1024)  # an empty tar is not taken for a context
    assert not is_archive(b"")


def test_dockerfile_location_in_tar_context(tmp_path: Path) -> None:
    in_memory_before = set(os.listdir("/dev/shm"))
    data = make_tar([
        ("sub/", tarfile.DIRTYPE, b""), ("sub/Dockerfile.dev", None, b"FROM a\n"), ("dockerfile", None, b"FROM b\n"),
    ])
    for name in ("sub/Dockerfile.dev", "/sub/Dockerfile.dev", "./sub//Dockerfile.dev"):
        with open_context(io.BytesIO(data), dockerfile=name, tmp_dir=tmp_path) as bc:
            assert bc.dockerfile_path.read_bytes() == b"FROM a\n"
            assert bc.dockerfile_name == "sub/Dockerfile.dev"
    with open_context(io.BytesIO(data), tmp_dir=tmp_path) as bc:  # lowercase fallback (daemon)
        assert bc.dockerfile_path.read_bytes() == b"FROM b\n"
    for name in ("nope", "../x"):
        with pytest.raises(InvalidParameter, match=f"^Cannot locate specified Dockerfile: {name}$"):
            open_context(io.BytesIO(data), dockerfile=name, tmp_dir=tmp_path)
    with pytest.raises(InvalidParameter, match="^Cannot locate specified Dockerfile: Dockerfile$"):
        open_context(io.BytesIO(make_tar([("x", None, b"1")])), tmp_dir=tmp_path)
    # failed opens leave nothing behind, where small contexts are unpacked (tmpfs) or elsewhere
    assert os.listdir(tmp_path) == [] and set(os.listdir("/dev/shm")) <= in_memory_before


def test_ignored_dockerfile_given_as_absolute_path_is_removed_inside_the_context(tmp_path: Path) -> None:
    # "-f /Dockerfile" names the context's Dockerfile: nothing outside the context is touched.
    data = make_tar([("Dockerfile", None, b"FROM scratch\n"), (".dockerignore", None, b"Dockerfile\n")])
    with open_context(io.BytesIO(data), dockerfile="/Dockerfile", tmp_dir=tmp_path) as bc:
        assert sorted(os.listdir(bc.root)) == [".dockerignore"]
        assert bc.dockerfile_path.read_bytes() == b"FROM scratch\n"


def test_ignored_dockerfile_and_dockerignore_are_removed_from_tar_context(tmp_path: Path) -> None:
    # moby remotecontext removeDockerfile: listed in .dockerignore -> not visible to COPY.
    data = make_tar([
        ("Dockerfile", None, b"FROM scratch\n"), (".dockerignore", None, b"Dockerfile\n.dockerignore\n"),
        ("f", None, b"f"),
    ])
    with open_context(io.BytesIO(data), tmp_dir=tmp_path) as bc:
        assert sorted(os.listdir(bc.root)) == ["f"]
        assert bc.dockerfile_path.read_bytes() == b"FROM scratch\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("../evil", None, b"x")], "path escapes the destination"),
        ([("a/../../evil", None, b"x")], "path escapes the destination"),
        ([("/etc/evil", None, b"x")], "absolute path"),
        ([("lnk", tarfile.SYMTYPE, b"../../etc")], "is outside of the root"),
        ([("d/", tarfile.DIRTYPE, b""), ("d/lnk", tarfile.SYMTYPE, b"../..")], "is outside of the root"),
        ([("hard", tarfile.LNKTYPE, b"../x")], "target outside the archive"),
        ([("hard", tarfile.LNKTYPE, b"missing")], "does not exist"),
        # A hard link through a symlink would copy a host file into the context.
        ([("lnk", tarfile.SYMTYPE, b"/etc"), ("hard", tarfile.LNKTYPE, b"lnk/passwd")], "does not exist"),
        ([("d/", tarfile.DIRTYPE, b""), ("hard", tarfile.LNKTYPE, b"d")], "target is a directory"),
        ([("dev", tarfile.CHRTYPE, b"")], "device files are not allowed"),
        ([("dev", tarfile.BLKTYPE, b"")], "device files are not allowed"),
    ],
)
def test_hostile_tars_are_refused(tmp_path: Path, entries: list, message: str) -> None:
    with pytest.raises(InvalidArchive, match=message):
        open_context(io.BytesIO(make_tar([("Dockerfile", None, b"FROM scratch\n"), *entries])), tmp_dir=tmp_path)
    assert os.listdir(tmp_path) == []
    assert not (tmp_path.parent / "evil").exists()


def test_write_through_a_symlink_stays_inside(tmp_path: Path) -> None:
    # Docker untars a context chrooted into it: `lnk -> /` then `lnk/evil` lands at <ctx>/evil.
    ctx = open_context(io.BytesIO(make_tar([("Dockerfile", None, b"FROM scratch\n"),
                                            ("lnk", tarfile.SYMTYPE, b"/"), ("lnk/evil", None, b"x")])),
                       tmp_dir=tmp_path)
    with ctx:
        assert (ctx.root / "evil").read_bytes() == b"x"
    assert not (tmp_path.parent / "evil").exists() and not Path("/evil").exists()


def test_directory_replaced_by_symlink_is_not_chmodded_through(tmp_path: Path) -> None:
    # The modes of directories are applied last; by then "a" is a symlink to outside.
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    os.chmod(outside / "b", 0o700)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind in (("a/", tarfile.DIRTYPE), ("a/b/", tarfile.DIRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o777
            archive.addfile(info)
        link = tarfile.TarInfo("a")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        archive.addfile(link)
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context_tar(io.BytesIO(out.getvalue()), dest)
    assert os.readlink(dest / "a") == str(outside)
    assert (outside / "b").stat().st_mode & 0o777 == 0o700


def test_truncated_and_corrupt_tars(tmp_path: Path) -> None:
    data = make_tar([("Dockerfile", None, b"FROM scratch\n"), ("big", None, b"x" * 5000)])
    with pytest.raises(InvalidArchive):
        open_context(io.BytesIO(data[:1536]), tmp_dir=tmp_path)
    with pytest.raises(InvalidArchive):
        open_context(io.BytesIO(igzip.compress(data)[:-20]), tmp_dir=tmp_path)
    assert os.listdir(tmp_path) == []


def test_extract_replaces_duplicates(tmp_path: Path) -> None:
    data = make_tar([
        ("a", None, b"first"), ("a", None, b"second"), ("d/", tarfile.DIRTYPE, b""), ("d/", tarfile.DIRTYPE, b""),
    ])
    extract_context_tar(io.BytesIO(data), tmp_path)
    assert (tmp_path / "a").read_bytes() == b"second" and (tmp_path / "d").is_dir()


def test_build_context_write_tar_keeps_build_files(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "*\n", "x": "x"})
    bc = open_context(ctx)
    out = io.BytesIO()
    bc.write_tar(out)
    assert [m.name for m in tar_members(out.getvalue())] == [".dockerignore", "Dockerfile"]
    assert isinstance(bc, BuildContext)
