"""The protocol buffers wire format, as far as the docker CLI's BuildKit session needs it: fields
written one by one (varints, length-delimited bytes and nested messages) and read back as
(field number, value) pairs. No schema, no I/O; the messages themselves are written where their
protocol lives (dockyard.api.buildkit_session).
"""

from __future__ import annotations

from typing import Iterator

from dockyard.errors import InvalidParameter

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 negatives: ten bytes, two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def uint(number: int, value: int) -> bytes:
    """A varint field (int32/64, uint32/64, bool, enum); zero is not written (proto3)."""
    return varint(number << 3 | VARINT) + varint(value) if value else b""


def blob(number: int, value: bytes) -> bytes:
    """A length-delimited field (bytes, string, a nested message); empty is not written."""
    return varint(number << 3 | BYTES) + varint(len(value)) + value if value else b""


def text(number: int, value: str) -> bytes:
    return blob(number, value.encode("utf-8", "surrogateescape"))


def message(number: int, value: bytes) -> bytes:
    """A nested message: written even when empty (its presence means something)."""
    return varint(number << 3 | BYTES) + varint(len(value)) + value


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise InvalidParameter("malformed protobuf message (varint)")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Each field of a message in order: varints as ints, length-delimited as bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == VARINT:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif kind == BYTES:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise InvalidParameter("malformed protobuf message (length)")
            yield number, data[pos:pos + size]
            pos += size
        elif kind in (FIXED64, FIXED32):
            size = 8 if kind == FIXED64 else 4
            yield number, int.from_bytes(data[pos:pos + size], "little")
            pos += size
        else:
            raise InvalidParameter(f"malformed protobuf message (wire type {kind})")


def signed(value: int) -> int:
    """An int64 read as a varint."""
    return value - (1 << 64) if value >= 1 << 63 else value
