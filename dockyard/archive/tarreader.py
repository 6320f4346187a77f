"""A sequential tar reader: ustar, GNU (long names/links) and PAX headers, bounded memory.

Our own reader rather than `tarfile` because layers arrive as non-seekable streams, the body of
each entry must be copied in large chunks, special headers must be size-limited (a hostile PAX
header must not be read into memory whole), and we count every byte consumed.

Rules follow Go's archive/tar (what Docker uses): PAX/GNU special headers are limited to 1 MiB
(`maxSpecialFileSize`), global PAX headers are skipped, a single zero block followed by EOF is an
acceptable end, sparse files are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from dockyard.errors import InvalidArchive

BLOCK = 512
CHUNK = 1 << 20
MAX_SPECIAL = 1 << 20

REG, AREG, CONTREG, LNK, SYM, CHR, BLK, DIR, FIFO = b"0", b"\0", b"7", b"1", b"2", b"3", b"4", b"5", b"6"
PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"
REGULAR_TYPES = (REG, AREG, CONTREG)


@dataclass
class Entry:
    name: str                     # as stored (after PAX/GNU overrides), not yet normalized
    type: bytes                   # one of REG, LNK, SYM, CHR, BLK, DIR, FIFO
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    atime_ns: int | None = None
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstr(raw: bytes) -> bytes:
    i = raw.find(b"\0")
    return raw if i < 0 else raw[:i]


def _number(raw: bytes, what: str) -> int:
    if raw and raw[0] & 0x80:
        # base-256 (GNU): big-endian two's complement, first byte 0x80 (positive) or 0xff.
        value = int.from_bytes(raw, "big", signed=True) if raw[0] == 0xFF else \
            int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
        return value
    text = raw.replace(b"\0", b" ").strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InvalidArchive(f"invalid tar header: bad {what} field {raw!r}") from None


def _parse_time_ns(value: str, key: str) -> int:
    sign = 1
    if value.startswith("-"):
        sign, value = -1, value[1:]
    whole, _, frac = value.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise InvalidArchive(f"invalid PAX {key} value {value!r}")
    return sign * (int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


def parse_pax(data: bytes) -> dict[str, bytes]:
    """PAX records `"%d %s=%s\\n"`; values stay bytes (xattr values are binary)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding after the last record
            break
        sp = data.find(b" ", pos)
        if sp < 0 or not data[pos:sp].isdigit():
            raise InvalidArchive("invalid PAX header: bad record length")
        length = int(data[pos:sp])
        end = pos + length
        if length <= sp - pos + 1 or end > len(data) or data[end - 1] != 0x0A:
            raise InvalidArchive("invalid PAX header: bad record")
        key, eq, value = data[sp + 1 : end - 1].partition(b"=")
        if not eq or not key:
            raise InvalidArchive("invalid PAX header: record without key")
        records[_decode(key)] = value
        pos = end
    return records


class TarReader:
    """Iterate entries of a tar stream read strictly sequentially.

    After an entry is yielded, its body can be read with `read_body`/`copy_body`; whatever is left
    unread is skipped before the next header. `consumed` counts bytes read from the stream.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = bytearray(CHUNK)
        self._view = memoryview(self._buf)
        self.consumed = 0
        self._remaining = 0   # body bytes of the current entry not read yet
        self._padding = 0     # padding after the current body
        self.ended = False

    # -- raw reads -------------------------------------------------------------------------
    def _read_into(self, view: memoryview) -> int:
        """Fill `view` completely unless EOF; returns the count read."""
        got = 0
        readinto = getattr(self._stream, "readinto", None)
        while got < len(view):
            if readinto is not None:
                n = readinto(view[got:])
            else:
                data = self._stream.read(len(view) - got)
                n = len(data)
                view[got : got + n] = data
            if not n:
                break
            got += n
        self.consumed += got
        return got

    def _read_exact(self, n: int, what: str) -> bytes:
        out = bytearray(n)
        if self._read_into(memoryview(out)) != n:
            raise InvalidArchive(f"truncated tar: unexpected end of data in {what}")
        return bytes(out)

    def _skip(self, n: int, what: str) -> None:
        while n > 0:
            k = min(n, CHUNK)
            if self._read_into(self._view[:k]) != k:
                raise InvalidArchive(f"truncated tar: unexpected end of data in {what}")
            n -= k

    # -- bodies ----------------------------------------------------------------------------
    def read_body(self, n: int = CHUNK) -> memoryview:
        """The next up to `n` bytes of the current body (empty when it is exhausted). The returned
        view is only valid until the next call."""
        k = min(n, self._remaining, CHUNK)
        if k <= 0:
            return self._view[:0]
        if self._read_into(self._view[:k]) != k:
            raise InvalidArchive("truncated tar: unexpected end of data in a file body")
        self._remaining -= k
        return self._view[:k]

    def body(self) -> "BodyStream":
        """The current entry's body as a read-only stream (valid until the next entry)."""
        return BodyStream(self)

    def _finish_entry(self, what: str) -> None:
        """Skip the rest of the body, then its padding. Like Go's reader, a stream that ends
        exactly where the padding would start is a complete archive (the docker CLI sends such a
        context when `-f` names a Dockerfile outside it); a partial padding is truncation."""
        self._skip(self._remaining, what)
        pad, self._remaining, self._padding = self._padding, 0, 0
        if pad and self._read_into(self._view[:pad]) not in (0, pad):
            raise InvalidArchive(f"truncated tar: unexpected end of data in {what}")

    def drain(self) -> None:
        """Read the stream to its end (the archive's trailing zero records), counting bytes."""
        while self._read_into(self._view) > 0:
            pass

    # -- headers ---------------------------------------------------------------------------
    def _special(self, size: int, kind: str) -> bytes:
        if size > MAX_SPECIAL:
            raise InvalidArchive(f"invalid tar: {kind} header of {size} bytes exceeds {MAX_SPECIAL}")
        data = self._read_exact(size, f"a {kind} header")
        self._skip(-size % BLOCK, f"a {kind} header")
        return data

    def __iter__(self) -> Iterator[Entry]:
        pax: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        last = "the start of the archive"
        while True:
            self._finish_entry(f"{last!r}")
            block = bytearray(BLOCK)
            n = self._read_into(memoryview(block))
            if n == 0:
                if pax or long_name is not None or long_link is not None:
                    raise InvalidArchive("truncated tar: extended header without its entry")
                # No end-of-archive marker: Go's reader accepts this as EOF, and so do we.
                self.ended = True
                return
            if n != BLOCK:
                raise InvalidArchive(f"truncated tar: partial header after {last!r}")
            if not any(block):
                self.ended = True
                return
            hdr = bytes(block)
            self._check_sum(hdr, last)
            typ = hdr[156:157]
            size = _number(hdr[124:136], "size")
            if size < 0:
                raise InvalidArchive("invalid tar header: negative size")
            if typ == PAX_LOCAL:
                pax.update(parse_pax(self._special(size, "PAX")))
                continue
            if typ == PAX_GLOBAL:
                self._special(size, "global PAX")
                continue
            if typ == GNU_LONGNAME:
                long_name = _cstr(self._special(size, "GNU long name"))
                continue
            if typ == GNU_LONGLINK:
                long_link = _cstr(self._special(size, "GNU long link"))
                continue
            entry = self._entry(hdr, typ, size, pax, long_name, long_link)
            pax, long_name, long_link = {}, None, None
            last = entry.name
            self._remaining = entry.size
            self._padding = -entry.size % BLOCK
            yield entry

    @staticmethod
    def _check_sum(hdr: bytes, last: str) -> None:
        stored = _number(hdr[148:156], "checksum")
        unsigned = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
        if stored == unsigned:
            return  # what every writer but a few old ones computes: the signed sum is not needed
        # The signed sum (old Sun tar): bytes above 127 count as negative.
        signed = unsigned - 2 * sum(b for b in hdr[:148] + hdr[156:] if b > 127)
        if stored != signed:
            raise InvalidArchive(f"invalid tar header checksum after {last!r} (not a tar archive?)")

    @staticmethod
    def _entry(hdr: bytes, typ: bytes, size: int, pax: dict[str, bytes],
               long_name: bytes | None, long_link: bytes | None) -> Entry:
        magic = hdr[257:263]
        name = _cstr(hdr[0:100])
        if magic == b"ustar\x00":  # POSIX ustar: 155-byte prefix
            prefix = _cstr(hdr[345:500])
            if prefix:
                name = prefix + b"/" + name
        if long_name is not None:
            name = long_name
        linkname = long_link if long_link is not None else _cstr(hdr[157:257])
        mtime_ns = _number(hdr[136:148], "mtime") * 1_000_000_000
        uid = _number(hdr[108:116], "uid")
        gid = _number(hdr[116:124], "gid")
        atime_ns: int | None = None
        xattrs: dict[str, bytes] = {}
        for key, value in pax.items():
            if key == "path":
                name = value
            elif key == "linkpath":
                linkname = value
            elif key == "size":
                if not value.isdigit():
                    raise InvalidArchive(f"invalid PAX size {value!r}")
                size = int(value)
            elif key in ("uid", "gid"):
                if not value.isdigit():
                    raise InvalidArchive(f"invalid PAX {key} {value!r}")
                uid, gid = (int(value), gid) if key == "uid" else (uid, int(value))
            elif key == "mtime":
                mtime_ns = _parse_time_ns(_decode(value), key)
            elif key == "atime":
                atime_ns = _parse_time_ns(_decode(value), key)
            elif key.startswith("SCHILY.xattr."):
                xattrs[key[len("SCHILY.xattr."):]] = value
            elif key.startswith("GNU.sparse."):
                raise InvalidArchive(f"{_decode(name)!r}: sparse files are not supported")
        if typ == b"S":
            raise InvalidArchive(f"{_decode(name)!r}: sparse files are not supported")
        if typ == AREG and name.endswith(b"/"):
            typ = DIR  # old (v7) archives mark directories by the trailing slash only
        if typ in REGULAR_TYPES:
            typ = REG
        elif typ not in (LNK, SYM, CHR, BLK, DIR, FIFO):
            raise InvalidArchive(f"{_decode(name)!r}: unsupported tar entry type {typ!r}")
        if typ != REG:
            size = 0  # header-only types carry no data whatever the size field says (as in Go)
        if not name:
            raise InvalidArchive("invalid tar header: empty entry name")
        return Entry(
            name=_decode(name),
            type=typ,
            mode=_number(hdr[100:108], "mode") & 0o7777,
            uid=uid,
            gid=gid,
            size=size,
            mtime_ns=mtime_ns,
            atime_ns=atime_ns,
            linkname=_decode(linkname),
            devmajor=_number(hdr[329:337], "devmajor") if typ in (CHR, BLK) else 0,
            devminor=_number(hdr[337:345], "devminor") if typ in (CHR, BLK) else 0,
            xattrs=xattrs,
        )


class BodyStream:
    """File-like view of the current entry's body: `read(n)` and `readinto(view)`."""

    def __init__(self, reader: TarReader) -> None:
        self._reader = reader

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self._reader.read_body():
                parts.append(bytes(chunk))
            return b"".join(parts)
        return bytes(self._reader.read_body(n))

    def readinto(self, view: memoryview) -> int:
        chunk = self._reader.read_body(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)
