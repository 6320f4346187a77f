"""`dockyard build` in BuildKit mode (`DOCKER_BUILDKIT=1`, as the docker CLI selects it): flags
to GraphOptions, the progress display on stderr, the exporters' files, the error report.

In process the build runs here; as a client of `dockyard serve` the request is classic mode's
with `version=2` (the context read in place by a daemon on this host, else sent as a tar); the
daemon streams solve statuses (JSON messages
`{"id": "dockyard.buildkit.status", "aux": {...}}`) that this side displays as it would its own.
Secrets travel in a request header (never in the query or the context), SSH agent sockets as
paths (the daemon runs on this machine).
"""

from __future__ import annotations

import base64
import json
import os
import sys

from dockyard.client.build import build_arg_values, check_network, label_values, tag_references, write_iidfile
from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from dockyard.engine.buildkit import GraphOptions, Progress
    from dockyard.cli.context import CliContext

def graph_options(args: argparse.Namespace, *, client: bool = False) -> GraphOptions:
    from dockyard.engine.buildkit import GraphOptions, parse_allow, parse_outputs, parse_secret, parse_ssh, Session

    check_network(args.network)
    if client and args.waste:
        raise InvalidParameter("--waste in BuildKit mode is not supported as a client of dockyard serve yet: "
                               "run `dockyard image waste IMAGE` after the build")
    if client and (args.cache_from or args.cache_to):
        raise InvalidParameter("--cache-from and --cache-to in BuildKit mode are not supported as a client "
                               "of dockyard serve yet: build in this process (without -H)")
    secrets = {}
    for text in args.secret:
        source = parse_secret(text)
        secrets[source.id] = source
    ssh = {}
    for text in args.ssh:
        source = parse_ssh(text)
        ssh[source.id] = source
    platform = args.platform or "linux/amd64"
    if platform not in ("linux/amd64", "linux/x86_64"):
        raise InvalidParameter(f"platform {platform} is not supported here (only linux/amd64)")
    build_args = build_arg_values(args.build_arg)
    if "SOURCE_DATE_EPOCH" not in build_args and os.environ.get("SOURCE_DATE_EPOCH"):
        build_args["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]  # as buildx passes it
    return GraphOptions(
        tags=tag_references(args.tag), tag_names=list(args.tag), build_args=build_args, target=args.target,
        no_cache=args.no_cache, no_cache_filter=list(args.no_cache_filter), labels=label_values(args.label),
        pull=args.pull, network="default" if args.network == "bridge" else args.network,
        explain_cache=args.explain_cache,
        output=parse_outputs(args.output), session=Session(secrets, ssh, parse_allow(args.allow)))


def _display(args: argparse.Namespace):  # noqa: ANN202
    from dockyard.engine.buildkit import make_display

    mode = "quiet" if args.quiet else (args.progress or "auto")
    return make_display(mode, sys.stderr)


def _report(progress: Progress, step: str | None, lines: list[str], excerpt: list[str], message: str) -> int:
    from dockyard.engine.buildkit import VertexInfo

    failed = VertexInfo("", step) if step else None
    progress.display.error_report(failed, message, excerpt, lines)  # type: ignore[call-arg]
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return 1


def _finish(args: argparse.Namespace, image_id: str, metadata: dict) -> int:
    if args.quiet:
        sys.stdout.write(image_id + "\n")
        sys.stdout.flush()
    if args.iidfile:
        write_iidfile(args.iidfile, image_id)
    if args.metadata_file:
        from dockyard.engine.buildkit import write_metadata

        write_metadata(args.metadata_file, metadata)
    return 0


def cmd_build(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine.buildkit import Progress, SolveFailed
    from dockyard.engine.build import build_image_buildkit

    options = graph_options(args)
    progress = Progress(_display(args))
    try:
        result = build_image_buildkit(ctx.store, args.context, options, progress, dockerfile=args.file,
                                      stdin=ctx.stdin_binary, cache_from=list(args.cache_from),
                                      cache_to=list(args.cache_to))
    except SolveFailed as exc:
        progress.close()
        return _report(progress, exc.step, exc.lines, exc.excerpt, exc.message)
    except BaseException:
        progress.close()
        raise
    progress.close()
    code = _finish(args, str(result.image_id), result.metadata)
    if args.waste and result.stored:
        from dockyard.cli.waste import print_waste

        print_waste(sys.stdout.buffer, ctx.store, str(result.image_id))
    return code


# --------------------------------------------------------------------------- client mode


class ClientMode:
    """What BuildKit mode adds to the light client's build (client/build.py's client_build): its
    options read from the flags, `version=2` and its parameters, the secrets and SSH headers, and
    the display of the daemon's solve statuses."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.options = graph_options(args, client=True)

    def query(self, classic: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [q for q in classic if q[0] != "version"] + client_query(self.args, self.options)

    def headers(self) -> list[tuple[str, str]]:
        return client_headers(self.options)

    def print_stream(self, messages) -> int:  # noqa: ANN001
        return print_stream(messages, self.args, self.options)


def client_query(args: argparse.Namespace, options: GraphOptions) -> list[tuple[str, str]]:
    """The BuildKit-mode parameters of `POST /build` (version=2, no session)."""
    query: list[tuple[str, str]] = [("version", "2")]
    if options.no_cache_filter:
        query.append(("nocachefilter", json.dumps(options.no_cache_filter)))
    for item in options.session.allow:
        query.append(("allow", item))
    if args.platform:
        query.append(("platform", args.platform))
    if args.output:  # the daemon sends a file or directory output back in its stream
        spec = options.output
        query.append(("outputs", json.dumps([{"Type": spec.type, "Attrs": {**spec.attrs, "dest": spec.dest}
                                              if spec.dest else spec.attrs}])))
    return query


class _Received:
    """An output the daemon sends (`OUTPUT_ID` messages): written to its file as it comes, or,
    for a local directory, spooled and extracted at the end."""

    def __init__(self, options: GraphOptions) -> None:
        self.spec = options.output
        self.out = None
        self.close_out = False

    def write(self, data: bytes) -> None:
        if self.out is None:
            if self.spec.type == "local":
                import tempfile

                self.out, self.close_out = tempfile.TemporaryFile(), True
            else:
                from dockyard.engine.buildkit import open_dest

                self.out, self.close_out = open_dest(self.spec.dest)
        self.out.write(data)

    def finish(self) -> None:
        if self.out is None:
            return
        try:
            if self.spec.type == "local":
                from dockyard.engine.buildkit import extract_local

                self.out.seek(0)
                extract_local(self.out, self.spec.dest)
            else:
                self.out.flush()
        finally:
            self.discard()

    def discard(self) -> None:
        if self.out is not None and self.close_out:
            self.out.close()
        self.out = None


def client_headers(options: GraphOptions) -> list[tuple[str, str]]:
    from dockyard.engine.buildkit import SECRETS_HEADER, SSH_HEADER  # a classic build does not load it

    headers = []
    if options.session.secrets:
        values = {sid: base64.b64encode(src.read()).decode() for sid, src in options.session.secrets.items()}
        headers.append((SECRETS_HEADER, base64.b64encode(json.dumps(values).encode()).decode()))
    if options.session.ssh:
        paths = {sid: [os.path.abspath(p) for p in src.paths] for sid, src in options.session.ssh.items()}
        headers.append((SSH_HEADER, base64.b64encode(json.dumps(paths).encode()).decode()))
    return headers


def print_stream(messages, args: argparse.Namespace, options: GraphOptions) -> int:  # noqa: ANN001
    """Display the daemon's BuildKit-mode stream as an in-process build displays its own."""
    received = _Received(options)
    try:
        return _print_stream(messages, args, received)
    finally:
        received.discard()


def _print_stream(messages, args: argparse.Namespace, received: _Received) -> int:  # noqa: ANN001
    from dockyard.engine.buildkit import OUTPUT_ID, REPORT_ID, STATUS_ID, Progress, SolveStatus

    progress = Progress(_display(args))
    image_id = ""
    metadata: dict = {}
    report: dict = {}
    try:
        for message in messages:
            aux = message.get("aux")
            ident = message.get("id")
            if ident == STATUS_ID and isinstance(aux, dict):
                progress.feed(SolveStatus.from_dict(aux))
                continue
            if ident == OUTPUT_ID and isinstance(aux, dict):
                received.write(base64.b64decode(aux.get("data") or ""))
                continue
            if ident == REPORT_ID and isinstance(aux, dict):
                report = aux
                continue
            error = message.get("errorDetail") or ({"message": message["error"]} if "error" in message else None)
            if error is not None:
                text = str(error.get("message") or message.get("error") or "")
                progress.close()
                if report:
                    return _report(progress, report.get("step"), list(report.get("lines") or []),
                                   list(report.get("excerpt") or []), text)
                raise DockyardError(text)
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
                metadata = aux.get("Metadata") or {"containerimage.config.digest": image_id}
    except BaseException:
        progress.close()
        raise
    progress.close()
    if not image_id:
        raise DockyardError("the daemon's build stream ended without an image ID")
    received.finish()
    return _finish(args, image_id, metadata)
