"""`dockyard build` in BuildKit mode (DOCKER_BUILDKIT=1) as a client of `dockyard serve`: the
request is the classic build's (client/build.py) with `version=2` and BuildKit's parameters and
headers (builder/graph/wire.py), the daemon's stream of solve statuses is shown with the same
displays as an in-process build (builder/graph/progress.py), and an output the daemon sends back
is written here. The light client runs it for a plain command line (client/main.py), so it loads
at start only what every such build uses (tests/client/test_budget.py): the parsers of
`--secret`, `--ssh`, `--allow` and `--output` (builder/graph/session.py, options.py, with
dataclasses, subprocess, tempfile) and the exporters' writers are loaded when those are given.

The in-process build (cli/build_buildkit.py) reads its flags with the same checks (read_flags)
and shows its progress and errors with the same functions (display, report, finish).
"""

from __future__ import annotations

import os
import sys

from dockyard.builder.graph.progress import Progress, SolveStatus, VertexInfo, make_display
from dockyard.builder.graph.wire import OUTPUT_ID, REPORT_ID, SECRETS_HEADER, SSH_HEADER, STATUS_ID
from dockyard.client.build import Values, client_build, write_iidfile
from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    import argparse
    from typing import Iterator

    from dockyard.builder.graph.options import OutputSpec
    from dockyard.builder.graph.session import SecretSource, SshSource


class Flags:
    """BuildKit mode's readings of the flags that are its own, checked as in process: the
    secrets and SSH sources, the entitlements, and the output (None: the image into the store)."""

    def __init__(self, secrets: dict[str, SecretSource], ssh: dict[str, SshSource], allow: frozenset[str],
                 output: OutputSpec | None) -> None:
        self.secrets = secrets
        self.ssh = ssh
        self.allow = allow
        self.output = output


def read_flags(args: argparse.Namespace, *, client: bool = False) -> Flags:
    """The checks and readings of BuildKit mode's flags, in process and as a client (`client`:
    what the client cannot do yet is refused)."""
    if client and args.waste:
        raise InvalidParameter("--waste in BuildKit mode is not supported as a client of dockyard serve yet: "
                               "run `dockyard image waste IMAGE` after the build")
    if client and (args.cache_from or args.cache_to):
        raise InvalidParameter("--cache-from and --cache-to in BuildKit mode are not supported as a client "
                               "of dockyard serve yet: build in this process (without -H)")
    secrets: dict[str, SecretSource] = {}
    ssh: dict[str, SshSource] = {}
    if args.secret or args.ssh:  # their parsers only then (the light client's budget)
        from dockyard.builder.graph.session import parse_secret, parse_ssh

        for text in args.secret:
            source = parse_secret(text)
            secrets[source.id] = source
        for text in args.ssh:
            found = parse_ssh(text)
            ssh[found.id] = found
    platform = args.platform or "linux/amd64"
    if platform not in ("linux/amd64", "linux/x86_64"):
        raise InvalidParameter(f"platform {platform} is not supported here (only linux/amd64)")
    allow: frozenset[str] = frozenset()
    if args.allow:
        from dockyard.builder.graph.session import parse_allow

        allow = parse_allow(args.allow)
    output = None
    if args.output:
        from dockyard.builder.graph.options import parse_outputs

        output = parse_outputs(args.output)
    return Flags(secrets, ssh, allow, output)


def display(args: argparse.Namespace):  # noqa: ANN201 - builder.graph.progress.Display
    mode = "quiet" if args.quiet else (args.progress or "auto")
    return make_display(mode, sys.stderr)


def report(progress: Progress, step: str | None, lines: list[str], excerpt: list[str], message: str) -> int:
    """A failed build as buildx shows it: the step's last lines, the Dockerfile's, the error."""
    failed = VertexInfo("", step) if step else None
    progress.display.error_report(failed, message, excerpt, lines)  # type: ignore[call-arg]
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return 1


def finish(args: argparse.Namespace, image_id: str, metadata: dict) -> int:
    if args.quiet:
        sys.stdout.write(image_id + "\n")
        sys.stdout.flush()
    if args.iidfile:
        write_iidfile(args.iidfile, image_id)
    if args.metadata_file:
        from dockyard.builder.graph.export import write_metadata  # --metadata-file only

        write_metadata(args.metadata_file, metadata)
    return 0


def run(values: dict[str, object], host: str) -> int:
    """The build `values` (read by client/main.py) in BuildKit mode, in the daemon at `host`."""
    args = Values(values)
    return client_build(args, host, ClientMode(args))  # type: ignore[arg-type]


class ClientMode:
    """What BuildKit mode adds to the light client's build (client/build.py's client_build): its
    flags read, `version=2` and its parameters, the secrets and SSH headers, and the display of
    the daemon's solve statuses."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.flags = read_flags(args, client=True)

    def query(self, classic: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The BuildKit-mode parameters of `POST /build` (version=2, no session)."""
        args, flags = self.args, self.flags
        query = [q for q in classic if q[0] != "version"] + [("version", "2")]
        if args.no_cache_filter or flags.output is not None:
            import json  # given only: json loads re (client/daemon.loads)
        if args.no_cache_filter:
            query.append(("nocachefilter", json.dumps(list(args.no_cache_filter))))
        for item in sorted(flags.allow):
            query.append(("allow", item))
        if flags.output is not None:  # the daemon sends a file or directory output back in its stream
            spec = flags.output
            query.append(("outputs", json.dumps([{"Type": spec.type, "Attrs": {**spec.attrs, "dest": spec.dest}
                                                  if spec.dest else spec.attrs}])))
        return query

    def headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        if not (self.flags.secrets or self.flags.ssh):
            return headers
        # a client's, given only (an in-process build reads its flags here: no base64, struct;
        # base64 and json load re: client/daemon.loads)
        import base64
        import json

        if self.flags.secrets:
            values = {sid: base64.b64encode(src.read()).decode() for sid, src in self.flags.secrets.items()}
            headers.append((SECRETS_HEADER, base64.b64encode(json.dumps(values).encode()).decode()))
        if self.flags.ssh:
            paths = {sid: [os.path.abspath(p) for p in src.paths] for sid, src in self.flags.ssh.items()}
            headers.append((SSH_HEADER, base64.b64encode(json.dumps(paths).encode()).decode()))
        return headers

    def print_stream(self, messages: Iterator[dict]) -> int:
        """Display the daemon's BuildKit-mode stream as an in-process build displays its own."""
        received = _Received(self.flags.output)
        try:
            return _print_stream(messages, self.args, received)
        finally:
            received.discard()


class _Received:
    """An output the daemon sends (`OUTPUT_ID` messages): written to its file as it comes, or,
    for a local directory, spooled and extracted at the end."""

    def __init__(self, spec: OutputSpec | None) -> None:
        self.spec = spec
        self.out = None
        self.close_out = False

    def write(self, data: bytes) -> None:
        if self.spec is None:
            raise DockyardError("the daemon sent an output this build did not ask for")
        if self.out is None:
            if self.spec.type == "local":
                import tempfile

                self.out, self.close_out = tempfile.TemporaryFile(), True
            else:
                from dockyard.builder.graph.export import open_dest

                self.out, self.close_out = open_dest(self.spec.dest)
        self.out.write(data)

    def finish(self) -> None:
        if self.out is None:
            return
        try:
            if self.spec is not None and self.spec.type == "local":
                from dockyard.builder.graph.export import extract_local

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


def _print_stream(messages: Iterator[dict], args: argparse.Namespace, received: _Received) -> int:
    progress = Progress(display(args))
    image_id = ""
    metadata: dict = {}
    failure: dict = {}
    try:
        for message in messages:
            aux = message.get("aux")
            ident = message.get("id")
            if ident == STATUS_ID and isinstance(aux, dict):
                progress.feed(SolveStatus.from_dict(aux))
                continue
            if ident == OUTPUT_ID and isinstance(aux, dict):
                import binascii  # base64's decoder, without base64 (see progress.LogInfo)

                received.write(binascii.a2b_base64(aux.get("data") or ""))
                continue
            if ident == REPORT_ID and isinstance(aux, dict):
                failure = aux
                continue
            error = message.get("errorDetail") or ({"message": message["error"]} if "error" in message else None)
            if error is not None:
                text = str(error.get("message") or message.get("error") or "")
                progress.close()
                if failure:
                    return report(progress, failure.get("step"), list(failure.get("lines") or []),
                                  list(failure.get("excerpt") or []), text)
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
    return finish(args, image_id, metadata)
