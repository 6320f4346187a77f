"""Hostile and broken layer tars: refused with InvalidArchive, nothing written outside dest."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.apply import apply_layer
from dockyard.archive.compression import open_decompressed
from dockyard.errors import InvalidArchive


def make_tar(*entries: tuple[str, bytes, dict], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """entries: (name, type, fields) where fields may hold data=bytes and TarInfo attributes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, fields in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            data = fields.pop("data", b"")
            info.size = len(data)
            info.mode = 0o644
            for k, v in fields.items():
                setattr(info, k, v)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """(dest, outside): `outside` is a sibling directory that must stay untouched."""
    dest, outside = tmp_path / "box" / "dest", tmp_path / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    (outside / "victim").write_text("original")
    return dest, outside


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def assert_outside_untouched(outside: Path) -> None:
    assert all_files(outside) == ["victim"]
    assert (outside / "victim").read_text() == "original"


def test_dotdot_escape_refused(box: tuple[Path, Path]) -> None:
    """go-archive Unpack: `!filepath.IsLocal(path.Clean(name))` -> breakout error."""
    dest, outside = box
    for name in ("../outside/victim", "a/../../outside/victim", ".."):
        tar = make_tar((name, tarfile.REGTYPE, {"data": b"pwned"}))
        with pytest.raises(InvalidArchive, match="escapes"):
            apply_layer(io.BytesIO(tar), dest)
    assert_outside_untouched(outside)
    assert all_files(dest) == []


def test_absolute_names_land_inside_dest(box: tuple[Path, Path]) -> None:
    """Docker strips the leading "/" (go-archive: `path.Clean(strings.TrimLeft(hdr.Name, "/"))`),
    so "/abs" is extracted as "<dest>/abs" rather than refused."""
    dest, outside = box
    tar = make_tar((str(outside / "victim"), tarfile.REGTYPE, {"data": b"pwned"}),
                   ("/abs", tarfile.REGTYPE, {"data": b"ok"}))
    apply_layer(io.BytesIO(tar), dest)
    assert (dest / "abs").read_bytes() == b"ok"
    assert (dest / str(outside / "victim").lstrip("/")).read_bytes() == b"pwned"
    assert_outside_untouched(outside)


def test_file_below_absolute_symlink_stays_in_root(box: tuple[Path, Path]) -> None:
    """symlink a -> /outside, then a/victim: Docker resolves intermediate symlinks inside the
    root (chroot semantics), so the file lands at <dest>/outside/victim, never outside."""
    dest, outside = box
    tar = make_tar(("a", tarfile.SYMTYPE, {"linkname": str(outside)}),
                   ("a/victim", tarfile.REGTYPE, {"data": b"pwned"}),
                   ("b", tarfile.SYMTYPE, {"linkname": "/etc"}),
                   ("b/passwd", tarfile.REGTYPE, {"data": b"root::0:0::/:/bin/sh\n"}))
    host_passwd = Path("/etc/passwd").read_bytes()
    apply_layer(io.BytesIO(tar), dest)
    assert Path("/etc/passwd").read_bytes() == host_passwd
    assert_outside_untouched(outside)
    assert os.readlink(dest / "a") == str(outside)  # the symlink itself is kept verbatim
    assert (dest / str(outside).lstrip("/") / "victim").read_bytes() == b"pwned"
    assert (dest / "etc" / "passwd").read_bytes().startswith(b"root::")
    assert os.path.islink(dest / "b") and (dest / "etc").is_dir()


def test_self_referencing_symlink_is_a_loop(box: tuple[Path, Path]) -> None:
    """etc -> /etc at the root points at itself inside a chroot: ELOOP, as for Docker."""
    dest, _ = box
    tar = make_tar(("etc", tarfile.SYMTYPE, {"linkname": "/etc"}),
                   ("etc/passwd", tarfile.REGTYPE, {"data": b"x"}))
    with pytest.raises(InvalidArchive, match="symbolic links"):
        apply_layer(io.BytesIO(tar), dest)


def test_file_below_relative_escaping_symlink_stays_in_root(box: tuple[Path, Path]) -> None:
    dest, outside = box
    tar = make_tar(("up", tarfile.SYMTYPE, {"linkname": "../../../../../../../.."}),
                   ("up/outside/victim", tarfile.REGTYPE, {"data": b"pwned"}))
    apply_layer(io.BytesIO(tar), dest)
    assert_outside_untouched(outside)
    assert (dest / "outside" / "victim").read_bytes() == b"pwned"


def test_regular_file_replaces_symlink_instead_of_following_it(box: tuple[Path, Path]) -> None:
    dest, outside = box
    tar = make_tar(("x", tarfile.SYMTYPE, {"linkname": str(outside / "victim")}),
                   ("x", tarfile.REGTYPE, {"data": b"pwned"}))
    apply_layer(io.BytesIO(tar), dest)
    assert_outside_untouched(outside)
    assert not os.path.islink(dest / "x") and (dest / "x").read_bytes() == b"pwned"


def test_metadata_never_follows_symlinks(box: tuple[Path, Path]) -> None:
    dest, outside = box
    before = os.stat(outside / "victim")
    tar = make_tar(("s", tarfile.SYMTYPE, {"linkname": str(outside / "victim"), "uid": 999,
                                            "mtime": 12345}))
    apply_layer(io.BytesIO(tar), dest)
    after = os.stat(outside / "victim")
    assert (after.st_uid, after.st_mode, after.st_mtime) == (before.st_uid, before.st_mode, before.st_mtime)
    assert os.lstat(dest / "s").st_uid == 999


def test_hardlink_escape_refused(box: tuple[Path, Path]) -> None:
    """go-archive: hard link targets must be local after cleaning."""
    dest, outside = box
    tar = make_tar(("h", tarfile.LNKTYPE, {"linkname": "../../outside/victim"}))
    with pytest.raises(InvalidArchive, match="hard link"):
        apply_layer(io.BytesIO(tar), dest)
    assert all_files(dest) == []
    assert os.stat(outside / "victim").st_nlink == 1


def test_hardlink_through_symlink_cannot_reach_outside(box: tuple[Path, Path]) -> None:
    dest, outside = box
    tar = make_tar(("l", tarfile.SYMTYPE, {"linkname": str(outside)}),
                   ("h", tarfile.LNKTYPE, {"linkname": "l/victim"}))
    with pytest.raises(InvalidArchive, match="does not exist"):
        apply_layer(io.BytesIO(tar), dest)
    assert os.stat(outside / "victim").st_nlink == 1
    tar = make_tar(("h", tarfile.LNKTYPE, {"linkname": str(outside / "victim")}))  # absolute
    with pytest.raises(InvalidArchive, match="does not exist"):
        apply_layer(io.BytesIO(tar), dest)
    assert os.stat(outside / "victim").st_nlink == 1


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_only_when_allowed(box: tuple[Path, Path], kind: bytes) -> None:
    dest, _ = box
    tar = make_tar(("dev", kind, {"devmajor": 1, "devminor": 3}))
    with pytest.raises(InvalidArchive, match="'dev'.*not allowed"):
        apply_layer(io.BytesIO(tar), dest, allow_devices=False)
    assert all_files(dest) == []
    apply_layer(io.BytesIO(tar), dest, allow_devices=True)
    st = os.lstat(dest / "dev")
    if kind == tarfile.FIFOTYPE:
        assert stat.S_ISFIFO(st.st_mode)
    else:
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


@pytest.mark.parametrize("cut", [100, 512 + 100, -1024 - 300])
def test_truncated_tar(box: tuple[Path, Path], cut: int) -> None:
    dest, _ = box
    tar = make_tar(("a", tarfile.REGTYPE, {"data": os.urandom(3000)}),
                   ("b", tarfile.REGTYPE, {"data": os.urandom(3000)}), fmt=tarfile.GNU_FORMAT)
    end = len(tar.rstrip(b"\0"))  # drop the end-of-archive blocks too
    data = tar[:cut] if cut > 0 else tar[: end + cut]
    with pytest.raises(InvalidArchive, match="truncated"):
        apply_layer(io.BytesIO(data), dest)


def test_not_a_tar(box: tuple[Path, Path]) -> None:
    dest, _ = box
    with pytest.raises(InvalidArchive, match="checksum"):
        apply_layer(io.BytesIO(b"this is not a tar archive at all" * 40), dest)


def test_corrupt_gzip_layer(box: tuple[Path, Path]) -> None:
    import gzip

    dest, _ = box
    blob = bytearray(gzip.compress(make_tar(("a", tarfile.REGTYPE, {"data": os.urandom(50_000)})), mtime=0))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(InvalidArchive):
        apply_layer(open_decompressed(io.BytesIO(bytes(blob))), dest)


def test_huge_pax_header_refused_without_reading_it(box: tuple[Path, Path]) -> None:
    """Go's archive/tar refuses special headers over 1 MiB (maxSpecialFileSize)."""
    dest, _ = box
    header = bytearray(512)
    header[0:10] = b"PaxHeaders"
    header[100:108] = b"0000644\0"
    header[124:136] = b"%011o\0" % (1 << 40)  # claims 1 TiB of PAX records
    header[156:157] = b"x"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\0" % sum(header)

    class Counting(io.RawIOBase):
        def __init__(self) -> None:
            self.served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # noqa: ANN001
            chunk = bytes(header) if self.served == 0 else bytes(len(buf))
            n = min(len(buf), len(chunk))
            buf[:n] = chunk[:n]
            self.served += n
            return n

    src = Counting()
    with pytest.raises(InvalidArchive, match="PAX header"):
        apply_layer(src, dest)  # type: ignore[arg-type]
    assert src.served <= 2 << 20


def test_sparse_files_refused(box: tuple[Path, Path]) -> None:
    dest, _ = box
    tar = make_tar(("s", b"S", {}), fmt=tarfile.GNU_FORMAT)
    with pytest.raises(InvalidArchive, match="sparse"):
        apply_layer(io.BytesIO(tar), dest)


def test_bad_whiteout_names(box: tuple[Path, Path]) -> None:
    dest, outside = box
    for name in (".wh..", "a/.wh.."):
        with pytest.raises(InvalidArchive):
            apply_layer(io.BytesIO(make_tar((name, tarfile.REGTYPE, {}))), dest, whiteout_format="naive")
    # a whiteout cannot reach outside either: its directory is resolved inside the root
    tar = make_tar(("l", tarfile.SYMTYPE, {"linkname": str(outside)}),
                   ("l/.wh.victim", tarfile.REGTYPE, {}))
    apply_layer(io.BytesIO(tar), dest, whiteout_format="naive")
    assert_outside_untouched(outside)


def test_entry_below_a_regular_file(box: tuple[Path, Path]) -> None:
    dest, _ = box
    tar = make_tar(("f", tarfile.REGTYPE, {"data": b"x"}), ("f/g", tarfile.REGTYPE, {"data": b"y"}))
    with pytest.raises(InvalidArchive, match="not a directory"):
        apply_layer(io.BytesIO(tar), dest)


def test_symlink_loop(box: tuple[Path, Path]) -> None:
    dest, _ = box
    tar = make_tar(("a", tarfile.SYMTYPE, {"linkname": "b"}), ("b", tarfile.SYMTYPE, {"linkname": "a"}),
                   ("a/x", tarfile.REGTYPE, {}))
    with pytest.raises(InvalidArchive, match="symbolic links"):
        apply_layer(io.BytesIO(tar), dest)
