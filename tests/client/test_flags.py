"""The quick flag scanner (client/flags.py, read by client/main.py) against argparse: a command line it reads must mean
exactly what argparse makes of it, and everything else must be left to argparse. Both build modes, in process
(dockyard/main.py: a plain `build` line skips argparse) and as a client of serve, take what it reads."""

from __future__ import annotations

import contextlib
import functools
import io
import random

import pytest

from dockyard.cli.main import build_parser
from dockyard.client.main import read_command_line


@functools.cache
def _parser():  # noqa: ANN202
    """The whole parser, built once for the module (~45 ms of CPU each: a parser per line was 9 of
    the random test's 10 s). A parse leaves nothing on it for the next: its one state, the bool
    flags' queue (cli/pflag.prepare), is set afresh by each parse_args; 1000 of the random test's
    lines, refused ones included, gave the same values from it as from a new parser each."""
    return build_parser()


def _argparse(argv: list[str]) -> dict | None:
    """argparse's values for `argv` with the whole parser (but the functions it sets, `func` and
    `client`), or None when argparse refuses it."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            values = vars(_parser().parse_args(argv))
        except SystemExit:
            return None
    values.pop("func", None)
    values.pop("client", None)
    return values



READ_QUICKLY = [
    ["build", "."],
    ["-H", "unix:///run/d.sock", "build", "-t", "bench-small", "/tmp/ctx"],
    ["--host=unix:///s", "--root", "/r", "build", "-q", "-"],
    ["--root=/r", "image", "build", "--tag", "a:1", "-t", "b", "ctx"],
    ["build", "-f", "-", "."],
    ["build", ".", "-f", "sub/Dockerfile", "--file=Other"],
    ["build", "--build-arg", "A=1", "--build-arg=B", "--label", "l=v", "--label=k", "."],
    ["build", "--rm=false", "--force-rm", "--no-cache", "--pull", "--network", "host", "."],
    ["build", "--rm", "--target", "stage", "--iidfile", "/tmp/iid", "."],
    ["build", "--tag=", "."],
    ["build", "--quiet=1", "--no-cache=true", "--pull=False", "--force-rm=T", "--rm=0", "."],
    ["build", "-t", "", "."],
    ["build", "", ],
    # BuildKit mode's flags (DOCKER_BUILDKIT=1: read by the same scanner in process and as a client)
    ["build", "--progress=plain", "--secret", "id=a,src=/f", "--ssh=default", "-o", "type=tar,dest=-", "."],
    ["build", "--output=/tmp/out", "--metadata-file", "/tmp/m.json", "--no-cache-filter", "a", "."],
    ["build", "--allow", "security.insecure", "--platform=linux/amd64", "--cache-to", "type=local,dest=/c",
     "--cache-from=type=local,src=/c", "--explain-cache", "--waste", "."],
]

LEFT_TO_ARGPARSE = [
    ["build", "-h"], ["build", "--help"], ["-v"], ["--version"], ["images"], ["build"],
    ["build", "--ta", "x", "."],  # an abbreviation argparse accepts
    ["build", "-qt", "x", "."],  # grouped short options
    ["build", "-tx", "."], ["build", "-f=x", "."],
    ["build", "--rm", "false", "."],  # a bool takes no next word: two contexts, argparse's error
    ["build", "--rm=maybe", "."],  # not a bool: argparse writes pflag's error
    ["build", "--", "."], ["build", ".", "extra"], ["build", "-t"], ["build", "-t", "-x", "."],
    ["build", "-t", "-1", "."], ["build", "-t", "-a b", "."],
    ["-H"], ["--bogus", "build", "."], ["image"], ["image", "ls"], ["build", "-H", "x", "."],
]


@pytest.mark.parametrize("argv", READ_QUICKLY, ids=" ".join)
def test_plain_command_lines_are_read_without_argparse(argv: list[str]) -> None:
    quick = read_command_line(argv)
    assert quick is not None
    assert quick == _argparse(argv)


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_other_forms_are_left_to_argparse(argv: list[str]) -> None:
    assert read_command_line(argv) is None


def test_random_command_lines_mean_the_same_to_both_readers() -> None:
    """Random mixes of flags, values and positionals: whenever the scanner answers, argparse
    accepts the same line with the same values (and the scanner answers often enough to matter)."""
    words = ["-t", "--tag", "--tag=x", "-f", "--file", "--file=-", "-q", "--quiet", "--rm",
             "--rm=0", "--no-cache", "--build-arg", "A=1", "--label", "--network", "none",
             "--target", "--iidfile", "--pull", "--force-rm", ".", "-", "ctx", "x:1", "",
             "-x", "--", "-h", "--no", "-qf", "-H", "unix:///s", "--progress", "plain", "-o",
             "--output=-", "--secret", "id=a", "--no-cache-filter", "--allow", "--platform"]
    rng = random.Random(1234)
    answered = 0
    for _ in range(3000):
        head = rng.choice([[], ["-H", "unix:///s"], ["--root", "/r"], ["--host=unix:///s"]])
        verb = rng.choice([["build"], ["image", "build"]])
        argv = head + verb + [rng.choice(words) for _ in range(rng.randint(0, 7))]
        quick = read_command_line(argv)
        if quick is None:
            continue
        answered += 1
        assert quick == _argparse(argv), argv
    assert answered > 150
