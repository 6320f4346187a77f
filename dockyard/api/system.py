"""System endpoints: /_ping, /version, /info, /events (minimal), /auth."""

from __future__ import annotations

import itertools

from dockyard.api import registry
from dockyard.api.http import Response
from dockyard.api.framing import go_json
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.engine import daemon_info
from dockyard.engine import events as engine_events
from dockyard.engine.system import disk_usage as usage


def ping(ctx: ApiContext, req: Request, resp: Response) -> None:
    """Docker answers `OK` with the API version and `Builder-Version: 1` (the classic builder:
    clients then do not try BuildKit)."""
    headers = [("Builder-Version", "1"), ("Cache-Control", "no-cache, no-store, must-revalidate"),
               ("Pragma", "no-cache")]
    resp.send(200, b"OK", "text/plain; charset=utf-8", headers)


def version(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(daemon_info.version())


def info(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(daemon_info.info(ctx.store(), ctx.root))


def events(ctx: ApiContext, req: Request, resp: Response) -> None:
    """The store's events (whichever process made them), filtered, with since/until; without
    `until` the stream stays open until the client leaves or the server stops."""
    cancel = resp.cancel(ctx.stopping)
    messages = engine_events.stream(ctx.root, req.q("since"), req.q("until"), req.q("filters"),
                                    lambda: ctx.stopping.is_set())
    write = resp.stream("application/json")
    first = next(messages, None)   # filters checked before the head goes out (a 400 then)
    write(b"")
    for message in itertools.chain([first], messages):
        if message is None:
            if cancel.is_set():
                return
            continue
        write(go_json(message) + b"\n")


def auth(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(registry.login(ctx, req.json_object(required=True)))


def disk_usage(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json(usage(ctx.store(), req.qlist("type") or None, placeholders=not req.version_at_least("1.44")))


def build_prune(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker builder prune` (and the last step of `docker system prune`): BuildKit mode's
    cache (engine/build_cache.py); the classic builder's cache is images (image prune)."""
    from dockyard.engine import build_cache

    removed, freed = build_cache.prune(ctx.store(), all_=req.qbool("all"), raw_filters=req.q("filters"),
                                       keep_storage=req.qint("keep-storage", 0) or 0)
    resp.json({"CachesDeleted": removed or None, "SpaceReclaimed": freed})


def routes() -> list[Route]:
    return [
        route("GET", "/_ping", ping, ""),
        route("GET", "/version", version, ""),
        route("GET", "/info", info, ""),
        route("GET", "/events", events, "since until filters"),
        route("POST", "/auth", auth, ""),
        route("GET", "/system/df", disk_usage, "type"),
        route("POST", "/build/prune", build_prune, "all filters keep-storage"),
    ]
