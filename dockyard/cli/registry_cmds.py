"""Registry commands: pull, push, login, logout (flags as Docker's)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any, TextIO

from dockyard.cli.context import CliContext
from dockyard.cli.messages import print_messages
from dockyard.errors import InvalidParameter
from dockyard.reference import parse_normalized, parse_reference


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group, name in ((sub, "pull"), (image_sub, "pull")):
        p = group.add_parser(name, help="Pull an image or a repository from a registry")
        p.add_argument("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository")
        p.add_argument("--platform", default=None, help="Set platform if server is multi-platform capable")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
        p.set_defaults(func=cmd_pull, client=client_pull)
    for group, name in ((sub, "push"), (image_sub, "push")):
        p = group.add_parser(name, help="Push an image or a repository to a registry")
        p.add_argument("-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("--compression", choices=("gzip", "zstd"), default=None,
                       help="Layer compression for layers pushed for the first time (dockyard's own flag; "
                            "zstd makes an OCI manifest)")
        p.add_argument("name", metavar="NAME[:TAG]")
        p.set_defaults(func=cmd_push, client=client_push)
    p = sub.add_parser("login", help="Log in to a registry")
    p.add_argument("-u", "--username", default="")
    p.add_argument("-p", "--password", default=None)
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(func=cmd_login, client=cmd_login)
    p = sub.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(func=cmd_logout, client=cmd_logout)


def _access():  # noqa: ANN202
    from dockyard.engine.registry import default_access  # as the command runs: tests/test_start_up.py

    return default_access(os.environ)


def _default_tag_note(name: str, out: TextIO) -> None:
    ref = parse_reference(name)
    if ref.is_name_only:
        print("Using default tag: latest", file=out, flush=True)


def cmd_pull(args: argparse.Namespace, ctx: CliContext) -> int:
    if not args.all_tags:
        _default_tag_note(args.name, ctx.stdout)
    for ref in pull_to(ctx, args.name, ctx.stdout, quiet=args.quiet, all_tags=args.all_tags,
                       platform=args.platform):
        print(str(ref), file=ctx.stdout)
    return 0


def pull_to(target: CliContext | str, name: str, out: TextIO, *, quiet: bool = False,
            all_tags: bool = False, platform: str | None = None) -> list:
    """A pull whose progress goes to `out`: in this process (a CliContext), or by the daemon at
    `target` (its messages printed as the docker CLI prints them, the client's credentials sent).
    `pull`'s, and run's and create's of an image not here. The references pulled in process."""
    if isinstance(target, str):
        from dockyard.cli.backend import Remote

        query = _pull_query(name, all_tags) + ([("platform", platform)] if platform else [])
        print_messages(Remote(target).stream("POST", "/images/create", query, headers=_auth_headers(name)),
                       out, quiet)
        return []
    from dockyard.cli.progress import progress_for
    from dockyard.engine import registry  # as the command runs: tests/test_start_up.py

    sink = progress_for(out, quiet)
    try:
        return registry.pull(target.store, name, _access(), platform=platform, all_tags=all_tags,
                             progress=sink).references
    finally:
        sink.close()


def cmd_push(args: argparse.Namespace, ctx: CliContext) -> int:
    if not args.all_tags:
        _default_tag_note(args.name, ctx.stdout)
    from dockyard.cli.progress import progress_for
    from dockyard.engine import registry  # as the command runs: tests/test_start_up.py

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


def _pull_query(name: str, all_tags: bool) -> list[tuple[str, str]]:
    """`POST /images/create`'s fromImage and tag (or digest) as the docker CLI splits a name."""
    if all_tags:
        return [("fromImage", name)]
    ref = parse_normalized(name)
    if ref.digest is not None:
        return [("fromImage", ref.familiar_name), ("tag", str(ref.digest))]
    return [("fromImage", ref.familiar_name), ("tag", ref.tag or "latest")]


def _auth_headers(name: str) -> list[tuple[str, str]]:
    from dockyard.engine import credentials  # as the command runs: tests/test_start_up.py

    auth = credentials.request_auth(name)
    return [("X-Registry-Auth", auth)] if auth else []


def client_pull(args: argparse.Namespace, host: str) -> int:
    """`pull` through a daemon: its progress messages, then the name pulled (as the docker CLI)."""
    if not args.all_tags:
        _default_tag_note(args.name, sys.stdout)
    pull_to(host, args.name, sys.stdout, quiet=args.quiet, all_tags=args.all_tags, platform=args.platform)
    # the name pulled, as the in-process pull and the docker CLI print it (-a: without a tag)
    print(str(parse_reference(args.name) if args.all_tags else parse_normalized(args.name).docker_ref()))
    return 0


def client_push(args: argparse.Namespace, host: str) -> int:
    """`push` through a daemon: `POST /images/{name}/push?tag=` (no tag with -a: every tag)."""
    from dockyard.cli.backend import Remote

    if args.compression:
        raise InvalidParameter("--compression is not supported as a client of a daemon (-H): "
                               "the Engine API's push has no such option")
    if args.all_tags:
        path, query = f"/images/{args.name}/push", []
    else:
        _default_tag_note(args.name, sys.stdout)
        ref = parse_normalized(args.name)
        path, query = f"/images/{ref.familiar_name}/push", [("tag", ref.tag or "latest")]
    print_messages(Remote(host).stream("POST", path, query, headers=_auth_headers(args.name)),
                   sys.stdout, args.quiet)
    if args.quiet:
        print(parse_normalized(args.name).docker_ref().familiar if not args.all_tags else args.name)
    return 0


def cmd_login(args: argparse.Namespace, target: Any) -> int:
    """In process the registry is asked here; as a client of a daemon, as the docker CLI does,
    the daemon checks the credentials (`POST /auth`) and they are kept here, in config.json."""
    from dockyard.engine import credentials  # as the command runs: tests/test_start_up.py

    out, err = (sys.stdout, sys.stderr) if isinstance(target, str) else (target.stdout, target.stderr)
    password = args.password
    if password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=err)
        if args.password_stdin:
            raise InvalidParameter("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not args.username:
            raise InvalidParameter("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    username = args.username
    if not username and password is None:
        saved = credentials.saved_login(args.server)
        if saved is not None and isinstance(target, str):
            print("Authenticating with existing credentials...", file=out)
            _daemon_auth(target, saved.to_docker())
            print("Login Succeeded", file=out)
            return 0
        if saved is not None and credentials.login_with_saved(args.server):
            print("Authenticating with existing credentials...", file=out)
            print("Login Succeeded", file=out)
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
    if isinstance(target, str):
        server = args.server or credentials.DEFAULT_SERVER
        answer = _daemon_auth(target, {"username": username, "password": password, "serveraddress": server})
        credentials.save_login(server, username, password, str(answer.get("IdentityToken") or ""))
        print(answer.get("Status") or "Login Succeeded", file=out)
        return 0
    print(credentials.login(args.server, username, password), file=out)
    return 0


def _daemon_auth(host: str, config: dict[str, str]) -> dict[str, Any]:
    from dockyard.cli.backend import Remote

    return Remote(host).call("POST", "/auth", body=config) or {}


def cmd_logout(args: argparse.Namespace, target: Any) -> int:
    """The client's config.json only (the docker CLI asks no daemon)."""
    from dockyard.engine import credentials  # as the command runs: tests/test_start_up.py

    out = sys.stdout if isinstance(target, str) else target.stdout
    key, removed = credentials.logout(args.server)
    if removed:
        print(f"Removing login credentials for {key}", file=out)
    else:
        print(f"Not logged in to {key}", file=out)
    return 0
