"""A client-mode command line, read and run without the CLI: `dockyard -H unix:///PATH build ...`
(or DOCKYARD_HOST). Only plain command lines (client/flags.py's scanner reads them as argparse
would); anything else goes to the CLI, whose argparse parser reads it and runs the same client."""

from __future__ import annotations

import os

from dockyard.client import build
from dockyard.client.flags import scan_until_command
from dockyard.client.program import GLOBAL_FLAGS
from dockyard.errors import InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    from typing import Callable

# The commands the client reads by itself: their words and the module that scans their flags.
QUICK_COMMANDS = {"build": build, "image build": build}


def read_command_line(argv: list[str]) -> dict[str, object] | None:
    """The values argparse (cli/main.py's parser) gives a plain command line of a quick command,
    except the functions it sets: global flags, command, subcommand, the command's flags; None
    when the line is not one of those."""
    head = scan_until_command(argv, GLOBAL_FLAGS)
    if head is None:
        return None
    values, at = head
    command, rest = argv[at], argv[at + 1:]
    if command == "image" and rest:
        command, rest = f"image {rest[0]}", rest[1:]
    module = QUICK_COMMANDS.get(command)
    if module is None:
        return None
    found = module.scan_args(rest)
    if found is None:
        return None
    words = command.split()
    values.update(command=words[0], **({"subcommand": words[1]} if len(words) > 1 else {}), **found)
    return values


def client_command(argv: list[str]) -> Callable[[], int] | None:
    """The client-mode command `argv` names, ready to run, or None (no daemon named, or not a
    plain command line of a quick command: the CLI's business)."""
    values = read_command_line(argv)
    if values is None:
        return None
    host = values["daemon_host"] or os.environ.get("DOCKYARD_HOST")
    if not host:
        return None
    module = QUICK_COMMANDS[" ".join(w for w in (values["command"], values.get("subcommand")) if w)]
    try:
        buildkit = module is build and build.buildkit_enabled()
    except InvalidParameter:
        return None  # the CLI reports the bad DOCKER_BUILDKIT value
    if buildkit:  # BuildKit mode's build: its flags, parameters and display (loaded for it only)
        from dockyard.client import build_buildkit

        return lambda: build_buildkit.run(values, host)
    return lambda: module.run(values, host)
