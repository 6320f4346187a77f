"""Go's path.Match (dockyard/gopath.py) and the `reference=` image filter built on it (Docker's
FamiliarMatch: the pattern against the familiar reference, else its familiar name)."""

from __future__ import annotations

import pytest

from dockyard.engine.images import _matches
from dockyard.errors import InvalidParameter
from dockyard.gopath import match
from dockyard.reference import parse_reference

# (pattern, name, Go's path.Match) -- as Go's own path/match_test.go cases go
CASES = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "ab/c", False), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abe", True),
    ("a\\*b", "a*b", True), ("a\\*b", "ab", False), ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False), ("*x", "xxx", True), ("a?c", "a/c", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "z", False), ("[a-b-c]", "a", False),
]
BAD = ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[\\-x]x[", "\\", "[a-b-c]"]


@pytest.mark.parametrize("pattern,name,expected", CASES)
def test_go_path_match(pattern: str, name: str, expected: bool) -> None:
    if pattern == "[a-b-c]":
        with pytest.raises(InvalidParameter):
            match(pattern, name)
        return
    assert match(pattern, name) is expected


@pytest.mark.parametrize("pattern", BAD)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(InvalidParameter, match="syntax error in pattern"):
        match(pattern, "a")


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("ref,pattern,expected", [
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1", True),  # the form of issue 12 item 13
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app", True),
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000/*:1", True),
    ("127.0.0.1:5000/app:1", "app", False),
    ("busybox:latest", "busybox", True), ("busybox:latest", "library/busybox", False),
    ("busybox:latest", "docker.io/library/busybox", False), ("busybox:latest", "busy*:l*", True),
    (f"127.0.0.1:5000/app@{DIGEST}", f"127.0.0.1:5000/app@{DIGEST}", True),
    (f"127.0.0.1:5000/app@{DIGEST}", "127.0.0.1:5000/app@sha256:*", True),
    (f"127.0.0.1:5000/app@{DIGEST}", "127.0.0.1:5000/app", True),
    ("a/b/c:1", "a/*:1", False), ("a/b/c:1", "a/*/c:1", True),
])
def test_reference_filter(ref: str, pattern: str, expected: bool) -> None:
    assert _matches(parse_reference(ref), pattern) is expected
