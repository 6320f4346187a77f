"""Registry endpoints: pull (`POST /images/create?fromImage=`), push, `/auth`, through
dockyard.engine.registry once it exists; until then they answer 501."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.errors import NotImplementedFeature


def _engine() -> ModuleType:
    try:
        return importlib.import_module("dockyard.engine.registry")
    except ModuleNotFoundError:
        raise NotImplementedFeature("registry operations are not available in this build") from None


def login(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    _engine()
    raise NotImplementedFeature("login is not available yet")


def pull(ctx: ApiContext, req: Request, resp: Response) -> None:
    _engine()
    raise NotImplementedFeature("pull is not available yet")


def push(ctx: ApiContext, req: Request, resp: Response) -> None:
    _engine()
    raise NotImplementedFeature("push is not available yet")


def routes() -> list[Route]:
    return [route("POST", "/images/(?P<name>.+)/push", push, "tag platform")]
