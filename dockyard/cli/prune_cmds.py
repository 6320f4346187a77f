"""`dockyard container prune` and `dockyard image prune`: the engine's prunes (`POST
/containers/prune`, `POST /images/prune`: in this process or by a daemon), asked and printed as
the docker CLI 20.10 asks and prints them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.cli.prompt import confirm
from dockyard.cli.run_flags import FilterFlag, filters_query
from dockyard.units import human_size


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    container_sub = sub.choices["container"].group   # cli/main's management group
    p = container_sub.add_parser("prune", help="Remove all stopped containers")
    p.add_argument("--filter", action=FilterFlag, help="Provide filter values (e.g. 'until=<timestamp>')")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_container_prune, client=cmd_container_prune)
    p = image_sub.add_parser("prune", help="Remove unused images")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("--filter", action=FilterFlag, help="Provide filter values (e.g. 'until=<timestamp>')")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_image_prune, client=cmd_image_prune)


def cmd_container_prune(args: argparse.Namespace, target: Any) -> int:
    reclaimed = 0
    if confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
               args.force):
        report = for_target(target).call("POST", "/containers/prune", filters_query(args.filter))
        if report.get("ContainersDeleted"):
            print("Deleted Containers:\n" + "".join(f"{i}\n" for i in report["ContainersDeleted"]))
            reclaimed = report.get("SpaceReclaimed") or 0
    print(f"Total reclaimed space: {human_size(reclaimed, 4)}")
    return 0


def cmd_image_prune(args: argparse.Namespace, target: Any) -> int:
    # the CLI adds dangling=true (false with -a) to the user's filters
    query = filters_query(list(args.filter))
    filters = json.loads(query[0][1]) if query else {}
    filters["dangling"] = {"false" if args.all else "true": True}
    warning = "all images without at least one container associated to them" if args.all else "all dangling images"
    reclaimed = 0
    if confirm(f"WARNING! This will remove {warning}.\nAre you sure you want to continue?", args.force):
        report = for_target(target).call("POST", "/images/prune", [("filters", json.dumps(filters))])
        if report.get("ImagesDeleted"):
            print("Deleted Images:\n" + "".join(
                f"untagged: {item['Untagged']}\n" if item.get("Untagged") else f"deleted: {item['Deleted']}\n"
                for item in report["ImagesDeleted"]))
            reclaimed = report.get("SpaceReclaimed") or 0
    print(f"Total reclaimed space: {human_size(reclaimed, 4)}")
    return 0
