"""The tarfile-free header encoder: byte for byte what tarfile's PAX writer makes (digests of layers
and archives already written depend on it), and tarstream no longer loads tarfile."""

from __future__ import annotations

import io
import math
import os
import random
import subprocess
import sys
import tarfile

import pytest

from dockyard.archive import tarheader
from dockyard.archive.tarheader import TarHeader, encode_header
from dockyard.archive.tarstream import TarWriter

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "type", "linkname", "uname", "gname",
          "devmajor", "devminor")
TYPES = [tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
         tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE]
ESCAPED = os.fsdecode(b"\xff")  # a surrogate-escaped byte, as os.listdir gives for non-UTF-8 names


def tobuf(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def as_header(info: tarfile.TarInfo) -> TarHeader:
    return TarHeader(**{f: getattr(info, f) for f in FIELDS})


def _component(rng: random.Random) -> str:
    alphabet = "abcxyz019._-"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
    roll = rng.random()
    if roll < 0.1:
        text += rng.choice(["é", "日本", "ß", "\u00a0", "🐳"])
    elif roll < 0.15:
        text += ESCAPED + os.fsdecode(b"\xc3")
    return text


def _path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:  # around the field widths: 99/100/101 bytes, and what ustar's prefix would take
        length = rng.choice([1, 31, 32, 33, 99, 100, 101, 154, 155, 156, 255, 256, 257, 1000])
        text = "".join(rng.choice("abc/") for _ in range(length)).replace("//", "/a")[:length]
        return text.ljust(length, "z")
    if roll < 0.5:  # deep paths
        return "/".join(_component(rng) for _ in range(rng.randint(10, 40)))
    return "/".join(_component(rng) for _ in range(rng.randint(1, 5)))


def _number(rng: random.Random, limit: int) -> int | float:
    roll = rng.random()
    if roll < 0.4:
        return rng.randrange(0, 5000)
    if roll < 0.7:
        return rng.choice([limit - 1, limit, limit + 1, 2 * limit, 10 ** 20, -1, -limit])
    if roll < 0.85:
        return rng.randrange(-limit * 4, limit * 4)
    return rng.choice([0.0, 0.5, 1.5, 2.5, -0.4, -0.6, 1e9 + 0.25, float(limit) - 0.5,
                       float(limit), 1e20, rng.uniform(-1e6, 1e12)])


def random_info(rng: random.Random) -> tarfile.TarInfo:
    info = tarfile.TarInfo(_path(rng))
    info.type = rng.choice(TYPES)
    if info.type == tarfile.DIRTYPE and rng.random() < 0.5:
        info.name += "/"
    info.mode = rng.choice([0o644, 0o755, 0o4755, 0o100644, 0o40755, 0o7777, 0, rng.randrange(0, 1 << 20)])
    info.uid = _number(rng, 8 ** 7) if rng.random() < 0.5 else 0
    info.gid = _number(rng, 8 ** 7) if rng.random() < 0.5 else 0
    if rng.random() < 0.3:
        info.size = rng.choice([8 ** 11 - 1, 8 ** 11, 8 ** 11 + 1, 8 << 30, (8 << 30) - 1, -1, 12.5])
    else:
        info.size = rng.randrange(0, 1 << 20)
    info.mtime = _number(rng, 8 ** 11)
    if info.type in (tarfile.LNKTYPE, tarfile.SYMTYPE) or rng.random() < 0.1:
        info.linkname = _path(rng)
    if rng.random() < 0.3:
        info.uname = rng.choice(["root", "user", "ü", "x" * 32, "x" * 33, "日本", ESCAPED])
        info.gname = rng.choice(["root", "staff", "ö", "g" * 32, "g" * 40, ""])
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE) or rng.random() < 0.1:
        info.devmajor = rng.choice([0, 1, 8, 259, 8 ** 7 - 1])
        info.devminor = rng.choice([0, 3, 255, 1 << 20])
    return info


def test_same_bytes_as_tarfile_on_generated_headers() -> None:
    rng = random.Random(20240601)
    seen_pax = seen_binary = 0
    for case in range(5000):
        info = random_info(rng)
        expected = tobuf(info)
        assert encode_header(info) == expected, (case, info.get_info())
        assert encode_header(as_header(info)) == expected, (case, info.get_info())
        seen_pax += len(expected) > 512
        seen_binary += b"hdrcharset=BINARY" in expected
    # The generator does reach the PAX paths, including raw-bytes records.
    assert seen_pax > 1000 and seen_binary > 50


@pytest.mark.parametrize("length", [99, 100, 101, 255, 256])
@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE])
def test_name_lengths(length: int, kind: bytes) -> None:
    info = tarfile.TarInfo(("d/" * length)[:length - 1] + "f")
    info.type, info.linkname = kind, "t" * length
    assert encode_header(info) == encode_header(as_header(info)) == tobuf(info)


@pytest.mark.parametrize("name", ["é", "caf" + ESCAPED, ESCAPED * 120, "a/" * 60 + "日本", "dir/"])
def test_unicode_and_escaped_names(name: str) -> None:
    for kind in (tarfile.REGTYPE, tarfile.DIRTYPE):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.uname = info.gname = name[:40]
        assert encode_header(as_header(info)) == tobuf(info)


@pytest.mark.parametrize("attr,value", [
    ("size", 8 << 30), ("size", (8 << 30) - 1), ("size", -1), ("uid", 8 ** 7), ("gid", 2 ** 32 - 1),
    ("mtime", -1), ("mtime", 1.5), ("mtime", 2.5), ("mtime", 1700000000.123456), ("mtime", 8 ** 11),
    ("uid", True),
])
def test_numbers(attr: str, value: int | float) -> None:
    info = tarfile.TarInfo("f")
    setattr(info, attr, value)
    assert encode_header(info) == encode_header(as_header(info)) == tobuf(info)


@pytest.mark.parametrize("nbytes", [*range(85, 100), *range(985, 1000), *range(9985, 10000)])
def test_pax_record_lengths_around_a_new_digit(nbytes: int) -> None:
    # A record starts with its own length: at 99/100 (and 999/1000...) two lengths can be
    # self-consistent, and tarfile writes the smaller one.
    for key in ("path", "linkname", "uname"):
        info = tarfile.TarInfo("f")
        setattr(info, key, "é" + "a" * (nbytes - 2))
        assert encode_header(as_header(info)) == tobuf(info)


def test_device_numbers_only_for_devices() -> None:
    for kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.REGTYPE, tarfile.FIFOTYPE):
        info = tarfile.TarInfo("dev/null")
        info.type, info.devmajor, info.devminor = kind, 1, 3
        assert encode_header(as_header(info)) == tobuf(info)


@pytest.mark.parametrize("kind", [b"7", b"g", b"L", b"", b"55", b"x" * 20])
def test_odd_type_flags(kind: bytes) -> None:
    # tarfile does not check the flag: one of another length shifts the later fields.
    info = tarfile.TarInfo("odd" * 40)
    info.type, info.uname = kind, "ü"
    assert encode_header(as_header(info)) == tobuf(info)


def test_existing_pax_headers_of_a_tarinfo_come_first_and_win() -> None:
    info = tarfile.TarInfo("x" * 150)
    info.mtime = 1.25
    info.pax_headers = {"comment": "hi", "path": "short", "mtime": "7", "SCHILY.xattr.user.k": "v"}
    assert encode_header(info) == tobuf(info)


def test_default_header_is_tarinfos() -> None:
    assert encode_header(TarHeader()) == tobuf(tarfile.TarInfo())
    assert encode_header(TarHeader("a")) == tobuf(tarfile.TarInfo("a"))
    assert TarHeader("a", size=3) == TarHeader("a", size=3) != TarHeader("a")
    for const in ("REGTYPE", "LNKTYPE", "SYMTYPE", "CHRTYPE", "BLKTYPE", "DIRTYPE", "FIFOTYPE"):
        assert getattr(tarheader, const) == getattr(tarfile, const)


def _raises(info: tarfile.TarInfo) -> type[BaseException] | None:
    try:
        tobuf(info)
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return type(e)
    return None


@pytest.mark.parametrize("attr,value", [
    ("devmajor", 8 ** 7), ("devminor", -1), ("mtime", math.nan), ("mtime", math.inf),
    ("uname", None), ("size", None), ("mode", None), ("linkname", None), ("name", "\ud800" * 200),
])
def test_errors_where_tarfile_raises(attr: str, value: object) -> None:
    info = tarfile.TarInfo("f")
    info.type = tarfile.CHRTYPE
    setattr(info, attr, value)
    expected = _raises(info)
    assert expected is not None and issubclass(expected, (ValueError, OverflowError))
    for subject in (info, as_header(info)):
        with pytest.raises(expected):
            encode_header(subject)


def test_writer_output_unchanged() -> None:
    """TarWriter's archive is what the tobuf-based writer wrote (same digests as before)."""
    out = io.BytesIO()
    w = TarWriter(out, mtime=1234)
    w.add_dir("d")
    w.add_bytes("d/" + "n" * 120, b"hello")
    w.add_stream("é", io.BytesIO(b"x" * 700), 700)
    link = tarfile.TarInfo("l")
    link.type, link.linkname = tarfile.SYMTYPE, "d"
    w.add_header(link)
    w.close()

    expected = io.BytesIO()
    for name, kind, mode, body in (("d/", tarfile.DIRTYPE, 0o755, b""), ("d/" + "n" * 120, tarfile.REGTYPE, 0o644, b"hello"),
                                   ("é", tarfile.REGTYPE, 0o644, b"x" * 700)):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.size = kind, mode, 1234, len(body)
        expected.write(tobuf(info) + body + bytes(-len(body) % 512))
    expected.write(tobuf(link) + bytes(1024))
    assert out.getvalue() == expected.getvalue()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.getnames() == ["d", "d/" + "n" * 120, "é", "l"]


def test_tarstream_does_not_import_tarfile() -> None:
    code = "import sys, dockyard.archive.tarstream; print('tarfile' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
