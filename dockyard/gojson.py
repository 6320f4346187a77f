"""JSON bytes as Go's encoding/json writes them, for files and streams Docker's tools read
byte for byte (config.json, the Engine API's JSON messages): non-ASCII as UTF-8; `<`, `>`, `&`,
U+2028 and U+2029 escaped; lone surrogates as `\\uXXXX`; compact (Encoder/Marshal) or indented
(MarshalIndent); no final newline. And `loads`, json.loads without importing json.

The light client (dockyard/client's budget) reads the daemon's messages and the user's
config.json, and writes X-Registry-Config, at each start: json's import compiles six regular
expressions and loads re with enum, functools and collections (a cached client-mode build ran
70.3M instructions, 27.7M of them the bare interpreter's; without json, re and base64 42.3M, by
callgrind). So the compact form and `loads` use json's own C parts (`_json`) directly, the same
ones json.dumps and json.loads use; json is imported for the indented form only."""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # the light client loads this module (dockyard/client's budget)
if TYPE_CHECKING:
    from typing import Any

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any, *, indent: str | None = None) -> bytes:
    # str.replace and the encoder, not a regular expression: compiling the character class of
    # the surrogates took ~0.5 ms at each start of the program (a cached build writes a config)
    if indent is None:
        text = _compact(value)
    else:
        import json

        text = json.dumps(value, indent=indent, ensure_ascii=False)
    for char, escape in _ESCAPES.items():
        if char in text:
            text = text.replace(char, escape)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text).encode("utf-8")


def _not_serializable(value: object) -> object:
    """json.JSONEncoder.default: what the encoder cannot write is a TypeError."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _compact(value: Any) -> str:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":")): the C encoder json.dumps
    makes for these arguments (JSONEncoder.iterencode's one-shot path), called directly."""
    encode = _json.make_encoder({}, _not_serializable, _json.encode_basestring, None, ":", ",",
                                False, False, True)
    return "".join(encode(value, 0))


class _Decoding:
    """What json's C scanner reads from the decoder it serves: json.loads' defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity: float() reads them as json.loads maps them


def reject_constant(name: str) -> object:
    """json.loads' parse_constant as Go's decoder reads NaN, Infinity and -Infinity: no JSON."""
    raise ValueError(f"{name} is not JSON")


class _GoDecoding(_Decoding):
    """As Go's decoder: NaN, Infinity and -Infinity are no JSON."""

    parse_constant = staticmethod(reject_constant)


_scanners: dict[bool, Any] = {}
_WHITESPACE = " \t\n\r"


def loads(text: str, *, constants: bool = True) -> Any:
    """json.loads(text): the same values, a ValueError where json.loads refuses (its message
    may differ: read it again with json.loads to tell the user why). Not `constants`: NaN,
    Infinity and -Infinity are refused too, as Go's decoder refuses them."""
    scan = _scanners.get(constants)
    if scan is None:
        scan = _scanners[constants] = _json.make_scanner(_Decoding() if constants else _GoDecoding())
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = scan(text, start)
    except StopIteration as err:
        raise ValueError(f"Expecting value: char {err.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value
