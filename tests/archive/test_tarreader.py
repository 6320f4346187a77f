"""The sequential tar reader on the formats found in the wild (ustar, GNU, PAX, v7)."""

from __future__ import annotations

import io
import tarfile

import pytest

from dockyard.archive.diff import REG, Header, encode_header
from dockyard.archive.tarreader import DIR, SYM, TarReader, parse_pax
from dockyard.errors import InvalidArchive


def entries(data: bytes) -> list[tuple[str, bytes, int, int, int, int, str, bytes]]:
    reader = TarReader(io.BytesIO(data))
    out = []
    for e in reader:
        body = b""
        while chunk := reader.read_body(7):
            body += bytes(chunk)
        out.append((e.name, e.type, e.mode, e.uid, e.size, e.mtime_ns, e.linkname, body))
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_python_tarfile_formats(fmt: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        d = tarfile.TarInfo("dir/" + "p" * 100)  # ustar: stored with the prefix field
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1000
        tar.addfile(d)
        f = tarfile.TarInfo("dir/" + "p" * 100 + "/file")
        f.size, f.mode, f.uid, f.mtime = 11, 0o4755, 1234, 2000
        tar.addfile(f, io.BytesIO(b"hello world"))
        s = tarfile.TarInfo("link")
        s.type, s.linkname = tarfile.SYMTYPE, "target"
        tar.addfile(s)
    got = entries(buf.getvalue())
    assert got == [
        ("dir/" + "p" * 100 + "/", DIR, 0o755, 0, 0, 1000 * 10**9, "", b""),  # tarfile adds "/"
        ("dir/" + "p" * 100 + "/file", REG, 0o4755, 1234, 11, 2000 * 10**9, "", b"hello world"),
        ("link", SYM, 0o644, 0, 0, 0, "target", b""),
    ]


def test_gnu_long_names_and_base256_numbers() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        f = tarfile.TarInfo("n" * 300)
        f.type, f.linkname = tarfile.SYMTYPE, "t" * 300
        f.uid = 3_000_000_000  # does not fit octal: base-256
        f.mtime = -5
        tar.addfile(f)
    [(name, typ, _, uid, _, mtime, link, _)] = entries(buf.getvalue())
    assert (name, typ, uid, mtime, link) == ("n" * 300, SYM, 3_000_000_000, -5 * 10**9, "t" * 300)


def test_pax_records_override_and_subsecond_times() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        f = tarfile.TarInfo("ünïcode/" + "x" * 120)
        f.mtime = 1234.5
        f.uid = 3_000_000
        f.pax_headers = {"SCHILY.xattr.user.a": "b", "atime": "99.25"}
        tar.addfile(f)
    reader = TarReader(io.BytesIO(buf.getvalue()))
    [e] = list(reader)
    assert e.name == "ünïcode/" + "x" * 120
    assert e.mtime_ns == 1_234_500_000_000 and e.atime_ns == 99_250_000_000
    assert e.uid == 3_000_000 and e.xattrs == {"user.a": b"b"}


def test_our_writer_round_trips_through_our_reader() -> None:
    h = Header(name="a/" + "é" * 80, type=REG, mode=0o100600, uid=2**22, gid=7, size=3,
               mtime=-1, xattrs={"security.capability": b"\x00\xff"})
    data = encode_header(h) + b"abc" + bytes(509) + bytes(1024)
    [e] = list(TarReader(io.BytesIO(data)))
    assert (e.name, e.mode, e.uid, e.gid, e.size, e.mtime_ns) == (h.name, 0o600, 2**22, 7, 3, -10**9)
    assert e.xattrs == {"security.capability": b"\x00\xff"}


def test_global_pax_header_is_skipped_and_v7_dirs() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "global"}) as tar:
        tar.addfile(tarfile.TarInfo("only"))
    assert [e[0] for e in entries(buf.getvalue())] == ["only"]
    v7 = bytearray(512)
    v7[0:4] = b"old/"
    v7[100:108] = b"0000755\0"
    v7[124:136] = b"00000000000\0"
    v7[136:148] = b"00000000000\0"
    v7[148:156] = b" " * 8
    v7[148:155] = b"%06o\0" % sum(v7)
    assert entries(bytes(v7) + bytes(1024))[0][:2] == ("old/", DIR)


def test_consumed_counts_every_byte() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        f = tarfile.TarInfo("f")
        f.size = 1000
        tar.addfile(f, io.BytesIO(bytes(1000)))
    reader = TarReader(io.BytesIO(buf.getvalue()))
    list(reader)  # bodies not read: skipped
    reader.drain()
    assert reader.consumed == len(buf.getvalue())


@pytest.mark.parametrize("records", [b"5 a=b\n", b"x a=b\n", b"9 ab\n\n\n\n", b"100 a=b\n"])
def test_bad_pax_records(records: bytes) -> None:
    with pytest.raises(InvalidArchive):
        parse_pax(records)


def test_unsupported_entry_type() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        f = tarfile.TarInfo("weird")
        f.type = b"Z"
        tar.addfile(f)
    with pytest.raises(InvalidArchive, match="unsupported tar entry type"):
        entries(buf.getvalue())


def test_end_right_after_the_last_body_is_accepted_partial_padding_is_not() -> None:
    """Go's archive/tar (Docker's reader) takes EOF where the padding would begin as the end of
    the archive — the docker CLI sends such a context for `-f` outside the context — but a
    stream cut inside the padding or the body is truncated."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("Dockerfile")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    data = buf.getvalue()
    reader = TarReader(io.BytesIO(data[:515]))
    bodies = [(e.name, reader.body().read()) for e in reader]
    assert bodies == [("Dockerfile", b"abc")]
    for cut in (514, 600):
        with pytest.raises(InvalidArchive, match="truncated tar"):
            reader = TarReader(io.BytesIO(data[:cut]))
            for _ in reader:
                reader.body().read()


def test_bodies_larger_than_the_first_buffer_read_whole() -> None:
    """The reader starts with a 64 KiB buffer and grows it when a read wants more: a small
    entry, then bodies of 3 MiB + 7 and 64 KiB + 1 read in one call each as far as CHUNK allows,
    and skipped unread, come back byte for byte (and the skip consumes exactly the body)."""
    import os as _os

    from dockyard.archive.tarreader import CHUNK

    bodies = {"small": b"s" * 100, "big": _os.urandom((3 << 20) + 7), "mid": _os.urandom((64 << 10) + 1),
              "skipped": _os.urandom(2 << 20), "last": b"end"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in bodies.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    reader = TarReader(io.BytesIO(buf.getvalue()))
    got = {}
    for e in reader:
        if e.name == "skipped":
            continue
        parts = []
        while chunk := reader.read_body(CHUNK):
            assert len(chunk) == min(CHUNK, e.size - sum(map(len, parts)))
            parts.append(bytes(chunk))
        got[e.name] = b"".join(parts)
    reader.drain()
    assert got == {k: v for k, v in bodies.items() if k != "skipped"}
    assert reader.consumed == len(buf.getvalue())
