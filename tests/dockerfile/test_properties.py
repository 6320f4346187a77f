"""Property tests: the parser never crashes, raises only DockerfileError, and round-trips.

`parse(str(parse(x))) == parse(x)` for any x that parses (random text and generated valid
Dockerfiles); the lexer raises only its own error on random words.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.dockerfile import ShellLex, parse
from dockyard.dockerfile.shell import ShellError
from dockyard.errors import DockerfileError

SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Text biased toward Dockerfile syntax so random input reaches deep parser paths.
ALPHABET = st.sampled_from(
    list("FROMRUNCOPYENVARGLABELfromrun \t\n\\`'\"$={}[]<>#:-/,.*?%~ab01")
    + ["FROM ", "RUN ", "COPY ", "ENV ", "ONBUILD ", "HEALTHCHECK ", "<<EOF", "EOF\n", "--", "\r\n",
       "# escape=`\n", "${", "\u00e9", "\x00", "\x85"]
)  # fmt: skip
DOCKERISH = st.lists(ALPHABET, max_size=60).map("".join)


def check_roundtrip(data: str | bytes) -> None:
    try:
        df = parse(data)
    except DockerfileError as err:
        assert str(err)  # a message, and nothing but DockerfileError
        return
    again = parse(str(df))
    assert again == df


@SETTINGS
@given(DOCKERISH)
def test_random_dockerish_text(text: str) -> None:
    check_roundtrip(text)
    check_roundtrip("FROM scratch\n" + text)


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check_roundtrip(data)


# -- generated valid Dockerfiles ------------------------------------------------------------

# The words of r"[a-z0-9][a-z0-9_./-]{0,7}" and the names of r"[A-Za-z_][A-Za-z0-9_]{0,6}" (what
# st.from_regex(..., fullmatch=True) drew before: the same strings, drawn without the regex
# machinery, which was a third of the generated Dockerfiles test's CPU).
_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
WORD = st.builds(str.__add__, st.sampled_from(_LOWER + _DIGITS), st.text(_LOWER + _DIGITS + "_./-", max_size=7))
NAME = st.builds(str.__add__, st.sampled_from(_LOWER + _UPPER + "_"),
                 st.text(_LOWER + _UPPER + _DIGITS + "_", max_size=6))
SHELL_TEXT = st.text(alphabet="abc $&|;'\"(){}=/\\-", min_size=1, max_size=30).filter(
    lambda s: s.strip()
    and not s.strip().startswith("[")
    and not s.lstrip().startswith("--")
    and not s.rstrip(" \t").endswith(("\\", "`"))  # that would continue onto the next line
)
JSON_ARGS = st.lists(st.text(max_size=10), max_size=4).map(lambda a: json.dumps(a, ensure_ascii=False))


# Every strategy is made once, here: one made inside a composite is made again, and validated
# again, at each draw, which was most of the tests' time (same draws, same examples either way).
KINDS = st.sampled_from(["RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "LABEL", "ARG", "EXPOSE",
                         "WORKDIR", "USER", "VOLUME", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "SHELL",
                         "HEREDOC"])  # fmt: skip
COMMAND = st.one_of(SHELL_TEXT, JSON_ARGS)
COPY_FLAGS = st.lists(st.sampled_from(["--chown=1:1", "--chmod=644", "--link"]), max_size=2, unique=True)
COPY_WORDS = st.lists(WORD, min_size=2, max_size=4)
PAIRS = st.lists(st.tuples(NAME, WORD), min_size=1, max_size=3)
ARG_DEFAULT = st.sampled_from(["", "=1", "=a b".replace(" ", "_")])
PORT = st.integers(1, 65535)
PROTOCOL = st.sampled_from(["", "/udp", "/tcp"])
VOLUMES = st.one_of(WORD, st.lists(WORD, min_size=1, max_size=3).map(json.dumps))
HEALTH = st.sampled_from(["NONE", "--interval=5s CMD true", 'CMD ["a"]'])
HEREDOC_BODY = st.lists(st.text(alphabet="abc $\t\"'", max_size=10), max_size=3)
ESCAPE = st.sampled_from(["\\", "`"])
BLANK = st.sampled_from(["", "# a comment", "   "])
CUTS = st.lists(st.integers(0, 50), max_size=2)
_KEYWORDS: dict[str, st.SearchStrategy[str]] = {}


def keyword(kw: str) -> st.SearchStrategy[str]:
    if kw not in _KEYWORDS:
        _KEYWORDS[kw] = st.sampled_from([kw, kw.lower(), kw.capitalize()])
    return _KEYWORDS[kw]


@st.composite
def _instruction(draw: st.DrawFn) -> str:
    kind = draw(KINDS)
    kw = draw(keyword(kind if kind != "HEREDOC" else "RUN"))
    if kind in ("RUN", "CMD", "ENTRYPOINT"):
        return f"{kw} {draw(COMMAND)}"
    if kind in ("COPY", "ADD"):
        flags = draw(COPY_FLAGS)
        words = draw(COPY_WORDS)
        return " ".join([kw, *flags, *words])
    if kind in ("ENV", "LABEL"):
        pairs = draw(PAIRS)
        return kw + " " + " ".join(f'{k}="{v}"' for k, v in pairs)
    if kind == "ARG":
        return f"{kw} {draw(NAME)}" + draw(ARG_DEFAULT)
    if kind == "EXPOSE":
        return f"{kw} {draw(PORT)}" + draw(PROTOCOL)
    if kind in ("WORKDIR", "USER", "STOPSIGNAL"):
        return f"{kw} {draw(WORD)}"
    if kind == "VOLUME":
        return f"{kw} {draw(VOLUMES)}"
    if kind == "HEALTHCHECK":
        return f"{kw} {draw(HEALTH)}"
    if kind == "ONBUILD":
        return f"{kw} RUN {draw(SHELL_TEXT)}"
    if kind == "SHELL":
        return f'{kw} ["/bin/sh", "-c"]'
    body = draw(HEREDOC_BODY)
    chomp = draw(st.booleans())
    lines = "".join(("\t" if chomp else "") + b + "\n" for b in body)
    return f"{kw} <<{'-' if chomp else ''}EOF\n{lines}EOF"


INSTRUCTIONS = st.lists(_instruction(), max_size=6)


def split_continuations(line: str, cuts: list[int], escape: str = "\\") -> str:
    """Insert `\\`+newline (and sometimes a comment line) at word boundaries of the first line."""
    head, sep, rest = line.partition("\n")
    spaces = [i for i, c in enumerate(head) if c == " " and head[i + 1 :].strip()]
    for n, cut in enumerate(sorted({spaces[c % len(spaces)] for c in cuts} if spaces else [], reverse=True)):
        filler = "  # comment\n" if n % 2 else ""
        head = head[:cut] + " " + escape + "\n" + filler + "   " + head[cut:]
    return head + sep + rest


@st.composite
def dockerfile(draw: st.DrawFn) -> str:
    out = []
    if draw(st.booleans()):
        out.append("# syntax=docker/dockerfile:1")
    escape = draw(ESCAPE)
    if escape == "`":
        out.append("# escape=`")
    for _ in range(draw(st.integers(0, 2))):
        out.append(f"ARG {draw(NAME)}=x")
    for s in range(draw(st.integers(1, 3))):
        out.append(f"{draw(keyword('FROM'))} busybox AS s{s}")
        for ins in draw(INSTRUCTIONS):
            cuts = draw(CUTS)
            out.append(split_continuations(ins, cuts, escape))
            if draw(st.booleans()):
                out.append(draw(BLANK))
    return "\n".join(out) + "\n"


@SETTINGS
@given(dockerfile())
def test_valid_dockerfiles_parse_and_roundtrip(text: str) -> None:
    df = parse(text)
    assert len(df.stages) >= 1
    assert parse(str(df)) == df
    # printing is a fixed point after one round
    assert str(parse(str(df))) == str(df)


@SETTINGS
@given(st.text(alphabet="ab $\\`'\"{}:-+?#%/*.", max_size=30), st.sampled_from(["\\", "`"]))
def test_lexer_raises_only_its_error(word: str, escape: str) -> None:
    lex = ShellLex(escape)
    env = {"a": "x y", "b": ""}
    try:
        result = lex.process_word(word, env)
        words = lex.process_words(word, env)
    except ShellError:
        return
    assert isinstance(result, str)
    assert all(w for w in words)
