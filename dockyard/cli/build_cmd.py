"""`dockyard build`: flags as `docker build` (classic builder) takes them; the work is in
dockyard.engine.build."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from dockyard.cli.context import CliContext
from dockyard.errors import InvalidParameter

if TYPE_CHECKING:
    from dockyard.reference import Reference

# The builder and its engine are imported when `build` runs, not at CLI start-up (every other
# command would pay ~50 ms for them).


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group in (sub, image_sub):
        p = group.add_parser("build", help="Build an image from a Dockerfile")
        p.add_argument("-f", "--file", default=None, help="Name of the Dockerfile (default: PATH/Dockerfile)")
        p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag in the name:tag format")
        p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
        p.add_argument("--target", default=None, help="Set the target build stage to build")
        p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
        p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success")
        p.add_argument("--iidfile", default=None, help="Write the image ID to the file")
        p.add_argument("--rm", default="true", nargs="?", const="true", help="Remove intermediate containers after a successful build (default true)")
        p.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers")
        p.add_argument("--network", default="default", help="Set the networking mode for the RUN instructions during build")
        p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
        p.add_argument("context", metavar="PATH | URL | -")
        p.set_defaults(func=cmd_build)


def _bool(value: str) -> bool:
    low = value.lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f"):
        return False
    raise InvalidParameter(f'invalid argument "{value}" for "--rm" flag: strconv.ParseBool: parsing "{value}": invalid syntax')


def _build_args(values: list[str]) -> dict[str, str | None]:
    """`--build-arg K=V`; a bare `K` takes K from the environment (unset: no value), as the CLI does."""
    out: dict[str, str | None] = {}
    for item in values:
        key, sep, value = item.partition("=")
        out[key] = value if sep else os.environ.get(key)
    return out


def _labels(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _tags(values: list[str]) -> list[Reference]:
    from dockyard.engine.images import parse_target

    refs = []
    for text in values:
        try:
            ref = parse_target(text)
        except InvalidParameter as exc:
            raise InvalidParameter(f'invalid argument "{text}" for "-t, --tag" flag: {exc}') from None
        assert ref is not None
        refs.append(ref)
    return refs


def cmd_build(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.build.builder import BuildFailed, BuildOptions
    from dockyard.engine.build import build_image
    from dockyard.store.atomic import atomic_write

    if args.network not in ("default", "host", "none", "bridge"):
        raise InvalidParameter(f"network mode {args.network!r} is not supported for RUN (use host or none)")
    options = BuildOptions(
        tags=_tags(args.tag), build_args=_build_args(args.build_arg), target=args.target,
        no_cache=args.no_cache, labels=_labels(args.label), quiet=args.quiet, rm=_bool(args.rm),
        force_rm=args.force_rm, network="default" if args.network == "bridge" else args.network,
        pull=args.pull)
    stdout = ctx.stdout_binary

    def write(data: bytes) -> None:
        stdout.write(data)
        stdout.flush()

    try:
        result = build_image(ctx.store, args.context, options, dockerfile=args.file,
                             stdin=ctx.stdin_binary, write=write)
    except BuildFailed as exc:  # Docker prints the bare message and exits with RUN's status
        stdout.flush()
        print(exc.message, file=sys.stderr)
        return exc.exit_code
    if args.quiet:
        write(f"{result.image_id}\n".encode())
    if args.iidfile:
        atomic_write(Path(os.path.abspath(args.iidfile)), str(result.image_id).encode())
    return 0
