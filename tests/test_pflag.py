"""Boolean flags read as the docker CLI (Go's pflag) reads them, for every boolean flag of every
command (issue 12 item 1): `--flag`, `--flag=VALUE` and `-f=VALUE` with strconv.ParseBool's
spellings; a bool never takes the next word; anything else is pflag's error, exit status 125."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from dockyard.cli.main import build_parser
from dockyard.cli.pflag import PflagBool

PARSER = build_parser()
TRUE = ["1", "t", "T", "TRUE", "true", "True"]
FALSE = ["0", "f", "F", "FALSE", "false", "False"]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):  # noqa: ANN202
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, prefix + (name,))
    yield prefix, parser


def _bool_flags() -> list[tuple[tuple[str, ...], PflagBool]]:
    out = []
    for words, parser in _commands(PARSER):
        out += [(words, a) for a in parser._actions if isinstance(a, PflagBool)]
    return out


def _required(parser_words: tuple[str, ...]) -> list[str]:
    """Enough positionals for the command to parse."""
    parser = dict(_commands(PARSER))[parser_words]
    out = []
    for action in parser._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            if action.nargs in (None, "+", 1):
                out.append("x")
            out += ["x"] * getattr(action, "least", 0)   # exec's COMMAND
    return out


def _parse(argv: list[str]) -> argparse.Namespace:
    with contextlib.redirect_stderr(io.StringIO()):
        return PARSER.parse_args(argv)


def test_every_command_has_its_bools_as_pflag_bools() -> None:
    flags = _bool_flags()
    names = {(w, a.option_strings[-1]) for w, a in flags}
    # a sample of what the issue names: build's --no-cache/--rm/-q/--pull/--force-rm, -a...
    for expected in [(("build",), "--no-cache"), (("build",), "--rm"), (("build",), "--quiet"),
                     (("build",), "--pull"), (("build",), "--force-rm"), (("images",), "--all"),
                     (("run",), "--rm"), (("commit",), "--pause"), (("history",), "--human")]:
        assert expected in names
    assert not [a for _, p in _commands(PARSER) for a in p._actions
                if isinstance(a, argparse._StoreTrueAction)]


@pytest.mark.parametrize("words,action", _bool_flags(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v.option_strings[-1])
def test_each_bool_takes_pflag_values(words: tuple[str, ...], action: PflagBool) -> None:
    rest = _required(words)
    for name in action.option_strings:
        for value in TRUE:
            assert getattr(_parse([*words, f"{name}={value}", *rest]), action.dest) is True
        for value in FALSE:
            assert getattr(_parse([*words, f"{name}={value}", *rest]), action.dest) is False
        assert getattr(_parse([*words, name, *rest]), action.dest) is True
    # the last one wins, whichever way it is written
    long = action.option_strings[-1]
    assert getattr(_parse([*words, long, f"{long}=false", *rest]), action.dest) is False
    assert getattr(_parse([*words, f"{long}=false", long, *rest]), action.dest) is True


def test_defaults_and_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse(["build", "."]).rm is True and _parse(["build", "--rm=false", "."]).rm is False
    assert _parse(["build", "."]).no_cache is False
    assert _parse(["images", "-aq"]).all is True
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["images", "-a=maybe"])
    assert exc.value.code == 125
    err = capsys.readouterr().err
    assert err.startswith('Error: invalid argument "maybe" for "-a, --all" flag: '
                          'strconv.ParseBool: parsing "maybe": invalid syntax\n')


def test_cli_end_to_end(dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    # the seed's own command line: `dockyard build --no-cache=true ctx`
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    out = dockyard("build", "--no-cache=true", "--rm=false", "-q=true", str(tmp_path)).stdout
    assert out.startswith("sha256:")
    assert dockyard("images", "-q=1", "-a=false").stdout.strip()
    bad = dockyard("build", "--rm", "false", str(tmp_path), check=False)
    assert bad.returncode != 0  # a bool takes no value from the next word: two contexts
