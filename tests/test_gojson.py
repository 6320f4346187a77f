"""dockyard.gojson.go_json: Go's encoding/json bytes; checked against the regular expression it
replaced (each of <, >, &, U+2028, U+2029 and every lone surrogate as \\uXXXX)."""

from __future__ import annotations

import json
import re

import pytest

from dockyard.gojson import go_json

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _reference(value: object, indent: str | None = None) -> bytes:
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent is not None else (",", ":"))
    return re.sub("[<>&\u2028\u2029\ud800-\udfff]",
                  lambda m: _ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04x}", text).encode("utf-8")


@pytest.mark.parametrize("value", [
    {"a": "<&>"}, {"k<": ["x\u2028y\u2029", 1, 2.5, None, True]}, "plain", "é ☃ 😀",
    {"bad": "a\ud800b\udfffc", "\udc80key": "<\udbff>"}, ["\ud83d\ude00"], {},
])
@pytest.mark.parametrize("indent", [None, "  ", "\t"])
def test_go_json_is_what_the_regular_expression_wrote(value: object, indent: str | None) -> None:
    assert go_json(value, indent=indent) == _reference(value, indent)


def test_go_json_escapes_as_go_writes() -> None:
    assert go_json({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'
    assert go_json(["a\ud800"]) == b'["a\\ud800"]'
    assert go_json({"x": "\u2028"}, indent="  ") == b'{\n  "x": "\\u2028"\n}'
