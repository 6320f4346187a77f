"""Engine API wire formats, bytes in / bytes out (no sockets)."""

from __future__ import annotations

import json

import pytest

from dockyard.api.framing import (
    BadRequest, ChunkedDecoder, aux_message, chunk, demux, error_message, go_json, mux_frame,
    parse_head, stream_message,
)


def test_mux_frame_header_is_docker_stdcopy() -> None:
    # Docker's stdcopy: [stream, 0, 0, 0, size (uint32 big endian)] then the payload.
    assert mux_frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert mux_frame(2, b"x" * 256)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x00"
    assert mux_frame(1, b"") == b"\x01" + b"\x00" * 7


def test_demux_round_trip_and_truncation() -> None:
    data = mux_frame(1, b"out") + mux_frame(2, b"err") + mux_frame(1, b"")
    assert list(demux(data)) == [(1, b"out"), (2, b"err"), (1, b"")]
    with pytest.raises(ValueError):
        list(demux(data[:-1] + mux_frame(1, b"abc")[:-1]))
    with pytest.raises(ValueError):
        mux_frame(3, b"x")


def test_chunk_encoding() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert chunk(b"") == b"0\r\n\r\n"


def _decode_in_pieces(data: bytes, size: int) -> tuple[bytes, ChunkedDecoder]:
    dec = ChunkedDecoder()
    out = b""
    for i in range(0, len(data), size):
        out += dec.feed(data[i:i + size])
    return out, dec


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_chunked_decoder_any_split(piece: int) -> None:
    body = chunk(b"hello ") + b"6;ext=1\r\nworld!\r\n" + chunk(b"") + b"GET / HTTP/1.1\r\n"
    out, dec = _decode_in_pieces(body, piece)
    assert out == b"hello world!"
    assert dec.done
    if piece == 1000:
        assert dec.leftover() == b"GET / HTTP/1.1\r\n"


def test_chunked_decoder_trailers() -> None:
    dec = ChunkedDecoder()
    assert dec.feed(b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n") == b"abc"
    assert not dec.done
    dec.feed(b"\r\n")
    assert dec.done


# a size Go's net/http refuses (hex digits only, at most 16), which int(text, 16) would take
_NOT_HEX = [b"+5\r\nabcde\r\n", b"1_0\r\n" + b"a" * 16 + b"\r\n", b"0x5\r\nabcde\r\n",
            b" 5\r\nabcde\r\n", b"-0\r\n\r\n", b"1" + b"0" * 16 + b"\r\n"]


@pytest.mark.parametrize("bad", [b"zz\r\nabc\r\n", b"3\r\nabcXX\r\n", b"f" * 2000, *_NOT_HEX])
def test_chunked_decoder_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        ChunkedDecoder().feed(bad)


def _decode_in_place_in_pieces(data: bytes, size: int) -> tuple[bytes, ChunkedDecoder, bytes]:
    """decode_in_place over `data` received `size` bytes at a time, each piece after 3 bytes
    of payload already in the buffer; returns the payload, the decoder, what was not given it."""
    dec, out, pos = ChunkedDecoder(), b"", 0
    while pos < len(data) and not dec.done:
        buf = bytearray(b"abc" + data[pos:pos + size])
        end = dec.decode_in_place(buf, 3, len(buf))
        assert buf[:3] == b"abc"
        out += bytes(buf[3:end])
        pos += size
    return out, dec, data[pos:]


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000, 1 << 20])
def test_chunked_decoder_in_place_any_split(piece: int) -> None:
    payload = bytes(range(256)) * 300
    body = (b"".join(chunk(payload[i:i + 32768]) for i in range(0, len(payload), 32768))
            + b"6;ext=1\r\nworld!\r\n" + b"0\r\nX-Trailer: 1\r\n\r\n" + b"GET / HTTP/1.1\r\n")
    out, dec, rest = _decode_in_place_in_pieces(body, piece)
    assert out == payload + b"world!"
    assert dec.done
    assert dec.leftover() + rest == b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize("bad", [b"zz\r\nabc\r\n", b"3\r\nabcXX\r\n", b"3\r\nabc\r\nzz\r\n", b"f" * 2000,
                                 *_NOT_HEX])
def test_chunked_decoder_in_place_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        ChunkedDecoder().decode_in_place(bytearray(bad), 0, len(bad))


def test_parse_head() -> None:
    head = parse_head(b"POST /v1.47/build?t=a&t=b&q=1 HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2")
    assert (head.method, head.path, head.version) == ("POST", "/v1.47/build", "HTTP/1.1")
    assert head.query == {"t": ["a", "b"], "q": ["1"]}
    assert head.chunked and head.keep_alive
    assert head.header("X-A") == "1, 2"
    assert not parse_head(b"GET / HTTP/1.0").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nConnection: close").keep_alive


@pytest.mark.parametrize("bad", [b"", b"GET /\r\n", b"GET / HTTP/2\r\n", b"GET / HTTP/1.1\r\nno colon",
                                 b"GET / HTTP/1.1\r\nBad Name: x"])
def test_parse_head_rejects(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_head(bad)


@pytest.mark.parametrize("value", [b"-1", b"\xb2", b"1_0", b"+1"])
def test_bad_content_length(value: bytes) -> None:
    """Go's net/http reads the length with ParseUint: ASCII digits only ('\xb2' is a
    superscript two in Latin-1, a digit to str.isdigit that int() refuses)."""
    with pytest.raises(BadRequest):
        parse_head(b"POST / HTTP/1.1\r\nContent-Length: " + value).content_length()


def test_json_messages_as_docker_writes_them() -> None:
    # Go's encoding/json escapes <, > and & ; every message ends with CRLF.
    assert stream_message(" ---> abc\n") == b'{"stream":" ---\\u003e abc\\n"}\r\n'
    assert aux_message({"ID": "sha256:1"}) == b'{"aux":{"ID":"sha256:1"}}\r\n'
    msg = json.loads(error_message("boom", 3))
    assert msg == {"errorDetail": {"code": 3, "message": "boom"}, "error": "boom"}
    assert go_json({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'


def test_registry_auth_header() -> None:
    """Docker's clients send base64url JSON; `e30=` is `{}` (no credentials)."""
    import base64

    from dockyard.api.registry import decode_auth_header
    from dockyard.engine.credentials import AuthConfig
    from dockyard.errors import InvalidParameter

    assert decode_auth_header("e30=") == AuthConfig()
    assert decode_auth_header("") == AuthConfig()
    value = base64.urlsafe_b64encode(json.dumps(
        {"username": "u", "password": "p?>", "serveraddress": "localhost:5000"}).encode()).decode()
    assert decode_auth_header(value.rstrip("=")) == AuthConfig("u", "p?>", "localhost:5000")
    for bad in ("!!!", base64.b64encode(b"[1]").decode(), base64.b64encode(b'{"username": 1}').decode()):
        with pytest.raises(InvalidParameter):
            decode_auth_header(bad)
