"""Tar header blocks exactly as the stdlib writes them, without importing `tarfile`.

`encode_header(info)` returns the same bytes as
`info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")`: layers and
archives that TarWriter wrote get their digests from these bytes, so they must not change when
the encoder does. Importing `tarfile` costs ~5 ms at each start of a client-mode CLI (it loads
shutil, bz2, lzma, struct, pwd, grp); this module loads nothing.

The rules of CPython 3.11's PAX writer, which this follows (the tests compare with the running
interpreter's tarfile, so a change in a later version shows up there):
- One ustar header ("ustar\\0" "00"), preceded by a PAX extended header (typeflag 'x', named
  "././@PaxHeader", mode/owner/mtime 0) only when a field does not fit ustar. The name is never
  split into the prefix field in this format: a name that needs more goes to the PAX header.
- Strings: name ("path"), linkname ("linkpath"), uname, gname go to the PAX header when not ASCII
  or longer than their field (100, 100, 32, 32 characters); the ustar field then holds the
  ASCII-encoded value ('?' for each other character) cut to the field width.
- Numbers: uid, gid, size, mtime go to the PAX header (as `str(value)`) when outside
  0 <= n < 8**(width-1), and then hold 0 in the ustar field; a float always goes there too, and
  its rounded value (round(): half to even) is in the ustar field when it fits.
- Records are in insertion order: first those of `info.pax_headers` (a TarInfo's, if any; they
  win over the computed ones), then path, linkpath, uname, gname, uid, gid, size, mtime. When a
  value cannot be encoded as strict UTF-8 (surrogate-escaped bytes of a file name), the record
  "hdrcharset=BINARY" comes first and values are written as their original bytes.
- A directory's name gets a trailing "/"; the mode field holds only the low 12 bits; device
  numbers are written for character and block devices only (ValueError when they do not fit),
  NUL elsewhere.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays out of a client-mode CLI's start-up
if TYPE_CHECKING:
    from typing import Protocol

    class HeaderLike(Protocol):
        """What encode_header reads: a TarHeader or a tarfile.TarInfo."""

        name: str
        mode: int
        uid: int
        gid: int
        size: int
        mtime: int | float
        type: bytes
        linkname: str
        uname: str
        gname: str
        devmajor: int
        devminor: int


REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
XHDTYPE = b"x"  # PAX extended header

BLOCK = 512
_FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "type", "linkname", "uname", "gname",
           "devmajor", "devminor")
_MAX8 = 8 ** 7  # an 8-byte octal field holds 7 digits and a NUL
_MAX12 = 8 ** 11
_NO_DEVICE = bytes(16)
# What follows the device numbers: the prefix field (always empty here) and the block's padding.
_TAIL = bytes(BLOCK - 345)


class TarHeader:
    """The fields of one tar member, named as tarfile.TarInfo's (with its defaults) so that code
    can pass either to encode_header. A plain class: dataclasses costs ~8 ms to import."""

    __slots__ = _FIELDS

    def __init__(self, name: str = "", *, mode: int = 0o644, uid: int = 0, gid: int = 0, size: int = 0,
                 mtime: int | float = 0, type: bytes = REGTYPE, linkname: str = "", uname: str = "",
                 gname: str = "", devmajor: int = 0, devminor: int = 0) -> None:
        self.name = name
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.type = type
        self.linkname = linkname
        self.uname = uname
        self.gname = gname
        self.devmajor = devmajor
        self.devminor = devminor

    def __repr__(self) -> str:
        return "TarHeader(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TarHeader):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable


def encode_header(info: HeaderLike) -> bytes:
    """The header block(s) of `info` (a TarHeader or a tarfile.TarInfo), byte for byte as
    tarfile's PAX writer makes them (see the module docstring). ValueError where tarfile raises
    it: a field that is None, a device number that does not fit, a NaN mtime..."""
    name, mode, uid, gid = info.name, info.mode, info.uid, info.gid
    size, mtime, kind, linkname = info.size, info.mtime, info.type, info.linkname
    uname, gname, devmajor, devminor = info.uname, info.gname, info.devmajor, info.devminor
    pax: dict[str, str] = {}
    if type(info) is not TarHeader:
        # A TarInfo: its own PAX records come first and win; a None checksum is refused too.
        given = getattr(info, "pax_headers", None)
        if given:
            pax.update(given)
        if getattr(info, "chksum", 0) is None:
            raise ValueError("chksum may not be None")
    if None in (name, mode, uid, gid, size, mtime, kind, linkname, uname, gname, devmajor, devminor):
        for field in _FIELDS:
            if getattr(info, field) is None:
                raise ValueError(f"{field} may not be None")

    mode &= 0o7777
    if kind == DIRTYPE and not name.endswith("/"):
        name += "/"

    # Strings: the length limits count characters, which are bytes once ASCII is checked.
    if "path" not in pax and (len(name) > 100 or not name.isascii()):
        pax["path"] = name
    if "linkpath" not in pax and (len(linkname) > 100 or not linkname.isascii()):
        pax["linkpath"] = linkname
    if "uname" not in pax and (len(uname) > 32 or not uname.isascii()):
        pax["uname"] = uname
    if "gname" not in pax and (len(gname) > 32 or not gname.isascii()):
        pax["gname"] = gname

    uid = _number("uid", uid, _MAX8, pax)
    gid = _number("gid", gid, _MAX8, pax)
    size = _number("size", size, _MAX12, pax)
    mtime = _number("mtime", mtime, _MAX12, pax)

    if kind == CHRTYPE or kind == BLKTYPE:
        device = _device(devmajor) + _device(devminor)
    else:
        device = _NO_DEVICE

    block = _block(name.encode("ascii", "replace"), mode, uid, gid, size, mtime, kind,
                   linkname.encode("ascii", "replace"), uname.encode("ascii", "replace"),
                   gname.encode("ascii", "replace"), device)
    if pax:
        return _pax_header(pax) + block
    return block


def _number(key: str, value: int | float, limit: int, pax: dict[str, str]) -> int:
    """The ustar value of a number field; records `key` in `pax` when the field cannot hold it."""
    if isinstance(value, float):
        whole = round(value)  # ValueError for NaN, OverflowError for infinities, as tarfile
        if key not in pax:
            pax[key] = str(value)  # full precision
        return whole if 0 <= whole < limit else 0
    if 0 <= value < limit:
        return int(value)
    if key not in pax:
        pax[key] = str(value)
    return 0


def _device(number: int) -> bytes:
    number = int(number)
    if not 0 <= number < _MAX8:
        raise ValueError("overflow in number field")
    return b"%07o\0" % number


def _block(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes,
           linkname: bytes, uname: bytes, gname: bytes, device: bytes) -> bytes:
    """One 512-byte ustar block; the checksum is the sum of its bytes with the checksum field
    counted as 8 spaces."""
    head = b"%s%07o\0%07o\0%07o\0%011o\0%011o\0        %sustar\x0000%s%s%s" % (
        name[:100].ljust(100, b"\0"), mode, uid, gid, size, mtime,
        kind + linkname[:100].ljust(100, b"\0"),
        uname[:32].ljust(32, b"\0"), gname[:32].ljust(32, b"\0"), device)
    if len(kind) == 1:
        # The rest (prefix field, padding) is NUL: it adds nothing to the sum, which is a third
        # of the encoding time.
        return b"%s%06o\0%s%s" % (head[:148], sum(head), head[155:], _TAIL)
    # tarfile packs whatever the type flag is into 512 bytes: later fields shift, the end is cut
    # or NUL padded. Nobody should do this, but the bytes must still match.
    buf = (head + _TAIL)[:BLOCK].ljust(BLOCK, b"\0")
    return b"%s%06o\0%s" % (buf[:148], sum(buf), buf[155:])


def _pax_header(pax: dict[str, str]) -> bytes:
    """A PAX extended header ("././@PaxHeader", typeflag 'x') holding `pax`, padded to blocks."""
    try:
        items = [(key.encode("utf-8"), value.encode("utf-8")) for key, value in pax.items()]
        records = [b""]
    except UnicodeEncodeError:
        # A surrogate-escaped file name: the records hold raw bytes, and say so first.
        items = [(key.encode("utf-8"), value.encode("utf-8", "surrogateescape")) for key, value in pax.items()]
        records = [b"21 hdrcharset=BINARY\n"]
    for key, value in items:
        body = len(key) + len(value) + 3  # " " "=" "\n"
        # The record starts with its own length in decimal: iterate to the fixed point from below
        # (when two lengths are self-consistent, e.g. 99 and 100, the smaller one is written).
        length = body + 1
        while (n := body + len(str(length))) != length:
            length = n
        records.append(b"%d %s=%s\n" % (length, key, value))
    data = b"".join(records)
    if len(data) >= _MAX12:
        raise ValueError("overflow in number field")
    head = _block(b"././@PaxHeader", 0, 0, 0, len(data), 0, XHDTYPE, b"", b"", b"", _NO_DEVICE)
    return head + data + bytes(-len(data) % BLOCK)
