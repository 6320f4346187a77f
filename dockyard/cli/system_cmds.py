"""`dockyard system check`, `system df`, `system prune` and `builder prune`: the store as a whole
(df, prune and builder prune also as a client of a daemon, through cli/backend; check has no
Engine API counterpart)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.context import CliContext
from dockyard.cli.run_flags import FilterFlag
from dockyard.units import human_size


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    system = sub.add_parser("system", help="Manage dockyard").add_subparsers(dest="subcommand", metavar="COMMAND")
    p = system.add_parser("check", help="Read every image, layer and name back; report what is broken or left over")
    p.set_defaults(func=cmd_check)
    p = system.add_parser("df", help="Show dockyard disk usage")
    p.set_defaults(func=cmd_df, client=cmd_df)
    p = system.add_parser("prune", help="Remove unused data")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune volumes")
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


def cmd_prune(args: argparse.Namespace, target: Any) -> int:
    if not args.force:
        items = list(_WARNING)
        if args.volumes:
            items.append("all volumes not used by at least one container")
        items.append("all images without at least one container associated to them" if args.all
                     else "all dangling images")
        items.append("all build cache" if args.all else "all dangling build cache")
        from dockyard.cli.prompt import confirm

        if not confirm("WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
                       + "\nAre you sure you want to continue?", False):
            return 0
    if isinstance(target, str):
        report = _prune_through(target, all_images=args.all, volumes=args.volumes)
    else:
        from dockyard.engine import system

        report = system.prune(target.store, target.root, all_images=args.all, volumes=args.volumes)
    for title, items in (("Deleted Containers", report.containers), ("Deleted Networks", report.networks),
                         ("Deleted Volumes", report.volumes),
                         ("Deleted Images", [f"{kind}: {what}" for kind, what in report.images]),
                         ("Deleted build cache objects", report.build_cache)):
        if items:
            print(f"{title}:\n" + "".join(f"{i}\n" for i in items))
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0


def _prune_through(host: str, *, all_images: bool, volumes: bool) -> Any:
    """`system prune` by a daemon, as the docker CLI asks it: the prune of each kind in its
    order (the images' -a as `dangling=false`), their answers as the engine's one report."""
    from dockyard.cli.backend import for_target
    from dockyard.engine.system import PruneReport

    backend = for_target(host)
    report = PruneReport()
    answers = [backend.call("POST", "/containers/prune"), backend.call("POST", "/networks/prune")]
    report.containers = answers[0].get("ContainersDeleted") or []
    report.networks = answers[1].get("NetworksDeleted") or []
    if volumes:
        answers.append(backend.call("POST", "/volumes/prune"))
        report.volumes = answers[-1].get("VolumesDeleted") or []
    answers.append(backend.call("POST", "/images/prune",
                                [("filters", '{"dangling":["false"]}')] if all_images else []))
    report.images = [(kind.lower(), what) for item in answers[-1].get("ImagesDeleted") or []
                     for kind, what in item.items()]
    answers.append(backend.call("POST", "/build/prune", [("all", "1")] if all_images else []))
    report.build_cache = answers[-1].get("CachesDeleted") or []
    report.reclaimed = sum(answer.get("SpaceReclaimed") or 0 for answer in answers)
    return report


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
    print(f"Total:\t{human_size(report['SpaceReclaimed'])}")
    return 0


def _part(amount: int, total: int, percent: bool = True) -> str:
    """The docker CLI's RECLAIMABLE: a size (4 digits, go-units' HumanSize), and its share of the
    total in whole percent (Go's integer division) when there is a total."""
    text = human_size(amount, 4)
    return f"{text} ({amount * 100 // total}%)" if percent and total > 0 else text


def cmd_df(args: argparse.Namespace, target: Any) -> int:
    """`docker system df`, as the docker CLI 20.10 formats the daemon's answer."""
    from dockyard.cli.backend import for_target
    from dockyard.cli.format import write_table

    du = for_target(target).call("GET", "/system/df")
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
    write_table(sys.stdout, ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows)
    return 0
