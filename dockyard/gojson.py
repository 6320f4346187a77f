"""JSON bytes as Go's encoding/json writes them, for files and streams Docker's tools read
byte for byte (config.json, the Engine API's JSON messages): non-ASCII as UTF-8; `<`, `>`, `&`,
U+2028 and U+2029 escaped; lone surrogates as `\\uXXXX`; compact (Encoder/Marshal) or indented
(MarshalIndent); no final newline."""

from __future__ import annotations

import json

TYPE_CHECKING = False  # the light client loads this module (dockyard/client's budget)
if TYPE_CHECKING:
    from typing import Any

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any, *, indent: str | None = None) -> bytes:
    # str.replace and the encoder, not a regular expression: compiling the character class of
    # the surrogates took ~0.5 ms at each start of the program (a cached build writes a config)
    text = json.dumps(value, indent=indent, ensure_ascii=False,
                      separators=None if indent is not None else (",", ":"))
    for char, escape in _ESCAPES.items():
        if char in text:
            text = text.replace(char, escape)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text).encode("utf-8")
