"""A client-mode command line, read and run without the CLI: `dockyard -H unix:///PATH build ...`
(or DOCKYARD_HOST). Only plain command lines (client/flags.py's scanner reads them as argparse
would); anything else goes to the CLI, whose argparse parser reads it and runs the same client.
The program's global flags and how a command's errors are reported live here too: the CLI uses
both."""

from __future__ import annotations

import os
import sys

from dockyard.client import build
from dockyard.client.flags import VALUE, Flag, scan_until_command
from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    from typing import Callable

GLOBAL_FLAGS = (
    Flag(("--root",), "root", VALUE, "store directory (default /var/lib/dockyard, or $DOCKYARD_ROOT)"),
    Flag(("-H", "--host"), "daemon_host", VALUE,
         "run the command in the daemon at HOST (unix:///PATH, a `dockyard serve`;"
         " default $DOCKYARD_HOST; unset: in this process)", metavar="HOST"),
)
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
    try:
        if build.buildkit_enabled():
            return None  # BuildKit mode: the CLI runs it, with cli/build_buildkit.py's display
    except InvalidParameter:
        return None  # the CLI reports the bad DOCKER_BUILDKIT value
    module = QUICK_COMMANDS[" ".join(w for w in (values["command"], values.get("subcommand")) if w)]
    return lambda: module.run(values, host)


def report_errors(command: Callable[[], int]) -> int:
    """Run a command; a DockyardError is one line `Error: ...` and its exit code, never a traceback."""
    try:
        return int(command() or 0)
    except DockyardError as exc:
        sys.stdout.flush()
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`dockyard save | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    except PermissionError as exc:
        print(f"Error: permission denied: {exc.filename or exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The system said no (a full disk, a read-only file system, an I/O error): one line,
        # as Go's *PathError reads ("open PATH: no space left on device").
        sys.stdout.flush()
        what = (exc.strerror or str(exc)).lower()
        print(f"Error: {exc.filename}: {what}" if exc.filename else f"Error: {what}", file=sys.stderr)
        return 1


def exit_now(code: int) -> None:
    """Flush what the command wrote and leave without the interpreter's teardown (see
    dockyard/main.py: a client-mode command has nothing left to clean up)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass  # the reader went away; as in report_errors, not an error of ours
    os._exit(code)
