"""archive/diff.py's ustar header blocks (Go's archive/tar layout, what every layer dockyard
writes is hashed over): the block built from its fields at once is, byte for byte, the block
laid out field by field with its checksum summed over all 512 bytes, on each side of every
numeric field's limit; tarfile reads it back."""

from __future__ import annotations

import itertools
import tarfile

import pytest

from dockyard.archive.diff import DIR, REG, SYM, Header, _ustar_block, encode_header


def _octal(value: int, width: int) -> bytes:
    if value < 0 or value >= 8 ** (width - 1):
        return b"0" * (width - 1) + b"\0"
    return b"%0*o\0" % (width - 1, value)


def _field_by_field(name: bytes, typ: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
                    linkname: bytes, devmajor: int, devminor: int) -> bytes:
    blk = bytearray(512)
    blk[0:100] = name[:100].ljust(100, b"\0")
    blk[100:108], blk[108:116], blk[116:124] = _octal(mode, 8), _octal(uid, 8), _octal(gid, 8)
    blk[124:136], blk[136:148] = _octal(size, 12), _octal(mtime, 12)
    blk[148:156] = b" " * 8
    blk[156:157] = typ
    blk[157:257] = linkname[:100].ljust(100, b"\0")
    blk[257:265] = b"ustar\x0000"
    if typ not in (b"x", b"g"):
        blk[329:337], blk[337:345] = _octal(devmajor, 8), _octal(devminor, 8)
    blk[148:155] = b"%06o\0" % sum(blk)
    return bytes(blk)


LIMIT8, LIMIT12 = 8 ** 7, 8 ** 11


@pytest.mark.parametrize("field,limit", [(0, LIMIT8), (1, LIMIT8), (2, LIMIT8), (3, LIMIT12), (4, LIMIT12),
                                         (5, LIMIT8), (6, LIMIT8)],
                         ids=["mode", "uid", "gid", "size", "mtime", "devmajor", "devminor"])
def test_blocks_on_each_side_of_a_limit(field: int, limit: int) -> None:
    for value, typ, (name, link) in itertools.product(
            [0, 1, limit - 1, limit, limit + 1, -1], [REG, DIR, SYM, b"3", b"x"],
            [(b"a", b""), (b"n" * 100, b"l" * 100), (b"n" * 120, b"l" * 130)]):
        numbers = [0o644, 1000, 1000, 5, 1_700_000_000, 3, 4]
        numbers[field] = value
        mode, uid, gid, size, mtime, major, minor = numbers
        args = (name, typ, mode, uid, gid, size, mtime, link, major, minor)
        assert _ustar_block(*args) == _field_by_field(*args), args


def test_tarfile_reads_the_header_back(tmp_path) -> None:  # noqa: ANN001
    for h in [Header("a/b", REG, 0o100644, 1000, 1001, 12345, 1_700_000_000),
              Header("d/", DIR, 0o40755, 0, 0, 0, 0),
              Header("x" * 150, REG, 0o100600, 2 ** 22, 3, 8 ** 11, -5),   # PAX path, uid, size, mtime
              Header("s", SYM, 0o120777, 0, 0, 0, 1, linkname="t" * 120)]:
        head = encode_header(h)
        info = tarfile.TarInfo.frombuf(head[-512:], "utf-8", "surrogateescape")   # its checksum holds
        assert (info.mode, info.type) == (h.mode, h.type)   # Go keeps the type bits in the mode field
        archive = tmp_path / "one.tar"   # the header, then its body and the end as a hole
        with open(archive, "wb") as f:    # (the 8 GiB body of a size at the limit is no allocation)
            f.write(head)
            f.truncate(len(head) + h.size + -h.size % 512 + 1024)
        with tarfile.open(archive) as t:
            [member] = t.getmembers()
        assert (member.name.rstrip("/"), member.uid, member.gid, member.size, member.mtime, member.linkname) == \
            (h.name.rstrip("/"), h.uid, h.gid, h.size, h.mtime, h.linkname)
