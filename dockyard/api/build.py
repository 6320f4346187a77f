"""`POST /build`: the request body is the context (tar, maybe compressed, or a lone Dockerfile);
the answer is Docker's JSON message stream, as the classic builder sends it:
`{"stream": "Step 1/3 : ..."}` ..., `{"aux": {"ID": "sha256:..."}}`, `Successfully built`,
`Successfully tagged`; a failure is `{"errorDetail": ..., "error": ...}` in the stream."""

from __future__ import annotations

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import JsonMessages
from dockyard.engine.build import BuildOptions, build_image
from dockyard.engine.images import parse_target
from dockyard.errors import BuildFailed, InvalidParameter
from dockyard.reference import Reference

# Every parameter Docker's build route reads (daemon/server/router/build), so real clients pass;
# those that tune resources or BuildKit are accepted and have no effect here.
BUILD_QUERY = ("dockerfile t extrahosts remote q nocache cachefrom pull rm forcerm memory memswap "
               "cpushares cpusetcpus cpusetmems cpuperiod cpuquota buildargs shmsize squash labels "
               "networkmode platform target outputs version session buildid cgroupparent isolation "
               "ulimits securityopt")


def _string_map(req: Request, name: str, allow_null: bool) -> dict:
    value = req.qjson(name, {}) or {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (allow_null and v is None))
            for k, v in value.items()):
        raise InvalidParameter(f"invalid {name}: want a JSON object of strings")
    return value


def _tags(req: Request) -> list[Reference]:
    refs = []
    for text in req.qlist("t"):
        ref = parse_target(text)
        assert ref is not None
        refs.append(ref)
    return refs


def options_from_request(req: Request) -> BuildOptions:
    network = req.q("networkmode") or "default"
    if network not in ("default", "host", "none", "bridge"):
        raise InvalidParameter(f"network mode {network!r} is not supported for RUN (use host or none)")
    if req.q("version") not in (None, "", "1"):
        raise InvalidParameter("only the classic builder (version=1) is supported")
    return BuildOptions(
        tags=_tags(req), build_args=_string_map(req, "buildargs", True), target=req.q("target") or None,
        no_cache=req.qbool("nocache"), labels=_string_map(req, "labels", False),
        quiet=req.qbool("q"), rm=req.qbool("rm", True), force_rm=req.qbool("forcerm"),
        network="default" if network == "bridge" else network, pull=req.qbool("pull"))


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
    options = options_from_request(req)
    messages = JsonMessages(resp.stream("application/json"), ctx.stopping)
    out = _BuildStream(messages)
    remote = req.q("remote") or ""
    if remote and not remote.startswith(("http://", "https://")):
        raise InvalidParameter(f"remote context {remote!r} is not supported (http/https URLs only)")
    source = remote or req.body
    try:
        from dockyard.api.registry import build_puller

        result = build_image(ctx.store(), source, options,  # type: ignore[arg-type]
                             dockerfile=req.q("dockerfile") or None, write=out.write,
                             pull=build_puller(ctx, req))
    except BuildFailed as exc:  # RUN failed: Docker sends its exit code in errorDetail
        messages.error(exc.message, exc.exit_code)
        return
    if options.quiet:
        messages.stream(f"{result.image_id}\n")
        return
    out.finish(str(result.image_id))


def routes() -> list[Route]:
    return [route("POST", "/build", build, BUILD_QUERY)]
