"""Exec endpoints: create, start (hijacked, or detached), inspect, resize, through
dockyard.engine.execs."""

from __future__ import annotations

import os

from dockyard import detach
from dockyard.api import hijack
from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.engine import execs as engine
from dockyard.errors import DockyardError

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
DETACHED = b"exec attach failed: error on attach stdin: read escape sequence\r\n"   # dockerd 20.10's


def _body(req: Request) -> dict:
    return req.json_object(required=True) or {}


def create(ctx: ApiContext, req: Request, resp: Response) -> None:
    inst = engine.create(ctx.store(), req.params["id"], _body(req))
    resp.json({"Id": inst.id}, 201)


def start(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = _body(req)
    store = ctx.store()
    inst = engine.claim(store, req.params["id"])
    if body.get("Detach"):
        engine.start_detached(store, inst)
        resp.send(200, b"", "application/json")
        return
    tty = inst.tty
    # dockerd frames the output by the start's Tty, not the exec's: an exec made with a TTY and
    # started without (the SDK's exec_start default) is multiplexed, all of it on stdout; one
    # made without and started with is raw, its stderr dropped
    raw = body.get("Tty") is True
    content_type = RAW_STREAM if raw or not req.version_at_least("1.42") else MULTIPLEXED_STREAM
    conn = resp.hijack(req.head.header("upgrade").lower() == "tcp", content_type)

    size = body.get("ConsoleSize") or None
    console_size = (size[0], size[1]) if (tty and isinstance(size, list) and len(size) == 2 and all(
        isinstance(v, int) and v > 0 for v in size)) else None

    def run(fds: dict) -> None:
        try:
            engine.run(store, inst, stdin=fds["stdin"],
                       stdout=fds["stdout"] if inst.attach_stdout or tty else None,
                       stderr=fds["stderr"] if tty or (inst.attach_stderr and not raw) else None,
                       size=console_size)
        except DockyardError as exc:
            # refused before the process ran (`exec -u nosuchuser`, a missing executable):
            # dockerd writes the error into the stream, and the client prints it (exit code
            # 126, as the exec's)
            os.write(fds["stdout"], f"{exc}\r\n".encode())

    # dockerd watches a TTY exec's stdin for the detach keys (its create's DetachKeys or
    # ctrl-p ctrl-q), and ends the stream with the error its detach is
    escape = detach.Escape(detach.parse(inst.detach_keys)) if tty and inst.attach_stdin else None
    hijack.run_attached(conn, tty=tty, stdin=inst.attach_stdin, run=run, stopping=ctx.stopping, raw=raw,
                        escape=escape, detach_message=DETACHED)


def inspect(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(engine.get(ctx.store(), req.params["id"]).to_docker())


def resize(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.resize(ctx.store(), req.params["id"], req.qint("h", 0) or 0, req.qint("w", 0) or 0)
    resp.send(200, b"", "text/plain")


def routes() -> list[Route]:
    e = "/exec/(?P<id>[^/]+)"
    return [
        route("POST", "/containers/(?P<id>[^/]+)/exec", create, "", json_body=True),
        route("POST", f"{e}/start", start, "", json_body=True),
        route("POST", f"{e}/resize", resize, "h w"),
        route("GET", f"{e}/json", inspect, ""),
    ]
