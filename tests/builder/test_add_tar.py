"""ADD of a local tar archive read by the project's one tar reader (issue 16.6).

It used the stdlib's `tarfile`: a PAX header of digits sent CPython 3.11.7's header regex into
quadratic backtracking (CVE-2024-6232: minutes for a few hundred bytes of gzip), PAX headers were
read whole into memory, sparse files were expanded (10 KB -> a 2 GB layer), and `.wh.` entries
went into the layer, where they are deletions. Now the archive gets the limits of load and
import, and whiteout names are refused. What Docker 20.10's classic builder does with them is
checked on dockerd: `ADD x.tar /` with `.wh.etc` deletes the image's /etc, and the image it
makes cannot even be saved (its tar-split holds a file its layer turned into a whiteout).
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.archive.fstree import remove_path
from tests.archive.test_deep import nested_tar
from tests.conftest import Dockyard


def _tar(*members: tuple[str, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _build(dockyard: Dockyard, ctx: Path, dockerfile: str, *args: str):  # noqa: ANN202
    (ctx / "Dockerfile").write_text(dockerfile)
    return dockyard("build", *args, str(ctx), check=False, timeout=300)


WHITEOUTS = _tar((".wh.etc", b""), ("foo/.wh.bar", b"hi"), ("keep", b"k"))
WHITEOUT_DOCKERFILE = "FROM busybox\nRUN mkdir -p /foo && echo b > /foo/bar\nADD x.tar /\nRUN cat /etc/passwd /foo/bar\n"


def test_whiteout_names_in_docker_delete_and_break_save(dockerd, tmp_path: Path) -> None:
    """The reference: dockerd 20.10 builds it, /etc/passwd and /foo/bar are gone in the next
    step, and `docker save` of the image fails."""
    (tmp_path / "x.tar").write_bytes(WHITEOUTS)
    (tmp_path / "Dockerfile").write_text(WHITEOUT_DOCKERFILE)
    r = dockerd("build", "-t", "add-whiteouts", str(tmp_path), check=False)
    try:
        assert r.returncode == 1                                   # the RUN after the ADD
        assert "cat: can't open '/etc/passwd': No such file or directory" in r.stderr + r.stdout
        assert "cat: can't open '/foo/bar': No such file or directory" in r.stderr + r.stdout
        (tmp_path / "Dockerfile").write_text(WHITEOUT_DOCKERFILE.rsplit("RUN", 1)[0])
        dockerd("build", "-t", "add-whiteouts", str(tmp_path))
        saved = dockerd("save", "-o", str(tmp_path / "saved.tar"), "add-whiteouts", check=False)
        assert saved.returncode == 1 and "no such file or directory" in saved.stderr, saved.stderr
    finally:
        dockerd("rmi", "-f", "add-whiteouts", check=False)
        dockerd("image", "prune", "-f", check=False)


def test_whiteout_names_refused(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(WHITEOUTS)
    r = _build(dockyard, tmp_path, WHITEOUT_DOCKERFILE, "-t", "add-whiteouts")
    assert r.returncode == 1
    assert r.stderr.rstrip().splitlines()[-1] == (
        "Error: failed to extract x.tar: '.wh.etc' is a whiteout name: a layer cannot hold it as a "
        "file (it would delete what it names)"), r.stderr
    assert dockyard("images", "-q", "add-whiteouts").stdout == ""
    assert "root:x:0:0" in dockyard("run", "--rm", "busybox", "cat", "/etc/passwd").stdout


def test_pax_redos_header_refused_at_once(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """CVE-2024-6232's shape: a PAX header of 200,000 digits (~300 bytes gzipped; the stdlib
    reader of Python 3.11.7 spends minutes on it). Refused as a malformed record, at once."""
    digits = b"1" * 200_000
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, len(digits)
    raw = pax.tobuf(tarfile.USTAR_FORMAT) + digits + bytes(-len(digits) % 512) + _tar(("x", b"x"))
    (tmp_path / "x.tar.gz").write_bytes(gzip.compress(raw))
    assert (tmp_path / "x.tar.gz").stat().st_size < 2000
    r = _build(dockyard, tmp_path, "FROM busybox\nADD x.tar.gz /\n")
    assert r.returncode == 1
    assert "Error: failed to extract x.tar.gz: invalid PAX header: bad record length" in r.stderr, r.stderr


def test_huge_pax_header_refused(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """A 2 MiB PAX header (the stdlib read it whole: 1 MB took 2.1 GB RSS) is refused unread
    past Go's 1 MiB limit."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "c" * (2 << 20)}
        tar.addfile(info)
    (tmp_path / "x.tar.gz").write_bytes(gzip.compress(buf.getvalue()))
    r = _build(dockyard, tmp_path, "FROM busybox\nADD x.tar.gz /\n")
    assert r.returncode == 1
    assert "failed to extract x.tar.gz: invalid tar: PAX header of" in r.stderr, r.stderr
    assert "exceed 1048576 bytes" in r.stderr


def test_sparse_file_refused(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """GNU tar --sparse of a 2 GiB hole: 10 KB of tar, which an expanding reader turns into a
    2 GiB layer."""
    hole = tmp_path / "hole"
    with open(hole, "wb") as f:
        f.truncate(2 << 30)
    subprocess.run(["tar", "--sparse", "-cf", str(tmp_path / "x.tar"), "-C", str(tmp_path), "hole"], check=True)
    os.unlink(hole)
    assert (tmp_path / "x.tar").stat().st_size < 64 << 10
    r = _build(dockyard, tmp_path, "FROM busybox\nADD x.tar /\n")
    assert r.returncode == 1
    assert "failed to extract x.tar: 'hole': sparse files are not supported" in r.stderr, r.stderr
    assert not list((dockyard.root / "tmp").iterdir())


def test_metadata_bomb_refused(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """The limits of load and import hold for ADD: 6 bytes of file, 17 MiB of zeros after it."""
    (tmp_path / "x.tar.gz").write_bytes(gzip.compress(_tar(("f", b"hello\n")) + bytes(17 << 20)))
    r = _build(dockyard, tmp_path, "FROM busybox\nADD x.tar.gz /\n")
    assert r.returncode == 1
    assert "failed to extract x.tar.gz: invalid tar: more than" in r.stderr, r.stderr


def test_deep_archive_is_added(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """2,000 nested directories: each entry's parents are looked up to the first one written
    (it was every ancestor of every entry), and the layer is applied by descriptors."""
    (tmp_path / "deep.tar.gz").write_bytes(gzip.compress(nested_tar()))
    try:
        r = _build(dockyard, tmp_path, "FROM busybox\nADD deep.tar.gz /deep/\n", "-t", "deep")
        assert r.returncode == 0, r.stderr
        assert dockyard("image", "inspect", "-f", "{{.Size}}", "deep").stdout.strip() != ""
    finally:
        # the layer's unpacked tree is 2,000 directories deep: pytest's removal of old temp
        # folders (shutil.rmtree, recursive) failed on it at the end of every later session
        remove_path(dockyard.root / "layers")


def test_image_symlink_is_not_followed_to_the_host(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    """The image has /lnk -> a host directory; the archive has lnk/sub/f. The layer's lnk/ and
    lnk/sub/ are new directories (0755): what the host has at that path is never looked at (its
    mode used to be copied into the layer)."""
    host = tmp_path / "hostdir"
    (host / "sub").mkdir(parents=True)
    os.chmod(host / "sub", 0o701)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "x.tar").write_bytes(_tar(("lnk/sub/f", b"f")))
    r = _build(dockyard, ctx, f"FROM busybox\nRUN ln -s {host} /lnk\nADD x.tar /\n", "-t", "lnk")
    assert r.returncode == 0, r.stderr
    out = dockyard("run", "--rm", "lnk", "stat", "-c", "%a %n", "/lnk", "/lnk/sub", "/lnk/sub/f").stdout
    assert out.splitlines() == ["755 /lnk", "755 /lnk/sub", "644 /lnk/sub/f"]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_ordinary_archive_still_added(dockyard: Dockyard, busybox: str, tmp_path: Path, fmt: int) -> None:
    (tmp_path / "x.tar").write_bytes(_tar(("d/" + "long" * 40, b"content"), ("top", b"t"), fmt=fmt))
    r = _build(dockyard, tmp_path, "FROM busybox\nADD x.tar /add/\n", "-t", "ok")
    assert r.returncode == 0, r.stderr
    assert dockyard("run", "--rm", "ok", "cat", "/add/d/" + "long" * 40, "/add/top").stdout == "contentt"
