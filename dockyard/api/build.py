"""`POST /build`: the request body is the context (tar, maybe compressed, or a lone Dockerfile);
the answer is Docker's JSON message stream, as the classic builder sends it:
`{"stream": "Step 1/3 : ..."}` ..., `{"aux": {"ID": "sha256:..."}}`, `Successfully built`,
`Successfully tagged`; a failure is `{"errorDetail": ..., "error": ...}` in the stream.

`version=2` with a session is the docker CLI in BuildKit mode (`DOCKER_BUILDKIT=1 docker build`):
its `POST /session` (h2c) is held for the build, which reads the context, the Dockerfile and
the secrets over it (dockyard.api.buildkit_session) and answers with BuildKit's progress trace.
`version=2` without a session is dockyard's own client in BuildKit mode (DOCKER_BUILDKIT=1):
the stream carries solve statuses (`{"id": "dockyard.buildkit.status", "aux": {...}}`), then
`{"aux": {"ID": ..., "Metadata": ...}}`; a failed step adds `dockyard.buildkit.error` (the
step, its last output lines, the Dockerfile excerpt) before the error. `/grpc` (buildx's
BuildKit API) is refused with an error naming DOCKER_BUILDKIT=0."""

from __future__ import annotations

from typing import Any

from dockyard.api.http import Response
from dockyard.api.registry import build_puller
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import JsonMessages
from dockyard.engine.buildkit import OUTPUT_CHUNK, OUTPUT_ID, REPORT_ID, SECRETS_HEADER, SSH_HEADER, \
    STATUS_ID
from dockyard.engine import create_config
from dockyard.engine.build import BuildOptions, build_image, check_platform
from dockyard.engine.images import parse_target
from dockyard.errors import BuildFailed, InvalidParameter, NotImplementedFeature
from dockyard.reference import Reference

# Every parameter Docker's build route reads (daemon/server/router/build), so real clients pass:
# those for RUN's containers (memory, shmsize, ulimits, extrahosts...) are applied by the classic
# builder and refused in BuildKit mode; cgroupparent, securityopt, squash are refused (_run_host).
# `explaincache` is dockyard's own (`build --explain-cache`).
BUILD_QUERY = ("dockerfile t extrahosts remote q nocache cachefrom pull rm forcerm memory memswap "
               "cpushares cpusetcpus cpusetmems cpuperiod cpuquota buildargs shmsize squash labels "
               "networkmode platform target outputs version session buildid cgroupparent isolation "
               "ulimits securityopt nocachefilter allow explaincache")
NO_GRPC = ("BuildKit's gRPC API (buildx) is not supported by dockyard serve: set DOCKER_BUILDKIT=0 to "
           "use the classic builder, or build with the docker CLI's built-in BuildKit or dockyard's own CLI")
NO_SESSION_OUTPUT = ("--output to a file or a directory goes through the docker CLI's session (FileSend), "
                     "which dockyard serve does not offer: use DOCKER_BUILDKIT=1 dockyard -H ... build -o ...")


def _string_map(req: Request, name: str, allow_null: bool) -> dict:
    value = req.qjson(name, {}) or {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (allow_null and v is None))
            for k, v in value.items()):
        raise InvalidParameter(f"invalid {name}: want a JSON object of strings")
    return value


def _string_list(req: Request, name: str) -> list[str]:
    value = req.qjson(name, []) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid {name}: want a JSON list of strings")
    return value


def _tags(req: Request) -> list[Reference]:
    refs = []
    for text in req.qlist("t"):
        ref = parse_target(text)
        assert ref is not None
        refs.append(ref)
    return refs


# the build parameters dockerd's classic builder gives its RUN containers: HostConfig's fields
_RUN_HOST = {"memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares", "cpuperiod": "CpuPeriod",
             "cpuquota": "CpuQuota", "shmsize": "ShmSize"}
_RUN_HOST_TEXT = {"cpusetcpus": "CpusetCpus", "cpusetmems": "CpusetMems"}


def _run_host(req: Request) -> dict[str, Any]:
    """The HostConfig fields a build's parameters set for RUN's containers (only those given:
    the docker CLI sends none it was not given). `cgroupparent` and `squash` (experimental in
    dockerd) are refused: dockyard does not apply them; `securityopt` as dockerd refuses it."""
    if req.qlist("securityopt"):   # dockerd 20.10's words, on Linux
        raise InvalidParameter("The daemon on this platform does not support setting security options on build")
    for name, given in (("cgroupparent", req.q("cgroupparent")), ("squash", req.qbool("squash"))):
        if given:
            raise InvalidParameter(f"build parameter {name} is not supported by dockyard")
    if (req.q("isolation") or "default").lower() != "default":
        raise InvalidParameter(f'Unsupported isolation: "{req.q("isolation")}"')   # dockerd's words
    host: dict[str, Any] = {field: req.qint(name) for name, field in _RUN_HOST.items()}
    host.update({field: req.q(name) for name, field in _RUN_HOST_TEXT.items()})
    host["Ulimits"] = req.qjson("ulimits")
    host["ExtraHosts"] = [h for text in req.qlist("extrahosts") for h in text.split(",") if h]
    # a client in BuildKit mode (the docker CLI's) sends every one of them, at zero when not given
    return {field: value for field, value in host.items() if value}


def options_from_request(req: Request) -> BuildOptions:
    if req.q("version") not in (None, "", "1"):
        raise InvalidParameter("only the classic builder (version=1) and dockyard's BuildKit mode are supported")
    check_platform(req.q("platform"))   # (dockyard took any, and built for linux/amd64)
    return BuildOptions(
        tags=_tags(req), build_args=_string_map(req, "buildargs", True), target=req.q("target") or None,
        no_cache=req.qbool("nocache"), labels=_string_map(req, "labels", False),
        quiet=req.qbool("q"), rm=req.qbool("rm", True), force_rm=req.qbool("forcerm"),
        network=req.q("networkmode") or "default", pull=req.qbool("pull"),
        cache_from=_string_list(req, "cachefrom"), explain_cache=req.qbool("explaincache"),
        run_host=create_config.run_host(host) if (host := _run_host(req)) else {})


class _BuildStream:
    """The builder's byte output as JSON messages. The engine prints `Successfully built`
    itself, before tagging; Docker sends the `aux` ID message first, so those last lines are
    held back until the ID is known."""

    def __init__(self, messages: JsonMessages) -> None:
        self.messages = messages
        self.held: list[str] = []

    def write(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if self.held or text.startswith("Successfully built "):
            self.held.append(text)
            return
        self.messages.stream(text)

    def finish(self, image_id: str) -> None:
        self.messages.aux({"ID": image_id})
        for text in self.held:
            self.messages.stream(text)


def build(ctx: ApiContext, req: Request, resp: Response) -> None:
    if req.q("version") == "2":
        if (req.q("buildid") or "").startswith("upload-request:"):
            upload(ctx, req, resp)
            return
        if req.q("session"):
            build_cli_session(ctx, req, resp)
            return
        build_buildkit(ctx, req, resp)
        return
    remote = req.q("remote") or ""
    if remote and not remote.startswith(("http://", "https://")):
        raise InvalidParameter(f"remote context {remote!r} is not supported (http/https URLs only)")
    _build(ctx, req, resp, remote or req.body, req.q("dockerfile") or None)


def build_local(ctx: ApiContext, req: Request, resp: Response) -> None:
    """dockyard's own `POST /dockyard/build`, for both builders (`version=2`: BuildKit mode, as
    on `POST /build` without a session): Docker's build parameters, and `context` (the
    client's directory, absolute) with `contextid` (its DEV:INO) instead of a tar body; the
    directory is read in place once proved to be the client's (api/local_context.py), else 412
    and the client sends a tar to `POST /build`. `dockerfile`, when given, is absolute."""
    from dockyard.api.local_context import Declined, parse_identity, shared_directory

    if req.q("remote"):
        raise InvalidParameter("remote: not with a local context")
    if req.q("session"):
        raise InvalidParameter("session: not with a local context")
    version = req.q("version") or "1"
    if version not in ("1", "2"):
        resp.error(412, f"context not shared: builder version {version} does not read a context in place")
        return
    path, identity = req.q("context") or "", parse_identity(req.q("contextid") or "")
    dockerfile = req.q("dockerfile") or None
    if dockerfile is not None and not dockerfile.startswith("/"):
        raise InvalidParameter(f"invalid dockerfile {dockerfile!r}: want an absolute path")
    try:
        directory = shared_directory(resp.connection.sock, path, identity)
    except Declined as exc:
        resp.error(412, f"context not shared: {exc}")
        return
    if version == "2":  # BuildKit mode (DOCKER_BUILDKIT=1 dockyard -H ... build)
        _build_buildkit(ctx, req, resp, _graph_options(req), directory, dockerfile)
        return
    _build(ctx, req, resp, directory, dockerfile)


def _build(ctx: ApiContext, req: Request, resp: Response, source: object, dockerfile: str | None) -> None:
    options = options_from_request(req)
    messages = JsonMessages(resp.stream("application/json"), ctx.stopping)
    out = _BuildStream(messages)
    try:
        result = build_image(ctx.store(), source, options,  # type: ignore[arg-type]
                             dockerfile=dockerfile, write=out.write,
                             pull=build_puller(ctx, req))
    except BuildFailed as exc:  # RUN failed: Docker sends its exit code in errorDetail
        messages.error(exc.message, exc.exit_code)
        return
    if options.quiet:
        messages.stream(f"{result.image_id}\n")
        return
    out.finish(str(result.image_id))


def _graph_options(req: Request, outputs: bool = True):  # noqa: ANN202 - builder.graph.options.GraphOptions
    import base64
    import json

    from dockyard.engine.buildkit import (
        GraphOptions, check_extra_host, check_network, parse_allow, SecretSource, Session, SshSource,
    )

    network = req.q("networkmode") or "default"
    check_network(network)
    given = _run_host(req)
    # --add-host: RUN's /etc/hosts, as dockerd 20.10's BuildKit has it; the others are refused
    extra_hosts = [check_extra_host(h) for h in given.pop("ExtraHosts", [])]
    if given:
        raise InvalidParameter(f"build parameters for RUN's containers ({', '.join(sorted(given))}) are not "
                               "supported in BuildKit mode: build with the classic builder (DOCKER_BUILDKIT=0)")
    filters = req.qjson("nocachefilter", []) or []
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise InvalidParameter("invalid nocachefilter: want a JSON list of stage names")
    platform = req.q("platform") or "linux/amd64"
    if platform not in ("linux/amd64", "linux/x86_64"):
        raise InvalidParameter(f"platform {platform} is not supported here (only linux/amd64)")
    secrets: dict[str, SecretSource] = {}
    ssh: dict[str, SshSource] = {}
    try:
        header = req.head.header(SECRETS_HEADER.lower())
        if header.strip():
            for sid, value in json.loads(base64.b64decode(header)).items():
                secrets[sid] = SecretSource(sid, value=base64.b64decode(value))
        header = req.head.header(SSH_HEADER.lower())
        if header.strip():
            for sid, paths in json.loads(base64.b64decode(header)).items():
                ssh[sid] = SshSource(sid, tuple(str(p) for p in paths))
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise InvalidParameter("invalid secrets or ssh header") from None
    return GraphOptions(
        **({"output": _output(req)} if outputs else {}),
        tags=_tags(req), tag_names=req.qlist("t"), build_args=_string_map(req, "buildargs", True),
        target=req.q("target") or None, no_cache=req.qbool("nocache"), no_cache_filter=filters,
        labels=_string_map(req, "labels", False), pull=req.qbool("pull"),
        network=network, platform=platform, extra_hosts=extra_hosts,
        explain_cache=req.qbool("explaincache"),
        session=Session(secrets, ssh, parse_allow(req.qlist("allow"))))


def _output(req: Request):  # noqa: ANN202 - builder.graph.options.OutputSpec
    """Docker's `outputs` (`[{"Type": ..., "Attrs": {...}}]`, at most one). One with a `dest`
    is sent back to the client in the stream (`_OutputMessages`): the daemon never writes a
    path a request names."""
    from dockyard.engine.buildkit import parse_outputs

    value = req.qjson("outputs", []) or []
    if not isinstance(value, list) or not all(
            isinstance(o, dict) and isinstance(o.get("Type"), str) and isinstance(o.get("Attrs") or {}, dict)
            for o in value):
        raise InvalidParameter('invalid outputs: want a JSON list of {"Type": ..., "Attrs": {...}}')
    texts = [",".join([f"type={o['Type']}", *(f"{k}={v}" for k, v in (o.get("Attrs") or {}).items())])
             for o in value]
    return parse_outputs(texts)


class _OutputMessages:
    """An output's bytes as messages of the build stream (`OUTPUT_ID`), in bounded pieces."""

    def __init__(self, messages: JsonMessages) -> None:
        self.messages = messages
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        while len(self.buf) >= OUTPUT_CHUNK:
            self._send(bytes(self.buf[:OUTPUT_CHUNK]))
            del self.buf[:OUTPUT_CHUNK]
        return len(data)

    def flush(self) -> None:
        if self.buf:
            self._send(bytes(self.buf))
            self.buf.clear()

    def _send(self, data: bytes) -> None:
        import base64

        self.messages.message({"id": OUTPUT_ID, "aux": {"data": base64.b64encode(data).decode()}})


def build_buildkit(ctx: ApiContext, req: Request, resp: Response) -> None:
    options = _graph_options(req)
    remote = req.q("remote") or ""
    if remote and not remote.startswith(("http://", "https://")):
        raise InvalidParameter(f"remote context {remote!r} is not supported (http/https URLs only)")
    _build_buildkit(ctx, req, resp, options, remote or req.body, req.q("dockerfile") or None)


def _build_buildkit(ctx: ApiContext, req: Request, resp: Response, options, source: object,  # noqa: ANN001
                    dockerfile: str | None) -> None:
    """A BuildKit-mode build of `source` (a context tar stream, a URL, or a directory read in
    place), streamed as solve statuses."""
    from dockyard.engine.buildkit import CallbackDisplay, Progress, SolveFailed
    from dockyard.engine.build import build_image_buildkit

    messages = JsonMessages(resp.stream("application/json"), ctx.stopping)
    progress = Progress(CallbackDisplay(
        lambda status: messages.message({"id": STATUS_ID, "aux": status.to_dict()})))
    output = None
    if options.output.dest:
        import dataclasses

        output = _OutputMessages(messages)
        options.output = dataclasses.replace(options.output, stream=output)
    from dockyard.api.registry import build_puller

    try:
        result = build_image_buildkit(ctx.store(), source, options, progress,  # type: ignore[arg-type]
                                      dockerfile=dockerfile, pull=build_puller(ctx, req))
    except SolveFailed as exc:
        messages.message({"id": REPORT_ID, "aux": {"step": exc.step, "lines": exc.lines,
                                                   "excerpt": exc.excerpt}})
        messages.error(exc.message)
        return
    if output is not None:
        output.flush()
    messages.aux({"ID": str(result.image_id), "Metadata": result.metadata})


def refuse_grpc(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise InvalidParameter(NO_GRPC)


def session(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`POST /session` upgraded to h2c by the docker CLI (DOCKER_BUILDKIT=1): the connection
    is kept for the build that names it (dockyard.api.buildkit_session)."""
    from dockyard.api import buildkit_session

    uuid = req.head.header(buildkit_session.UUID_HEADER)
    if req.head.header("upgrade").lower() != "h2c" or not uuid:
        raise InvalidParameter(NO_GRPC)
    methods = [m.strip() for m in req.head.header(buildkit_session.METHOD_HEADER).split(",") if m.strip()]
    conn = resp.hijack(True, "application/octet-stream", "h2c")
    buildkit_session.hold(uuid, conn, methods, ctx.stopping)


def upload(ctx: ApiContext, req: Request, resp: Response) -> None:
    """The context tar of `DOCKER_BUILDKIT=1 docker build - < context.tar`, which the CLI sends
    as a request of its own (`buildid=upload-request:ID`) beside its build (`remote=upload-request
    &buildid=ID`, with a session): its body is read by that build, as dockerd's builder-next
    hands it over; the answer, an empty stream, comes once the build has read it."""
    from dockyard.api import buildkit_session

    build_id = (req.q("buildid") or "").removeprefix(buildkit_session.UPLOAD_PREFIX)
    if not build_id:
        raise InvalidParameter("upload-request: no build ID")
    if not buildkit_session.hold_upload(build_id, req.body, ctx.stopping) and not ctx.stopping.is_set():
        raise InvalidParameter(f"no build {build_id!r} took the context upload")
    resp.stream("application/json")


def build_cli_session(ctx: ApiContext, req: Request, resp: Response) -> None:
    """The docker CLI's BuildKit build: the context and the Dockerfile come over its session
    (and the secrets, when a RUN asks), progress goes back as BuildKit's trace messages."""
    import base64
    import shutil
    import tempfile
    from pathlib import Path

    from dockyard.api import buildkit_session
    from dockyard.engine.buildkit import CallbackDisplay, Progress
    from dockyard.engine.build import build_image_buildkit
    from dockyard.errors import DockyardError

    uploaded = req.q("remote") == "upload-request"   # the context comes as a tar (`docker build -`)
    try:
        if (req.q("remote") or "client-session") not in ("client-session", "upload-request"):
            raise InvalidParameter(f"remote context {req.q('remote')!r} is not supported with a session")
        outputs = req.qjson("outputs", []) or []
        if any(not isinstance(o, dict) or o.get("Type") not in ("docker", "image", "moby") for o in outputs):
            raise NotImplementedFeature(NO_SESSION_OUTPUT)
        options = _graph_options(req, outputs=False)
        name = req.q("dockerfile") or "Dockerfile"
        if not uploaded and ("/" in name or name in (".", "..")):
            raise InvalidParameter(f"invalid dockerfile name {name!r}")
    except DockyardError:
        # refused before it builds: the CLI waits for its session to end (10 s), which
        # dockerd ends at once
        try:
            buildkit_session.claim(req.q("session") or "", timeout=1).close()
        except DockyardError:
            pass
        if uploaded:  # and for its upload, which waits for a build to take it
            try:
                buildkit_session.take_upload(req.q("buildid") or "", timeout=1).done.set()
            except DockyardError:
                pass
        raise
    cli = buildkit_session.claim(req.q("session") or "")
    store = ctx.store()
    work = Path(tempfile.mkdtemp(prefix="bk-session-", dir=store.tmp))
    held = None
    try:
        out = resp.stream("application/json")
        if req.qbool("q"):
            # `-q`: dockerd's build route holds the progress back, sends only the image ID as a
            # stream line, and the held progress before the error when the build fails
            held = tempfile.SpooledTemporaryFile(1 << 20, dir=store.tmp)
        messages = JsonMessages(held.write if held is not None else out, ctx.stopping)

        def fail(message: str) -> None:
            if held is not None:
                held.seek(0)
                for chunk in iter(lambda: held.read(1 << 16), b""):
                    out(chunk)
            JsonMessages(out, ctx.stopping).error(message)

        def trace(status) -> None:  # noqa: ANN001
            data = base64.b64encode(buildkit_session.status_response(status)).decode()
            messages.message({"id": buildkit_session.TRACE_ID, "aux": data})

        try:
            options.session.fetch = cli.secret
            if uploaded:
                result = _build_upload(store, req, options, Progress(CallbackDisplay(trace)))
            else:
                (work / "dockerfile").mkdir()
                (work / "context").mkdir()
                # and `<Dockerfile>.dockerignore` beside it, which BuildKit prefers to the context's
                cli.receive_dir("dockerfile", work / "dockerfile", include=[name, name + ".dockerignore"])
                if not (work / "dockerfile" / name).is_file():
                    raise InvalidParameter(f"failed to read dockerfile: open {name}: no such file or directory")
                cli.receive_dir("context", work / "context")
                result = build_image_buildkit(store, str(work / "context"), options,
                                              Progress(CallbackDisplay(trace)), dockerfile=str(work / "dockerfile" / name))
        except DockyardError as exc:  # SolveFailed too
            fail(exc.message)
            return
        if held is not None:
            JsonMessages(out, ctx.stopping).stream(f"{result.image_id}\n")
            return
        messages.message({"id": buildkit_session.IMAGE_ID, "aux": {"ID": str(result.image_id)}})
    finally:
        cli.close()
        if held is not None:
            held.close()
        shutil.rmtree(work, ignore_errors=True)


def _build_upload(store, req: Request, options, progress):  # noqa: ANN001, ANN202
    """A session's build whose context is the tar of its upload request (`docker build -`)."""
    from dockyard.api import buildkit_session
    from dockyard.engine.build import build_image_buildkit

    upload = buildkit_session.take_upload(req.q("buildid") or "")
    try:
        return build_image_buildkit(store, upload.body, options, progress,  # type: ignore[arg-type]
                                    dockerfile=req.q("dockerfile") or None)
    finally:
        upload.done.set()


def routes() -> list[Route]:
    return [route("POST", "/build", build, BUILD_QUERY),
            route("POST", "/dockyard/build", build_local, BUILD_QUERY + " context contextid"),
            route("POST", "/session", session), route("POST", "/grpc", refuse_grpc),
            route("GET", "/grpc", refuse_grpc)]
