"""The archive API (`docker cp` both ways, the SDK's get_archive/put_archive): HEAD, GET and PUT
/containers/{id}/archive, through dockyard.engine.container_files."""

from __future__ import annotations

import base64
import json

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import binary_writer
from dockyard.engine import container_files as engine
from dockyard.errors import InvalidParameter

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(req: Request) -> str:
    path = req.q("path")
    if not path:
        raise InvalidParameter("path is required")
    return path


def _stat_header(stat: dict) -> tuple[str, str]:
    return STAT_HEADER, base64.b64encode(json.dumps(stat).encode()).decode()


def get(ctx: ApiContext, req: Request, resp: Response) -> None:
    store = ctx.store()
    if req.method == "HEAD":
        resp.send(200, b"", "application/x-tar",
                  [_stat_header(engine.stat(store, req.params["id"], _path(req)))])
        return
    out = []

    def start(stat: dict):  # noqa: ANN202 - the writer of the body
        out.append(binary_writer(resp.stream("application/x-tar", headers=[_stat_header(stat)]),
                                 ctx.stopping))
        return out[0]

    engine.get(store, req.params["id"], _path(req), start)
    out[0].flush()


def put(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.put(ctx.store(), req.params["id"], _path(req), req.body,
               no_overwrite_dir_non_dir=req.qbool("noOverwriteDirNonDir"),
               copy_uid_gid=req.qbool("copyUIDGID"))
    resp.send(200, b"", "text/plain")


def routes() -> list[Route]:
    a = "/containers/(?P<id>[^/]+)/archive"
    return [
        route("GET", a, get, "path"),
        route("PUT", a, put, "path noOverwriteDirNonDir copyUIDGID"),
    ]
