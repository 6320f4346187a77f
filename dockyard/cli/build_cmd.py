"""`dockyard build`: flags as `docker build` takes them; the work is in dockyard.engine.build
(classic) or cli/build_buildkit.py (DOCKER_BUILDKIT=1), in this process or, in client mode
(`-H`/`DOCKYARD_HOST`), in a running `dockyard serve` (dockyard/client/build.py, which declares
the flags and reads them for both, and client/build_buildkit.py for BuildKit mode)."""

from __future__ import annotations

import sys

from dockyard.cli.context import CliContext, local_context
from dockyard.client.build import (FLAGS, Values, build_arg_values, buildkit_enabled,
                                   client_build, label_values, refuse_buildkit_flags, rm_value, run_host_config,
                                   tag_references, write_iidfile)
from dockyard.client.flags import add_flags
from dockyard.client.program import report_errors
from dockyard.errors import BuildFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group in (sub, image_sub):
        p = group.add_parser("build", help="Build an image from a Dockerfile")
        add_flags(p, FLAGS)
        p.add_argument("context", metavar="PATH | URL | -")
        p.set_defaults(func=cmd_build, client=client_build_either)


def run_local(values: dict[str, object]) -> int:
    """A plain command line of `build` in this process, read by the light client's scanner as
    argparse reads it (dockyard/main.py): the CLI's parser (argparse, ~8 ms of every start) is
    not built (the in-process budget, tests/test_start_up.py)."""
    args = Values(values)
    return report_errors(lambda: cmd_build(args, local_context(args.root)))  # type: ignore[arg-type]


def client_build_either(args: argparse.Namespace, host: str) -> int:
    """A client-mode build in either mode (a command line the light client's scanner does not
    read): the light client's, BuildKit mode's from client/build_buildkit.py."""
    if buildkit_enabled():
        from dockyard.client.build_buildkit import ClientMode

        return client_build(args, host, ClientMode(args))
    return client_build(args, host)


def _run_host(args: argparse.Namespace) -> dict[str, object]:
    """RUN's containers' HostConfig keywords of the flags given (--add-host, --memory, --ulimit...)."""
    host = run_host_config(args)
    if not host:
        return {}
    from dockyard.engine.create_config import run_host  # only then (tests/test_start_up.py)

    return run_host(host)


def cmd_build(args: argparse.Namespace, ctx: CliContext) -> int:
    if buildkit_enabled():
        from dockyard.cli import build_buildkit  # BuildKit mode only (the in-process budget)

        return build_buildkit.cmd_build(args, ctx)
    refuse_buildkit_flags(args)
    from dockyard.engine.build import BuildOptions, build_image, check_platform  # as the command runs: tests/test_start_up.py

    check_platform(args.platform)

    options = BuildOptions(
        tags=tag_references(args.tag), build_args=build_arg_values(args.build_arg), target=args.target,
        no_cache=args.no_cache, labels=label_values(args.label), quiet=args.quiet, rm=rm_value(args.rm),
        force_rm=args.force_rm, network=args.network,
        pull=args.pull, cache_from=list(args.cache_from), explain_cache=args.explain_cache,
        run_host=_run_host(args))
    stdout = ctx.stdout_binary
    # -q: the output comes only from a build that failed, before its error, and goes to stderr
    # (the docker CLI prints what dockerd sent it there)
    progress = sys.stderr.buffer if args.quiet else stdout

    def write(data: bytes) -> None:
        progress.write(data)
        progress.flush()

    try:
        result = build_image(ctx.store, args.context, options, dockerfile=args.file,
                             stdin=ctx.stdin_binary, write=write)
    except BuildFailed as exc:  # Docker prints the bare message and exits with RUN's status
        stdout.flush()
        print(exc.message, file=sys.stderr)
        return exc.exit_code
    if args.quiet:
        stdout.write(f"{result.image_id}\n".encode())
        stdout.flush()
    if args.iidfile:
        write_iidfile(args.iidfile, str(result.image_id))
    if args.waste:
        from dockyard.cli.waste import print_waste  # --waste only (tests/test_start_up.py)

        print_waste(stdout, ctx.store, str(result.image_id))
    return 0
