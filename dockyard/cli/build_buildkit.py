"""`dockyard build` in BuildKit mode (`DOCKER_BUILDKIT=1`, as the docker CLI selects it), in
process: flags to GraphOptions, the build, its progress on stderr, the exporters' files, the error
report. As a client of `dockyard serve` the light client runs it (client/build_buildkit.py:
`version=2`, the context read in place by a daemon on this host, else sent as a tar; the
daemon's solve statuses shown with the same displays); its flag checks and displays are shared
from there.
"""

from __future__ import annotations

import os
import sys

from dockyard.client.build import build_arg_values, label_values, run_host_config, tag_references
from dockyard.client.build_buildkit import display, finish, read_flags, report

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from dockyard.engine.buildkit import GraphOptions
    from dockyard.cli.context import CliContext

def graph_options(args: argparse.Namespace) -> GraphOptions:
    from dockyard.engine.buildkit import GraphOptions, OutputSpec, Session, check_extra_host, check_network

    check_network(args.network)   # as a client, serve refuses it (the light client loads no graph options)
    run_host_config(args, buildkit=True)   # RUN's resources refused; --add-host read below
    flags = read_flags(args)
    build_args = build_arg_values(args.build_arg)
    if "SOURCE_DATE_EPOCH" not in build_args and os.environ.get("SOURCE_DATE_EPOCH"):
        build_args["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]  # as buildx passes it
    return GraphOptions(
        tags=tag_references(args.tag), tag_names=list(args.tag), build_args=build_args, target=args.target,
        no_cache=args.no_cache, no_cache_filter=list(args.no_cache_filter), labels=label_values(args.label),
        pull=args.pull, network=args.network, extra_hosts=[check_extra_host(h) for h in args.add_host],
        explain_cache=args.explain_cache, output=flags.output or OutputSpec("docker"),
        session=Session(flags.secrets, flags.ssh, flags.allow))


def cmd_build(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine.buildkit import Progress, SolveFailed
    from dockyard.engine.build import build_image_buildkit

    options = graph_options(args)
    progress = Progress(display(args))
    try:
        result = build_image_buildkit(ctx.store, args.context, options, progress, dockerfile=args.file,
                                      stdin=ctx.stdin_binary, cache_from=list(args.cache_from),
                                      cache_to=list(args.cache_to))
    except SolveFailed as exc:
        progress.close()
        return report(progress, exc.step, exc.lines, exc.excerpt, exc.message)
    except BaseException:
        progress.close()
        raise
    progress.close()
    code = finish(args, str(result.image_id), result.metadata)
    if args.waste and result.stored:
        from dockyard.cli.waste import print_waste

        print_waste(sys.stdout.buffer, ctx.store, str(result.image_id))
    return code
