"""Image endpoints: list, inspect, history, waste (dockyard's own), tag, remove, get (save), load, create (import; pull
goes to dockyard.api.registry), all through dockyard.engine."""

from __future__ import annotations

from typing import Any

from dockyard.api import registry
from dockyard.api.framing import BadChunk
from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import JsonMessages, binary_writer
from dockyard.engine import images as engine_images
from dockyard.engine import transfer
from dockyard.errors import InvalidArchive, InvalidParameter, NotImplementedFeature


def list_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    rows = engine_images.image_rows(ctx.store(), all_images=req.qbool("all"),
                                    raw_filters=req.q("filters"),
                                    placeholders=not req.version_at_least("1.44"))
    resp.json(rows)


def inspect_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    data = engine_images.inspect_image(ctx.store(), req.params["name"])
    if req.version_at_least("1.44"):
        data.pop("VirtualSize", None)
    resp.json(data)


def image_history(ctx: ApiContext, req: Request, resp: Response) -> None:
    resp.json([h.to_docker() for h in engine_images.image_history(ctx.store(), req.params["name"])])


def image_waste(ctx: ApiContext, req: Request, resp: Response) -> None:
    """dockyard's own: the files a layer adds that a later layer deletes or overwrites."""
    from dockyard.engine.waste import image_waste as waste

    resp.json([item.to_dict() for item in waste(ctx.store(), req.params["name"]).items])


def tag_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    repo = req.q("repo") or ""
    if not repo:
        raise InvalidParameter("repository name (repo parameter) is required")
    tag = req.q("tag") or ""
    target = f"{repo}:{tag}" if tag else repo
    engine_images.tag_image(ctx.store(), req.params["name"], target)
    resp.send(201, b"", "text/plain; charset=utf-8")


def remove_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    report = engine_images.remove_image(ctx.store(), req.params["name"], force=req.qbool("force"),
                                        prune=not req.qbool("noprune"))
    resp.json(report.to_docker())


def _save(ctx: ApiContext, names: list[str], resp: Response) -> None:
    store = ctx.store()  # save_images resolves every name before writing: errors stay 404s
    write = resp.stream("application/x-tar")
    out = binary_writer(write, ctx.stopping, resp.send_file)  # layer tars go by sendfile
    transfer.save_images(store, names, out)
    out.flush()


def get_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    _save(ctx, [req.params["name"]], resp)


def get_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    names = req.qlist("names")
    if not names:
        raise InvalidParameter("no image names given (names parameter)")
    _save(ctx, names, resp)


def load_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    """Docker answers 200 and reports a load's failure inside the JSON stream (the SDK's
    images.load raises ImageLoadError from it, the CLI prints it); so do we: nothing is written
    before the archive is read, and a bad archive is then the stream's one message. So is a
    chunked body that breaks its framing (dockerd 20.10: 200, "invalid byte in chunk length" in
    the stream); a body cut short is a client gone, answered to nobody."""
    try:
        with req.body.ahead() as body:  # the socket is read while the archive is checked and written
            results = transfer.load_images(ctx.store(), body)  # type: ignore[arg-type]
    except (InvalidArchive, BadChunk) as exc:
        JsonMessages(resp.stream("application/json"), ctx.stopping).error(str(exc))
        return
    messages = JsonMessages(resp.stream("application/json"), ctx.stopping)
    for result in results:
        for message in result.messages:
            messages.stream(message + "\n")


def create_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`fromSrc` imports (`-`: the body, or a URL); `fromImage` pulls."""
    src = req.q("fromSrc")
    if src is not None:
        _import(ctx, req, resp, src)
        return
    if req.q("fromImage"):
        registry.pull(ctx, req, resp)
        return
    raise InvalidParameter("fromImage or fromSrc is required")


def _import(ctx: ApiContext, req: Request, resp: Response, src: str) -> None:
    repo = req.q("repo") or ""
    tag = req.q("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    if src != "-" and not src.startswith(("http://", "https://")):
        raise InvalidParameter(f"fromSrc must be - or an http(s) URL, not {src!r}")
    image_id = engine_images.import_image(
        ctx.store(), src, repository=repository, message=req.q("message") or "",
        changes=req.qlist("changes"), stdin=req.body)  # type: ignore[arg-type]
    JsonMessages(resp.stream("application/json"), ctx.stopping).status(str(image_id))


def prune_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker image prune`: dangling images; with `dangling=false` (`-a`) every image no
    container uses (engine.images.prune_images)."""
    reports, reclaimed = engine_images.prune_images(ctx.store(), req.q("filters"))
    deleted = [item for r in reports for item in r.to_docker()]
    resp.json({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def search_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker search`: dockerd asks a registry's v1 search (Docker Hub's index); registries of
    the distribution API (v2) have none, and dockyard reaches no index."""
    raise NotImplementedFeature("search is not supported by dockyard: registries of the OCI "
                                "distribution API have no search (list a repository's tags with its /v2/ API)")


def routes() -> list[Route]:
    return [
        route("GET", "/images/search", search_images, "term limit filters"),
        route("GET", "/images/json", list_images, "all filters shared-size digests manifests identity only_ids filter"),
        route("POST", "/images/create", create_image, "fromImage fromSrc repo tag message changes platform"),
        route("POST", "/images/load", load_images, "quiet platform"),
        route("GET", "/images/get", get_images, "names platform"),
        route("POST", "/images/prune", prune_images, "filters"),
        route("GET", "/images/(?P<name>.+)/json", inspect_image, "manifests platform"),
        route("GET", "/images/(?P<name>.+)/history", image_history, "platform"),
        route("GET", "/images/(?P<name>.+)/waste", image_waste, ""),
        route("GET", "/images/(?P<name>.+)/get", get_image, "platform"),
        route("POST", "/images/(?P<name>.+)/tag", tag_image, "repo tag force"),
        route("DELETE", "/images/(?P<name>.+)", remove_image, "force noprune platforms"),
    ]


__all__ = ["routes"]
