"""Golden tests of the Dockerfile parser.

- tests/data/dockerfile/parser/<case>/Dockerfile with <case>/result: the expected `dump()` of
  the parsed file, or `error: <message>`. Written from Docker's documented behaviour and its
  parser (moby/buildkit frontend/dockerfile), checked against dockerd where in doubt.
- tests/data/dockerfile/errors.txt: `<Dockerfile as JSON string> | <expected error>` lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.dockerfile import parse
from dockyard.dockerfile.dump import dump
from dockyard.errors import DockerfileError

DATA = Path(__file__).parent.parent / "data" / "dockerfile"
CASES = sorted(p for p in (DATA / "parser").iterdir() if p.is_dir())


def load_errors() -> list[tuple[str, bytes, str]]:
    out = []
    for lineno, line in enumerate((DATA / "errors.txt").read_text("utf-8").split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        raw = line.startswith("bytes:")
        if raw:
            line = line[len("bytes:") :]
        # The JSON string ends at the first `" | ` that closes it: let the decoder find it.
        text, end = json.JSONDecoder().raw_decode(line)
        assert line[end : end + 3] == " | ", f"errors.txt:{lineno}: no ' | ' after the JSON string"
        data = text.encode("latin-1") if raw else text.encode("utf-8")
        out.append((f"errors.txt:{lineno}", data, line[end + 3 :]))
    return out


ERRORS = load_errors()


def test_corpus_size() -> None:
    assert len(CASES) >= 100
    assert len(ERRORS) >= 100


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_parser_case(case: Path) -> None:
    data = (case / "Dockerfile").read_bytes()
    expected = (case / "result").read_text("utf-8")
    if expected.startswith("error: "):
        with pytest.raises(DockerfileError) as info:
            parse(data)
        assert str(info.value) == expected[len("error: ") :].rstrip("\n")
        return
    df = parse(data)
    assert dump(df) == expected
    # printing it back and parsing again gives the same Dockerfile
    assert parse(str(df)) == df


@pytest.mark.parametrize(("where", "data", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error(where: str, data: bytes, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(data)
    assert str(info.value) == message


def test_filename_in_errors() -> None:
    with pytest.raises(DockerfileError, match=r"^build/Dockerfile\.dev:2: unknown instruction: RUNN$"):
        parse("FROM busybox\nRUNN x\n", filename="build/Dockerfile.dev")


def test_str_input_same_as_bytes() -> None:
    text = "FROM busybox\nRUN echo \u00e9\n"
    assert parse(text) == parse(text.encode("utf-8"))


def test_huge_file_is_refused_clearly() -> None:
    # Not a Docker limit: a 40 MiB "Dockerfile" is refused with a message, not parsed.
    data = b"FROM busybox\n" + b"# padding line\n" * (40 * 1024 * 1024 // 15)
    with pytest.raises(DockerfileError, match=r"^Dockerfile: file is too large"):
        parse(data)


def test_step_text_and_lines() -> None:
    # `original` is what `docker build` prints as "Step N/M : <original>" (continuations joined).
    df = parse("FROM busybox\nRUN echo a \\\n  && echo b\n")
    run = df.stages[0].instructions[0]
    assert (run.original, run.start_line, run.end_line) == ("RUN echo a   && echo b", 2, 3)
    assert run.keyword == "RUN"


def test_line_longer_than_docker_allows() -> None:
    # Docker's scanner refuses a line of 64 KiB or more: "dockerfile line greater than max allowed size".
    data = "FROM busybox\nLABEL a=b\n" + "x" * 70000 + "\n"
    with pytest.raises(DockerfileError) as info:
        parse(data)
    assert str(info.value) == "Dockerfile:3: dockerfile line greater than max allowed size of 65535"


def test_empty_continuation_line_warning_as_dockerd_prints_it() -> None:
    # dockerd 20.10 printed exactly this for the Dockerfile below (and built it).
    from dockyard.dockerfile.document import format_warnings

    df = parse("FROM scratch\nRUN echo a \\\n\n  b\nRUN echo ok\n")
    assert format_warnings(df.warnings) == (
        "[WARNING]: Empty continuation line found in:\n"
        "    RUN echo a   b\n"
        "[WARNING]: Empty continuation lines will become errors in a future release.\n"
    )
    assert parse("FROM scratch\nRUN a \\\n  # comment only\n  b\n").warnings == []


def test_parse_file(tmp_path: Path) -> None:
    from dockyard.dockerfile import parse_file

    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM busybox\nRUNN x\n")
    with pytest.raises(DockerfileError, match=rf"^{path}:2: unknown instruction: RUNN$"):
        parse_file(path)
    path.write_bytes(b"FROM busybox AS Base\nFROM base\n")
    df = parse_file(path, filename="Dockerfile")
    assert df.filename == "Dockerfile"
    with pytest.raises(DockerfileError, match=r"^missing: cannot read: No such file or directory$"):
        parse_file(tmp_path / "nope", filename="missing")


def test_stage_lookup_by_name_or_index() -> None:
    # COPY --from / --target accept a stage name (any case) or its index, as Docker.
    df = parse("FROM busybox AS Base\nFROM base AS final\nFROM scratch\n")
    assert df.stage("BASE").index == 0
    assert df.stage("final") is df.stages[1]
    assert df.stage(2).base == "scratch"
    assert df.stage("2").base == "scratch"
    with pytest.raises(KeyError):
        df.stage("nope")
    with pytest.raises(KeyError):
        df.stage(3)
