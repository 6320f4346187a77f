"""Image operations on the local store: import, list, inspect, history, tag, remove."""

from __future__ import annotations

import json
import os
import urllib.parse
from datetime import datetime
from typing import Any, BinaryIO

from dockyard import filters as filters_mod
from dockyard.archive.compression import open_decompressed
from dockyard.dataclass import dataclass, field
from dockyard.digest import Digest
from dockyard.engine.events import parse_time as event_time, prune_cutoff
from dockyard.errors import Conflict, DockyardError, InvalidParameter, InvalidReference, NotFound, Unavailable
from dockyard.image.config import ContainerConfig, History, ImageConfig, parse_time
from dockyard.gopath import match
from dockyard.image.image import Image
from dockyard.image.manifest import DEFAULT_PLATFORM, Platform
from dockyard.image.mutate import append
from dockyard.reference import Reference, parse_reference, parse_repository
from dockyard.runtime.state import RUNNING, ContainerDir, pid_alive
from dockyard.store.events import Journal
from dockyard.store.store import DeleteReport, Store

@dataclass
class ImageSummary:
    """An image as listed (images, GET /images/json)."""

    id: Digest
    repo_tags: list[str]
    repo_digests: list[str]
    created: datetime | None
    size: int
    parent: Digest | None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class HistoryItem:
    """One row of an image's history."""

    id: str            # image ID or "<missing>"
    created: datetime | None
    created_by: str
    size: int
    comment: str
    tags: list[str]

    def to_docker(self) -> dict[str, Any]:
        """As `GET /images/{name}/history` answers it (Created in Unix seconds, 0 for none)."""
        return {"Comment": self.comment, "Created": int(self.created.timestamp()) if self.created else 0,
                "CreatedBy": self.created_by, "Id": self.id, "Size": self.size, "Tags": self.tags or None}


def image_size(image: Image) -> int:
    return sum(getattr(layer, "content_size", layer.size) for layer in image.layers)


def parse_target(text: str | None) -> Reference | None:
    """A name given to tag something: validated, `:latest` added, digests refused."""
    return None if text is None else parse_repository(text)


# -- import --------------------------------------------------------------------------------------
def _open_source(source: str, stdin: BinaryIO) -> tuple[BinaryIO, str]:
    """The import source as a stream, and the name history records for it (as Docker does)."""
    if source == "-":
        return stdin, "-"
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        from dockyard.urls import open_url

        try:
            response = open_url(source)
        except OSError as exc:
            raise Unavailable(f"error downloading {source}: {exc}") from None
        return response, source
    try:
        # The docker CLI uploads a local file's bytes, so the daemon records "-".
        return open(source, "rb"), "-"
    except FileNotFoundError:
        raise NotFound(f"open {source}: no such file or directory") from None
    except IsADirectoryError:
        raise InvalidParameter(f"{source} is a directory, not a tar archive") from None


def import_image(store: Store, source: str, *, repository: str | None = None,
                 message: str = "", changes: list[str] | None = None,
                 stdin: BinaryIO | None = None, platform: str | None = None) -> Digest:
    """`docker import`: a rootfs tar (any compression) becomes a one-layer image; `--platform`
    sets the config's os/architecture[/variant] as Docker's import does."""
    plat = Platform.parse(platform) if platform else DEFAULT_PLATFORM
    if repository is not None and parse_reference(repository).digest is not None:
        raise InvalidReference("cannot import digest reference")  # dockerd's words
    target = parse_target(repository)
    base_config = ContainerConfig()
    if changes:
        from dockyard.builder.changes import apply_changes  # the Dockerfile frontend, when needed

        base_config = apply_changes(base_config, changes)
    stream, src_name = _open_source(source, stdin if stdin is not None else os.fdopen(0, "rb", closefd=False))
    try:
        # Read without any store lock (a slow client must not hold up removals); the lock is
        # taken to move the checked layer in and reference it.
        received, scanned = store.layers.receive(open_decompressed(stream))
    finally:
        if stream is not stdin:
            stream.close()
    with store.ingesting():
        try:
            layer = store.layers.adopt(received, scanned)
        finally:
            received.unlink(missing_ok=True)
        comment = message or f"Imported from {src_name}"
        base = ImageConfig(architecture=plat.architecture, os=plat.os, variant=plat.variant or None)
        # Docker 20.10's import writes an empty container_config (its zero container.Config)
        new = append(base, [], layer, History(comment=comment), config=base_config, comment=comment,
                     extra={"container_config": ContainerConfig().to_dict()})
        image = store.add_image(new.raw_config, [layer])
        if target is not None:
            store.tag(image.id, target)
    Journal(store.root).emit("image", "import", str(image.id), {"name": str(image.id)})
    return image.id


# -- list ----------------------------------------------------------------------------------------
def image_count(store: Store) -> int:
    """How many images the store holds (tagged or not), as /info's Images counts them."""
    return len(store.image_ids())


def list_images(store: Store, *, reference: str | None = None, all_images: bool = False) -> list[ImageSummary]:
    """`docker images`: tagged images and dangling ones; with -a also intermediate images."""
    out = []
    ids = store.image_ids()
    parent_of = {i: _parent_or_none(store, i) for i in ids}
    parents = set(parent_of.values())
    for image_id in ids:
        refs = store.references(image_id)
        tags = [r for r in refs if r.tag is not None and r.digest is None]
        digests = [r for r in refs if r.digest is not None]
        if not refs and not all_images and image_id in parents:
            continue  # an intermediate image (a parent of another): shown only with -a
        if reference is not None:
            tags = [r for r in tags if _matches(r, reference)]
            digests = [r for r in digests if _matches(r, reference)]
            if not tags and not digests:
                continue
        try:
            image = store.image(image_id)
        except (DockyardError, ValueError):
            continue  # a broken image (`dockyard system check` says why) hides no other one
        out.append(ImageSummary(
            id=image_id,
            repo_tags=[r.familiar for r in tags],
            repo_digests=[r.familiar for r in digests],
            created=parse_time(image.config.created),
            size=image_size(image),
            parent=parent_of[image_id],
            labels=image.config.config.labels or {},
        ))
    out.sort(key=lambda s: (s.created.timestamp() if s.created else 0), reverse=True)
    return out


def image_rows(store: Store, *, all_images: bool = False, raw_filters: str | None = None,
               placeholders: bool = False) -> list[dict[str, Any]]:
    """`GET /images/json`: Docker's rows, filtered (before, dangling, label, reference, since,
    until; anything else is a 400). `placeholders`: before API 1.44 a dangling image shows
    `<none>:<none>` and `<none>@<none>`."""
    f = filters_mod.parse(raw_filters, filters_mod.IMAGES)
    seen: dict[str, ImageSummary] = {}
    for reference in f.get("reference") or [None]:
        for s in list_images(store, reference=reference, all_images=all_images):
            seen.setdefault(str(s.id), s)
    created_of = {key: _image_created(store, key) for key in f.get("before") + f.get("since")}
    before = min((created_of[k] for k in f.get("before")), default=None)
    since = max((created_of[k] for k in f.get("since")), default=None)
    until = min((_until(v) for v in f.get("until")), default=None)
    dangling = f.bool_value("dangling")
    users = _image_users(store)
    out = []
    for s in seen.values():
        stamp = s.created.timestamp() if s.created else 0.0
        if (before is not None and stamp >= before) or (since is not None and stamp <= since) \
                or (until is not None and stamp > until):
            continue
        if dangling is not None and (not s.repo_tags) != dangling:
            continue
        if not f.match_labels(s.labels):
            continue
        none = not s.repo_tags and not s.repo_digests
        out.append({
            "Containers": users.get(str(s.id), 0), "Created": int(stamp), "Id": str(s.id),
            "Labels": s.labels or None, "ParentId": str(s.parent) if s.parent else "",
            "RepoDigests": s.repo_digests or (["<none>@<none>"] if placeholders and none else
                                              [] if not placeholders else None),
            "RepoTags": s.repo_tags or (["<none>:<none>"] if placeholders and none else
                                        [] if not placeholders else None),
            "SharedSize": -1, "Size": s.size, **({"VirtualSize": s.size} if placeholders else {}),
        })
    return out


def _image_created(store: Store, name: str) -> float:
    created = parse_time(store.image(store.resolve(name)).config.created)
    return created.timestamp() if created else 0.0


def _until(text: str) -> float:
    ns = event_time(text)
    return (ns or 0) / 1e9


def _image_users(store: Store) -> dict[str, int]:
    """image ID -> how many containers use it"""
    out: dict[str, int] = {}
    try:
        entries = list((store.root / "containers").iterdir())
    except FileNotFoundError:
        return out
    for entry in entries:
        try:
            image_id = json.loads((entry / "container.json").read_bytes())["image_id"]
        except (FileNotFoundError, ValueError, KeyError):
            continue
        out[image_id] = out.get(image_id, 0) + 1
    return out


def _parent_or_none(store: Store, image_id: Digest) -> Digest | None:
    try:
        return store.parent(image_id)
    except (DockyardError, ValueError):
        return None


def _matches(ref: Reference, pattern: str) -> bool:
    """Docker's `reference=` filter (`docker images PATTERN`; distribution's FamiliarMatch): Go's
    path.Match of the pattern against the familiar reference (`busybox:latest`,
    `127.0.0.1:5000/app:1`, `app@sha256:...`), else against its familiar name (`busybox`)."""
    return match(pattern, ref.familiar) or match(pattern, ref.familiar_name)


# -- inspect -------------------------------------------------------------------------------------
def inspect_image(store: Store, name: str) -> dict[str, Any]:
    """The JSON `docker image inspect` prints (and `GET /images/{name}/json` returns)."""
    image_id = store.resolve(name)
    image = store.image(image_id)
    cfg = image.config
    refs = store.references(image_id)
    parent = store.parent(image_id)
    size = image_size(image)
    return {
        "Id": str(image_id),
        "RepoTags": [r.familiar for r in refs if r.tag is not None and r.digest is None],
        "RepoDigests": [r.familiar for r in refs if r.digest is not None],
        "Parent": str(parent) if parent else "",
        "Comment": cfg.comment or "",
        "Created": cfg.created or "",
        "Container": cfg.extra.get("container", ""),
        "ContainerConfig": ContainerConfig.from_dict(cfg.extra.get("container_config")).to_docker_api(),
        "DockerVersion": cfg.extra.get("docker_version", ""),
        "Author": cfg.author or "",
        "Config": cfg.config.to_docker_api(),
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in cfg.diff_ids]},
        "Metadata": {"LastTagTime": store.last_tag_time(image_id) or "0001-01-01T00:00:00Z"},
    }


# -- history -------------------------------------------------------------------------------------
def image_history(store: Store, name: str) -> list[HistoryItem]:
    """Newest first; IDs filled in walking the parent chain, as Docker's daemon does."""
    image_id = store.resolve(name)
    image = store.image(image_id)
    layers = list(image.layers)
    items: list[HistoryItem] = []
    index = 0
    for h in image.config.history:
        size = 0
        if not h.empty_layer and index < len(layers):
            size = getattr(layers[index], "content_size", layers[index].size)
            index += 1
        items.insert(0, HistoryItem("<missing>", parse_time(h.created), h.created_by or "",
                                    size, h.comment or "", []))
    current: Digest | None = image_id
    for item in items:
        if current is None or not store.records.exists(current):
            break
        item.id = str(current)
        item.tags = [r.familiar for r in store.references(current) if r.tag and not r.digest]
        current = store.parent(current)
    return items


# -- tag and remove ------------------------------------------------------------------------------
def tag_image(store: Store, source: str, target: str) -> None:
    ref = parse_target(target)
    assert ref is not None
    image_id = store.resolve(source)
    store.tag(image_id, ref)


def remove_image(store: Store, name: str, *, force: bool = False, prune: bool = True) -> DeleteReport:
    report = store.remove(name, force=force, prune=prune,
                          running=lambda cid: container_running(store, cid))
    journal = Journal(store.root)
    for ref in report.untagged:
        journal.emit("image", "untag", ref, {"name": ref})
    for image_id in report.deleted:
        journal.emit("image", "delete", image_id, {"name": image_id})
    return report


def container_running(store: Store, container_id: str) -> bool:
    """Is the container running (or paused)? A state whose monitor is gone is not running."""
    state = ContainerDir(store.root / "containers" / container_id).read_state()
    return state.status == RUNNING and pid_alive(state.monitor_pid)


def prune_images(store: Store, raw_filters: str | None = None) -> tuple[list[DeleteReport], int]:
    """`docker image prune` (daemon/images/image_prune.go): the untagged images that are not a
    parent of another (with the filter `dangling=false`, -a: every image that is not an untagged
    parent), created before `until` and matching `label`/`label!` when given. A named image is
    removed name by name without force, so an image a container uses keeps its last name (and
    stays), as `rmi NAME` would refuse. Returns what was removed and the bytes of the layers
    deleted."""
    from dockyard import filters as filters_mod

    f = filters_mod.parse(raw_filters, filters_mod.IMAGE_PRUNE)
    dangling_only = f.bool_value("dangling") is not False
    until = prune_cutoff(f.get("until"))
    reports: list[DeleteReport] = []
    sizes = {str(d): store.layers.get(d).content_size for d in store.layers.all()}
    for image_id in sorted(store.image_ids(), key=str):
        if not store.records.exists(image_id):
            continue  # deleted as the parent of an image pruned before it
        config = store.image(image_id).config
        created = parse_time(config.created)
        if until is not None and created is not None and created.timestamp() > until:
            continue
        if not f.match_labels(config.config.labels or {}):
            continue
        refs = store.references(image_id)
        children = store.records.children(image_id)
        if children and (dangling_only or not refs):
            continue
        if refs and dangling_only and any(r.digest is None for r in refs):
            continue
        names = [str(r) for r in refs] or [str(image_id)]
        for name in names:
            try:
                reports.append(remove_image(store, name))
            except (Conflict, NotFound):
                continue
    return reports, sum(sizes.get(d, 0) for r in reports for d in r.deleted)
