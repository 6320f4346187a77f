"""Content digests (`sha256:<hex>`) and hashing while streaming."""

from __future__ import annotations

import re
import sys

from dockyard.dataclass import dataclass
from dockyard.errors import DigestMismatch, InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from hashlib import _Hash
    from typing import BinaryIO

try:  # the interpreter's own sha256 (see small_sha256)
    from _sha256 import sha256 as _builtin_sha256
except ImportError:  # a Python built without it: hashlib's
    _builtin_sha256 = None

CHUNK = 1 << 20
SMALL = 1 << 16
# What the interpreter's sha256 hashes in all before hashlib takes over for good: OpenSSL's saves
# ~2.6 us a KiB, which pays its import (~2.5 ms) back at about 1 MiB. A context of 10,000 small
# files (20 KiB each, issue #18 row c) was hashed twice over at the slow rate: +0.4 s.
BUDGET = 1 << 20
_spent = [0]


def _builtin_may_take(n: int) -> bool:
    _spent[0] += n
    return _spent[0] <= BUDGET


def small_sha256(data: bytes = b"") -> _Hash:
    """A sha256 object for a few KiB (keys, names, checked records): the interpreter's own
    (_sha256) while the program has not loaded hashlib, whose import loads OpenSSL's libcrypto
    (~2.5 ms, 11M instructions: a twentieth of a cached build, which hashes ~15 KB in all). The
    same digests; OpenSSL's is ~4x faster per byte (0.9 against 3.5 us a KiB), so more data than
    SMALL, or a program that loaded hashlib anyway (to hash a stream, a file's content, a layer),
    gets hashlib's. Bytes that come in pieces, as many as may come, go to `Sha256`."""
    if _builtin_sha256 is not None and len(data) <= SMALL and "hashlib" not in sys.modules \
            and _builtin_may_take(len(data)):
        return _builtin_sha256(data)
    import hashlib

    return hashlib.sha256(data)


class Sha256:
    """A sha256 object for bytes that come in pieces, as many as may come (a layer's tar, a
    file's content): small_sha256's choice made when the length is known. The pieces are held
    while they stay within SMALL bytes, and a digest of them is the interpreter's own; the first
    piece past SMALL loads hashlib (OpenSSL, ~4x faster a byte, and it releases the GIL), which
    hashes what was held and everything after. A program that loaded hashlib already uses it
    from the start, as does one whose small pieces came to BUDGET bytes in all. So a cold
    build's small layers and files (a WORKDIR's, a COPY of a few KiB, a RUN's few files) load no
    libcrypto (~11M instructions), and large ones, or many small ones, are hashed as before.
    The same digests; at most SMALL bytes held."""

    __slots__ = ("_held", "_hash", "update")

    def __init__(self, data: bytes = b"") -> None:
        self._held: bytearray | None = None
        self._hash: _Hash | None = None
        if _builtin_sha256 is None or "hashlib" in sys.modules:
            import hashlib

            self._hash = hashlib.sha256()
            self.update = self._hash.update
        else:
            self._held = bytearray()
            self.update = self._hold
        if data:
            self.update(data)

    def _hold(self, data: bytes) -> None:
        """update() while the bytes are held; hashlib's own update() once they are not (what
        took `update` before that still comes here)."""
        held = self._held
        if held is None:
            self._hash.update(data)  # type: ignore[union-attr]
        elif len(held) + len(data) <= SMALL and _builtin_may_take(len(data)):
            held += data
        else:
            import hashlib

            self._hash = hashlib.sha256(held)
            self._held = None
            self.update = self._hash.update
            self._hash.update(data)

    def _final(self) -> _Hash:
        if self._held is None:
            return self._hash  # type: ignore[return-value]
        return _builtin_sha256(self._held)  # type: ignore[misc]

    def hexdigest(self) -> str:
        return self._final().hexdigest()

    def digest(self) -> bytes:
        return self._final().digest()
_HEX = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}


@dataclass(frozen=True, order=True)
class Digest:
    """A content digest: `algorithm:hex` (sha256 or sha512)."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        if not isinstance(text, str):  # a digest read from a hostile JSON document
            raise InvalidParameter(f"invalid digest: {text!r}")
        algo, sep, hexpart = text.partition(":")
        pattern = _HEX.get(algo)
        if not sep or pattern is None or not pattern.fullmatch(hexpart):
            raise InvalidParameter(f"invalid digest: {text!r}")
        return cls(algo, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes) -> "Digest":
        return cls("sha256", small_sha256(data).hexdigest())

    @property
    def short(self) -> str:
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _stream_hash(algorithm: str) -> Sha256 | _Hash:
    if algorithm == "sha256":
        return Sha256()
    import hashlib  # sha512: a stream's bytes

    return hashlib.new(algorithm)


class HashingReader:
    """Wraps a binary stream; hashes and counts every byte read through it."""

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self._hash = _stream_hash(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol
        n = self._stream.readinto(buf)
        if n:
            self._hash.update(memoryview(buf)[:n])
            self.size += n
        return n or 0

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


class HashingWriter:
    """Wraps a binary sink; hashes and counts every byte written through it."""

    def __init__(self, sink: BinaryIO, algorithm: str = "sha256") -> None:
        self._sink = sink
        self._hash = _stream_hash(algorithm)
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._sink.write(data)

    def room(self, k: int) -> memoryview | None:
        """The sink's own buffer to fill before writing it (atomic.WritebehindFile.room), or
        None when the sink has none."""
        room = getattr(self._sink, "room", None)
        return room(k) if room is not None else None

    def flush(self) -> None:
        self._sink.flush()

    @property
    def digest(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())


def verify(expected: Digest, actual: Digest, what: str) -> None:
    if expected != actual:
        raise DigestMismatch(f"{what}: digest mismatch: expected {expected}, got {actual}")
