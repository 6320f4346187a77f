"""Compression of layer and archive streams: detect by magic, decompress, compress.

Facts this module matches:
- Detection by magic bytes, like moby's `compression.Detect` (gzip 1f 8b, bzip2 "BZh", xz
  fd 37 7a 58 5a 00, zstd 28 b5 2f fd). Anything else is "none" (a plain tar).
- Docker pushes layers gzip-compressed with Go's `compress/gzip` at `gzip.DefaultCompression`
  (level 6; daemon/internal/distribution/push.go `compress`), header with mtime 0 and no name.
  We use ISA-L (`isal`, levels 0..3) instead of zlib. Measured on a 480 MB tar of /usr (2 cores):
  isal 1: ratio 0.417, ~470 MB/s; isal 2: 0.411, ~480 MB/s; isal 3: 0.406, ~300 MB/s;
  zlib 1: 0.404, 70 MB/s; zlib 6 (Docker's level): 0.366, 28 MB/s. Default: isal level 2. Byte-identical output to Docker's blobs is
  impossible anyway (a different deflate implementation), so only determinism matters: the same
  input always gives the same bytes (no mtime, no file name in the header).
- Decompression accepts concatenated gzip members and zstd frames (Go's readers do too) and
  zstd frames without a content size. Truncated or corrupt input raises `InvalidArchive`.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from typing import BinaryIO, Callable

from isal import isal_zlib
from isal.isal_zlib import _GzipReader  # igzip.IGzipFile's reader (pinned isal: requirements-ci.txt)

from dockyard.errors import InvalidArchive

CHUNK = 1 << 20
SMALL_READS = 64 << 10
def _zstd():  # noqa: ANN202 - the module
    """zstandard, imported for zstd data only: it imports `platform` (regular expressions
    compiled at its import) to pick its backend, ~29M instructions that a gzip pull, push,
    load or save paid at its start for nothing."""
    import zstandard

    return zstandard


KINDS = ("gzip", "bzip2", "xz", "zstd", "none")
DEFAULT_LEVELS = {"gzip": 2, "zstd": 3, "bzip2": 9, "xz": 6}

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
MAGIC_LEN = 6


def detect(head: bytes) -> str:
    """The compression of a stream whose first bytes are `head` (6 bytes suffice)."""
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return "none"


class _SourceError(Exception):
    """Carries an exception raised by the *underlying* stream through a decompressor, so that
    I/O errors of the source are not mistaken for corrupt data."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Replay(io.RawIOBase):
    """`head`, then the rest of `stream`: a stream that was peeked at, whole again."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return readinto(buf) or 0
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _PrefixedReader(Replay):
    """A Replay that wraps errors of `stream` in `_SourceError` (for `_Guarded`)."""

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol
        if self._head:
            return super().readinto(buf)
        try:
            return super().readinto(buf)
        except Exception as e:  # noqa: BLE001 - re-raised unchanged by _Guarded
            raise _SourceError(e) from e


class _ZstdFrameChecker:
    """Follows the zstd frame structure (RFC 8878) of the compressed bytes as they stream by, to
    tell whether the input ended on a frame boundary. `zstandard`'s stream reader returns a short
    result instead of an error on truncated input; this is how we notice."""

    def __init__(self) -> None:
        self._need = 4          # bytes still to skip or to collect in `_buf`
        self._buf = b""
        self._collect = True    # collecting header bytes (True) or skipping payload (False)
        self._state = "magic"
        self._checksum = False
        self.frames = 0

    @property
    def at_boundary(self) -> bool:
        return self._state == "magic" and not self._buf

    def feed(self, data: memoryview) -> None:
        pos = 0
        while pos < len(data):
            take = min(self._need, len(data) - pos)
            if self._collect:
                self._buf += bytes(data[pos : pos + take])
            pos += take
            self._need -= take
            if self._need == 0:
                self._advance()

    def _advance(self) -> None:
        buf, self._buf = self._buf, b""
        state = self._state
        if state == "magic":
            magic = int.from_bytes(buf, "little")
            if magic == 0xFD2FB528:
                self._state, self._need, self._collect = "fhd", 1, True
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need, self._collect = "skipsize", 4, True
            else:
                raise InvalidArchive("corrupt zstd data: unknown frame magic")
        elif state == "skipsize":
            self._state, self._need, self._collect = "skipdata", int.from_bytes(buf, "little"), False
            if self._need == 0:
                self._end_frame(count=False)
        elif state == "skipdata":
            self._end_frame(count=False)
        elif state == "fhd":
            fhd = buf[0]
            fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
            self._checksum = bool(fhd & 4)
            fcs_size = (1 if single else 0) if fcs_flag == 0 else (2, 4, 8)[fcs_flag - 1]
            rest = (0 if single else 1) + (0, 1, 2, 4)[dict_flag] + fcs_size
            self._state, self._collect = "block", False
            self._need = rest
            if rest == 0:
                self._start_block()
            else:
                self._state = "fhrest"
        elif state == "fhrest":
            self._start_block()
        elif state == "block":
            header = int.from_bytes(buf, "little")
            last, btype, bsize = header & 1, (header >> 1) & 3, header >> 3
            if btype == 3:
                raise InvalidArchive("corrupt zstd data: reserved block type")
            payload = 1 if btype == 1 else bsize
            self._state = "lastpayload" if last else "payload"
            self._need, self._collect = payload, False
            if payload == 0:
                self._advance()
        elif state == "payload":
            self._start_block()
        elif state == "lastpayload":
            if self._checksum:
                self._state, self._need, self._collect = "checksum", 4, False
            else:
                self._end_frame()
        elif state == "checksum":
            self._end_frame()

    def _start_block(self) -> None:
        self._state, self._need, self._collect = "block", 3, True

    def _end_frame(self, count: bool = True) -> None:
        self._state, self._need, self._collect = "magic", 4, True
        if count:
            self.frames += 1


class _ZstdCheckedSource(io.RawIOBase):
    def __init__(self, source: io.RawIOBase, checker: _ZstdFrameChecker) -> None:
        self._source = source
        self._checker = checker

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        n = self._source.readinto(buf)
        if n:
            self._checker.feed(memoryview(buf)[:n])
        return n or 0


class _Guarded(io.RawIOBase):
    """A decompressing stream that reports every decompression failure as `InvalidArchive`."""

    def __init__(self, inner: BinaryIO, kind: str, at_end: Callable[[], None] | None = None) -> None:
        self._inner = inner
        self._kind = kind
        self._at_end = at_end
        self._done = False
        self._more_errors = (_zstd().ZstdError,) if kind == "zstd" else ()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        if self._done:
            return 0
        try:
            n = self._inner.readinto(buf)
            if not n and self._at_end is not None:
                self._at_end()
        except _SourceError as e:
            raise e.error from None
        except InvalidArchive:
            raise
        except (EOFError, OSError, ValueError, zlib.error, isal_zlib.error, lzma.LZMAError,
                *self._more_errors) as e:
            if isinstance(e, EOFError):
                raise InvalidArchive(f"truncated {self._kind} data: {e}") from None
            raise InvalidArchive(f"corrupt {self._kind} data: {e}") from None
        if not n:
            self._done = True
        return n or 0

    def close(self) -> None:
        try:
            self._inner.close()
        except Exception:  # noqa: BLE001 - closing a reader must not mask the real error
            pass
        super().close()


def peek(stream: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """The first `n` bytes of `stream` (fewer at its end) and a stream that reads it all again."""
    head = _read_head(stream, n)
    return head, io.BufferedReader(Replay(head, stream), CHUNK)  # type: ignore[return-value]


def _read_head(stream: BinaryIO, n: int) -> bytes:
    # grown in place (a head of megabytes arrives in many small reads) and handed over without a
    # copy: BytesIO.getvalue() returns its own buffer, where bytes(bytearray) held the head twice
    head, size = io.BytesIO(), 0
    while size < n:
        chunk = stream.read(n - size)
        if not chunk:
            break
        size += head.write(chunk)
    return head.getvalue()


def open_decompressed(stream: BinaryIO) -> BinaryIO:
    """A readable stream of the decompressed content of `stream` (any kind of `KINDS`).

    Does not seek: the magic is read and replayed. Closing the result does not close `stream`.
    """
    head = _read_head(stream, MAGIC_LEN)
    kind = detect(head)
    source = _PrefixedReader(head, stream)
    at_end: Callable[[], None] | None = None
    inner: BinaryIO
    if kind == "none":
        inner = source  # type: ignore[assignment]
    elif kind == "gzip":
        # isal's gzip reader in C, the one IGzipFile wraps in a BufferedReader (and IGzipFile got
        # the source through another): it fills its own buffer by the source's readinto and
        # inflates straight into the caller's buffer: two copies of every byte fewer (in a
        # pull: memmove was 13 % of its CPU).
        inner = _GzipReader(source, CHUNK)  # type: ignore[assignment]
    elif kind == "bzip2":
        inner = bz2.BZ2File(io.BufferedReader(source, CHUNK), mode="rb")  # type: ignore[assignment]
    elif kind == "xz":
        inner = lzma.LZMAFile(io.BufferedReader(source, CHUNK), mode="rb")  # type: ignore[assignment]
    else:
        checker = _ZstdFrameChecker()

        def at_end() -> None:
            if not checker.at_boundary or checker.frames == 0:
                raise InvalidArchive("truncated zstd data: input ended inside a frame")

        inner = _zstd().ZstdDecompressor().stream_reader(  # type: ignore[assignment]
            _ZstdCheckedSource(source, checker), read_size=CHUNK, read_across_frames=True
        )
    # A small buffer for small reads (tar headers); reads larger than it (a tar body's MiB) go
    # straight into the caller's buffer.
    return io.BufferedReader(_Guarded(inner, kind, at_end), SMALL_READS)  # type: ignore[return-value]


class _CompressingWriter(io.RawIOBase):
    """Writes compressed bytes to `sink`. `close()` finishes the stream but leaves `sink` open."""

    def __init__(self, sink: BinaryIO, compress: Callable[[bytes], bytes], finish: Callable[[], bytes]) -> None:
        self._sink = sink
        self._compress = compress
        self._finish = finish
        self._buf = bytearray()
        self.bytes_in = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001 - any bytes-like
        # The compressor is fed fixed-size blocks only: ISA-L's output depends on how the input
        # is split, and the same tar must give the same blob however its writer chunks it.
        if self.closed:
            raise ValueError("write to a closed compressing writer")
        view = memoryview(data).cast("B")
        n = len(view)
        self.bytes_in += n
        buf = self._buf
        if not buf and n == CHUNK:
            self._emit(view)
            return n
        buf += view
        if len(buf) >= CHUNK:
            whole = len(buf) - len(buf) % CHUNK
            with memoryview(buf) as mv:
                for i in range(0, whole, CHUNK):
                    self._emit(mv[i : i + CHUNK])
            del buf[:whole]
        return n

    def _emit(self, block: memoryview) -> None:
        out = self._compress(block)
        if out:
            self._sink.write(out)

    def close(self) -> None:
        if not self.closed:
            if self._buf:
                self._emit(memoryview(bytes(self._buf)))
                self._buf.clear()
            tail = self._finish()
            if tail:
                self._sink.write(tail)
            flush = getattr(self._sink, "flush", None)
            if flush is not None:
                flush()
        super().close()


class _StoringGzip:
    """One gzip member (zlib's minimal header: no mtime, no name) of the blocks `compress` is
    given (`_CompressingWriter`'s: CHUNK bytes each), whose incompressible blocks are stored as
    they are instead of deflated: the compressor spent a third less CPU on the bench's layers
    (half random, half text) and the blob decompresses a third faster, for the same size (the
    deflated random data came out as large as stored). A block is incompressible when each of
    SAMPLES pieces spread over it deflates (isal's level 0) to more than STORED of its size;
    the compressible blocks between two stored runs go through one raw deflate stream, ended by
    a sync flush (byte-aligned, not final) before the next stored run; a new one starts after
    it, so no back-reference reaches into what it did not see. Deterministic: the output
    depends on the blocks only."""

    SAMPLES = 4
    SAMPLE = 4096
    STORED = 0.95
    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # isal's (and zlib's) for wbits 31

    def __init__(self, level: int) -> None:
        self._level = level
        self._deflate = None  # the raw deflate stream of the current run of compressible blocks
        self._crc = 0
        self._size = 0
        self._head = True

    def _incompressible(self, block: memoryview) -> bool:
        n = len(block)
        if n < CHUNK:  # the last block: deflated
            return False
        step = n // self.SAMPLES
        return all(len(isal_zlib.compress(block[i:i + self.SAMPLE], 0, -15)) > self.SAMPLE * self.STORED
                   for i in range(0, step * self.SAMPLES, step))

    def compress(self, block: memoryview) -> bytes:
        out = [self.HEADER] if self._head else []
        self._head = False
        self._crc = isal_zlib.crc32(block, self._crc)
        self._size += len(block)
        if not self._incompressible(block):
            if self._deflate is None:
                self._deflate = isal_zlib.compressobj(self._level, isal_zlib.DEFLATED, -15)
            out.append(self._deflate.compress(block))
            return b"".join(out)
        if self._deflate is not None:
            out.append(self._deflate.flush(isal_zlib.Z_SYNC_FLUSH))
            self._deflate = None
        for i in range(0, len(block), 0xFFFF):  # stored blocks: BFINAL 0, BTYPE 00, LEN, NLEN
            piece = block[i:i + 0xFFFF]
            out.append(b"\x00" + len(piece).to_bytes(2, "little") + (len(piece) ^ 0xFFFF).to_bytes(2, "little"))
            out.append(piece)
        return b"".join(out)

    def flush(self) -> bytes:
        out = [self.HEADER] if self._head else []
        self._head = False
        # the final block: the deflate stream's last, or an empty stored one
        out.append(self._deflate.flush(isal_zlib.Z_FINISH) if self._deflate is not None else b"\x01\x00\x00\xff\xff")
        self._deflate = None
        out.append(self._crc.to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little"))
        return b"".join(out)


class _ZstdWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO, level: int) -> None:
        # write_checksum: like klauspost/compress (containerd, buildkit), so corruption is caught.
        self._writer = _zstd().ZstdCompressor(level=level, write_checksum=True).stream_writer(
            sink, closefd=False, write_return_read=True
        )
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001
        return self._writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self._writer.close()
            flush = getattr(self._sink, "flush", None)
            if flush is not None:
                flush()
        super().close()


def compressing_writer(sink: BinaryIO, kind: str = "gzip", level: int | None = None) -> BinaryIO:
    """A writable that compresses into `sink`; close it to finish the stream (sink stays open).

    Deterministic: gzip headers carry mtime 0 and no file name; zstd frames are single-threaded
    and carry no content size (the size is not known up front when streaming).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown compression {kind!r}")
    lvl = DEFAULT_LEVELS.get(kind, 0) if level is None else level
    if kind == "none":
        return _CompressingWriter(sink, bytes, bytes)  # type: ignore[return-value]
    if kind == "zstd":
        return _ZstdWriter(sink, lvl)  # type: ignore[return-value]
    if kind == "gzip":
        gz = _StoringGzip(min(max(lvl, 0), 3))  # isal levels are 0..3
        return _CompressingWriter(sink, gz.compress, gz.flush)  # type: ignore[return-value]
    if kind == "bzip2":
        bobj = bz2.BZ2Compressor(lvl)
        return _CompressingWriter(sink, bobj.compress, bobj.flush)  # type: ignore[return-value]
    xobj = lzma.LZMACompressor(preset=lvl)
    return _CompressingWriter(sink, xobj.compress, xobj.flush)  # type: ignore[return-value]
