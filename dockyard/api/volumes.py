"""Volume endpoints (`docker volume ...`, compose's named volumes), through dockyard.engine.volumes."""

from __future__ import annotations

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.engine import volumes as engine
from dockyard.engine.request_types import VOLUME_CREATE


def list_volumes(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json({"Volumes": engine.list_volumes(ctx.root, req.q("filters")), "Warnings": None})


def create(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json_object(VOLUME_CREATE, required=True)
    resp.json(engine.create(ctx.root, body).to_docker(), 201)


def inspect(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(engine.inspect(ctx.root, req.params["name"]))


def remove(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.remove(ctx.root, req.params["name"], force=req.qbool("force"))
    resp.no_content()


def prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    removed, freed = engine.prune(ctx.root, req.q("filters"), req.version_at_least("1.42"))
    resp.json({"VolumesDeleted": removed or None, "SpaceReclaimed": freed})


def routes() -> list[Route]:
    v = "/volumes/(?P<name>[^/]+)"
    return [
        route("GET", "/volumes", list_volumes, "filters"),
        route("POST", "/volumes/create", create, "", json_body=True),
        route("POST", "/volumes/prune", prune, "filters"),
        route("GET", v, inspect, ""),
        route("DELETE", v, remove, "force"),
    ]
