"""write_overlay_diff / write_tree -> apply_layer round trips and the tar format we write."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from pathlib import Path


from dockyard.archive.apply import apply_layer
from dockyard.archive.compression import compressing_writer, open_decompressed
from dockyard.archive.diff import write_overlay_diff, write_tree
from dockyard.digest import HashingReader

from .conftest import snapshot

T1, T2 = 1_600_000_000, 1_700_000_000


def make_upper(root: Path) -> None:
    """A hand-made overlay upper dir with every kind of entry a layer can hold."""
    root.mkdir(exist_ok=True)
    (root / "etc").mkdir(mode=0o750)
    (root / "etc" / "conf").write_bytes(b"key=value\n")
    os.chown(root / "etc" / "conf", 1234, 5678)
    (root / "bin").mkdir()
    ping = root / "bin" / "ping"
    ping.write_bytes(os.urandom(70_000))
    os.chown(ping, 0, 0)
    os.chmod(ping, 0o4755)
    os.setxattr(ping, "security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12))
    os.setxattr(ping, "user.note", b"\xff\x00binary")
    os.link(ping, root / "bin" / "ping-hardlink")
    os.symlink("/etc/conf", root / "abs-link")
    os.symlink("../etc/conf", root / "bin" / "rel-link")
    os.chown(root / "bin" / "rel-link", 42, 43, follow_symlinks=False)
    os.mkfifo(root / "fifo", 0o640)
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "deleted", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # whiteout
    (root / "opaque").mkdir(mode=0o711)
    os.setxattr(root / "opaque", "trusted.overlay.opaque", b"y")
    (root / "opaque" / "kept").write_text("new content")
    (root / "sticky").mkdir(mode=0o1777)
    os.chmod(root / "sticky", 0o1777)
    (root / "empty").write_bytes(b"")
    deep = root / ("d" * 60) / ("e" * 60) / ("f" * 60)
    deep.mkdir(parents=True)
    (deep / ("long-name-" * 12)).write_text("deep")
    (root / "unicodé-naïve").write_text("utf8 name")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (T1, T1), follow_symlinks=False)
        os.utime(dirpath, (T2, T2))


def test_overlay_diff_round_trip(tmp_path: Path) -> None:
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    make_upper(upper)
    dest.mkdir()
    buf = io.BytesIO()
    write_overlay_diff(upper, buf)
    size = apply_layer(io.BytesIO(buf.getvalue()), dest, whiteout_format="overlay", allow_devices=True)
    assert snapshot(dest) == snapshot(upper)
    # Docker's layer size (overlay2 ApplyDiff -> directory.Size of the diff dir; checked against
    # `docker history` of a committed layer): file bytes once per inode + symlink target lengths.
    files = 10 + 70_000 + len("new content") + len("deep") + len("utf8 name")
    assert size == files + len("/etc/conf") + len("../etc/conf")


def test_whiteouts_written_in_oci_form(tmp_path: Path) -> None:
    """Docker's overlayWhiteoutConverter.ConvertWrite: char 0/0 -> `.wh.NAME` regular file mode
    0600; opaque dir -> `DIR/.wh..wh..opq` right after the dir, mtime 0; no trusted.overlay.*."""
    upper = tmp_path / "upper"
    make_upper(upper)
    buf = io.BytesIO()
    write_overlay_diff(upper, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        members = {m.name: m for m in tar}
        names = [m.name for m in tar.getmembers()]
    wh = members[".wh.deleted"]
    assert wh.isreg() and wh.size == 0 and wh.mode == 0o600 and wh.mtime == T1
    opq = members["opaque/.wh..wh..opq"]
    assert opq.isreg() and opq.size == 0 and opq.mode == 0o711 and opq.mtime == 0
    assert names.index("opaque/.wh..wh..opq") == names.index("opaque") + 1
    assert "deleted" not in members
    for m in members.values():
        assert not any(k.startswith("SCHILY.xattr.trusted.") for k in m.pax_headers)
    assert members["bin/ping"].pax_headers["SCHILY.xattr.security.capability"].encode(
        "utf-8", "surrogateescape").startswith(b"\x01\x00\x00\x02")


def test_header_conventions_match_docker(tmp_path: Path) -> None:
    """Like moby's TarWithOptions (overlay2 Diff, docker export): no root entry, no "./", dirs end
    with "/", empty uname/gname, ustar magic, walk order (per-dir bytewise sort, parents first),
    hard links to the first path, whole-second mtimes, two zero blocks at the end."""
    upper = tmp_path / "upper"
    make_upper(upper)
    (upper / "a-b").write_text("x")  # '-' sorts before '/': walk order is not full-path order
    (upper / "a").mkdir()
    (upper / "a" / "z").write_text("x")
    out = tmp_path / "layer.tar"
    with open(out, "wb") as f:
        write_overlay_diff(upper, f)
    data = out.read_bytes()
    assert len(data) % 512 == 0 and data[-1024:] == bytes(1024) and data[-1536:-1024] != bytes(512)
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    raw_names = []
    pos = 0
    while data[pos : pos + 512] != bytes(512):
        hdr = data[pos : pos + 512]
        assert hdr[257:265] == b"ustar\x0000"
        assert hdr[265:297] == bytes(32) and hdr[297:329] == bytes(32)  # uname, gname empty
        size = int(hdr[124:136].strip(b"\0 ") or b"0", 8)
        if hdr[156:157] in (b"0", b"1", b"2", b"3", b"4", b"5", b"6"):
            raw_names.append(hdr[0:100].rstrip(b"\0").decode("utf-8", "replace"))
        pos += 512 + (size + 511) // 512 * 512
    assert "a/" in raw_names and "etc/" in raw_names
    assert not any(n.startswith(("./", "/")) for n in raw_names)
    names = [m.name for m in members]
    assert names.index("a") < names.index("a/z") < names.index("a-b")
    assert names[:3] == ["a", "a/z", "a-b"]
    link = next(m for m in members if m.name == "bin/ping-hardlink")
    assert link.islnk() and link.linkname == "bin/ping" and link.size == 0
    assert all(m.uname == "" and m.gname == "" for m in members)
    assert next(m for m in members if m.name == "bin/rel-link").uid == 42


def test_output_is_deterministic_and_sendfile_equals_buffered(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    make_upper(upper)
    a, b = io.BytesIO(), io.BytesIO()
    write_tree(upper, a)
    write_tree(upper, b)
    with open(tmp_path / "t.tar", "wb") as f:  # a real file: bodies go through sendfile(2)
        f.write(b"")
        write_tree(upper, f)
    assert a.getvalue() == b.getvalue() == (tmp_path / "t.tar").read_bytes()


def test_write_tree_keeps_devices_as_devices(tmp_path: Path) -> None:
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    make_upper(upper)
    dest.mkdir()
    buf = io.BytesIO()
    write_tree(upper, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = tar.getnames()
    assert "deleted" in names and ".wh.deleted" not in names
    assert "opaque/.wh..wh..opq" not in names
    apply_layer(io.BytesIO(buf.getvalue()), dest, allow_devices=True)
    st = os.lstat(dest / "deleted")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert "trusted.overlay.opaque" not in os.listxattr(dest / "opaque")


def test_sockets_are_skipped(tmp_path: Path) -> None:
    import socket

    root = tmp_path / "root"
    root.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "sock"))
    (root / "file").write_text("x")
    buf = io.BytesIO()
    write_tree(root, buf)
    s.close()
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        assert tar.getnames() == ["file"]


def test_compressed_layer_round_trip_and_whole_stream_hashed(tmp_path: Path) -> None:
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    make_upper(upper)
    dest.mkdir()
    plain = io.BytesIO()
    write_overlay_diff(upper, plain)
    blob = io.BytesIO()
    w = compressing_writer(blob, "gzip")
    w.write(plain.getvalue())
    w.close()
    reader = HashingReader(open_decompressed(io.BytesIO(blob.getvalue())))
    apply_layer(reader, dest, allow_devices=True)  # type: ignore[arg-type]
    assert reader.size == len(plain.getvalue()), "apply must read the tar to its very end"
    assert snapshot(dest) == snapshot(upper)


def test_python_tarfile_layer_with_record_padding_is_drained(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:  # pads the archive to 10240 bytes
        info = tarfile.TarInfo("hello")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"world"))
    reader = HashingReader(io.BytesIO(buf.getvalue()))
    assert apply_layer(reader, tmp_path, whiteout_format="naive") == 5  # type: ignore[arg-type]
    assert reader.size == len(buf.getvalue()) == 10240
    assert (tmp_path / "hello").read_bytes() == b"world"


def test_gnu_format_tar_from_gnu_tar(tmp_path: Path) -> None:
    """GNU tar (`--format=gnu`) long names and links (././@LongLink) are read."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    deep = src / ("x" * 90) / ("y" * 90)
    deep.mkdir(parents=True)
    (deep / "file").write_text("gnu")
    os.symlink("/" + "t" * 150, deep / "link")
    dest.mkdir()
    tarball = tmp_path / "gnu.tar"
    import subprocess

    subprocess.run(["tar", "--format=gnu", "-cf", str(tarball), "-C", str(src), "."], check=True)
    with open(tarball, "rb") as f:
        apply_layer(f, dest)  # type: ignore[arg-type]
    assert (dest / ("x" * 90) / ("y" * 90) / "file").read_text() == "gnu"
    assert os.readlink(dest / ("x" * 90) / ("y" * 90) / "link") == "/" + "t" * 150


def test_apply_replaces_existing_but_merges_directories(tmp_path: Path) -> None:
    """createTarFile: an existing path is removed, unless both are directories."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "dir").mkdir()
    (dest / "dir" / "old").write_text("old")
    (dest / "file-to-dir").write_text("f")
    (dest / "dir-to-file").mkdir()
    (dest / "dir-to-file" / "x").write_text("x")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in (("dir", tarfile.DIRTYPE), ("file-to-dir", tarfile.DIRTYPE),
                           ("dir-to-file", tarfile.REGTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o700
            tar.addfile(info)
    apply_layer(io.BytesIO(buf.getvalue()), dest)
    assert (dest / "dir" / "old").read_text() == "old"
    assert (dest / "file-to-dir").is_dir()
    assert (dest / "dir-to-file").is_file()


def test_naive_whiteouts_flatten(tmp_path: Path) -> None:
    """naive format = what Docker's AUFS-format unpack does on a plain directory."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "gone").write_text("x")
    (dest / "gonedir").mkdir()
    (dest / "gonedir" / "inner").write_text("x")
    (dest / "opq").mkdir()
    (dest / "opq" / "lower-file").write_text("x")
    (dest / "opq" / "sub").mkdir()
    (dest / "opq" / "sub" / "lower-deep").write_text("x")
    (dest / "keep").write_text("x")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"") -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        add(".wh.gone")
        add(".wh.gonedir")
        add("opq", tarfile.DIRTYPE)
        add("opq/.wh..wh..opq")
        add("opq/sub", tarfile.DIRTYPE)
        add("opq/sub/new", data=b"new")
        add("opq/new-file", data=b"new")
        add(".wh..wh.plnk/123")  # AUFS metadata: ignored
    apply_layer(io.BytesIO(buf.getvalue()), dest, whiteout_format="naive")
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "keep", "opq", "opq/new-file", "opq/sub", "opq/sub/new"]


def test_overlay_whiteouts_become_char_devices_and_xattr(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("dir/.wh.gone", "dir/sub/.wh..wh..opq"):
            info = tarfile.TarInfo(name)
            info.uid = 7
            tar.addfile(info)
    apply_layer(io.BytesIO(buf.getvalue()), dest, allow_devices=False)
    st = os.lstat(dest / "dir" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and st.st_uid == 7
    assert os.getxattr(dest / "dir" / "sub", "trusted.overlay.opaque") == b"y"
    assert not (dest / "dir" / "sub" / ".wh..wh..opq").exists()


def test_hard_link_to_symlink_links_the_symlink(tmp_path: Path) -> None:
    """Go's os.Link (linkat without AT_SYMLINK_FOLLOW) links the symlink itself."""
    dest = tmp_path / "dest"
    dest.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        s = tarfile.TarInfo("sym")
        s.type, s.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(s)
        h = tarfile.TarInfo("hard")
        h.type, h.linkname = tarfile.LNKTYPE, "sym"
        tar.addfile(h)
    apply_layer(io.BytesIO(buf.getvalue()), dest)
    assert os.path.islink(dest / "hard") and os.readlink(dest / "hard") == "/etc/passwd"
    assert os.lstat(dest / "hard").st_ino == os.lstat(dest / "sym").st_ino


def test_large_tree_bounded(tmp_path: Path) -> None:
    """Many files, a big file: streams without keeping bodies in memory."""
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    for i in range(300):
        (upper / f"f{i:03d}").write_bytes(os.urandom(100) * (i + 1))
    with open(upper / "big", "wb") as f:
        f.truncate(32 << 20)
    with open(tmp_path / "t.tar", "wb") as f:
        write_tree(upper, f)
    with open(tmp_path / "t.tar", "rb") as f:
        apply_layer(f, dest)  # type: ignore[arg-type]
    assert snapshot(dest) == snapshot(upper)
    shutil.rmtree(dest)


def raw_headers(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data) and data[pos : pos + 512] != bytes(512):
        hdr = data[pos : pos + 512]
        out.append(hdr)
        size = int(hdr[124:136].strip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
    return out


def test_raw_header_bytes_match_docker_commit(tmp_path: Path) -> None:
    """Facts checked against a real `docker commit` layer (dockerd 20.10, overlay2; our tar was
    byte-identical to Docker's for the same upper dir except uname/gname, which Docker >= 23 leaves
    empty too): the mode field carries Go's file type bits; PAX extended headers are named
    path.Join(dir, "PaxHeaders.0", file) (truncated to 100 bytes), have NUL dev fields and zero
    mode/owner/mtime; other entries have "0000000\\0" dev fields."""
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "d").mkdir()
    (upper / "d" / "f").write_text("x")
    long = "n" * 120
    (upper / "d" / long).write_text("y")
    buf = io.BytesIO()
    write_overlay_diff(upper, buf)
    hdrs = {h[0:100].rstrip(b"\0"): h for h in raw_headers(buf.getvalue())}
    assert hdrs[b"d/"][100:108] == b"0040755\0"
    assert hdrs[b"d/f"][100:108] == b"0100644\0"
    assert hdrs[b"d/f"][329:345] == b"0000000\0" * 2
    pax = hdrs[b"d/PaxHeaders.0/" + b"n" * 85]
    assert pax[156:157] == b"x" and pax[329:345] == bytes(16)
    assert pax[100:148] == b"0000000\0" * 3 + pax[124:136] + b"00000000000\0"


def test_hardlinked_whiteouts_keep_docker_quirk(tmp_path: Path) -> None:
    """Recent overlayfs hard-links whiteouts to one shared inode. Docker's addTarFile then marks
    the second one as a link and ConvertWrite turns it back into a regular `.wh.` file but leaves
    Linkname set (seen in a real docker commit layer). Extraction ignores it."""
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    os.mknod(upper / "a", stat.S_IFCHR, 0)
    os.link(upper / "a", upper / "b")
    buf = io.BytesIO()
    write_overlay_diff(upper, buf)
    hdrs = raw_headers(buf.getvalue())
    assert [h[0:100].rstrip(b"\0") for h in hdrs] == [b".wh.a", b".wh.b"]
    assert all(h[156:157] == b"0" and h[100:108] == b"0000600\0" for h in hdrs)
    assert hdrs[1][157:257].rstrip(b"\0") == b"a"
    apply_layer(io.BytesIO(buf.getvalue()), dest, whiteout_format="overlay")
    for name in ("a", "b"):
        st = os.lstat(dest / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_untar_mode_keeps_wh_files_and_owner_override(tmp_path: Path) -> None:
    """whiteout_format="none" is Docker's Untar (ADD of a local tar): `.wh.` names are files;
    owner=(uid, gid) is ADD --chown."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "x").write_text("still here")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((".wh.x", b"literal"), ("d/.wh..wh..opq", b""), ("owned", b"o")):
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid = len(data), 5, 6
            tar.addfile(info, io.BytesIO(data))
    apply_layer(io.BytesIO(buf.getvalue()), dest, whiteout_format="none", owner=(1000, 1001))
    assert (dest / "x").read_text() == "still here"
    assert (dest / ".wh.x").read_bytes() == b"literal"
    assert (dest / "d" / ".wh..wh..opq").exists()
    st = os.lstat(dest / "owned")
    assert (st.st_uid, st.st_gid) == (1000, 1001)


def test_large_files_are_preallocated_as_big_as_their_entries(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """apply_layer reserves a file's blocks from its header's size before its body is written
    (atomic.preallocate: one fallocate(2), FALLOC_FL_KEEP_SIZE, for each file of at least
    PREALLOCATE_MIN, none for a smaller one); the tree is the same."""
    from dockyard import atomic

    upper, dest = tmp_path / "upper", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    (upper / "small").write_bytes(os.urandom(atomic.PREALLOCATE_MIN - 1))
    (upper / "large").write_bytes(os.urandom(3 << 20))
    (upper / "edge").write_bytes(os.urandom(atomic.PREALLOCATE_MIN))
    with open(tmp_path / "t.tar", "wb") as f:
        write_tree(upper, f)
    from tests.store.test_writeback import recording

    seen = recording(monkeypatch, "_fallocate", atomic._fallocator(), lambda fd, mode, o, n: (mode, o, n))
    with open(tmp_path / "t.tar", "rb") as f:
        apply_layer(f, dest)  # type: ignore[arg-type]
    assert sorted(seen) == [(1, 0, atomic.PREALLOCATE_MIN), (1, 0, 3 << 20)]
    assert snapshot(dest) == snapshot(upper)
