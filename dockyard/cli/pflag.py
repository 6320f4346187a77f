"""Boolean flags as the docker CLI's flag library (Go's spf13/pflag) reads them, for argparse.

Docker behaviour matched (docker CLI 20.10): every boolean flag of every command takes `--flag`,
`--flag=VALUE` and `-f=VALUE`, VALUE one of strconv.ParseBool's spellings (1 t T TRUE true True,
0 f F FALSE false False); a bool never takes the next word as its value (`--rm false .` is two
arguments). Anything else is `invalid argument "V" for "--flag" flag: strconv.ParseBool: parsing
"V": invalid syntax`, exit status 125 as every flag error.

How: the parser class registers `PflagBool` as its `store_true` action (so every command's
`action="store_true"` is a pflag bool), and before argparse reads the words, `prepare` turns each
`--flag=VALUE` of a bool into a bare `--flag` and queues the value; each time argparse meets the
flag, the action takes the next queued value (a bare one queued True), so the last one wins.
"""

from __future__ import annotations

import argparse

from dockyard.client.flags import parse_bool


class PflagBool(argparse.Action):
    """A boolean flag; `default` is its value when absent (False, or True as for `build --rm`)."""

    def __init__(self, option_strings: list[str], dest: str, default: bool = False,
                 required: bool = False, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=default, required=required,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        queue = getattr(parser, "_pflag_values", {}).get(self)
        setattr(namespace, self.dest, queue.pop(0) if queue else True)


def prepare(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """`words` with each `--flag=VALUE`/`-f=VALUE` of this parser's bool flags made bare, the
    values queued on the parser in order (bare occurrences too, grouped short ones included)."""
    bools = {s: a for s, a in parser._option_string_actions.items() if isinstance(a, PflagBool)}
    queues: dict[PflagBool, list[bool]] = {}
    out: list[str] = []
    for i, word in enumerate(words):
        if word == "--":
            out += words[i:]
            break
        name, eq, value = word.partition("=")
        action = bools.get(name)
        if action is not None and eq:
            parsed = parse_bool(value)
            if parsed is None:
                parser.error(f'invalid argument "{value}" for "{_flag_names(action)}" flag: '
                             f'strconv.ParseBool: parsing "{value}": invalid syntax')
            queues.setdefault(action, []).append(parsed)
            out.append(name)
            continue
        if action is not None:
            queues.setdefault(action, []).append(True)
        elif word.startswith("-") and not word.startswith("--") and not eq:
            for char in word[1:]:  # grouped short flags: `-aq`
                short = bools.get("-" + char)
                if short is None:
                    break
                queues.setdefault(short, []).append(True)
        out.append(word)
    parser._pflag_values = queues  # type: ignore[attr-defined]
    return out


def _flag_names(action: argparse.Action) -> str:
    """How pflag names a flag in its errors: `-q, --quiet`, or `--rm`."""
    shorts = [s for s in action.option_strings if not s.startswith("--")]
    longs = [s for s in action.option_strings if s.startswith("--")]
    return ", ".join(shorts[:1] + longs[:1]) if shorts and longs else action.option_strings[0]
