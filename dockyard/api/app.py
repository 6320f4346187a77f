"""The route table of the Engine API: every endpoint module's routes, in one router."""

from __future__ import annotations

from dockyard.api import archive, build, containers, execs, images, networks, plugins, registry, swarm, system, \
    volumes
from dockyard.api.router import Router


def make_router() -> Router:
    # registry's push route comes before images' catch-all DELETE/POST name patterns.
    return Router(system.routes() + registry.routes() + build.routes() + images.routes()
                  + containers.routes() + archive.routes() + execs.routes() + networks.routes() + volumes.routes()
                  + swarm.routes() + plugins.routes())
