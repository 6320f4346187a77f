"""`dockyard`: the command line. Thin: parse flags, call the engine, format the result."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import Callable

from dockyard import __version__
from dockyard.cli.context import CliContext, local_context
from dockyard.cli.pflag import PflagBool, prepare
from dockyard.client.flags import add_flags
from dockyard.client.program import GLOBAL_FLAGS, exit_now, report_errors
from dockyard.errors import InvalidParameter

# A command module from outside the CLI, given by the program (dockyard/main.py hands it `serve`,
# the API server): loaded only when its command runs or the whole parser is built; such commands
# run in this process, never as a client of a daemon.
Loader = Callable[[], ModuleType]

# Each module (dockyard.cli.<name>) adds its commands to the parser; order is the order `--help`
# lists them. Modules are imported when the parser is built.
COMMAND_MODULES = ["image_cmds", "container_cmds", "commit_cmd", "cp_cmd", "lifecycle_cmds", "build_cmd", "network_cmds",
                   "registry_cmds", "system_cmds", "version_cmds", "observe_cmds", "attach_cmd", "prune_cmds"]
# `dockyard container COMMAND`, docker's management group: each of its commands but prune (the
# group's own, prune_cmds') is made of a flat command's own parser (argparse's parents: the same
# arguments, defaults and functions) under the group's word. A row: the group's word, the flat
# command's, the group's aliases and, where the group's command differs, its help and defaults
# (docker's `container inspect` looks at containers only)
CONTAINER_GROUP: list[tuple[str, str, list[str], dict[str, object]]] = [
    ("attach", "attach", [], {}), ("commit", "commit", [], {}), ("cp", "cp", [], {}),
    ("create", "create", [], {}), ("diff", "diff", [], {}), ("exec", "exec", [], {}),
    ("export", "export", [], {}),
    ("inspect", "inspect", [], {"help": "Display detailed information on one or more containers",
                                "only": "container"}),
    ("kill", "kill", [], {}), ("logs", "logs", [], {}), ("ls", "ps", ["list", "ps"], {"help": "List containers"}),
    ("pause", "pause", [], {}), ("port", "port", [], {}), ("rename", "rename", [], {}),
    ("restart", "restart", [], {}), ("rm", "rm", ["remove"], {}), ("run", "run", [], {}),
    ("start", "start", [], {}), ("stats", "stats", [], {}), ("stop", "stop", [], {}), ("top", "top", [], {}),
    ("unpause", "unpause", [], {}), ("update", "update", [], {}), ("wait", "wait", [], {}),
]
_GROUP_WORDS = {"image": "Manage images", "container": "Manage containers"}
# The module that alone can parse a command (`image X` for the image group's): `dockyard build`
# imports and registers build_cmd only, and so only the engines a build uses (each group imports
# its own). A command not listed builds the whole parser.
_COMMAND_MODULE = {
    **dict.fromkeys(["import", "save", "load", "images", "tag", "rmi", "history", "image import", "image save",
                     "image load", "image ls", "image list", "image tag", "image rm", "image rmi", "image remove",
                     "image inspect", "image waste", "image history"], "image_cmds"),
    **dict.fromkeys(["run", "create", "start", "stop", "kill", "rm", "pause", "unpause", "wait",
                     "ps", "logs", "exec", "inspect", "diff", "export"], "container_cmds"),
    "commit": "commit_cmd", "cp": "cp_cmd", **dict.fromkeys(["restart", "rename", "update"], "lifecycle_cmds"),
    **dict.fromkeys(["image prune", "container prune"], "prune_cmds"),
    "build": "build_cmd", "image build": "build_cmd",
    **dict.fromkeys(["pull", "push", "login", "logout", "image pull", "image push"], "registry_cmds"),
    **dict.fromkeys(["network", "volume", "events"], "network_cmds"),
    **dict.fromkeys(["system", "builder"], "system_cmds"),
    **dict.fromkeys(["version", "info"], "version_cmds"),
    **dict.fromkeys(["port", "top", "stats"], "observe_cmds"), "attach": "attach_cmd",
}
# a container group's command is parsed by its flat command's module
_COMMAND_MODULE.update({f"container {name}": _COMMAND_MODULE[flat]
                        for word, flat, aliases, _ in CONTAINER_GROUP for name in (word, *aliases)})
# a group's word alone (`dockyard image --help`): the modules of the group's commands
_GROUP_MODULES = {group: sorted({home for name, home in _COMMAND_MODULE.items() if name.startswith(f"{group} ")},
                                key=COMMAND_MODULES.index) for group in _GROUP_WORDS}
# In-process commands that close every file they write and join every thread they start before
# they return: the program may leave them without the interpreter's teardown (`leave` below)
LEAVE_FAST = frozenset(["pull", "push", "image pull", "image push"])


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # every `action="store_true"` is a boolean as the docker CLI reads it (cli/pflag.py)
        self.register("action", "store_true", PflagBool)
        # a management group's (`image`, `container`): its commands, where modules add theirs
        self.group: argparse._SubParsersAction | None = None

    def format_help(self) -> str:
        if self.group is None:
            return super().format_help()
        # a group's help as the docker CLI prints it: its commands by name, no aliases
        rows = sorted((a.dest, a.help or "") for a in self.group._choices_actions)
        return (f"\nUsage:  {self.prog} COMMAND\n\n{self.description}\n\nCommands:\n"
                + "".join(f"  {name:<11} {text}\n" for name, text in rows)
                + f"\nRun '{self.prog} COMMAND --help' for more information on a command.\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN202
        words = sys.argv[1:] if args is None else list(args)
        self._words = words   # parse_args finds the command a flag error is about
        parsed, extra = super().parse_known_args(prepare(self, words), namespace)
        for action in self._actions:   # a REMAINDER that must hold words (exec's COMMAND)
            if (least := getattr(action, "least", 0)) and least > len(getattr(parsed, action.dest) or ()):
                self.error("the following arguments are required")
        return parsed, extra

    def parse_args(self, args=None, namespace=None):  # noqa: ANN001, ANN202
        parsed, extra = self.parse_known_args(args, namespace)
        if not extra:
            return parsed
        flag = next((word for word in extra if word.startswith("-") and word != "-"), None)
        # the parser of the command the flag (or the extra word) was given to, from the words
        # (run's COMMAND argument is also `parsed.command`)
        at: Parser = self
        words = iter(self._words)
        for word in words:
            if word == flag:
                break
            if word in ("--root", "-H", "--host"):
                next(words, None)
            elif not word.startswith("-"):
                group = at._group()
                below = group.choices.get(word) if group is not None else None
                if not isinstance(below, Parser):
                    break
                at = below
        if flag is not None:   # pflag's words, and the command's own help named
            at.error(f"unknown flag: {flag.split('=', 1)[0]}" if flag.startswith("--")
                     else f"unknown shorthand flag: {flag[1:2]!r} in {flag}")
        if at._arity():
            # too many arguments: the command's arity error, as the docker CLI's
            at.error("the following arguments are required")
        self.error(f"unrecognized arguments: {' '.join(extra)}")

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("the following arguments are required") and (arity := self._arity()):
            # too few arguments: the docker CLI's lines (cobra's ExactArgs, RequiresMinArgs,
            # RequiresRangeArgs) and status 1
            usage = " ".join([self.prog] + self._use_line())
            short = f"\n{self.short}\n" if getattr(self, "short", "") else ""
            self.exit(1, f'Error: "{self.prog}" {arity}.\nSee \'{self.prog} --help\'.\n\n'
                         f"Usage:  {usage}\n{short}")
        explicit = ": ignored explicit argument '"
        if message.startswith("argument ") and explicit in message:
            # `-az` where -a takes no value and no -z exists: pflag's unknown shorthand
            # (pflag names the shorthands left from the unknown one on: "'z' in -z")
            rest = message.split(explicit, 1)[1][:-1]
            if rest:
                message = f"unknown shorthand flag: {rest[0]!r} in -{rest}"
        # one line, exit 125 like the docker CLI's flag errors
        self.exit(125, f"Error: {message}\nSee '{self.prog} --help'.\n")

    def _use_line(self) -> list[str]:
        """The arguments of the docker CLI's use line: `[OPTIONS] CONTAINER [CONTAINER...]`."""
        words = ["[OPTIONS]"] if any(a.option_strings and a.dest != "help" for a in self._actions) else []
        for action in self._actions:
            if not action.option_strings:
                name = action.metavar or action.dest.upper()
                words.append({None: name, "?": f"[{name}]", "+": f"{name} [{name}...]", "*": f"[{name}...]",
                              argparse.REMAINDER: f"{name} [ARG...]" if getattr(action, "least", 0)
                              else f"[{name}] [ARG...]"}.get(action.nargs, name))  # type: ignore[arg-type]
        return words

    def _group(self) -> argparse._SubParsersAction | None:
        """The subcommands of a group (`image`, `network`...), or None."""
        return next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)

    def _arity(self) -> str:
        """How many arguments the command takes, in the docker CLI's words ('' for a group)."""
        least, most = 0, 0
        for action in self._actions:
            if action.option_strings:
                continue
            if isinstance(action, argparse._SubParsersAction):
                return ""
            low, high = {None: (1, 1), "?": (0, 1), "+": (1, None), "*": (0, None),
                         argparse.REMAINDER: (getattr(action, "least", 0), None)}.get(action.nargs, (1, 1))  # type: ignore[arg-type]
            least += low
            most = None if most is None or high is None else most + high
        if least == most == 0:
            return "accepts no arguments"
        if least == most:
            return f"requires exactly {least} argument{'s' if least != 1 else ''}"
        if most is None:
            return f"requires at least {least} argument{'s' if least != 1 else ''}"
        if least == 0:
            return f"requires at most {most} argument{'s' if most != 1 else ''}"
        return f"requires at least {least} and at most {most} arguments"


def _command_word(argv: list[str]) -> str | None:
    """The command named in `argv` (`build`, `image build`...), skipping global options."""
    words = iter(argv)
    for word in words:
        if word in ("--root", "-H", "--host"):
            next(words, None)
        elif word.startswith("-"):
            continue
        elif word in _GROUP_WORDS:
            sub = next((w for w in words if not w.startswith("-")), None)
            return word if sub is None else f"{word} {sub}"
        else:
            return word
    return None


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"dockyard.cli.{name}")


def build_parser(modules: list[str] | None = None, extra: list[ModuleType] | None = None,
                 container: frozenset[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the CLI's command modules (all, or those named) and of `extra` ones, with the
    container group's commands of their flat commands (all, or those named in `container`: a
    flat command's start makes none, each copy of a parser costs ~1 ms)."""
    parser = Parser(prog="dockyard", description="A container image engine compatible with Docker.")
    add_flags(parser, GLOBAL_FLAGS)
    parser.add_argument("-v", "--version", action="version", version=f"dockyard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.commands = sub.choices   # type: ignore[attr-defined] - the command words (main: an unknown one)
    groups = {}
    for word, text in _GROUP_WORDS.items():
        group = sub.add_parser(word, help=text, description=text)
        group.group = groups[word] = group.add_subparsers(dest="subcommand", metavar="COMMAND",
                                                          parser_class=Parser)
    for name in COMMAND_MODULES if modules is None else modules:
        _command_module(name).register(sub, groups["image"])
    for module in extra or []:
        module.register(sub, groups["image"])
    flat = {action.dest: action.help for action in sub._choices_actions}
    for word, flat_word, aliases, own in CONTAINER_GROUP:
        if flat_word in sub.choices and (container is None or not container.isdisjoint([word, *aliases])):
            command = groups["container"].add_parser(
                word, aliases=aliases, help=own.get("help", flat[flat_word]), add_help=False,
                parents=[sub.choices[flat_word]])
            command.set_defaults(**{k: v for k, v in own.items() if k != "help"})
    for group in (sub, *groups.values()):   # a command's line of help, for its arguments' error
        for choice in group._choices_actions:
            group.choices[choice.dest].short = choice.help
    return parser


def main(argv: list[str] | None = None, *, exit_fast: bool = False,
         extra: dict[str, Loader] | None = None, leave: Callable[[int], None] | None = None) -> int:
    """Run one command line. With `exit_fast`, a command that ran as a client of a daemon leaves
    with os._exit once its output is flushed (see dockyard/main.py). `extra`: commands from
    outside the CLI, by their word. `leave`: called with the status of a LEAVE_FAST command that
    ran in this process (it does not return)."""
    argv = sys.argv[1:] if argv is None else argv
    extra = extra or {}
    word = _command_word(argv) or ""
    home = _COMMAND_MODULE.get(word)
    if word in extra:
        parser = build_parser([], [extra[word]()], frozenset())
    elif home is not None:
        parser = build_parser([home], container=frozenset([word.partition(" ")[2]] if word.startswith("container ")
                                                          else []))
    elif word in _GROUP_MODULES:
        parser = build_parser(_GROUP_MODULES[word], container=None if word == "container" else frozenset())
    else:
        # a command line without a command word (`dockyard --help`) parses no container group
        parser = build_parser(None, [load() for load in extra.values()], frozenset() if not word else None)
    if word and " " not in word and home is None and word not in extra \
            and word not in parser.commands:  # type: ignore[attr-defined]
        # the docker CLI's words and status, not argparse's list of the choices
        sys.stderr.write(f"dockyard: '{word}' is not a dockyard command.\nSee 'dockyard --help'\n")
        return 1
    group = parser.commands.get(word.partition(" ")[0])  # type: ignore[attr-defined]
    if group is not None and group.group is not None and " " in word \
            and word.partition(" ")[2] not in group.group.choices:
        # a group's unknown command: the group's help on stderr and 1, as the docker CLI's
        sys.stderr.write(group.format_help())
        return 1
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        if group is not None and group.group is not None:   # a group alone: its help on stderr, 0
            sys.stderr.write(group.format_help())
            return 0
        parser.print_help()
        return 0 if args.command is None else 1
    host = args.daemon_host or os.environ.get("DOCKYARD_HOST") or None
    # the command's word from the command line: `args.command` is also the name of run's and
    # exec's COMMAND argument (a list), which overwrites it
    if not host or word in extra:
        code = report_errors(lambda: args.func(args, _local_context(args)))
        if leave is not None and word in LEAVE_FAST:
            leave(code)
        return code
    client = getattr(args, "client", None)
    if client is None:
        return report_errors(_refuse_client_mode(word))
    code = report_errors(lambda: client(args, host))
    if exit_fast:
        exit_now(code)
    return code


def _refuse_client_mode(command: str) -> Callable[[], int]:
    def refuse() -> int:
        raise InvalidParameter(f"`dockyard {command}` does not run as a client of a daemon yet: "
                               "drop -H/--host and unset DOCKYARD_HOST to run it in this process")
    return refuse


def _local_context(args: argparse.Namespace) -> CliContext:
    """The store and streams of an in-process command."""
    return local_context(args.root)
