"""`dockyard network ...` and `dockyard volume ...`: the engine's answers (or a daemon's, in
client mode) in the docker CLI's formats."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from dockyard.cli.backend import for_target
from dockyard.cli.format import write_rows
from dockyard.cli.prompt import confirm
from dockyard.cli.run_flags import FilterFlag, filters_query, key_values
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.units import human_size


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    net = sub.add_parser("network", help="Manage networks").add_subparsers(dest="subcommand", metavar="COMMAND")
    p = net.add_parser("create", help="Create a network")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", default=[], help="Subnet in CIDR format")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 Gateway for the master subnet")
    p.add_argument("--ip-range", action="append", default=[], help="Allocate container ip from a sub-range")
    p.add_argument("--aux-address", action="append", default=[],
                   help="Auxiliary IPv4 addresses used by Network driver (NAME=IP)")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("name", metavar="NETWORK")
    _both(p, cmd_network_create)
    _listing_commands(net, "network", cmd_network_ls, cmd_network_inspect, cmd_network_rm,
                      cmd_network_prune)

    vol = sub.add_parser("volume", help="Manage volumes").add_subparsers(dest="subcommand", metavar="COMMAND")
    p = vol.add_parser("create", help="Create a volume")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("name", nargs="?", metavar="VOLUME")
    _both(p, cmd_volume_create)
    rm, prune = _listing_commands(vol, "volume", cmd_volume_ls, cmd_volume_inspect, cmd_volume_rm,
                                  cmd_volume_prune)
    rm.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    prune.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")

    p = sub.add_parser("events", help="Get real time events from the server")
    p.add_argument("--since", default=None, help="Show all events created since timestamp")
    p.add_argument("--until", default=None, help="Stream events until this timestamp")
    p.add_argument("-f", "--filter", action=FilterFlag, help="Filter output based on conditions provided")
    p.add_argument("--format", default=None, help="Format the output using the given Go template")
    _both(p, cmd_events)


def _both(p: argparse.ArgumentParser, func: Any) -> None:
    """The same function in process (a CliContext) and as a client (a host)."""
    p.set_defaults(func=func, client=func)


def _listing_commands(group: argparse._SubParsersAction, kind: str, ls: Any, inspect: Any,
                      rm: Any, prune: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """ls, inspect, rm and prune of networks or volumes; the rm and prune parsers."""
    p = group.add_parser("ls", aliases=["list"], help=f"List {kind}s")
    p.add_argument("-f", "--filter", action=FilterFlag, help="Provide filter values")
    p.add_argument("--format", default="table", help="Pretty-print using a Go template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    _both(p, ls)
    p = group.add_parser("inspect", help=f"Display detailed information on one or more {kind}s")
    p.add_argument("-f", "--format", default=None, help="Format the output using the given Go template")
    p.add_argument("names", nargs="+", metavar=kind.upper())
    _both(p, inspect)
    remove = group.add_parser("rm", aliases=["remove"], help=f"Remove one or more {kind}s")
    remove.add_argument("names", nargs="+", metavar=kind.upper())
    _both(remove, rm)
    pruner = group.add_parser("prune", help=f"Remove all unused {kind}s")
    pruner.add_argument("--filter", action=FilterFlag, help="Provide filter values")
    pruner.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    _both(pruner, prune)
    return remove, pruner


def _inspect(target: Any, kind: str, names: list[str], fmt: str | None) -> int:
    """`network inspect` and `volume inspect`: the docker CLI's volume inspect has no JSON to
    fall back to where its template fails on the typed volume."""
    from dockyard.cli import inspect_format

    backend = for_target(target)

    def lookup(name: str) -> tuple[dict[str, Any], Any]:
        try:
            return backend.call("GET", f"/{kind}s/{name}"), getattr(inspect_format, kind.upper())
        except NotFound:
            raise NotFound(f"No such {kind}: {name}") from None

    return inspect_format.inspect_each(sys.stdout, sys.stderr, names, fmt, lookup, raw=kind != "volume")


def _remove_each(target: Any, kind: str, names: list[str], query: list[tuple[str, str]]) -> int:
    backend = for_target(target)
    code = 0
    for name in names:
        try:
            backend.call("DELETE", f"/{kind}s/{name}", query)
            print(name)
        except DockyardError as exc:   # a 404 in the docker CLI's words (its client's)
            print(f"Error: {f'No such {kind}: {name}' if isinstance(exc, NotFound) else exc}", file=sys.stderr)
            code = 1
    return code


# -- network -----------------------------------------------------------------------------------
def cmd_network_create(args: argparse.Namespace, target: Any) -> int:
    if len(args.subnet) > 1 or len(args.gateway) > 1 or len(args.ip_range) > 1:
        raise InvalidParameter("dockyard networks have one IPv4 subnet")
    config = []
    aux = key_values(args.aux_address, "aux-address")
    if args.subnet:
        config.append({"Subnet": args.subnet[0], **({"IPRange": args.ip_range[0]} if args.ip_range else {}),
                       **({"Gateway": args.gateway[0]} if args.gateway else {}),
                       **({"AuxiliaryAddresses": aux} if aux else {})})
    elif args.gateway or args.ip_range or aux:
        raise InvalidParameter("every ip-range or gateway must have a corresponding subnet")
    body = {"Name": args.name, "CheckDuplicate": True, "Driver": args.driver,
            "Options": key_values(args.opt, "option"), "Internal": args.internal,
            "Attachable": args.attachable, "EnableIPv6": args.ipv6,
            "IPAM": {"Driver": "default", "Config": config}, "Labels": key_values(args.label, "label")}
    print(for_target(target).call("POST", "/networks/create", body=body)["Id"])
    return 0


def cmd_network_ls(args: argparse.Namespace, target: Any) -> int:
    from dockyard.cli.govalues import go_time_text, row_context

    networks = for_target(target).call("GET", "/networks", filters_query(args.filter))
    networks.sort(key=lambda n: n["Name"])
    rows = [{"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"],
             "Driver": n["Driver"], "Scope": n["Scope"], "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
             "Internal": str(n["Internal"]).lower(),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items()),
             "CreatedAt": go_time_text(n["Created"])} for n in networks]
    if args.quiet:
        print("".join(r["ID"] + "\n" for r in rows), end="")
        return 0
    labels = {id(row): n.get("Labels") or {} for row, n in zip(rows, networks)}
    write_rows(sys.stdout, args.format, rows, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
               ["ID", "Name", "Driver", "Scope"], row_context("*network.networkContext", rows, {"Label": 1}),
               methods=lambda row: {"Label": lambda key: labels.get(id(row), {}).get(key, "")})
    return 0


def cmd_network_inspect(args: argparse.Namespace, target: Any) -> int:
    return _inspect(target, "network", args.names, args.format)


def cmd_network_rm(args: argparse.Namespace, target: Any) -> int:
    return _remove_each(target, "network", args.names, [])


def cmd_network_prune(args: argparse.Namespace, target: Any) -> int:
    if not confirm("WARNING! This will remove all custom networks not used by at least one container.\n"
                   "Are you sure you want to continue?", args.force):
        return 0
    result = for_target(target).call("POST", "/networks/prune", filters_query(args.filter))
    deleted = result.get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:\n" + "".join(n + "\n" for n in deleted))
    return 0


# -- volume ------------------------------------------------------------------------------------
def cmd_volume_create(args: argparse.Namespace, target: Any) -> int:
    body = {"Name": args.name or "", "Driver": args.driver, "DriverOpts": key_values(args.opt, "option"),
            "Labels": key_values(args.label, "label")}
    print(for_target(target).call("POST", "/volumes/create", body=body)["Name"])
    return 0


def cmd_volume_ls(args: argparse.Namespace, target: Any) -> int:
    volumes = for_target(target).call("GET", "/volumes", filters_query(args.filter))["Volumes"] or []
    rows = [{"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"],
             "Scope": v["Scope"], "Links": "N/A", "Size": "N/A",   # the docker CLI's, without `system df -v`
             "Labels": ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items())}
            for v in volumes]
    if args.quiet:
        print("".join(r["Name"] + "\n" for r in rows), end="")
        return 0
    from dockyard.cli.govalues import row_context

    labels = {id(row): v.get("Labels") or {} for row, v in zip(rows, volumes)}
    write_rows(sys.stdout, args.format, rows, ["DRIVER", "VOLUME NAME"], ["Driver", "Name"],
               row_context("*formatter.volumeContext", rows, {"Label": 1}),
               methods=lambda row: {"Label": lambda key: labels.get(id(row), {}).get(key, "")})
    return 0


def cmd_volume_inspect(args: argparse.Namespace, target: Any) -> int:
    return _inspect(target, "volume", args.names, args.format)


def cmd_volume_rm(args: argparse.Namespace, target: Any) -> int:
    return _remove_each(target, "volume", args.names, [("force", "1")] if args.force else [])


def cmd_volume_prune(args: argparse.Namespace, target: Any) -> int:
    reclaimed = 0
    if confirm("WARNING! This will remove all local volumes not used by at least one container.\n"
               "Are you sure you want to continue?", args.force):
        pairs = list(args.filter) + (["all=true"] if args.all else [])
        result = for_target(target).call("POST", "/volumes/prune", filters_query(pairs))
        deleted = result.get("VolumesDeleted") or []
        if deleted:
            print("Deleted Volumes:\n" + "".join(n + "\n" for n in deleted))
            reclaimed = result.get("SpaceReclaimed") or 0
    print(f"Total reclaimed space: {human_size(reclaimed, 4)}")
    return 0


# -- events ------------------------------------------------------------------------------------
_EVENT: list[Any] = []   # the docker CLI's *events.Message, made at the first --format


def _events_template(fmt: str) -> Any:
    """The docker CLI's events template: parsed, and run on an empty message before the request
    (a field events.Message lacks is an error then), else `Error parsing format: ...`, status 64.
    `\\t` and `\\n` stay as typed."""
    from dockyard.cli.gotemplate import TemplateError, parse
    from dockyard.cli.govalues import Map, struct

    if not _EVENT:
        _EVENT.append(struct(
            "*events.Message", "Status:status:string, ID:id:string, From:from:string, Type:string, "
                               "Action:string, Actor:actor, Scope:scope:string, Time:time:int64, "
                               "TimeNano:timeNano:int64",
            actor=struct("events.Actor", "ID:string, Attributes:attributes", attributes=Map("string"))))
    try:
        template = parse(fmt)
        template.execute({}, _EVENT[0])
    except TemplateError as exc:
        raise TemplateError(f"Error parsing format: {exc}", 64) from None
    return template


def cmd_events(args: argparse.Namespace, target: Any) -> int:
    template = _events_template(args.format) if args.format else None
    query = [(k, v) for k, v in (("since", args.since), ("until", args.until)) if v]
    query += filters_query(args.filter)
    for message in for_target(target).stream("GET", "/events", query):
        if template is not None:
            print(template.execute(message, _EVENT[0]), flush=True)
            continue
        ns = int(message.get("timeNano") or 0)
        moment = datetime.fromtimestamp(ns // 10**9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        attrs = (message.get("Actor") or {}).get("Attributes") or {}
        detail = ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs))
        print(f"{moment}.{ns % 10**9:09d}Z {message['Type']} {message['Action']} "
              f"{message['Actor']['ID']} ({detail})", flush=True)
    return 0
