"""`dockyard restart`, `rename` and `update`: a container's life and settings changed, as the
docker CLI 20.10 asks and prints it, through cli/backend (the engine in process, the daemon as a
client: POST /containers/{id}/restart, /rename, /update)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.errors import DockyardError, InvalidParameter


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restart", help="Restart one or more containers")
    p.add_argument("-t", "--time", type=int, default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_restart, client=cmd_restart)
    p = sub.add_parser("rename", help="Rename a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(func=cmd_rename, client=cmd_rename)


def _out(target: Any) -> Any:
    return sys.stdout if isinstance(target, str) else target.stdout


def _err(target: Any) -> Any:
    return sys.stderr if isinstance(target, str) else target.stderr


def each_then_errors(target: Any, names: list[str], action: Any) -> int:
    """`action(name)` on each, its name printed when it succeeds; the errors printed together at
    the end, status 1 if any (the docker CLI's restart and update)."""
    errors = []
    for name in names:
        try:
            action(name)
        except DockyardError as exc:
            errors.append(str(exc))
            continue
        _out(target).write(f"{name}\n")
    if errors:
        _out(target).flush()
        raise DockyardError("\n".join(errors).replace("\n", "\nError: "))
    return 0


def cmd_restart(args: argparse.Namespace, target: Any) -> int:
    """The timeout is sent only when given (the daemon's default, the container's stop timeout, else)."""
    backend = for_target(target)
    query = [("t", str(args.time))] if args.time is not None else []
    return each_then_errors(target, args.containers,
                            lambda name: backend.call("POST", f"/containers/{name}/restart", query))


def cmd_rename(args: argparse.Namespace, target: Any) -> int:
    """The daemon's error, then the docker CLI's own line."""
    old, new = args.container.strip(), args.new_name.strip()
    if not old or not new:
        raise InvalidParameter("Neither old nor new names may be empty")
    try:
        for_target(target).call("POST", f"/containers/{old}/rename", [("name", new)])
    except DockyardError as exc:
        _out(target).flush()
        _err(target).write(f"Error: {exc}\n")
        raise DockyardError(f"failed to rename container named {old}") from None
    return 0
