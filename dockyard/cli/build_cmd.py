"""`dockyard build`: flags as `docker build` (classic builder) takes them; the work is in
dockyard.engine.build, in this process or, in client mode (`-H`/`DOCKYARD_HOST`), in a running
`dockyard serve` that gets the packed context as the docker CLI sends it."""

from __future__ import annotations

import os
import sys

from dockyard.cli.flagscan import APPEND, OPTIONAL, SWITCH, VALUE, Flag, add_flags, scan
from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import BinaryIO, Callable, Iterator

    from dockyard.builder.context import BuildContext
    from dockyard.builder.directory_context import DirectoryContext
    from dockyard.cli.context import CliContext
    from dockyard.reference import Reference

# The builder and its engine are imported when `build` runs in this process, not at CLI start-up
# (every other command would pay ~50 ms for them); a client-mode build never imports them.


# The flags as `docker build` (classic builder) takes them: argparse registers them, and a
# client-mode build reads plain command lines with the quick scanner (see cli/flagscan.py).
FLAGS = (
    Flag(("-f", "--file"), "file", VALUE, "Name of the Dockerfile (default: PATH/Dockerfile)"),
    Flag(("-t", "--tag"), "tag", APPEND, "Name and optionally a tag in the name:tag format"),
    Flag(("--build-arg",), "build_arg", APPEND, "Set build-time variables"),
    Flag(("--target",), "target", VALUE, "Set the target build stage to build"),
    Flag(("--no-cache",), "no_cache", SWITCH, "Do not use cache when building the image"),
    Flag(("--label",), "label", APPEND, "Set metadata for an image"),
    Flag(("-q", "--quiet"), "quiet", SWITCH, "Suppress the build output and print image ID on success"),
    Flag(("--iidfile",), "iidfile", VALUE, "Write the image ID to the file"),
    Flag(("--rm",), "rm", OPTIONAL, "Remove intermediate containers after a successful build (default true)",
         default="true", const="true"),
    Flag(("--force-rm",), "force_rm", SWITCH, "Always remove intermediate containers"),
    Flag(("--network",), "network", VALUE, "Set the networking mode for the RUN instructions during build",
         default="default"),
    Flag(("--pull",), "pull", SWITCH, "Always attempt to pull a newer version of the image"),
    # BuildKit mode only (DOCKER_BUILDKIT=1); the classic builder refuses them.
    Flag(("--secret",), "secret", APPEND, "Secret to expose to the build: id=ID,src=FILE or id=ID,env=VAR"),
    Flag(("--ssh",), "ssh", APPEND, "SSH agent socket or keys to expose to the build: default|ID=SOCKET|KEY[,...]"),
    Flag(("--progress",), "progress", VALUE, "Type of progress output: auto, plain, tty, quiet, rawjson"),
    Flag(("-o", "--output"), "output", APPEND, "Output destination: type=docker|oci|tar|local,dest=PATH"),
    Flag(("--metadata-file",), "metadata_file", VALUE, "Write build result metadata to the file"),
    Flag(("--no-cache-filter",), "no_cache_filter", APPEND, "Do not cache the given stages"),
    Flag(("--allow",), "allow", APPEND, "Allow extra privileged entitlement: security.insecure, network.host"),
    Flag(("--platform",), "platform", VALUE, "Set the target platform (linux/amd64)"),
)
POSITIONALS = ("context",)


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group in (sub, image_sub):
        p = group.add_parser("build", help="Build an image from a Dockerfile")
        add_flags(p, FLAGS)
        p.add_argument("context", metavar="PATH | URL | -")
        p.set_defaults(func=cmd_build, client=client_build)


def scan_args(words: list[str]) -> dict[str, object] | None:
    """The command's values as argparse would give them for a plain command line, else None."""
    values = scan(words, FLAGS, POSITIONALS)
    if values is not None:
        values.update(func=cmd_build, client=client_build)
    return values


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
    from dockyard.reference import parse_repository

    refs = []
    for text in values:
        try:
            ref = parse_repository(text)  # checked before anything is sent, as the docker CLI does
        except InvalidParameter as exc:
            raise InvalidParameter(f'invalid argument "{text}" for "-t, --tag" flag: {exc}') from None
        refs.append(ref)
    return refs


def _check_network(network: str) -> None:
    if network not in ("default", "host", "none", "bridge"):
        raise InvalidParameter(f"network mode {network!r} is not supported for RUN (use host or none)")


def _write_iidfile(path: str, image_id: str) -> None:
    from pathlib import Path

    from dockyard.atomic import atomic_write

    atomic_write(Path(os.path.abspath(path)), image_id.encode())


def cmd_build(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.cli import build_buildkit

    if build_buildkit.buildkit_enabled():
        return build_buildkit.cmd_build(args, ctx)
    build_buildkit.refuse_buildkit_flags(args)
    from dockyard.engine.build import BuildOptions, build_image
    from dockyard.errors import BuildFailed

    _check_network(args.network)
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
        _write_iidfile(args.iidfile, str(result.image_id))
    return 0


# --------------------------------------------------------------------------- client mode


def _query(args: argparse.Namespace, dockerfile: str | None, remote: str | None) -> list[tuple[str, str]]:
    """`POST /build`'s parameters as the docker CLI (classic builder) sends them: defaults are
    left out (`rm` only as `rm=0`), maps as JSON, booleans as `1`."""
    import json

    query: list[tuple[str, str]] = []
    build_args = _build_args(args.build_arg)
    if build_args:
        query.append(("buildargs", json.dumps(build_args, separators=(",", ":"))))
    if dockerfile:
        query.append(("dockerfile", dockerfile))
    if args.force_rm:
        query.append(("forcerm", "1"))
    labels = _labels(args.label)
    if labels:
        query.append(("labels", json.dumps(labels, separators=(",", ":"))))
    if args.network != "default":
        query.append(("networkmode", args.network))
    if args.no_cache:
        query.append(("nocache", "1"))
    if args.pull:
        query.append(("pull", "1"))
    if args.quiet:
        query.append(("q", "1"))
    if remote:
        query.append(("remote", remote))
    if not _bool(args.rm):
        query.append(("rm", "0"))
    query += [("t", text) for text in args.tag]
    if args.target:
        query.append(("target", args.target))
    query.append(("version", "1"))
    return query


def _random_dockerfile_name() -> str:
    """The docker CLI's name for a Dockerfile it adds to the context (outside it, or `-f -`)."""
    return ".dockerfile." + os.urandom(10).hex()


def _context_body(context: DirectoryContext | BuildContext,
                  dockerfile: str | None) -> Callable[[BinaryIO], None]:
    """A writer of the directory context as the docker CLI packs it: .dockerignore applied, the
    Dockerfile and .dockerignore always sent; a Dockerfile from outside the context (or stdin)
    added under `dockerfile` (a random name) and listed in the sent .dockerignore, so the daemon
    leaves it out of `COPY .` (and the .dockerignore too when the context had none)."""
    from dockyard.builder.directory_context import DOCKERIGNORE, write_context_tar

    def write(out: BinaryIO) -> None:
        if dockerfile is None:
            write_context_tar(context.root, context.ignore, out,
                              keep={context.dockerfile_name, DOCKERIGNORE})
            return
        ignore_file = os.path.join(context.root, DOCKERIGNORE)
        try:
            if os.path.isfile(ignore_file):
                with open(ignore_file, "rb") as f:
                    listed = f.read()
            else:
                listed = DOCKERIGNORE.encode()
        except OSError as err:
            raise InvalidParameter(f"error checking context: {err}") from None
        with open(context.dockerfile_path, "rb") as f:
            text = f.read()
        write_context_tar(context.root, context.ignore, out, keep={DOCKERIGNORE},
                          replace={dockerfile: text, DOCKERIGNORE: listed + f"\n{dockerfile}\n".encode()})

    return write


def _send_stdin(out: BinaryIO) -> None:
    stdin = sys.stdin.buffer
    while data := stdin.read(64 * 1024):
        out.write(data)


def client_build(args: argparse.Namespace, host: str) -> int:
    """`dockyard -H unix://... build`: pack the context here, build in the daemon, print its
    stream as the in-process build prints it (the same lines, `Error: ...`, exit status)."""
    from dockyard.cli import build_buildkit
    from dockyard.cli.remote import Daemon

    graph = None
    if build_buildkit.buildkit_enabled():
        graph = build_buildkit.graph_options(args, client=True)
    else:
        build_buildkit.refuse_buildkit_flags(args)
    _check_network(args.network)
    _tags(args.tag)
    _bool(args.rm)
    daemon = Daemon(host)
    context: DirectoryContext | BuildContext | None = None
    opened: BuildContext | None = None  # holds temporary files (`-f -`): removed at the end
    remote = None
    dockerfile = args.file
    body: Callable[[BinaryIO], None] | None = None
    if args.context == "-":  # a tar or a lone Dockerfile: sent as it comes, the daemon tells
        body = _send_stdin
    elif args.context.startswith(("http://", "https://")):
        remote = args.context  # the daemon downloads it, as it does in-process
    else:
        if args.file == "-":  # the Dockerfile from stdin, kept aside in a temporary file
            from dockyard.builder.context import open_context

            context = opened = open_context(args.context, dockerfile="-", stdin=sys.stdin.buffer)
        else:  # found on strings: no pathlib, no temp files
            from dockyard.builder.directory_context import find_directory_context

            context = find_directory_context(args.context, dockerfile=args.file)
        name = context.dockerfile_name
        added = _random_dockerfile_name() if name == "-" or os.path.isabs(name) else None
        body = _context_body(context, added)
        dockerfile = added or name
    headers = [("X-Registry-Config", _registry_config(os.environ))]
    query = _query(args, dockerfile, remote)
    if graph is not None:
        query = [q for q in query if q[0] != "version"] + build_buildkit.client_query(args, graph)
        headers += build_buildkit.client_headers(graph)
    try:
        with daemon.request("POST", "/build", query, body=body,
                            content_type="application/x-tar", headers=headers) as reply:
            reply.check()
            if graph is not None:
                return build_buildkit.print_stream(reply.json_messages(), args, graph)
            return _print_build_stream(reply.json_messages(), args)
    finally:
        if opened is not None:
            opened.cleanup()


def _registry_config(env: Mapping[str, str]) -> str:
    """`X-Registry-Config` as the docker CLI sends it with every classic build: all the
    credentials of the user's docker config.json (and its helpers), for the daemon to pull FROM
    images with; `{}` when there are none. A config that cannot be read is a warning, as in
    docker, and the build goes on without credentials."""
    # Where CredentialStore.default looks: without a config.json (the common case) its module
    # is not even imported, at each client start.
    config_dir = env.get("DOCKER_CONFIG") or (env.get("HOME") and os.path.join(env["HOME"], ".docker"))
    if config_dir and not os.path.exists(os.path.join(config_dir, "config.json")):
        return "e30="  # base64url of {}
    from dockyard.cli.remote import registry_config_header
    from dockyard.transport.registry.credentials import CredentialStore

    def warn(message: str) -> None:
        print(f"WARNING: {message}", file=sys.stderr)

    try:
        configs = CredentialStore.default(env).get_all(warn)
    except DockyardError as exc:
        warn(str(exc))
        return "e30="
    return registry_config_header(configs)


def _print_build_stream(messages: Iterator[dict], args: argparse.Namespace) -> int:
    """Write the daemon's build messages as the in-process build writes them."""
    stdout = sys.stdout.buffer
    image_id = ""
    for message in messages:
        error = message.get("errorDetail") or ({"message": message["error"]} if "error" in message else None)
        if error is not None:
            text = str(error.get("message") or message.get("error") or "")
            code = error.get("code")
            stdout.flush()
            if isinstance(code, int) and code:  # a RUN that failed: its message and status
                print(text, file=sys.stderr)
                return code
            raise DockyardError(text)
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        text = message.get("stream")
        if isinstance(text, str):
            if args.quiet and text.startswith("sha256:"):
                image_id = text.strip()
            stdout.write(text.encode())
            stdout.flush()
    if not image_id:
        raise DockyardError("the daemon's build stream ended without an image ID")
    if args.iidfile:
        _write_iidfile(args.iidfile, image_id)
    return 0
