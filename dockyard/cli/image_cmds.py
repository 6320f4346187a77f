"""Image commands: import, save, load, images, tag, rmi, image inspect, history, image waste."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from dockyard.cli.context import CliContext
from dockyard.cli.format import (
    ellipsis, go_time, rfc3339, short_id, write_rows,
)
from dockyard.cli.run_flags import FilterFlag, filters_query
from dockyard.errors import DockyardError, InvalidParameter, NotFound
from dockyard.units import human_size, since


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    for group, name, aliases in ((sub, "import", []), (image_sub, "import", [])):
        p = group.add_parser(name, aliases=aliases, help="Import the contents from a tarball to create a filesystem image")
        p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
        p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
        p.add_argument("--platform", default=None, help="Set platform if server is multi-platform capable")
        p.add_argument("source", metavar="file|URL|-")
        p.add_argument("repository", metavar="REPOSITORY[:TAG]", nargs="?")
        p.set_defaults(func=cmd_import, client=client_import)
    for group, name in ((sub, "save"), (image_sub, "save")):
        p = group.add_parser(name, help="Save one or more images to a tar archive (streamed to STDOUT by default)")
        p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
        p.add_argument("images", nargs="+", metavar="IMAGE")
        p.set_defaults(func=cmd_save, client=client_save)
    for group, name in ((sub, "load"), (image_sub, "load")):
        p = group.add_parser(name, help="Load an image from a tar archive or STDIN")
        p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
        p.set_defaults(func=cmd_load, client=client_load)
    for group, name, aliases in ((sub, "images", []), (image_sub, "ls", ["list"])):
        p = group.add_parser(name, aliases=aliases, help="List images")
        p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
        p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
        p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        p.add_argument("--digests", action="store_true", help="Show digests")
        p.add_argument("-f", "--filter", action=FilterFlag, help="Filter output based on conditions provided")
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("--format", default="table", help="Format output: table or json")
        p.set_defaults(func=cmd_images, client=cmd_images)
    for group, name in ((sub, "tag"), (image_sub, "tag")):
        p = group.add_parser(name, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
        p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
        p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
        p.set_defaults(func=cmd_tag, client=cmd_tag)
    for group, name, aliases in ((sub, "rmi", []), (image_sub, "rm", ["rmi", "remove"])):
        p = group.add_parser(name, aliases=aliases, help="Remove one or more images")
        p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
        p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
        p.add_argument("images", nargs="+", metavar="IMAGE")
        p.set_defaults(func=cmd_rmi, client=cmd_rmi)
    p = image_sub.add_parser("inspect", help="Display detailed information on one or more images")
    p.add_argument("-f", "--format", default=None, help="Format output using a Go-template-like path ({{.Id}}) or json")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=cmd_image_inspect, client=cmd_image_inspect)
    p = image_sub.add_parser("waste", help="List the files a layer adds that a later layer deletes or overwrites")
    p.add_argument("--format", default="table", help="Format output: table or json")
    p.add_argument("image", metavar="IMAGE")
    from dockyard.cli.waste import client_image_waste, cmd_image_waste

    p.set_defaults(func=cmd_image_waste, client=client_image_waste)
    for group, name in ((sub, "history"), (image_sub, "history")):
        p = group.add_parser(name, help="Show the history of an image")
        p.add_argument("-H", "--human", action="store_true", default=True,
                       help="Print sizes and dates in human readable format (default true)")
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        p.add_argument("--format", default="table", help="Format output: table or json")
        p.add_argument("image", metavar="IMAGE")
        p.set_defaults(func=cmd_history, client=cmd_history)


def cmd_import(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine import images as engine_images  # as the command runs: tests/test_start_up.py

    image_id = engine_images.import_image(
        ctx.store, args.source, repository=args.repository, message=args.message,
        changes=args.change, stdin=ctx.stdin_binary, platform=args.platform)
    ctx.stdout.write(f"{image_id}\n")
    return 0


def client_import(args: argparse.Namespace, host: str) -> int:
    """`import` through a daemon, as the docker CLI sends it: a URL for the daemon to fetch
    (fromSrc=URL), else the file's or stdin's bytes as the body (fromSrc=-); REPOSITORY[:TAG] as
    `repo`. The daemon's message is the new image's ID."""
    import shutil

    from dockyard.cli.backend import Remote
    from dockyard.cli.messages import print_messages

    query = [("fromSrc", args.source if args.source.startswith(("http://", "https://")) else "-")]
    query += [("repo", args.repository)] if args.repository else []
    query += [("message", args.message)] if args.message else []
    query += [("changes", change) for change in args.change]
    query += [("platform", args.platform)] if args.platform else []
    if query[0][1] != "-":
        print_messages(Remote(host).stream("POST", "/images/create", query), sys.stdout)
        return 0
    if args.source == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(args.source, "rb")
        except FileNotFoundError:
            raise NotFound(f"open {args.source}: no such file or directory") from None
        except IsADirectoryError:
            raise InvalidParameter(f"{args.source} is a directory, not a tar archive") from None
    with stream:
        print_messages(Remote(host).stream("POST", "/images/create", query,
                                           body=lambda out: shutil.copyfileobj(stream, out, 1 << 20),
                                           content_type="application/x-tar"), sys.stdout)
    return 0


def cmd_save(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine import transfer  # save and load only: see tests/test_start_up.py

    ctx.write_archive(args.output, lambda out: transfer.save_images(ctx.store, args.images, out))
    return 0


def client_save(args: argparse.Namespace, host: str) -> int:
    """`save` through a daemon: `GET /images/get?names=...` copied under the same -o rules."""
    from dockyard.cli.backend import Remote
    from dockyard.cli.context import local_context

    query = [("names", name) for name in args.images]
    local_context(None).write_archive(args.output, lambda out: Remote(host).copy("GET", "/images/get", out, query))
    return 0


def cmd_load(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine import transfer  # save and load only: see tests/test_start_up.py

    with _load_input(args) as stream:
        results = transfer.load_images(ctx.store, stream)
    if not args.quiet:
        for result in results:
            for message in result.messages:
                ctx.stdout.write(message + "\n")
    return 0


def _out(target: Any) -> TextIO:
    """The command's output: this process's (a client of a daemon) or the context's."""
    return sys.stdout if isinstance(target, str) else target.stdout


def _err(target: Any) -> TextIO:
    return sys.stderr if isinstance(target, str) else target.stderr


def _backend(target: Any) -> Any:
    from dockyard.cli.backend import for_target  # as the command runs: see tests/test_start_up.py

    return for_target(target)


def _moment(unix: int) -> datetime | None:
    """The API's Created (Unix seconds; 0 for an image without one) as the table shows it."""
    return datetime.fromtimestamp(unix, timezone.utc) if unix else None


def client_load(args: argparse.Namespace, host: str) -> int:
    """`load` through a daemon: the archive streamed as `POST /images/load`'s body, the daemon's
    messages printed as the docker CLI prints them."""
    import shutil

    from dockyard.cli.backend import Remote
    from dockyard.cli.messages import print_messages

    stream = _load_input(args)
    with stream:
        messages = Remote(host).stream("POST", "/images/load", [("quiet", "1")] if args.quiet else [],
                                       body=lambda out: shutil.copyfileobj(stream, out, 1 << 20),
                                       content_type="application/x-tar")
        print_messages(messages, sys.stdout, args.quiet)
    return 0


def _load_input(args: argparse.Namespace) -> Any:
    """-i FILE, else stdin (never a terminal)."""
    if args.input:
        try:
            return open(args.input, "rb")
        except FileNotFoundError:
            raise NotFound(f"open {args.input}: no such file or directory") from None
    if os.isatty(sys.stdin.fileno()):
        raise InvalidParameter("requested load from stdin, but stdin is empty")
    return sys.stdin.buffer


def cmd_images(args: argparse.Namespace, target: Any) -> int:
    """`docker images`: the daemon's `GET /images/json` rows (or the engine's same rows in
    process), formatted as the docker CLI formats them."""
    query = [("all", "1")] if args.all else []
    # the filters, and the argument as one more reference filter (as the docker CLI sends them)
    query += filters_query([*args.filter, *([f"reference={args.reference}"] if args.reference else [])])
    rows: list[dict[str, str]] = []
    for image in _backend(target).call("GET", "/images/json", query):
        created = _moment(image.get("Created") or 0)
        tags = image.get("RepoTags") or []
        pairs = [(t.rpartition(":")[0], t.rpartition(":")[2]) for t in tags if t != "<none>:<none>"]
        digests = [d for d in image.get("RepoDigests") or [] if d != "<none>@<none>"]
        digest = digests[0].rpartition("@")[2] if digests else "<none>"
        image_id = image["Id"]
        for repo, tag in pairs or [("<none>", "<none>")]:
            rows.append({
                "Containers": "N/A", "CreatedAt": go_time(created),
                "CreatedSince": since(created), "Digest": digest,
                "ID": image_id if args.no_trunc else short_id(image_id),
                "Repository": repo, "SharedSize": "N/A", "Size": human_size(image["Size"]),
                "Tag": tag, "UniqueSize": "N/A", "VirtualSize": human_size(image["Size"], 4),
            })
    out = _out(target)
    if args.quiet:  # the docker CLI prints an ID per row: once per tag of the image
        out.write("".join(f"{row['ID']}\n" for row in rows))
        return 0
    from dockyard.cli.govalues import row_context

    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    keys = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "CreatedSince", "Size"]
    write_rows(out, args.format, rows, header, keys, row_context("*formatter.imageContext", rows))
    return 0


def cmd_tag(args: argparse.Namespace, target: Any) -> int:
    from dockyard.reference import parse_reference

    try:
        # the docker CLI parses the name before it asks the daemon, and sends it as repo and tag
        ref = parse_reference(args.target)
    except InvalidParameter as exc:
        raise InvalidParameter(f'Error parsing reference: "{args.target}" is not a valid '
                               f"repository/tag: {exc}") from None
    if ref.digest is not None:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    _backend(target).call("POST", f"/images/{args.source}/tag",
                          [("repo", ref.familiar_name), ("tag", ref.tag or "")])
    return 0


def cmd_rmi(args: argparse.Namespace, target: Any) -> int:
    backend = _backend(target)
    out, err = _out(target), _err(target)
    failed = False
    for name in args.images:
        query = ([("force", "1")] if args.force else []) + ([("noprune", "1")] if args.no_prune else [])
        try:
            items = backend.call("DELETE", f"/images/{name}", query)
        except DockyardError as exc:  # report each, as docker does; a 404 in the docker CLI's words
            err.write(f"Error: {f'No such image: {name}' if isinstance(exc, NotFound) else exc}\n")
            failed = True
            continue
        for item in items:
            out.write("".join(f"{key}: {value}\n" for key, value in item.items()))
    return 1 if failed else 0


def cmd_image_inspect(args: argparse.Namespace, target: Any) -> int:
    from dockyard.cli.inspect_format import IMAGE, inspect_each

    backend = _backend(target)

    def lookup(name: str) -> tuple[dict[str, Any], Any]:
        try:
            return backend.call("GET", f"/images/{name}/json"), IMAGE
        except NotFound:   # the docker CLI's words, with the name as given
            raise NotFound(f"No such image: {name}") from None

    return inspect_each(_out(target), _err(target), args.images, args.format, lookup)


def cmd_history(args: argparse.Namespace, target: Any) -> int:
    """`GET /images/{name}/history`, formatted as the docker CLI formats it."""
    human = args.human
    items = _backend(target).call("GET", f"/images/{args.image}/history")
    out = _out(target)

    def shown_id(item: dict[str, Any]) -> str:
        return item["Id"] if args.no_trunc or item["Id"] == "<missing>" else short_id(item["Id"])
    if args.quiet:
        out.write("".join(shown_id(item) + "\n" for item in items))
        return 0
    rows = []
    for item in items:
        created = _moment(item.get("Created") or 0)
        rows.append({
            "Comment": item["Comment"],
            "CreatedAt": rfc3339(created),
            "CreatedBy": item["CreatedBy"] if args.no_trunc else ellipsis(item["CreatedBy"], 45),
            "CreatedSince": since(created),
            "ID": shown_id(item),
            "Size": human_size(item["Size"]) if human else str(item["Size"]),
        })
    from dockyard.cli.govalues import row_context

    created_key = "CreatedSince" if human else "CreatedAt"
    write_rows(out, args.format, rows, ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
               ["ID", created_key, "CreatedBy", "Size", "Comment"], row_context("*image.historyContext", rows))
    return 0
