"""`dockyard image waste IMAGE [--format json]` and the table `build --waste` prints: the files a
layer adds that a later layer deletes or overwrites (dockyard.engine.waste), in this process or
from a daemon's `GET /images/{name}/waste`."""

from __future__ import annotations

import json
from typing import Any, BinaryIO, TextIO

from dockyard.cli.format import ellipsis, write_json_indented, write_rows
from dockyard.errors import InvalidParameter
from dockyard.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from dockyard.cli.context import CliContext

FORMATS = ("table", "json")


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidParameter(f"unknown format {fmt!r}: want table or json")


def cmd_image_waste(args: argparse.Namespace, ctx: CliContext) -> int:
    from dockyard.engine.waste import image_waste

    check_format(args.format)
    report = image_waste(ctx.store, args.image)
    write_waste(ctx.stdout, [item.to_dict() for item in report.items], args.format)
    return 0


def print_waste(out: BinaryIO, store: object, image_id: str) -> None:
    """`build --waste`: the built image's waste table after the build's output."""
    import io

    from dockyard.engine.waste import image_waste

    text = io.StringIO()
    write_waste(text, [item.to_dict() for item in image_waste(store, image_id).items], "table")  # type: ignore[arg-type]
    out.write(text.getvalue().encode())
    out.flush()


def client_image_waste(args: argparse.Namespace, host: str) -> int:
    import sys

    check_format(args.format)
    write_waste(sys.stdout, daemon_waste(host, args.image), args.format)
    return 0


def daemon_waste(host: str, name: str) -> list[dict[str, Any]]:
    """The waste of `name` as the daemon at `host` sends it."""
    from dockyard.client.daemon import Daemon

    with Daemon(host).request("GET", f"/images/{name}/waste") as reply:
        reply.check()
        body = bytearray()
        while data := reply.read():
            body += data
    items = json.loads(body)
    if not isinstance(items, list):
        raise InvalidParameter("unexpected answer from the daemon: not a list")
    return items


def write_waste(out: TextIO, items: list[dict[str, Any]], fmt: str) -> None:
    """The waste of an image (engine/waste.py's items as dicts, as `GET /images/{name}/waste`
    sends them too): a JSON list, or a table with the total."""
    if fmt == "json":
        write_json_indented(out, items)
        return
    rows = [{"Path": i["path"], "Size": human_size(i["bytes"]), "Added": ellipsis(step_text(i["added_in"]), 40),
             "Removed": ellipsis(step_text(i["removed_in"]), 40)} for i in items]
    write_rows(out, "table", rows, ["PATH", "SIZE", "ADDED IN", "REMOVED IN"], ["Path", "Size", "Added", "Removed"])
    total = sum(i["bytes"] for i in items)
    out.write(f"Total: {human_size(total)} wasted in {len(items)} file{'' if len(items) == 1 else 's'}\n")


def step_text(created_by: str) -> str:
    """A history `created_by` as the instruction it was: `/bin/sh -c #(nop) COPY ...` is
    `COPY ...`, `/bin/sh -c cmd` is `RUN cmd` (BuildKit's `RUN ... # buildkit` stays)."""
    text = created_by.strip()
    for shell in ("/bin/sh -c ", "cmd /S /C "):
        if text.startswith(shell + "#(nop) "):
            return text[len(shell) + 7:].strip()
        if text.startswith(shell):
            return "RUN " + text[len(shell):]
    return text.removesuffix(" # buildkit")
