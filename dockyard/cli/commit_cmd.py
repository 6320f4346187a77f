"""`dockyard commit`: a container's changes as a new image. A module of its own (not
container_cmds'), so that an in-process commit loads neither the other container commands' engine
(create, run, attach, logs, stats, networks) nor their flags: tests/test_start_up.py. Thin: parse
flags, send `POST /commit` through cli/backend (the engine in process, a daemon as a client)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.errors import InvalidParameter


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="", help="Author")
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Commit message")
    p.add_argument("-p", "--pause", action="store_true", default=True,
                   help="Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(func=cmd_commit, client=cmd_commit)  # the same function in process and as a client


def cmd_commit(args: argparse.Namespace, target: Any) -> int:
    """`POST /commit`: the repository parsed first and sent as repo and tag, as the docker CLI."""
    from dockyard.reference import parse_reference

    query = [("container", args.container), ("comment", args.message), ("author", args.author),
             ("pause", "1" if args.pause else "0")] + [("changes", c) for c in args.change]
    if args.repository:
        ref = parse_reference(args.repository)
        if ref.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        query += [("repo", ref.familiar_name), ("tag", ref.tag or "")]
    answer = for_target(target).call("POST", "/commit", query)
    out = sys.stdout if isinstance(target, str) else target.stdout
    out.write(f"{answer['Id']}\n")
    return 0
