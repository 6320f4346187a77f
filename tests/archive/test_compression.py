"""Compression: detection by magic, round trips, determinism, truncated and corrupt input."""

from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest

from dockyard.archive.compression import compressing_writer, detect, open_decompressed
from dockyard.errors import InvalidArchive

DATA = os.urandom(200_000) + bytes(2_000_000) + b"layer-content\n" * 50_000
KINDS = ["gzip", "zstd", "bzip2", "xz", "none"]


def compress(data: bytes, kind: str, chunks: int = 1) -> bytes:
    sink = io.BytesIO()
    w = compressing_writer(sink, kind)
    step = len(data) // chunks + 1
    for i in range(0, len(data), step):
        w.write(data[i : i + step])
    w.close()
    assert not sink.closed, "closing the writer must leave the sink open"
    return sink.getvalue()


class OneByteReader(io.RawIOBase):
    """A non-seekable source that returns at most 1 byte per read (like a slow pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        if not self._data:
            return 0
        buf[0] = self._data[0]
        self._data = self._data[1:]
        return 1


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_detect(kind: str) -> None:
    blob = compress(DATA, kind)
    assert detect(blob[:6]) == kind
    assert open_decompressed(io.BytesIO(blob)).read() == DATA
    if kind != "none":
        assert len(blob) < len(DATA) // 2


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_regardless_of_write_chunking(kind: str) -> None:
    assert compress(DATA, kind) == compress(DATA, kind, chunks=7)


def test_gzip_header_has_no_mtime_and_no_name() -> None:
    blob = compress(b"x" * 1000, "gzip")
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] & 0x08 == 0, "FNAME flag must be clear"
    assert blob[4:8] == b"\0\0\0\0", "mtime must be 0 (like Go's gzip.Writer used by docker push)"


def test_gzip_stores_incompressible_blocks() -> None:
    """Random bytes are stored, not deflated: the blob is the data plus the stored blocks'
    5-byte heads (one per 65535 bytes of each MiB the writer compresses at a time), gzip's 18
    bytes of head and trailer and the empty final block (isal deflated them to 1,145 bytes
    more); the compressible blocks around them are deflated; gzip(1) reads it all back."""
    noise = os.urandom(3 << 20)
    assert len(compress(noise, "gzip")) == len(noise) + 5 * 3 * -(-(1 << 20) // 65535) + 18 + 5
    mixed = b"text " * 300_000 + noise + b"text " * 300_000 + noise[:1000]
    blob = compress(mixed, "gzip", chunks=3)
    assert len(blob) < len(noise) + 100_000
    assert gzip.decompress(blob) == mixed
    assert subprocess.run(["gzip", "-dc"], input=blob, capture_output=True, check=True).stdout == mixed


def test_decompress_without_seek_from_tiny_reads() -> None:
    blob = compress(DATA[:300_000], "gzip")
    assert open_decompressed(OneByteReader(blob)).read() == DATA[:300_000]  # type: ignore[arg-type]


def test_detect_known_magics_and_plain_tar() -> None:
    assert detect(b"\x1f\x8b\x08\x00") == "gzip"
    assert detect(b"BZh91AY") == "bzip2"
    assert detect(b"\xfd7zXZ\x00") == "xz"
    assert detect(b"\x28\xb5\x2f\xfd\x00") == "zstd"
    assert detect(b"etc/\0\0\0") == "none"
    assert detect(b"") == "none"


def test_concatenated_members_and_frames() -> None:
    """Go's gzip reader (multistream) and zstd decoders read concatenated members/frames."""
    g = gzip.compress(b"abc", mtime=0) + gzip.compress(b"def", mtime=0)
    assert open_decompressed(io.BytesIO(g)).read() == b"abcdef"
    z = compress(b"one", "zstd") + compress(b"two", "zstd")
    assert open_decompressed(io.BytesIO(z)).read() == b"onetwo"


def test_zstd_stream_without_content_size_from_cli(tmp_path) -> None:  # noqa: ANN001
    """`zstd` reading from a pipe writes frames without a content size."""
    try:
        out = subprocess.run(["zstd", "-q", "-c"], input=DATA, capture_output=True, check=True).stdout
    except FileNotFoundError:
        pytest.skip("zstd CLI not installed")
    assert open_decompressed(io.BytesIO(out)).read() == DATA


@pytest.mark.parametrize("kind", ["gzip", "zstd", "bzip2", "xz"])
@pytest.mark.parametrize("cut", [10, 0.5, -9])
def test_truncated_raises_invalid_archive(kind: str, cut: float) -> None:
    blob = compress(DATA, kind)
    n = int(len(blob) * cut) if isinstance(cut, float) else (cut if cut > 0 else len(blob) + cut)
    with pytest.raises(InvalidArchive, match=kind):
        open_decompressed(io.BytesIO(blob[:n])).read()


@pytest.mark.parametrize("kind", ["gzip", "zstd", "bzip2", "xz"])
def test_corrupt_raises_invalid_archive(kind: str) -> None:
    blob = bytearray(compress(DATA, kind))
    for i in range(len(blob) // 3, len(blob) // 3 + 64):
        blob[i] ^= 0x5A
    with pytest.raises(InvalidArchive, match=kind):
        open_decompressed(io.BytesIO(bytes(blob))).read()


def test_source_io_errors_are_not_reported_as_corrupt_data() -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # noqa: ANN001
            self.calls += 1
            if self.calls == 1:
                buf[:2] = b"\x1f\x8b"
                return 2
            raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        open_decompressed(Broken()).read()  # type: ignore[arg-type]


def test_source_io_errors_pass_through_for_plain_streams() -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # noqa: ANN001
            self.calls += 1
            if self.calls == 1:
                buf[:6] = b"plain!"
                return 6
            raise TimeoutError("slow disk")

    with pytest.raises(TimeoutError):
        open_decompressed(Broken()).read()  # type: ignore[arg-type]


def test_peek_holds_a_large_head_once() -> None:
    """A build context's head (up to 16 MiB read before the context is unpacked, dockyard
    serve's tar-context builds) is held once: it was grown in a bytearray and then copied into
    bytes, both alive at once (tracemalloc's peak 2.1 x the head)."""
    import tracemalloc

    from dockyard.archive.compression import peek

    data = os.urandom(64 << 10) * 128  # 8 MiB, read 64 KiB at a time as from a socket

    class Socket:
        pos = 0

        def read(self, n: int) -> bytes:
            chunk = data[self.pos:self.pos + min(n, 64 << 10)]
            self.pos += len(chunk)
            return chunk

    source = Socket()
    tracemalloc.start()
    try:
        head, replay = peek(source, len(data) + 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert head == data and replay.read() == data
    assert peak < 1.5 * len(data)
