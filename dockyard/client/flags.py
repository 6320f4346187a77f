"""Flags declared once, read two ways: registered with argparse, or read by a quick scanner.

A command's flags are a table of `Flag`s. `add_flags` registers them on an argparse parser (help,
errors, every spelling argparse accepts). `scan` reads only the plain spellings: `--name value`,
`--name=value`, `-n value`, booleans (`--flag`, `--flag=false`), positionals. It gives up (returns None) on anything else:
an unknown or abbreviated option, `-h`, `--`, grouped short options, a value that looks like an
option, too many or too few positionals. The caller then runs argparse, so a command line means
the same whichever reader handled it, and argparse alone writes the errors.

Why: a client-mode `dockyard -H unix://... build` is a fresh interpreter each time, and argparse
(with gettext and locale) costs ~7 ms of a ~20 ms command. This module imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

VALUE = "value"  # `--file F`: the last one given wins; default when absent
APPEND = "append"  # `--tag T`, repeatable: a list, [] when absent
SWITCH = "switch"  # a boolean (pflag): `--quiet` or `--quiet=false`; `default` when absent

# strconv.ParseBool's spellings, which pflag takes for a boolean flag's value
_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
          **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool: True, False, or None for anything else."""
    return _BOOLS.get(text)


class Flag:
    """One option of a command: its spellings, where its value goes, how it takes a value."""

    __slots__ = ("names", "dest", "kind", "default", "help", "metavar")

    def __init__(self, names: tuple[str, ...], dest: str, kind: str, help: str, *,  # noqa: A002
                 default: object = None, metavar: str | None = None) -> None:
        self.names = names
        self.metavar = metavar
        self.dest = dest
        self.kind = kind
        self.help = help
        self.default = [] if kind == APPEND else bool(default) if kind == SWITCH else default


def add_flags(parser: argparse.ArgumentParser, flags: tuple[Flag, ...]) -> None:
    """Register `flags` with argparse, each as `scan` reads it."""
    for flag in flags:
        extra = {} if flag.metavar is None else {"metavar": flag.metavar}
        if flag.kind == SWITCH:  # a pflag bool: the parser registers its action as store_true
            parser.add_argument(*flag.names, dest=flag.dest, action="store_true",
                                default=flag.default, help=flag.help)
        elif flag.kind == APPEND:
            parser.add_argument(*flag.names, dest=flag.dest, action="append", default=[],
                                help=flag.help, **extra)
        else:
            parser.add_argument(*flag.names, dest=flag.dest, default=flag.default, help=flag.help,
                                **extra)


def _is_value(word: str) -> bool:
    """A word argparse takes as a value or positional for sure: not option-like (`-` alone is a
    value, as is the empty string)."""
    return word == "-" or not word.startswith("-")


def scan(words: list[str], flags: tuple[Flag, ...], positionals: tuple[str, ...]) -> dict[str, object] | None:
    """The values argparse would give `words` (flags' dests and the named positionals), or None
    when the words use a form this scanner leaves to argparse."""
    read = _read(words, flags, stop_at_positional=False)
    if read is None or len(read[1]) != len(positionals):
        return None
    values, found, _ = read
    values.update(zip(positionals, found))
    return values


def scan_until_command(words: list[str], flags: tuple[Flag, ...]) -> tuple[dict[str, object], int] | None:
    """The global options before a command (argparse's main parser with subcommands): their
    values and the index of the command word, or None (no command, or a form left to argparse)."""
    read = _read(words, flags, stop_at_positional=True)
    if read is None or not read[1]:
        return None
    values, _, index = read
    return values, index


def _read(words: list[str], flags: tuple[Flag, ...],
          stop_at_positional: bool) -> tuple[dict[str, object], list[str], int] | None:
    """Options into their dests and positionals in order, up to the first positional when
    `stop_at_positional` (its index is returned), else to the end."""
    by_name = {name: flag for flag in flags for name in flag.names}
    values: dict[str, object] = {flag.dest: (list(flag.default) if flag.kind == APPEND else flag.default)
                                 for flag in flags}
    found: list[str] = []
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        if _is_value(word):
            found.append(word)
            if stop_at_positional:
                return values, found, i
            i += 1
            continue
        i += 1
        name, eq, attached = word.partition("=")
        flag = by_name.get(name)
        if flag is None or (eq and not name.startswith("--")):
            return None  # unknown, abbreviated, `-h`, `--`, `-abc`, `-f=x`: argparse's business
        if flag.kind == SWITCH:
            value = parse_bool(attached) if eq else True
            if value is None:
                return None  # not a bool: argparse writes pflag's error
            values[flag.dest] = value
            continue
        if eq:
            value = attached
        elif i < n and _is_value(words[i]):
            value = words[i]
            i += 1
        else:
            return None  # a missing value: argparse's error
        if flag.kind == APPEND:
            values[flag.dest].append(value)  # type: ignore[attr-defined]
        else:
            values[flag.dest] = value
    return values, found, n
