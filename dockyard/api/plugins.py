"""Managed plugins' endpoints, answered as a dockerd with no plugin installed answers them:
dockyard has no plugin system (its volumes and networks use their local and bridge drivers).
Listing is an empty list (its filters checked: an unknown one is an error), reading one is
404 'plugin "NAME" not found'; installing, creating or changing one is refused."""

from __future__ import annotations

from dockyard import filters
from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.errors import NotFound, NotImplementedFeature


def list_plugins(ctx: ApiContext, req: Request, resp: Response) -> None:
    filters.parse(req.q("filters"), filters.PLUGINS)
    resp.json([])


def no_such_plugin(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise NotFound(f'plugin "{req.params["name"]}" not found')


def refuse(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise NotImplementedFeature("managed plugins are not supported by dockyard")


def routes() -> list[Route]:
    one = "/plugins/(?P<name>[^/]+(?::[^/]+)?)"
    return [route("GET", "/plugins", list_plugins, "filters"),
            route("GET", f"{one}/json", no_such_plugin),
            route("DELETE", one, no_such_plugin, "force"),
            route("POST", f"{one}/(?:enable|disable|upgrade|push|set)", no_such_plugin, "timeout force remote"),
            route("GET", "/plugins/privileges", refuse, "remote"),
            route("POST", "/plugins/(?:pull|create)", refuse, "remote name")]
