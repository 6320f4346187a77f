"""`dockyard`: the command line. Thin: parse flags, call the engine, format the result."""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.cli.flagscan import VALUE, Flag, add_flags, scan_until_command
from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from types import ModuleType
    from typing import Callable

    from dockyard.cli.context import CliContext

    # A command module from outside the CLI, given by the program (dockyard/main.py hands it
    # `serve`, the API server): loaded only when its command runs or the whole parser is built;
    # such commands run in this process, never as a client of a daemon.
    Loader = Callable[[], ModuleType]

# Each module (dockyard.cli.<name>) adds its commands to the parser; order is the order `--help`
# lists them. Modules are imported when the parser is built.
COMMAND_MODULES = ["image_cmds", "container_cmds", "build_cmd", "network_cmds", "registry_cmds",
                   "system_cmds"]
# The module that alone can parse a command (`image X` for the image group's): `dockyard build`
# imports and registers build_cmd only (every group with what it imports costs ~30 ms at each
# start, more than a client-mode build takes). A command not listed builds the whole parser.
_COMMAND_MODULE = {
    **dict.fromkeys(["import", "save", "load", "images", "tag", "rmi", "history"], "image_cmds"),
    **dict.fromkeys(["run", "create", "start", "stop", "kill", "rm", "pause", "unpause", "wait",
                     "ps", "logs", "exec", "inspect", "diff", "export", "commit"], "container_cmds"),
    "build": "build_cmd", "image build": "build_cmd",
    **dict.fromkeys(["pull", "push", "login", "logout", "image pull", "image push"], "registry_cmds"),
    **dict.fromkeys(["network", "volume", "events"], "network_cmds"),
    "system": "system_cmds",
}
# Commands whose module reads a plain command line without argparse (`scan_args`): those a
# client-mode user runs over and over, where argparse's ~7 ms of imports is a third of the time.
_QUICK = {"build", "image build"}

GLOBAL_FLAGS = (
    Flag(("--root",), "root", VALUE, "store directory (default /var/lib/dockyard, or $DOCKYARD_ROOT)"),
    Flag(("-H", "--host"), "daemon_host", VALUE,
         "run the command in the daemon at HOST (unix:///PATH, a `dockyard serve`;"
         " default $DOCKYARD_HOST; unset: in this process)", metavar="HOST"),
)


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, exit 125 like the docker CLI's flag errors
            self.exit(125, f"Error: {message}\nSee '{self.prog} --help'.\n")

    return Parser


def _command_word(argv: list[str]) -> str | None:
    """The command named in `argv` (`build`, `image build`...), skipping global options."""
    words = iter(argv)
    for word in words:
        if word in ("--root", "-H", "--host"):
            next(words, None)
        elif word.startswith("-"):
            continue
        elif word == "image":
            sub = next((w for w in words if not w.startswith("-")), None)
            return None if sub is None else f"image {sub}"
        else:
            return word
    return None


def _command_module(name: str) -> ModuleType:
    """dockyard.cli.<name> (importlib.import_module without importing importlib: ~0.3 ms)."""
    __import__(f"dockyard.cli.{name}")
    return sys.modules[f"dockyard.cli.{name}"]


def build_parser(modules: list[str] | None = None,
                 extra: list[ModuleType] | None = None) -> argparse.ArgumentParser:
    """The parser of the CLI's command modules (all, or those named) and of `extra` ones."""
    parser_class = _parser_class()
    parser = parser_class(prog="dockyard", description="A container image engine compatible with Docker.")
    add_flags(parser, GLOBAL_FLAGS)
    parser.add_argument("-v", "--version", action="version", version=f"dockyard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    image_group = sub.add_parser("image", help="Manage images")
    image_sub = image_group.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=parser_class)
    for name in COMMAND_MODULES if modules is None else modules:
        _command_module(name).register(sub, image_sub)
    for module in extra or []:
        module.register(sub, image_sub)
    return parser


def quick_args(argv: list[str]) -> argparse.Namespace | None:
    """The arguments of a plain command line of a `_QUICK` command, read without argparse (the
    same values argparse gives, see cli/flagscan.py), else None."""
    head = scan_until_command(argv, GLOBAL_FLAGS)
    if head is None:
        return None
    values, at = head
    command = argv[at]
    rest = argv[at + 1:]
    if command == "image" and rest:
        command, rest = f"image {rest[0]}", rest[1:]
    if command not in _QUICK:
        return None
    module = _command_module(_COMMAND_MODULE[command])
    found = module.scan_args(rest)
    if found is None:
        return None
    import types

    words = command.split()
    values.update(command=words[0], **({"subcommand": words[1]} if len(words) > 1 else {}), **found)
    return types.SimpleNamespace(**values)  # type: ignore[return-value]


def main(argv: list[str] | None = None, *, exit_fast: bool = False,
         extra: dict[str, Loader] | None = None) -> int:
    """Run one command line. With `exit_fast`, a command that ran as a client of a daemon leaves
    with os._exit once its output is flushed (see dockyard/main.py). `extra`: commands from
    outside the CLI, by their word."""
    argv = sys.argv[1:] if argv is None else argv
    extra = extra or {}
    if argv in (["-v"], ["--version"]):  # what argparse prints, without building every parser
        print(f"dockyard {__version__}")
        return 0
    args = quick_args(argv)
    if args is None:
        word = _command_word(argv) or ""
        home = _COMMAND_MODULE.get(word)
        if word in extra:
            parser = build_parser([], [extra[word]()])
        elif home is not None:
            parser = build_parser([home])
        else:
            parser = build_parser(None, [load() for load in extra.values()])
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0 if args.command is None else 1
    func = args.func
    host = args.daemon_host or os.environ.get("DOCKYARD_HOST") or None
    try:
        if host and args.command not in extra:
            client = getattr(args, "client", None)
            if client is None:
                raise InvalidParameter(
                    f"`dockyard {args.command}` does not run as a client of a daemon yet: "
                    "drop -H/--host and unset DOCKYARD_HOST to run it in this process")
            code = int(client(args, host) or 0)
            if exit_fast:
                _exit_now(code)
            return code
        return int(func(args, _local_context(args)) or 0)
    except DockyardError as exc:
        sys.stdout.flush()
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`dockyard save | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    except PermissionError as exc:
        print(f"Error: permission denied: {exc.filename or exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The system said no (a full disk, a read-only file system, an I/O error): one line,
        # as Go's *PathError reads ("open PATH: no space left on device").
        sys.stdout.flush()
        what = (exc.strerror or str(exc)).lower()
        print(f"Error: {exc.filename}: {what}" if exc.filename else f"Error: {what}", file=sys.stderr)
        return 1


def _exit_now(code: int) -> None:
    """Flush what the command wrote and leave without the interpreter's teardown."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass  # the reader went away; as in main, not an error of ours
    os._exit(code)


def _local_context(args: argparse.Namespace) -> CliContext:
    """The store and streams of an in-process command (the store is imported here)."""
    from pathlib import Path

    from dockyard.cli.context import CliContext
    from dockyard.engine.store import default_root

    if args.root == "":
        raise InvalidParameter("--root: the store directory must not be empty")
    return CliContext(root=Path(args.root) if args.root is not None else default_root())
