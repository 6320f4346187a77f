"""HTTP/1.1 chunked transfer coding, without I/O: `chunk` encodes one chunk, `ChunkedDecoder`
decodes incrementally. Used by the server for request bodies and responses and by the CLI's
light client (`client/daemon.py`) for its requests and the daemon's answers; it imports nothing heavy."""

from __future__ import annotations

from dockyard.errors import InvalidParameter, RuntimeFailure

MAX_TRAILER = 64 * 1024
_HEX_BYTES = b"0123456789abcdefABCDEF"
_HEX_DIGITS = frozenset(_HEX_BYTES)


class BadRequest(InvalidParameter):
    """A request the HTTP layer cannot read (malformed head, broken chunked body)."""


class BadChunk(RuntimeFailure, BadRequest):
    """A chunked body that breaks its framing, worded as Go's net/http words it. dockerd's
    handler gets that error from its read of the body and answers it as any unclassified
    error: 500 with the message (dockerd 20.10, compared in tests/api/test_robustness.py);
    RuntimeFailure first gives that status."""


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; empty data is the terminating chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"


class ChunkedDecoder:
    """Incremental decoder: `feed` bytes, get payload bytes; `done` after the last chunk and
    its trailers. Chunk sizes are bounded by nothing but the caller reads in bounded pieces."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0      # payload bytes left in the current chunk
        self._state = "size"     # size | data | data_crlf | trailer | done
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while True:
            if self._state == "size":
                end = self._buf.find(b"\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise BadChunk("header line too long")
                    break
                size = self._size(bytes(self._buf[:end]))
                del self._buf[:end + 1]
                self._remaining = size
                self._state = "data" if size else "trailer"
            elif self._state == "data":
                if not self._buf:
                    break
                take = min(self._remaining, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data_crlf"
            elif self._state == "data_crlf":
                end = self._buf.find(b"\n")
                if end < 0:
                    if len(self._buf) > 2:
                        raise BadChunk("malformed chunked encoding")
                    break
                if bytes(self._buf[:end]).strip(b"\r"):
                    raise BadChunk("malformed chunked encoding")
                del self._buf[:end + 1]
                self._state = "size"
            elif self._state == "trailer":
                end = self._buf.find(b"\n")
                if end < 0:
                    if len(self._buf) > MAX_TRAILER:
                        raise BadRequest("trailer too long")
                    break
                line = bytes(self._buf[:end]).rstrip(b"\r")
                del self._buf[:end + 1]
                if not line:
                    self._state = "done"
                    self.done = True
            else:  # done: anything after belongs to the next request
                break
        return bytes(out)

    @staticmethod
    def _size(line: bytes) -> int:
        """The size of a chunk from its size line (without its LF)."""
        text = line.split(b";", 1)[0].rstrip(b" \t\r")
        # hex digits only, as Go's net/http reads them (int() would also take "+5", "1_0",
        # "0x5", " 5"), at most 16 of them; Go's checks in Go's order, with its words
        if 0 < len(text) <= 16 and not text.strip(_HEX_BYTES):
            return int(text, 16)   # every size line of a good body: one C-level check
        if not text:
            raise BadChunk("empty hex number for chunk length")
        for i, byte in enumerate(text):   # which of Go's errors it is
            if byte not in _HEX_DIGITS:
                raise BadChunk("invalid byte in chunk length")
            if i == 16:
                raise BadChunk("http chunk length too large")
        return int(text, 16)

    def decode_in_place(self, buf: bytearray, start: int, end: int) -> int:
        """`feed` for large bodies received into a buffer: the payload in `buf[start:end]` is moved
        to `buf[start:]` (framing dropped; each byte moved at most once, by memmove) and the end
        of the payload returned. A framing line cut at `end` is kept here for the next call, and
        what follows the body's end is `leftover()`, as with `feed`."""
        out, pos = start, start
        view = memoryview(buf)
        try:
            while pos < end:
                if self._state == "data" and not self._buf:
                    take = min(self._remaining, end - pos)
                    if out != pos:
                        view[out:out + take] = view[pos:pos + take]
                    out += take
                    pos += take
                    self.took(take)
                elif self._state == "data_crlf" and not self._buf and buf.startswith(b"\r\n", pos):
                    # the common case at full speed: CRLF, then a whole size line
                    nl = buf.find(b"\n", pos + 2, end)
                    if nl < 0:
                        pos += 2
                        self._state = "size"
                        continue
                    size = self._size(bytes(view[pos + 2:nl]))
                    pos = nl + 1
                    self._remaining = size
                    self._state = "data" if size else "trailer"
                elif self._state == "done":
                    self._buf += view[pos:end]
                    break
                else:  # framing, one line at a time (no payload comes out of `feed` for it)
                    nl = buf.find(b"\n", pos, end)
                    line_end = end if nl < 0 else nl + 1
                    if self.feed(bytes(view[pos:line_end])):
                        raise AssertionError("chunk data decoded as framing")
                    pos = line_end
        finally:
            view.release()
        return out

    def room(self) -> int:
        """Payload bytes of the current chunk a reader may receive straight into its own buffer,
        bypassing `feed` (then `took` them): nonzero only inside a chunk's data with nothing
        buffered here."""
        return self._remaining if self._state == "data" and not self._buf else 0

    def took(self, n: int) -> None:
        """`n` payload bytes of the current chunk were received directly (at most `room()`)."""
        self._remaining -= n
        if self._remaining == 0:
            self._state = "data_crlf"

    def framing(self, peeked: bytes) -> int:
        """How many bytes at the head of `peeked` are framing only, up to the next chunk's data:
        the CRLF ending a chunk's data and the next size line (0: not all of it is there, or the
        decoder is not between chunks). `feed` them, and the data that follows can be received
        directly."""
        if self._buf or self._state not in ("data_crlf", "size"):
            return 0
        lines = 2 if self._state == "data_crlf" else 1
        end = -1
        for _ in range(lines):
            end = peeked.find(b"\n", end + 1)
            if end < 0:
                return 0
        return end + 1

    def leftover(self) -> bytes:
        """Bytes received after the end of the body (a pipelined next request)."""
        return bytes(self._buf) if self.done else b""
