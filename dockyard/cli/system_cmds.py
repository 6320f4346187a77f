"""`dockyard system check`, `system df`, `system prune` and `builder prune`: the store as a whole
(df, prune and builder prune also as a client of a daemon, through cli/backend; check has no
Engine API counterpart)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.context import CliContext
from dockyard.cli.run_flags import FilterFlag
from dockyard.errors import InvalidParameter
from dockyard.units import human_size


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    system = sub.add_parser("system", help="Manage dockyard").add_subparsers(dest="subcommand", metavar="COMMAND")
    p = system.add_parser("check", help="Read every image, layer and name back; report what is broken or left over")
    p.set_defaults(func=cmd_check)
    p = system.add_parser("df", help="Show dockyard disk usage")
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    p.set_defaults(func=cmd_df, client=cmd_df)
    p = system.add_parser("prune", help="Remove unused data")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune volumes")
    p.add_argument("--filter", action=FilterFlag, help="Provide filter values (e.g. 'label=<key>=<value>')")
    p.set_defaults(func=cmd_prune, client=cmd_prune)
    builder = sub.add_parser("builder", help="Manage builds").add_subparsers(dest="subcommand", metavar="COMMAND")
    p = builder.add_parser("prune", help="Remove build cache")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action=FilterFlag, help="Provide filter values (e.g. 'until=24h')")
    p.add_argument("--keep-storage", default="0", help="Amount of disk space to keep for cache")
    p.set_defaults(func=cmd_builder_prune, client=cmd_builder_prune)


def cmd_check(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine import system

    report = system.check(ctx.store)
    for line in report.problems:
        print(line)
    for line in report.leftovers:
        print(f"left over: {line}")
    print(f"{report.images} images, {report.layers} layers checked: "
          f"{len(report.problems)} problems, {len(report.leftovers)} left over")
    return 1 if report.problems else 0


# The docker CLI's words (20.10).
_WARNING = ["all stopped containers", "all networks not used by at least one container"]


def _natural_key(text: str) -> list[tuple[int, object, int]]:
    """The docker CLI's sortorder.NaturalLess as a key: runs of digits by their value (fewer
    leading zeros first), and before any other character; other characters bytewise."""
    key: list[tuple[int, object, int]] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j].isdigit() and text[j].isascii():
            j += 1
        if j > i:
            digits = text[i:j].lstrip("0")
            key.append((0, (len(digits), digits), j - i - len(digits)))
            i = j
        else:
            key.append((1, text[i].encode(), 0))
            i += 1
    return key


def cmd_prune(args: argparse.Namespace, target: Any) -> int:
    from dockyard.cli.run_flags import filters_query

    query = filters_query(args.filter)
    raw_filters = query[0][1] if query else None
    if args.volumes and any(pair.partition("=")[0].strip().lower() == "until" for pair in args.filter):
        # the docker CLI's check: volume prune has no `until` (API 1.41)
        raise InvalidParameter('The "until" filter is not supported with "--volumes"')
    if not args.force:
        items = list(_WARNING)
        if args.volumes:
            items.append("all volumes not used by at least one container")
        items.append("all images without at least one container associated to them" if args.all
                     else "all dangling images")
        items.append("all build cache" if args.all else "all dangling build cache")
        # the filters the docker CLI lists (label, label!, until), in its natural order
        shown = sorted((f"{k}={v}" for k, v in _filter_pairs(args.filter) if k in ("label", "label!", "until")),
                       key=_natural_key)
        filtered = "  Items to be pruned will be filtered with:\n" + "".join(f"  - {f}\n" for f in shown) + "\n" \
            if shown else ""
        from dockyard.cli.prompt import confirm

        if not confirm("WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
                       + "\n" + filtered + "Are you sure you want to continue?", False):
            return 0
    if isinstance(target, str):
        steps = _prune_through(target, all_images=args.all, volumes=args.volumes, filters=query)
    else:
        from dockyard.engine import system

        steps = system.prune(target.store, target.root, all_images=args.all, volumes=args.volumes,
                             raw_filters=raw_filters)
    reclaimed = 0
    for step in steps:   # each as its prune answers, as the docker CLI prints them
        reclaimed += step.freed
        if step.items:
            print(f"{step.title}:\n" + "".join(f"{i}\n" for i in step.items), flush=True)
    print(f"Total reclaimed space: {human_size(reclaimed, 4)}")   # go-units 0.4 HumanSize
    return 0


def _filter_pairs(pairs: list[str]) -> list[tuple[str, str]]:
    """`--filter` flags as the docker CLI's filters.ParseFlag reads them: the key trimmed and
    lower-cased, the value trimmed."""
    return [(k.strip().lower(), v.strip()) for k, _, v in (p.partition("=") for p in pairs)]


def _prune_through(host: str, *, all_images: bool, volumes: bool, filters: list[tuple[str, str]]) -> Any:
    """`system prune` by a daemon, as the docker CLI asks it: the prune of each kind in its
    order with the filters given (the images' with `dangling=true`, or `false` for -a), each
    answer as the engine's step."""
    import json

    from dockyard.cli.backend import for_target
    from dockyard.engine.system import PruneStep

    backend = for_target(host)
    answer = backend.call("POST", "/containers/prune", filters)
    yield PruneStep("Deleted Containers", answer.get("ContainersDeleted") or [], answer.get("SpaceReclaimed") or 0)
    answer = backend.call("POST", "/networks/prune", filters)
    yield PruneStep("Deleted Networks", answer.get("NetworksDeleted") or [])
    if volumes:
        answer = backend.call("POST", "/volumes/prune", filters)
        yield PruneStep("Deleted Volumes", answer.get("VolumesDeleted") or [], answer.get("SpaceReclaimed") or 0)
    image_filters = {**(json.loads(filters[0][1]) if filters else {}),
                     "dangling": {"false" if all_images else "true": True}}
    answer = backend.call("POST", "/images/prune", [("filters", json.dumps(image_filters))])
    yield PruneStep("Deleted Images", [f"{kind.lower()}: {what}" for item in answer.get("ImagesDeleted") or []
                                       for kind, what in item.items()], answer.get("SpaceReclaimed") or 0)
    answer = backend.call("POST", "/build/prune", ([("all", "1")] if all_images else []) + filters)
    yield PruneStep("Deleted build cache objects", answer.get("CachesDeleted") or [], answer.get("SpaceReclaimed") or 0)


def cmd_builder_prune(args: argparse.Namespace, target: Any) -> int:
    """`docker builder prune`: BuildKit mode's cache (engine/build_cache.py), `POST /build/prune`."""
    from dockyard.cli.backend import for_target
    from dockyard.cli.run_flags import filters_query, flag_size

    # the docker CLI reads --keep-storage (bytes, go-units' RAMInBytes) before it asks
    keep = 0 if args.keep_storage.strip() in ("", "0") else flag_size("--keep-storage", args.keep_storage.strip())
    from dockyard.cli.prompt import confirm

    if not confirm("WARNING! This will remove all " + ("" if args.all else "dangling ")
                   + "build cache. Are you sure you want to continue?", args.force):
        return 0
    query = ([("all", "1")] if args.all else []) + filters_query(args.filter) + \
        ([("keep-storage", str(keep))] if keep else [])
    report = for_target(target).call("POST", "/build/prune", query)
    if report["CachesDeleted"]:
        print("Deleted build cache objects:\n" + "".join(f"{i}\n" for i in report["CachesDeleted"]))
    print(f"Total:\t{human_size(report['SpaceReclaimed'], 4)}")
    return 0


def _part(amount: int, total: int, percent: bool = True) -> str:
    """The docker CLI's RECLAIMABLE: a size (4 digits, go-units' HumanSize), and its share of the
    total in whole percent (Go's integer division) when there is a total."""
    text = human_size(amount, 4)
    return f"{text} ({amount * 100 // total}%)" if percent and total > 0 else text


def cmd_df(args: argparse.Namespace, target: Any) -> int:
    """`docker system df`, as the docker CLI 20.10 formats the daemon's answer; `--format` as
    its DiskUsageContext takes it: a row per type, fields Type, TotalCount, Active, Size,
    Reclaimable (all strings), `table` the default columns."""
    from dockyard.cli.backend import for_target
    from dockyard.cli.format import write_rows
    from dockyard.cli.govalues import row_context

    if args.verbose and args.format.strip() not in ("", "table"):
        raise InvalidParameter("system df -v --format TEMPLATE is not supported by dockyard: -v prints the tables")
    du = for_target(target).call("GET", "/system/df")
    if args.verbose:
        _print_verbose(du)
        return 0
    images, containers = du["Images"], du["Containers"]
    volumes, cache = du["Volumes"], du["BuildCache"]
    used = sum(i.get("VirtualSize", i["Size"]) - i["SharedSize"] for i in images
               if i["Containers"] and i["SharedSize"] != -1)
    active = [c for c in containers if c["State"] in ("running", "paused", "restarting")]
    container_size = sum(c["SizeRw"] for c in containers)
    sized = [v for v in volumes if v["UsageData"]["Size"] != -1]
    volume_size = sum(v["UsageData"]["Size"] for v in sized)
    rows = [
        ["Images", str(len(images)), str(sum(1 for i in images if i["Containers"] > 0)),
         human_size(du["LayersSize"], 4), _part(du["LayersSize"] - used, du["LayersSize"])],
        ["Containers", str(len(containers)), str(len(active)), human_size(container_size, 4),
         _part(container_size - sum(c["SizeRw"] for c in active), container_size)],
        ["Local Volumes", str(len(volumes)), str(sum(1 for v in volumes if v["UsageData"]["RefCount"] > 0)),
         human_size(volume_size, 4),
         _part(sum(v["UsageData"]["Size"] for v in sized if v["UsageData"]["RefCount"] == 0), volume_size)],
        ["Build Cache", str(len(cache)), str(sum(1 for c in cache if c["InUse"])),
         human_size(sum(c["Size"] for c in cache if not c["Shared"]), 4),
         _part(sum(c["Size"] for c in cache if not c["InUse"] and not c["Shared"]), 0, percent=False)],
    ]
    keys = ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
    records = [dict(zip(keys, row)) for row in rows]
    # (the docker CLI's first row, whose type a template's error names, is the images')
    write_rows(sys.stdout, args.format or "table", records, ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], keys,
               row_context("*formatter.diskUsageImagesContext", records))
    return 0


def _truncated(text: str) -> str:
    """stringid.TruncateID: what follows the algorithm, 12 characters."""
    return text.partition(":")[2][:12] if ":" in text else text[:12]


def _ago(moment: Any) -> str:
    """A Unix time (images' Created) or an RFC 3339 time (the build cache's) as `N units ago`."""
    from datetime import datetime, timezone

    from dockyard.units import since

    seconds = moment if isinstance(moment, (int, float)) else _seconds(moment)
    return since(datetime.fromtimestamp(seconds, timezone.utc)) if seconds else ""


def _seconds(text: str | None) -> float:
    from dockyard.engine.events import parse_time as event_time

    return (event_time(text) or 0) / 1e9 if text else 0.0


def _print_verbose(du: dict[str, Any]) -> None:
    """`docker system df -v` as the docker CLI 20.10 prints it (formatter/disk_usage.go's
    verboseWriteTable): the images (their first tag), the containers (no virtual size), the
    volumes, the build cache (by last use, then ID; `*` after an ID in use), each a table."""
    from dockyard.cli.container_cmds import _ps_row
    from dockyard.cli.format import write_table

    out = sys.stdout
    rows = []
    for i in du["Images"]:
        tags = [t for t in i.get("RepoTags") or [] if t != "<none>:<none>"]
        repo, _, tag = tags[0].rpartition(":") if tags else ("<none>", "", "<none>")
        shared = i.get("SharedSize", -1)
        virtual = i.get("VirtualSize", i["Size"])
        rows.append([repo, tag, _truncated(i["Id"]), _ago(i.get("Created") or 0), human_size(i["Size"], 4),
                     "N/A" if shared == -1 else human_size(shared, 4),
                     "N/A" if shared == -1 or virtual - shared < 0 else human_size(virtual - shared, 4),
                     "N/A" if i.get("Containers", -1) == -1 else str(i["Containers"])])
    out.write("Images space usage:\n\n")
    write_table(out, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
                rows)
    rows = []
    for c in du["Containers"]:
        row = _ps_row({**c, "SizeRootFs": 0}, False)
        rows.append([row["ID"], row["Image"], row["Command"], row["LocalVolumes"], human_size(c.get("SizeRw") or 0),
                     row["RunningFor"], row["Status"], row["Names"]])
    out.write("\nContainers space usage:\n\n")
    write_table(out, ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
                rows)
    rows = []
    for v in du["Volumes"]:
        usage = v.get("UsageData") or {"RefCount": -1, "Size": -1}
        rows.append([v["Name"], "N/A" if usage["RefCount"] == -1 else str(usage["RefCount"]),
                     "N/A" if usage["Size"] == -1 else human_size(usage["Size"], 4)])
    out.write("\nLocal Volumes space usage:\n\n")
    write_table(out, ["VOLUME NAME", "LINKS", "SIZE"], rows)
    # buildCacheSort: never used first, then by last use, then by ID
    cache = sorted(du["BuildCache"], key=lambda c: (c.get("LastUsedAt") is not None,
                                                    _seconds(c.get("LastUsedAt")), c["ID"]))
    rows = [[_truncated(c["ID"]) + ("*" if c.get("InUse") else ""), c.get("Type", ""), human_size(c["Size"]),
             _ago(c.get("CreatedAt")), _ago(c.get("LastUsedAt")), str(c.get("UsageCount", 0)),
             "true" if c.get("Shared") else "false"] for c in cache]
    out.write(f"\nBuild cache usage: {human_size(du.get('BuilderSize') or 0, 4)}\n\n")
    write_table(out, ["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"], rows)
