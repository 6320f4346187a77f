"""JSON bytes as Go's encoding/json writes them, for files and streams Docker's tools read
byte for byte (config.json, the Engine API's JSON messages): non-ASCII as UTF-8; `<`, `>`, `&`,
U+2028 and U+2029 escaped; lone surrogates as `\\uXXXX`; compact (Encoder/Marshal) or indented
(MarshalIndent); no final newline."""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # the light client loads this module (dockyard/client's budget)
if TYPE_CHECKING:
    from typing import Any

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPE_RE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def go_json(value: Any, *, indent: str | None = None) -> bytes:
    text = json.dumps(value, indent=indent, ensure_ascii=False,
                      separators=None if indent is not None else (",", ":"))
    text = _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04x}", text)
    return text.encode("utf-8")
