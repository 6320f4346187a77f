"""What the program's two front ends share, the light client (client/main.py) and the CLI
(cli/main.py): the global flags, how a command's errors are reported (one line `Error: ...` and
an exit code, never a traceback) and the quick exit of a client-mode command."""

from __future__ import annotations

import os
import sys

from dockyard.client.flags import VALUE, Flag
from dockyard.errors import DockyardError

TYPE_CHECKING = False  # typing costs ~2 ms at each start (see the package's docstring)
if TYPE_CHECKING:
    from typing import Callable

GLOBAL_FLAGS = (
    Flag(("--root",), "root", VALUE, "store directory (default /var/lib/dockyard, or $DOCKYARD_ROOT)"),
    Flag(("-H", "--host"), "daemon_host", VALUE,
         "run the command in the daemon at HOST (unix:///PATH, a `dockyard serve`;"
         " default $DOCKYARD_HOST; unset: in this process)", metavar="HOST"),
)


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
