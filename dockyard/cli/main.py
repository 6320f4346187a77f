"""`dockyard`: the command line. Thin: parse flags, call the engine, format the result."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dockyard import __version__
from dockyard.cli import build_cmd, container_cmds, image_cmds, registry_cmds, serve_cmd
from dockyard.cli.context import CliContext
from dockyard.errors import DockyardError
from dockyard.store.store import default_root

# Each module adds its commands to the parser; order is the order `--help` lists them.
COMMAND_MODULES = [image_cmds, container_cmds, build_cmd, registry_cmds, serve_cmd]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 125 like the docker CLI's flag errors
        self.exit(125, f"Error: {message}\nSee '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dockyard", description="A container image engine compatible with Docker.")
    parser.add_argument("--root", help="store directory (default /var/lib/dockyard, or $DOCKYARD_ROOT)")
    parser.add_argument("-v", "--version", action="version", version=f"dockyard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    image_group = sub.add_parser("image", help="Manage images")
    image_sub = image_group.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub, image_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 1
    root = Path(args.root) if args.root else default_root()
    ctx = CliContext(root=root)
    try:
        return int(func(args, ctx) or 0)
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


if __name__ == "__main__":
    raise SystemExit(main())
