"""Table-driven tests of the variable-expansion lexer (Docker's shell-word rules).

Data: tests/data/dockerfile/shell/expand.txt (process_word) and words.txt (process_words),
one `input | expected` case per line, with `ENV`, `UNSET` and `ESCAPE` lines setting the
environment and escape character for the cases after them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.dockerfile.shell import ShellError, ShellLex

DATA = Path(__file__).parent.parent / "data" / "dockerfile" / "shell"


@dataclass(frozen=True)
class Case:
    file: str
    lineno: int
    text: str
    expected: str
    env: tuple[tuple[str, str], ...]
    escape: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.lineno}"


def load(name: str) -> list[Case]:
    env: dict[str, str] = {}
    escape = "\\"
    cases = []
    for lineno, line in enumerate((DATA / name).read_text("utf-8").split("\n"), start=1):
        if line == "" or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[4:].partition("=")
            env[key] = value
            continue
        if line.startswith("UNSET "):
            env.pop(line[6:], None)
            continue
        if line.startswith("ESCAPE "):
            escape = line[7:]
            continue
        text, sep, expected = line.partition(" | ")
        assert sep, f"{name}:{lineno}: no ' | ' separator"
        cases.append(Case(name, lineno, text, expected, tuple(env.items()), escape))
    return cases


EXPAND = load("expand.txt")
WORDS = load("words.txt")


def test_tables_are_large() -> None:
    assert len(EXPAND) + len(WORDS) >= 200


@pytest.mark.parametrize("case", EXPAND, ids=[c.id for c in EXPAND])
def test_process_word(case: Case) -> None:
    lex = ShellLex(case.escape)
    env = dict(case.env)
    if case.expected.startswith("error"):
        with pytest.raises(ShellError) as info:
            lex.process_word(case.text, env)
        if case.expected.startswith("error: "):
            assert info.value.message == case.expected[len("error: ") :]
    else:
        assert lex.process_word(case.text, env) == case.expected


@pytest.mark.parametrize("case", WORDS, ids=[c.id for c in WORDS])
def test_process_words(case: Case) -> None:
    lex = ShellLex(case.escape)
    env = dict(case.env)
    if case.expected.startswith("error"):
        with pytest.raises(ShellError) as info:
            lex.process_words(case.text, env)
        assert info.value.message == case.expected[len("error: ") :]
    else:
        assert lex.process_words(case.text, env) == json.loads(case.expected)


def test_env_is_not_modified_and_lookup_is_case_sensitive() -> None:
    # Docker on Linux compares variable names case-sensitively.
    env = {"Foo": "1"}
    assert ShellLex().process_word("$foo$Foo", env) == "1"
    assert env == {"Foo": "1"}


def test_error_is_a_dockerfile_error() -> None:
    from dockyard.errors import DockerfileError

    with pytest.raises(DockerfileError):
        ShellLex().process_word("${", {})
