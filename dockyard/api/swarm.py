"""Swarm's endpoints, answered as a dockerd that is in no swarm answers them: dockyard has no
swarm mode. Listing or reading nodes, services, tasks, secrets, configs or the swarm is 503
"not a swarm manager"; leaving is 503 "not part of a swarm" (which clients ignore with
force=True, as the docker SDK's leave_swarm does); joining or initialising one is refused."""

from __future__ import annotations

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.errors import NotImplementedFeature, Unavailable

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")


def not_a_manager(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise Unavailable(NOT_A_MANAGER)


def leave(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise Unavailable("This node is not part of a swarm")


def refuse(ctx: ApiContext, req: Request, resp: Response) -> None:
    raise NotImplementedFeature("swarm mode is not supported by dockyard")


def routes() -> list[Route]:
    objects = "/(?:swarm|nodes|services|tasks|secrets|configs)(?:/.*)?"
    return [route("POST", "/swarm/leave", leave), route("POST", "/swarm/(?:init|join)", refuse),
            *(route(method, objects, not_a_manager) for method in ("GET", "POST", "DELETE"))]
