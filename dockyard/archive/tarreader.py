"""A sequential tar reader: ustar, GNU (long names/links) and PAX headers, bounded memory.

Our own reader rather than `tarfile` because layers arrive as non-seekable streams, the body of
each entry must be copied in large chunks, special headers must be size-limited (a hostile PAX
header must not be read into memory whole), and we count every byte consumed.

Rules follow Go's archive/tar (what Docker uses): PAX/GNU special headers are limited to 1 MiB
(`maxSpecialFileSize`), global PAX headers are skipped, a single zero block followed by EOF is an
acceptable end. Numbers must fit in 64 bits, as Go's reader requires (a longer PAX number is an
error there too). Where we are stricter than Go, it is to refuse what could not be applied, or
what would make a small download a large layer:
- sparse files are refused (Go expands them: a few KiB of tar become gigabytes of layer);
- uid and gid are 0..4294967294 (a uid_t; 4294967295 means "unchanged" to chown), device
  numbers fit a C int, times are within +-2**63 s: what the kernel and Python's os calls take
  (an out-of-range value used to be stored, then fail every unpack with OverflowError);
- the tar's bytes that are not file content (headers, PAX records, padding, whatever follows the
  end-of-archive marker) are at most MAX_META_BASE + MAX_META_PER_ENTRY per entry: an archive
  cannot be mostly metadata (a zstd stream of 32 KiB was a 1 GiB "layer" of 6 bytes of files).
  Headers of real layers take ~0.5-2 KiB per entry, GNU tar pads its end to 10 KiB.
These limits hold for every tar the project reads (layers, archives, build contexts, ADD),
whatever its compression.
"""

from __future__ import annotations

import os

from dockyard.dataclass import dataclass, field
from dockyard.errors import InvalidArchive

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

BLOCK = 512
CHUNK = 1 << 20
_FIRST_BUFFER = 64 << 10  # TarReader's buffer until a read wants more
MAX_SPECIAL = 1 << 20
MAX_META_BASE = 16 << 20
MAX_META_PER_ENTRY = 8 << 10
MAX_ID = (1 << 32) - 2          # uid_t / gid_t, without (uid_t)-1
MAX_DEVICE = (1 << 31) - 1      # os.makedev takes C ints
MAX_SECONDS = (1 << 63) - 1     # time_t; Go's reader takes int64 seconds too
_MAX_DIGITS = 19                # len(str(2**63 - 1))

REG, AREG, CONTREG, LNK, SYM, CHR, BLK, DIR, FIFO = b"0", b"\0", b"7", b"1", b"2", b"3", b"4", b"5", b"6"
PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"
REGULAR_TYPES = (REG, AREG, CONTREG)


@dataclass(compiled_init=True)  # one per member
class Entry:
    """One member of a tar stream, as the reader found it."""

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
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(whole) > _MAX_DIGITS:
        raise InvalidArchive(f"invalid PAX {key} value {value[:40]!r}")
    return sign * (int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


def _pax_number(value: bytes, key: str) -> int:
    """A PAX decimal that must fit in 63 bits (Go: strconv.ParseInt(v, 10, 64))."""
    if not value.isdigit() or len(value) > _MAX_DIGITS or int(value) > MAX_SECONDS:
        raise InvalidArchive(f"invalid PAX {key} {value[:40]!r}")
    return int(value)


def _check_range(name: bytes, what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArchive(f"{_decode(name)!r}: {what} {value} out of range ({low} to {high})")


def check_fields(name: bytes, uid: int, gid: int, devmajor: int, devminor: int, mtime_ns: int,
                 atime_ns: int | None, size: int) -> None:
    """The ranges an entry's numbers must be in (a reader refuses the entry otherwise)."""
    _check_range(name, "uid", uid, 0, MAX_ID)
    _check_range(name, "gid", gid, 0, MAX_ID)
    _check_range(name, "device major", devmajor, 0, MAX_DEVICE)
    _check_range(name, "device minor", devminor, 0, MAX_DEVICE)
    limit = MAX_SECONDS * 1_000_000_000
    _check_range(name, "mtime (ns)", mtime_ns, -limit, limit)
    if atime_ns is not None:
        _check_range(name, "atime (ns)", atime_ns, -limit, limit)
    if size > MAX_SECONDS:
        raise InvalidArchive(f"{_decode(name)!r}: size {size} out of range")


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


def is_header(block: bytes) -> bool:
    """Does `block` hold a tar header: 512 bytes, not all zero, its checksum right and its numeric
    fields readable (what makes Go's tar.Reader.Next, and so Docker's IsArchive, succeed on a
    plain entry)?"""
    if len(block) != BLOCK or not any(block):
        return False
    try:
        TarReader._check_sum(bytes(block), "")
        for start, end in ((100, 108), (108, 116), (116, 124), (124, 136), (136, 148)):
            _number(block[start:end], "field")
    except InvalidArchive:
        return False
    return True


class TarReader:
    """Iterate entries of a tar stream read strictly sequentially.

    After an entry is yielded, its body can be read with `read_body`/`copy_body`; whatever is left
    unread is skipped before the next header. `consumed` counts bytes read from the stream.
    """

    def __init__(self, stream: BinaryIO, *, seek_bodies: bool = False) -> None:
        """`seek_bodies`: bodies left unread are skipped by seeking, when `stream` is a file
        (a stored layer's tar; the end of the file is checked, so a truncated body is still an
        error); otherwise they are read and dropped."""
        self._stream = stream
        self._end: int | None = None
        if seek_bodies:
            try:
                if stream.seekable():
                    self._end = os.fstat(stream.fileno()).st_size
            except (AttributeError, OSError, ValueError):
                self._end = None
        # 64 KiB, grown to CHUNK by the first read that wants more (_room): zeroing 1 MiB cost
        # ~0.5 ms, more than reading a small layer's headers (a `RUN true`'s tar is 3 KiB)
        self._view = memoryview(bytearray(_FIRST_BUFFER))
        self.consumed = 0
        self.content = 0      # bytes of file bodies (of the entries yielded so far)
        self.entries = 0
        self._remaining = 0   # body bytes of the current entry not read yet
        self._padding = 0     # padding after the current body
        self._special_bytes = 0  # special headers read for the coming entry
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
        if self._end is not None and n > 0:
            if self._stream.seek(n, os.SEEK_CUR) > self._end:
                raise InvalidArchive(f"truncated tar: unexpected end of data in {what}")
            self.consumed += n
            return
        room = getattr(self._stream, "room", None)  # a stream that keeps what is skipped (scan_copy's)
        while n > 0:
            k = min(n, CHUNK)
            view = room(k) if room is not None else None
            if view is None:
                view = self._room(k)
            else:
                k = len(view)  # its buffer's room: maybe less
            if self._read_into(view) != k:
                raise InvalidArchive(f"truncated tar: unexpected end of data in {what}")
            n -= k

    def _room(self, k: int) -> memoryview:
        """The buffer's first `k` (<= CHUNK) bytes, the buffer grown to CHUNK if it is smaller."""
        if k > len(self._view):
            self._view = memoryview(bytearray(CHUNK))
        return self._view[:k]

    # -- bodies ----------------------------------------------------------------------------
    def read_body(self, n: int = CHUNK) -> memoryview:
        """The next up to `n` bytes of the current body (empty when it is exhausted). The returned
        view is only valid until the next call."""
        k = min(n, self._remaining, CHUNK)
        if k <= 0:
            return self._view[:0]
        if self._read_into(self._room(k)) != k:
            raise InvalidArchive("truncated tar: unexpected end of data in a file body")
        self._remaining -= k
        return self._view[:k]

    def read_body_into(self, view: memoryview) -> int:
        """The next bytes of the current body straight into `view` (up to its length; 0 when
        the body is exhausted): no pass through this reader's buffer."""
        k = min(len(view), self._remaining)
        if k <= 0:
            return 0
        if self._read_into(memoryview(view)[:k]) != k:
            raise InvalidArchive("truncated tar: unexpected end of data in a file body")
        self._remaining -= k
        return k

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
        """Read the stream to its end (the archive's trailing zero records), counting bytes
        (within the limit on what is not file content)."""
        while self._read_into(self._view) > 0:
            self._check_meta()

    def _check_meta(self) -> None:
        """Every body read so far is whole: the rest of what was consumed is metadata."""
        meta = self.consumed - self.content
        limit = MAX_META_BASE + MAX_META_PER_ENTRY * self.entries
        if meta > limit:
            raise InvalidArchive(
                f"invalid tar: more than {limit} bytes of headers, padding and trailing data for "
                f"{self.entries} entries (the limit is {MAX_META_BASE >> 20} MiB + "
                f"{MAX_META_PER_ENTRY >> 10} KiB per entry)")

    # -- headers ---------------------------------------------------------------------------
    def _special(self, size: int, kind: str) -> bytes:
        self._special_bytes += size
        if self._special_bytes > MAX_SPECIAL:
            raise InvalidArchive(f"invalid tar: {kind} header of {size} bytes: the extended headers "
                                 f"of one entry exceed {MAX_SPECIAL} bytes")
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
            self._check_meta()
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
                self._special_bytes = 0  # it stands alone (Go returns it as an entry)
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
            self._special_bytes = 0
            self.entries += 1
            self.content += entry.size
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
                size = _pax_number(value, key)
            elif key in ("uid", "gid"):
                number = _pax_number(value, key)
                uid, gid = (number, gid) if key == "uid" else (uid, number)
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
        devmajor = _number(hdr[329:337], "devmajor") if typ in (CHR, BLK) else 0
        devminor = _number(hdr[337:345], "devminor") if typ in (CHR, BLK) else 0
        check_fields(name, uid, gid, devmajor, devminor, mtime_ns, atime_ns, size)
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
            devmajor=devmajor,
            devminor=devminor,
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
        return self._reader.read_body_into(view)
