"""Registry commands: pull, push, login, logout (flags as Docker's)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TextIO

from dockyard.cli.context import CliContext
from dockyard.cli.progress import progress_for
from dockyard.engine import credentials, registry
from dockyard.engine.registry import default_access
from dockyard.errors import InvalidParameter
from dockyard.reference import parse_normalized, parse_reference


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group, name in ((sub, "pull"), (image_sub, "pull")):
        p = group.add_parser(name, help="Download an image from a registry")
        p.add_argument("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository")
        p.add_argument("--platform", default=None, help="Set platform if server is multi-platform capable")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
        p.set_defaults(func=cmd_pull)
    for group, name in ((sub, "push"), (image_sub, "push")):
        p = group.add_parser(name, help="Upload an image to a registry")
        p.add_argument("-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("--compression", choices=("gzip", "zstd"), default=None,
                       help="Layer compression for layers pushed for the first time (dockyard's own flag; "
                            "zstd makes an OCI manifest)")
        p.add_argument("name", metavar="NAME[:TAG]")
        p.set_defaults(func=cmd_push)
    p = sub.add_parser("login", help="Log in to a registry")
    p.add_argument("-u", "--username", default="")
    p.add_argument("-p", "--password", default=None)
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(func=cmd_logout)


def _access():  # noqa: ANN202
    return default_access(os.environ)


def _default_tag_note(name: str, ctx: CliContext) -> None:
    ref = parse_reference(name)
    if ref.is_name_only:
        print("Using default tag: latest", file=ctx.stdout, flush=True)


def cmd_pull(args: argparse.Namespace, ctx: CliContext) -> int:
    if not args.all_tags:
        _default_tag_note(args.name, ctx)
    sink = progress_for(ctx.stdout, args.quiet)
    try:
        outcome = registry.pull(ctx.store, args.name, _access(), platform=args.platform,
                                all_tags=args.all_tags, progress=sink)
    finally:
        sink.close()
    for ref in outcome.references:
        print(str(ref), file=ctx.stdout)
    return 0


def pull_to(ctx: CliContext, name: str, out: TextIO) -> None:
    """A pull whose progress goes to `out` (run's and create's pull of an image not here)."""
    sink = progress_for(out, False)
    try:
        registry.pull(ctx.store, name, _access(), progress=sink)
    finally:
        sink.close()


def cmd_push(args: argparse.Namespace, ctx: CliContext) -> int:
    if not args.all_tags:
        _default_tag_note(args.name, ctx)
    sink = progress_for(ctx.stdout, args.quiet)
    try:
        registry.push(ctx.store, args.name, _access(), all_tags=args.all_tags, progress=sink,
                      compression=args.compression)
    finally:
        sink.close()
    if args.quiet:
        print(parse_normalized(args.name).docker_ref().familiar if not args.all_tags else args.name,
              file=ctx.stdout)
    return 0


def cmd_login(args: argparse.Namespace, ctx: CliContext) -> int:
    password = args.password
    if password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=ctx.stderr)
        if args.password_stdin:
            raise InvalidParameter("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not args.username:
            raise InvalidParameter("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    username = args.username
    if not username and password is None and credentials.login_with_saved(args.server):
        print("Authenticating with existing credentials...", file=ctx.stdout)
        print("Login Succeeded", file=ctx.stdout)
        return 0
    if not username or password is None:
        if not sys.stdin.isatty():
            raise InvalidParameter("Cannot perform an interactive login from a non TTY device")
        if not username:
            username = input("Username: ").strip()
        if password is None:
            password = getpass.getpass("Password: ")
    if not username:
        raise InvalidParameter("Username is required")
    if not password:
        raise InvalidParameter("Password is required")
    print(credentials.login(args.server, username, password), file=ctx.stdout)
    return 0


def cmd_logout(args: argparse.Namespace, ctx: CliContext) -> int:
    key, removed = credentials.logout(args.server)
    if removed:
        print(f"Removing login credentials for {key}", file=ctx.stdout)
    else:
        print(f"Not logged in to {key}", file=ctx.stdout)
    return 0
