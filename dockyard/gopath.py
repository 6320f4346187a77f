"""Go's path.Match (and filepath.Match on Linux): the one glob Docker uses for COPY wildcards and
for the `reference=` image filter.

`*` matches any run of characters but `/`, `?` one character but `/`, `[...]`/`[^...]` a class
of characters and ranges (`\\` escapes inside and outside classes), any other character itself.
A malformed pattern is Go's ErrBadPattern: `syntax error in pattern`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dockyard.errors import InvalidParameter


def _bad(pattern: str) -> InvalidParameter:
    return InvalidParameter(f"syntax error in pattern: {pattern}")


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The regex of the class starting after `[` at `i`, and the index after its `]`."""
    out = ["["]
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    ranges = 0
    while True:
        if i >= len(pattern):
            raise _bad(pattern)
        if pattern[i] == "]" and ranges:
            return "".join(out) + "]", i + 1
        lo, i = _class_char(pattern, i)
        out.append(re.escape(lo))
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise _bad(pattern)
            out.append("-" + re.escape(hi))
        ranges += 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise _bad(pattern)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise _bad(pattern)
    return pattern[i], i + 1


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= len(pattern):
                raise _bad(pattern)
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            regex, i = _class(pattern, i + 1)
            out.append(regex)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def match(pattern: str, name: str) -> bool:
    """Go's path.Match(pattern, name); InvalidParameter for a malformed pattern."""
    return compile_pattern(pattern).match(name) is not None
