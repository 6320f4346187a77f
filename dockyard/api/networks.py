"""Network endpoints (`docker network ...`, compose's networks), through dockyard.engine.networks."""

from __future__ import annotations

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.engine import networks as engine
from dockyard.engine.create_config import endpoint_config
from dockyard.engine.request_types import NETWORK_CONNECT, NETWORK_CREATE, NETWORK_DISCONNECT


def list_networks(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(engine.list_networks(ctx.root, req.q("filters")))


def inspect(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(engine.inspect(ctx.root, req.params["id"]))


def create(ctx: ApiContext, req: Request, resp: Response) -> None:
    record = engine.create(ctx.root, req.json_object(NETWORK_CREATE, required=True))
    resp.json({"Id": record.id, "Warning": ""}, 201)


def remove(ctx: ApiContext, req: Request, resp: Response) -> None:
    engine.remove(ctx.root, req.params["id"])
    resp.no_content()


def prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json({"NetworksDeleted": engine.prune(ctx.root, req.q("filters")) or None})


def connect(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json_object(NETWORK_CONNECT, required=True)
    config = body.get("EndpointConfig") or {}
    engine.connect(ctx.store(), str(body.get("Container") or ""), req.params["id"],
                   endpoint_config(config))
    resp.send(200, b"", "text/plain")


def disconnect(ctx: ApiContext, req: Request, resp: Response) -> None:
    body = req.json_object(NETWORK_DISCONNECT, required=True)
    engine.disconnect(ctx.store(), str(body.get("Container") or ""), req.params["id"])
    resp.send(200, b"", "text/plain")


def routes() -> list[Route]:
    n = "/networks/(?P<id>[^/]+)"
    return [
        route("GET", "/networks", list_networks, "filters"),
        route("POST", "/networks/create", create, "", json_body=True),
        route("POST", "/networks/prune", prune, "filters"),
        route("GET", n, inspect, "verbose scope"),
        route("DELETE", n, remove, ""),
        route("POST", f"{n}/connect", connect, "", json_body=True),
        route("POST", f"{n}/disconnect", disconnect, "", json_body=True),
    ]
