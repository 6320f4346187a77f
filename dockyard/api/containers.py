"""Container endpoints and `POST /commit`: requests -> dockyard.engine.containers -> responses.

Logs and attach without a TTY use Docker's multiplexed framing (dockyard.api.framing.mux_frame);
with a TTY the bytes go out raw.
"""

from __future__ import annotations

import threading
from typing import Any

from dockyard import detach
from dockyard.api import hijack
from dockyard.api.framing import STDERR, STDOUT, go_json, mux_frame
from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import binary_writer
from dockyard.engine import containers as engine, create_config
from dockyard.errors import InvalidParameter
from dockyard.engine.request_types import CONTAINER_CREATE, UPDATE

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


# -- create ----------------------------------------------------------------------------------------
def create(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json_object(CONTAINER_CREATE, required=True)
    _older_api(req, body)
    record = engine.create_from_api(ctx.store(), body, req.q("name"), req.q("platform"))
    resp.json({"Id": record.id, "Warnings": create_config.warnings(body)}, 201)


def _older_api(req: Request, body: dict) -> None:
    """What a client of an older API version may not ask for, as moby's create route answers it
    (api/server/router/container/container_routes.go): HostConfig.Annotations came with 1.43 and
    is ignored before; a volume's Subpath came with 1.45 and is refused before."""
    host = body.get("HostConfig")
    if not isinstance(host, dict):
        return
    if not req.version_at_least("1.43"):
        host.pop("Annotations", None)
    if not req.version_at_least("1.45"):
        for m in host.get("Mounts") or []:
            if isinstance(m, dict) and isinstance(m.get("VolumeOptions"), dict) and m["VolumeOptions"].get("Subpath"):
                raise InvalidParameter("VolumeOptions.Subpath needs API v1.45 or newer")


# -- lifecycle -------------------------------------------------------------------------------------
def start(ctx: ApiContext, req: Request, resp: Response) -> None:
    # moby's start route: "a non-nil json object is at least 7 characters", and API 1.24 took
    # away the HostConfig a start's body carried (dockyard serves 1.24 on)
    length = req.head.content_length()
    if req.head.chunked or (length or 0) > 7:
        raise InvalidParameter("starting container with non-empty request body was deprecated since API v1.22 "
                               "and removed in v1.24")
    if not engine.start(ctx.store(), req.params["id"]):
        resp.send(304)  # Docker: "container already started"
        return
    resp.no_content()


def stop(ctx: ApiContext, req: Request, resp: Response) -> None:
    if not engine.stop(ctx.store(), req.params["id"], req.qint("t")):
        resp.send(304)
        return
    resp.no_content()


def restart(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.restart(ctx.store(), req.params["id"], req.qint("t"))
    resp.no_content()


def kill(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.kill(ctx.store(), req.params["id"], req.q("signal") or "KILL")
    resp.no_content()


def pause(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.pause(ctx.store(), req.params["id"])
    resp.no_content()


def unpause(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.unpause(ctx.store(), req.params["id"])
    resp.no_content()


def wait(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    condition = req.q("condition") or "not-running"
    engine.check_wait_condition(condition)
    container = engine.container_id(store, req.params["id"])
    # Docker sends the head at once, the body when the container stops.
    write = resp.stream("application/json")
    write(b"")
    state = engine.wait(store, container, condition, cancel=resp.cancel(ctx.stopping))
    if state is None:
        return
    # dockerd 20.10's ContainerWaitOKBody: Error is always there, null without one (an SDK's
    # `wait()["Error"]` reads it). Its "removed" condition answers with the removal's error, not
    # the container's (a start that failed): the CLI's `run --rm` then reports that failure once
    error = {"Message": state.error} if state.error and condition != "removed" else None
    body: dict[str, Any] = {"Error": error, "StatusCode": state.exit_code}
    write(go_json(body) + b"\n")


def remove(ctx: ApiContext, req: Request, resp: Response) -> None:
    if req.qbool("link"):     # DELETE /containers/PARENT/ALIAS?link=1: a link, not a container
        engine.remove_link(ctx.store(), req.params["id"])
        resp.no_content()
        return
    engine.remove(ctx.store(), req.params["id"], force=req.qbool("force"), volumes=req.qbool("v"))
    resp.no_content()


# -- list / inspect / changes ----------------------------------------------------------------------
def _endpoints_for(req: Request, container: dict[str, Any]) -> dict[str, Any]:
    """A container's endpoints as the request's API version has them: DNSNames came with 1.44.
    The Aliases keep the short ID at every version (dockerd 20.10's, API 1.41): docker-compose
    1.29, which negotiates 1.47 with dockyard, takes an endpoint without it (1.45's Aliases are
    the given ones only) for one to make again, and reconnects every network of each container."""
    if not req.version_at_least("1.44"):
        for endpoint in ((container.get("NetworkSettings") or {}).get("Networks") or {}).values():
            endpoint.pop("DNSNames", None)
    return container


def list_containers(ctx: ApiContext, req: Request, resp: Response) -> None:
    rows = engine.rows(ctx.store(), req.qbool("all"), req.q("filters"), req.qint("limit", -1),
                       size=req.qbool("size"))
    if not req.version_at_least("1.46"):      # a row's HostConfig.Annotations came with 1.46
        for row in rows:
            row["HostConfig"].pop("Annotations", None)
    resp.json([_endpoints_for(req, row) for row in rows])


def inspect(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(_endpoints_for(req, engine.inspect(ctx.store(), req.params["id"], size=req.qbool("size"))))


_KINDS = {"C": 0, "A": 1, "D": 2}


def changes(ctx: ApiContext, req: Request, resp: Response) -> None:
    out = []
    for line in engine.diff(ctx.store(), req.params["id"]):
        kind, _, path = line.partition(" ")
        out.append({"Path": path, "Kind": _KINDS.get(kind, 0)})
    resp.json(out or None)


def export(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    container = engine.container_id(store, req.params["id"])
    out = binary_writer(resp.stream("application/x-tar"), ctx.stopping)
    engine.export(store, container, out)
    out.flush()


# -- logs / attach ---------------------------------------------------------------------------------
def _send_logs(write, entries, tty: bool, want_out: bool, want_err: bool,  # noqa: ANN001
               timestamps: bool, stopping, details: bool = False) -> None:  # noqa: ANN001
    for entry in entries:
        if stopping.is_set():
            return
        stream = STDERR if entry.stream == "stderr" else STDOUT
        if (stream == STDOUT and not want_out) or (stream == STDERR and not want_err):
            continue
        data = entry.data
        if details:     # the entry's attributes (none: dockyard takes no labels/env log-opts), a space
            data = b" " + data
        if timestamps:
            data = f"{entry.time} ".encode() + data
        write(data if tty else mux_frame(stream, data))


def _content_type(req: Request, tty: bool) -> str:
    return RAW_STREAM if tty or not req.version_at_least("1.42") else MULTIPLEXED_STREAM


def logs(ctx: ApiContext, req: Request, resp: Response) -> None:
    want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
    if not (want_out or want_err):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    store = ctx.store()
    tty = engine.is_tty(store, req.params["id"])
    entries = engine.logs(store, req.params["id"], follow=req.qbool("follow"), tail=req.q("tail"),
                          cancel=resp.cancel(ctx.stopping), since=req.q("since"), until=req.q("until"))
    write = resp.stream(_content_type(req, tty))
    write(b"")
    _send_logs(write, entries, tty, want_out, want_err, req.qbool("timestamps"), ctx.stopping,
               req.qbool("details"))


def attach(ctx: ApiContext, req: Request, resp: Response) -> None:
    """Hijack the connection and stream the container's output until it exits, its input to
    it. A TTY container's input is watched for the detach keys (detachKeys, or ctrl-p ctrl-q),
    as dockerd watches it: they end the stream (the client reads its end), the container runs
    on."""
    keys = detach.parse_for_attach(req.q("detachKeys") or "")
    store = ctx.store()
    container = engine.container_id(store, req.params["id"])
    tty = engine.is_tty(store, container)
    engine.attached(store, container)    # its event, before the client's start can come
    upgrade = req.head.header("upgrade").lower() == "tcp"
    conn = resp.hijack(upgrade, _content_type(req, tty))
    ended = _Ended(ctx.stopping)
    # where the output is read from is fixed before the client's input can reach the container
    # (for one not started yet, once its log is there): what the input makes it write is never
    # before that point (under load it was, and lost)
    entries = None
    if req.qbool("stream") or req.qbool("logs"):
        entries = engine.attach(store, container, stream=req.qbool("stream"), logs=req.qbool("logs"),
                                cancel=ended)
    if req.qbool("stdin") and req.qbool("stream"):
        escape = detach.Escape(keys) if tty else None
        threading.Thread(target=_forward_input, args=(ended, store, container, conn, escape),
                         daemon=True, name="attach stdin").start()
    if entries is None:
        return
    _send_logs(conn.send, entries, tty, req.qbool("stdout"), req.qbool("stderr"), False, ended)
    hijack.finish(conn)


class _Ended:
    """An attach's end before the container's: the server stopping, or the user detaching."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.detached = threading.Event()

    def is_set(self) -> bool:
        return self.detached.is_set() or self.stopping.is_set()


def _forward_input(ended: _Ended, store, container: str, conn, escape) -> None:  # noqa: ANN001
    """The client's stdin to the container (once it runs), and its end (StdinOnce); with
    `escape`, until the detach keys (what came before them is sent, the input stays open)."""
    channel = engine.input_channel(store, container, ended)
    if channel is None:
        return
    with channel:
        try:
            while data := conn.recv():
                if escape is not None:
                    data, leave = escape.feed(data)
                    if data:
                        channel.send(data)
                    if leave:
                        ended.detached.set()
                        return
                    continue
                channel.send(data)
            channel.end()
        except OSError:
            pass


def stats(ctx: ApiContext, req: Request, resp: Response) -> None:
    stream = req.qbool("stream", True)
    messages = engine.stats(ctx.store(), req.params["id"], stream=stream,
                            one_shot=req.qbool("one-shot"), cancel=ctx.stopping)
    if not stream:
        resp.json(next(messages))
        return
    write = resp.stream("application/json")
    for message in messages:
        write(go_json(message) + b"\n")


def top(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(engine.top(ctx.store(), req.params["id"], req.q("ps_args") or "-ef"))


def rename(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.rename(ctx.store(), req.params["id"], req.q("name") or "")
    resp.no_content()


# dockerd 20.10 answers these bodies' decoding errors with 500, Docker 23 on with 400: 400 here
def update(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json_object(UPDATE, required=True)
    engine.update(ctx.store(), req.params["id"], body)
    resp.json({"Warnings": []})


def resize(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.resize(ctx.store(), req.params["id"], req.qint("h", 0) or 0, req.qint("w", 0) or 0)
    resp.send(200, b"", "text/plain")


# -- commit ----------------------------------------------------------------------------------------
def commit(ctx: ApiContext, req: Request, resp: Response) -> None:
    container = req.q("container")
    if not container:
        raise InvalidParameter("container parameter is required")
    body = req.json_object()
    repo, tag = req.q("repo") or "", req.q("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    image_id = engine.commit(ctx.store(), container, repository,
                             pause_container=req.qbool("pause", True), message=req.q("comment") or "",
                             author=req.q("author") or "", changes=req.qlist("changes"), config=body)
    resp.json({"Id": str(image_id)}, 201)


def prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker container prune`: every container that is not running."""
    deleted, freed = engine.prune(ctx.store(), req.q("filters"))
    resp.json({"ContainersDeleted": deleted or None, "SpaceReclaimed": freed})


def routes() -> list[Route]:
    c = "/containers/(?P<id>[^/]+)"
    return [
        route("GET", "/containers/json", list_containers, "all limit size filters before since trunc_cmd"),
        route("POST", "/containers/create", create, "name platform", json_body=True),
        route("POST", "/containers/prune", prune, "filters"),
        route("GET", f"{c}/json", inspect, "size"),
        route("GET", f"{c}/logs", logs, "follow stdout stderr since until timestamps tail details"),
        route("GET", f"{c}/changes", changes, ""),
        route("GET", f"{c}/export", export, ""),
        route("POST", f"{c}/start", start, "detachKeys"),
        route("POST", f"{c}/stop", stop, "signal t"),
        route("POST", f"{c}/restart", restart, "signal t"),
        route("POST", f"{c}/kill", kill, "signal"),
        route("POST", f"{c}/pause", pause, ""),
        route("POST", f"{c}/unpause", unpause, ""),
        route("POST", f"{c}/attach", attach, "detachKeys logs stream stdin stdout stderr"),
        route("POST", f"{c}/wait", wait, "condition"),
        route("POST", f"{c}/resize", resize, "h w"),
        route("GET", f"{c}/stats", stats, "stream one-shot"),
        route("GET", f"{c}/top", top, "ps_args"),
        route("POST", f"{c}/rename", rename, "name"),
        route("POST", f"{c}/update", update, "", json_body=True),
        route("DELETE", c, remove, "v force link"),
        # a link's name, PARENT/ALIAS (`docker rm --link /PARENT/ALIAS`)
        route("DELETE", "/containers/(?P<id>[^/]+/[^/]+)", remove, "v force link"),
        route("POST", "/commit", commit, "container repo tag comment author pause changes", json_body=True),
    ]
