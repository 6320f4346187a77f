""".dockerignore reading and matching; cases.txt was recorded from the docker CLI (see its header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.builder.dockerignore import IgnoreMatcher, go_clean, read_ignore_lines
from dockyard.errors import InvalidParameter

CASES_FILE = Path(__file__).parent.parent / "data" / "dockerignore" / "cases.txt"


def _cases() -> list[tuple[list[str], str, bool]]:
    cases = []
    for line in CASES_FILE.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("# "):
            continue
        fields = line.split(" ; ")
        patterns, path, expected = fields[0], fields[1], fields[2]
        assert expected in ("excluded", "included"), line
        cases.append((patterns.split(" , "), path, expected == "excluded"))
    return cases


CASES = _cases()


def test_enough_cases() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(
    ("lines", "path", "excluded"), CASES, ids=[f"{' , '.join(c[0])}~{c[1]}" for c in CASES]
)
def test_case(lines: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher.from_lines(lines).matches(path) is excluded


def test_read_all_like_ignorefile() -> None:
    # moby/patternmatcher ignorefile.ReadAll: comments only at line start, "/x" -> "x", "! /x" -> "!x".
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert read_ignore_lines(content.split("\n")) == [
        "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!",
    ]
    assert read_ignore_lines(["\ufeffa", "\ufeffb", "c\r", "./d/", "/", "  #x  "]) == [
        "a", "\ufeffb", "c", "d", "/", "#x",
    ]


def test_from_file_bom_crlf_and_missing(tmp_path: Path) -> None:
    ignore = tmp_path / ".dockerignore"
    ignore.write_bytes(b"\xef\xbb\xbf*.log\r\n!keep.log\r\n# c\r\n")
    matcher = IgnoreMatcher.from_file(ignore)
    assert [str(p) for p in matcher.patterns] == ["*.log", "!keep.log"]
    assert matcher.matches("x.log") and not matcher.matches("keep.log")
    empty = IgnoreMatcher.from_file(tmp_path / "missing")  # a missing file ignores nothing
    assert not empty and not empty.matches("anything")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[", "syntax error in pattern"),
        ("[]", "syntax error in pattern"),
        ("[a-]", "syntax error in pattern"),
        ("[-a]", "syntax error in pattern"),
        ("[^]", "syntax error in pattern"),
        ("a[b", "syntax error in pattern"),
        ("a\\", "syntax error in pattern"),
        ("!", 'illegal exclusion pattern: "!"'),
        ("\\q", "unsupported escape"),
        ("[z-a]", "bad character range"),
    ],
)
def test_invalid_patterns(line: str, message: str) -> None:
    # The docker CLI reports "error checking context: syntax error in pattern" for these.
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[").replace("\\", "\\\\")):
        IgnoreMatcher.from_lines(["ok", line])


def test_odd_patterns_as_docker_reads_them() -> None:
    # All checked with the docker CLI: "[]a]" and "[a-b-]x" are syntax errors for filepath.Match.
    for line in ("[]a]", "[a-b-]x"):
        with pytest.raises(InvalidParameter, match="syntax error in pattern"):
            IgnoreMatcher.from_lines([line])
    for line in ("[\\]]", "a]"):
        IgnoreMatcher.from_lines([line])
    # "[*]" becomes the regexp "[[^/]*]": it does not match "*" (Docker sends "*"), but "]" does.
    star_class = IgnoreMatcher.from_lines(["[*]"])
    assert not star_class.matches("*") and star_class.matches("]")
    assert IgnoreMatcher.from_lines(["\\d"]).matches("7")  # Go regexp meaning kept, as in Docker


def test_root_is_never_excluded_and_paths_are_cleaned() -> None:
    matcher = IgnoreMatcher.from_lines(["**", "*"])
    assert not matcher.matches(".") and not matcher.matches("") and not matcher.matches("/")
    only_a = IgnoreMatcher.from_lines(["a"])
    assert only_a.matches("./a/x") and only_a.matches("/a") and only_a.matches("b/../a/")


def test_walk_semantics_differ_from_stateless_matching() -> None:
    # A pattern skipped for the parent is not inherited by the child (MatchesUsingParentResults);
    # MatchesOrParentMatches re-checks the parent. Docker's walkers use the first.
    matcher = IgnoreMatcher.from_lines(["a", "!a/x", "a"])
    assert not matcher.matches("a/x")
    assert matcher.matches_or_parent_matches("a/x")


def test_can_skip_dir() -> None:
    no_exceptions = IgnoreMatcher.from_lines(["build", "**/node_modules"])
    assert no_exceptions.can_skip_dir("build")
    assert no_exceptions.can_skip_dir("a/b/node_modules")
    assert not no_exceptions.can_skip_dir("src")  # not excluded at all

    prefix = IgnoreMatcher.from_lines(["d", "!d/keep/x", "e/**", "!e/f/**"])
    assert not prefix.can_skip_dir("d")  # an exception lies beneath
    assert not prefix.can_skip_dir("d/keep")
    assert prefix.can_skip_dir("d/other")
    assert not prefix.can_skip_dir("e/f")
    assert prefix.can_skip_dir("e/g")

    # An exception with a wildcard may re-include anything anywhere: never skip (fsutil).
    wild = IgnoreMatcher.from_lines(["d", "!**/*.keep"])
    assert not wild.can_skip_dir("d")
    assert wild.matches("d/x") and not wild.matches("d/deep/y.keep")


def test_go_clean() -> None:
    assert [go_clean(p) for p in ("", ".", "a//b/", "./a/./b", "a/../..", "/../a", "a/b/../c", "//x")] == [
        ".", ".", "a/b", "a/b", "..", "/a", "a/c", "/x",
    ]


def test_linear_matcher_agrees_with_the_regexp() -> None:
    # Patterns are matched by an NFA simulation (linear time, like Go's RE2) where possible; the
    # translated regexp is the reference. Random patterns and paths over a nasty alphabet.
    import random

    from dockyard.builder.dockerignore import Pattern, _check_match_syntax, _match_tokens

    rnd = random.Random(7)
    compared = backwards = 0
    for _ in range(4000):
        text = "".join(rnd.choice("ab/*?.[]-^\\!+\n") for _ in range(rnd.randint(1, 8)))
        try:
            _check_match_syntax(text)
            pattern = Pattern.compile(text, False)
        except Exception as exc:  # noqa: BLE001 - invalid random patterns are simply skipped
            backwards += "bad character range" in str(exc)
            continue
        # Pattern.compile compiles the expression only where tokens cannot match, or a class
        # range goes backwards (re's error): whatever it accepts compiles (no error deferred)
        assert pattern.source is None or pattern.regexp is not None, text
        if pattern.regexp is None or pattern.tokens is None:
            continue
        for _ in range(6):
            path = "".join(rnd.choice("ab/.-^!*[]\n+") for _ in range(rnd.randint(0, 8)))
            assert _match_tokens(pattern.tokens, path) == (pattern.regexp.match(path) is not None), (text, path)
            compared += 1
    assert compared > 5000 and backwards >= 1
    # and every class range of two of these characters (escaped too, but `\\a` is a control
    # character), either way round: the backwards ones are refused with re's error, the others
    # compile (lazily where tokens match)
    checked = 0
    for lo in "!+./ab^]":
        for hi in "!+./ab^]":
            escaped = [] if lo.isalnum() or hi.isalnum() else [f"[\\{lo}-\\{hi}]"]
            for text in [f"[{lo}-{hi}]", f"x[^{lo}-{hi}a]*", *escaped]:
                try:
                    _check_match_syntax(text)
                except ValueError:
                    continue
                checked += 1
                try:
                    pattern = Pattern.compile(text, False)
                except ValueError as exc:
                    assert lo > hi and "bad character range" in str(exc), text
                    continue
                assert lo <= hi and pattern.tokens is not None and pattern.regexp is not None, text
    assert checked > 100


def test_pathological_pattern_is_fast() -> None:
    import time

    matcher = IgnoreMatcher.from_lines(["*a*a*a*a*a*a*a*a*a*a*b"])  # catastrophic for backtracking
    start = time.perf_counter()
    assert not matcher.matches("a" * 255)
    assert matcher.matches("a" * 254 + "b")
    # no speed bound (a loaded machine may stall the process for a while): a backtracking
    # matcher tries ~255**10/10! ways here, years, and a linear one finishes in microseconds
    assert time.perf_counter() - start < 60


def test_patterns_survive_copies_and_pickles() -> None:
    # a pattern's kind is one object per kind (compared with `is`, as the Enum it replaced)
    import copy
    import pickle

    matcher = IgnoreMatcher(["*.log", "!keep.log", "a/**", "**/b"])
    for other in (copy.deepcopy(matcher), pickle.loads(pickle.dumps(matcher))):
        assert [p.kind for p in other.patterns] == [p.kind for p in matcher.patterns]
        assert all(a.kind is b.kind for a, b in zip(other.patterns, matcher.patterns))
        assert [other.matches(p) for p in ("x.log", "keep.log", "a/c", "d/b")] == [True, False, True, True]
