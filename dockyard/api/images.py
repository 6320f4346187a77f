"""Image endpoints: list, inspect, history, tag, remove, get (save), load, create (import; pull
goes to dockyard.api.registry), all through dockyard.engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import JsonMessages, binary_writer
from dockyard.engine import images as engine_images
from dockyard.engine import transfer
from dockyard.errors import InvalidParameter


def _unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def _filters(req: Request) -> dict[str, list[str]]:
    """`filters` is JSON: {"name": ["v", ...]} or the older {"name": {"v": true}}."""
    raw = req.qjson("filters", {})
    if not isinstance(raw, dict):
        raise InvalidParameter("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise InvalidParameter(f"invalid filter {key!r}")
    return out


_IMAGE_FILTERS = {"reference", "dangling", "label"}


def list_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    filters = _filters(req)
    bad = sorted(set(filters) - _IMAGE_FILTERS)
    if bad:
        raise InvalidParameter(f"invalid filter '{bad[0]}'")
    store = ctx.store()
    references = filters.get("reference") or [None]
    seen: dict[str, Any] = {}
    for reference in references:
        for s in engine_images.list_images(store, reference=reference, all_images=req.qbool("all")):
            seen.setdefault(str(s.id), s)
    summaries = list(seen.values())
    if "dangling" in filters:
        want = filters["dangling"][-1].lower() in ("true", "1")
        summaries = [s for s in summaries if (not s.repo_tags) == want]
    for label in filters.get("label", []):
        key, sep, value = label.partition("=")
        summaries = [s for s in summaries
                     if key in s.labels and (not sep or s.labels[key] == value)]
    modern = req.version_at_least("1.44")
    out = []
    for s in summaries:
        # Before API 1.44 Docker marks a dangling image with `<none>` placeholders.
        dangling = not s.repo_tags and not s.repo_digests
        tags = s.repo_tags or ([] if modern else (["<none>:<none>"] if dangling else None))
        digests = s.repo_digests or ([] if modern else (["<none>@<none>"] if dangling else None))
        item: dict[str, Any] = {
            "Containers": -1, "Created": _unix(s.created), "Id": str(s.id),
            "Labels": s.labels or None, "ParentId": str(s.parent) if s.parent else "",
            "RepoDigests": digests, "RepoTags": tags, "SharedSize": -1, "Size": s.size,
        }
        if not modern:
            item["VirtualSize"] = s.size
        out.append(item)
    resp.json(out)


def inspect_image(ctx: ApiContext, req: Request, resp: Response) -> None:
    data = engine_images.inspect_image(ctx.store(), req.params["name"])
    if req.version_at_least("1.44"):
        data.pop("VirtualSize", None)
    resp.json(data)


def image_history(ctx: ApiContext, req: Request, resp: Response) -> None:
    items = engine_images.image_history(ctx.store(), req.params["name"])
    resp.json([{"Comment": h.comment, "Created": _unix(h.created), "CreatedBy": h.created_by,
                "Id": h.id, "Size": h.size, "Tags": h.tags or None} for h in items])


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
    resp.json([{"Untagged": u} for u in report.untagged] + [{"Deleted": d} for d in report.deleted])


def _save(ctx: ApiContext, names: list[str], resp: Response) -> None:
    store = ctx.store()  # save_images resolves every name before writing: errors stay 404s
    write = resp.stream("application/x-tar")
    out = binary_writer(write, ctx.stopping)
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
    """Docker answers 200 and reports a bad archive inside the JSON stream; so do we, except
    that nothing is written before the archive is read, so a bad archive is a plain 400."""
    results = transfer.load_images(ctx.store(), req.body)
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
        from dockyard.api import registry

        registry.pull(ctx, req, resp)
        return
    raise InvalidParameter("fromImage or fromSrc is required")


def _import(ctx: ApiContext, req: Request, resp: Response, src: str) -> None:
    repo = req.q("repo") or ""
    tag = req.q("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    if src != "-" and not src.startswith(("http://", "https://")):
        raise InvalidParameter(f"fromSrc must be - or an http(s) URL, not {src!r}")
    changes = req.qlist("changes")
    changer = None
    if changes:
        from dockyard.builder.changes import apply_changes

        changer = apply_changes
    image_id = engine_images.import_image(
        ctx.store(), src, repository=repository, message=req.q("message") or "",
        changes=changes, apply_changes=changer, stdin=req.body)  # type: ignore[arg-type]
    JsonMessages(resp.stream("application/json"), ctx.stopping).status(str(image_id))


def prune_images(ctx: ApiContext, req: Request, resp: Response) -> None:
    """`docker image prune`: dangling images; with `dangling=false` (`-a`) every image no
    container uses (engine.images.prune_images)."""
    filters = _filters(req)
    bad = sorted(set(filters) - {"dangling"})
    if bad:
        raise InvalidParameter(f"invalid filter '{bad[0]}'")
    dangling_only = (filters.get("dangling") or ["true"])[-1].lower() in ("true", "1")
    reports, reclaimed = engine_images.prune_images(ctx.store(), dangling_only=dangling_only)
    deleted = [item for r in reports
               for item in [{"Untagged": u} for u in r.untagged] + [{"Deleted": d} for d in r.deleted]]
    resp.json({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def routes() -> list[Route]:
    return [
        route("GET", "/images/json", list_images, "all filters shared-size digests manifests identity only_ids filter"),
        route("POST", "/images/create", create_image, "fromImage fromSrc repo tag message changes platform"),
        route("POST", "/images/load", load_images, "quiet platform"),
        route("GET", "/images/get", get_images, "names platform"),
        route("POST", "/images/prune", prune_images, "filters"),
        route("GET", "/images/(?P<name>.+)/json", inspect_image, "manifests platform"),
        route("GET", "/images/(?P<name>.+)/history", image_history, "platform"),
        route("GET", "/images/(?P<name>.+)/get", get_image, "platform"),
        route("POST", "/images/(?P<name>.+)/tag", tag_image, "repo tag force"),
        route("DELETE", "/images/(?P<name>.+)", remove_image, "force noprune platforms"),
    ]


__all__ = ["routes"]
