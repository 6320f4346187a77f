"""dockyard.gojson.go_json: Go's encoding/json bytes; checked against the regular expression it
replaced (each of <, >, &, U+2028, U+2029 and every lone surrogate as \\uXXXX) over json.dumps,
which the compact form no longer imports (it calls json's C encoder itself). gojson.loads: json's
C scanner without json, the same values as json.loads."""

from __future__ import annotations

import json
import re

import pytest

from dockyard.gojson import go_json, loads, reject_constant

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _reference(value: object, indent: str | None = None) -> bytes:
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent is not None else (",", ":"))
    return re.sub("[<>&\u2028\u2029\ud800-\udfff]",
                  lambda m: _ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04x}", text).encode("utf-8")


@pytest.mark.parametrize("value", [
    {"a": "<&>"}, {"k<": ["x\u2028y\u2029", 1, 2.5, None, True]}, "plain", "é ☃ 😀",
    {"bad": "a\ud800b\udfffc", "\udc80key": "<\udbff>"}, ["\ud83d\ude00"], {},
    # what json's encoder does beyond strings: numbers, keys that are not strings, nesting
    {1: 2, 2.5: -0.0, True: False, None: [], "n": 12345678901234567890, "f": 1e300, "e": 1e-7},
    [float("nan"), float("inf"), -float("inf")], (1, (2, {"t": ()})), 7, -3.25, None, [[[]], {}],
    {"\x00\x1f\x7f\"\\/": "\t\n\r\b\f"},
])
@pytest.mark.parametrize("indent", [None, "  ", "\t"])
def test_go_json_is_what_the_regular_expression_wrote(value: object, indent: str | None) -> None:
    assert go_json(value, indent=indent) == _reference(value, indent)


def test_go_json_escapes_as_go_writes() -> None:
    assert go_json({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'
    assert go_json(["a\ud800"]) == b'["a\\ud800"]'
    assert go_json({"x": "\u2028"}, indent="  ") == b'{\n  "x": "\\u2028"\n}'


def test_go_json_refuses_what_json_dumps_refuses() -> None:
    for value in ({"a": object()}, {(1, 2): "tuple key"}, {1j}):
        with pytest.raises(TypeError) as ours:
            go_json(value)
        with pytest.raises(TypeError) as theirs:
            json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        assert str(ours.value) == str(theirs.value)
    circular: list = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        go_json(circular)


@pytest.mark.parametrize("text", [
    '{"auths": {"r:5000": {"auth": "dTpw"}}, "credsStore": "pass"}', ' {"a": [1, -2, 3.5e3, 1E-2]} \r\n',
    '"\u00e9\u2028"', "[]", "0", '{"n": 12345678901234567890123, "f": -0.0, "dup": 1, "dup": 2}',
    '{"s": "tab\\t quote\\" \\u003e\\ud83d\\ude00"}', "true", "null",
])
def test_loads_is_json_loads(text: str) -> None:
    assert loads(text) == json.loads(text)
    assert loads(text, constants=False) == json.loads(text, parse_constant=reject_constant)


@pytest.mark.parametrize("text", ["", "  ", "{", '{"a":}', '{"a":1} x', "[1,]", '"\x01"', "tru",
                                  "\ufeff{}", "NaN", '{"a": -Infinity}', "[Infinity]"])
def test_loads_refuses_what_json_loads_refuses(text: str) -> None:
    """Without constants (Go's reading: config.json), NaN and the infinities too."""
    with pytest.raises(ValueError):
        json.loads(text, parse_constant=reject_constant)
    with pytest.raises(ValueError):
        loads(text, constants=False)
    if "N" not in text and "Infinity" not in text:
        with pytest.raises(ValueError):
            loads(text)
    else:
        assert repr(loads(text)) == repr(json.loads(text))
