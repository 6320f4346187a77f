"""What a CLI command gets: the store root and the process's streams."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from dockyard.atomic import atomic_file
from dockyard.dataclass import dataclass, field
from dockyard.engine.store import Store, default_root, open_store
from dockyard.errors import InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO, TextIO


def local_context(root: str | None) -> CliContext:
    """The store (`--root`, else DOCKYARD_ROOT or the default) and streams of an in-process command.
    The root is made absolute, as dockerd makes its --data-root: the host-wide reservations
    (/run/dockyard) name their store by it, and a relative one named a store no process in
    another folder found (endpoints.sweep_deleted_stores swept its networks as a deleted
    store's), nor runc (`run` failed: 'invalid netns path: stat ROOT/containers/ID/netns')."""
    if root == "":
        raise InvalidParameter("--root: the store directory must not be empty")
    return CliContext(root=(Path(root) if root is not None else default_root()).absolute())


@dataclass
class CliContext:
    """What a CLI command runs with: the store root and its output streams."""

    root: Path
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @cached_property
    def store(self) -> Store:
        return open_store(self.root)

    @property
    def stdin_binary(self) -> BinaryIO:
        return sys.stdin.buffer

    @property
    def stdout_binary(self) -> BinaryIO:
        self.stdout.flush()
        return sys.stdout.buffer

    def write_archive(self, output: str | None, write: Callable[[BinaryIO], None]) -> None:
        """`-o FILE` (written atomically: a failure leaves no file) or stdout, never a terminal.
        A FILE that is not a regular file (`-o /dev/null`, `/dev/stdout`, a fifo) is written
        into, as the docker 20.10 CLI does: a rename over it would put a regular file in place
        of the device, for every process on the host."""
        if output:
            parent = os.path.dirname(os.path.normpath(output))
            if parent and not os.path.exists(parent):
                # the docker 20.10 CLI's check, before anything is read or written
                raise InvalidParameter(f'invalid output path: directory "{parent}" does not exist')
            path = Path(os.path.abspath(output))
            if _special(path):
                with open(path, "wb") as f:
                    write(f)
                return
            with atomic_file(path) as f:
                write(f)
            return
        if os.isatty(sys.stdout.fileno()):
            raise InvalidParameter("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        write(self.stdout_binary)


def _special(path: Path) -> bool:
    """Whether `path` (symlinks followed) is there and neither a regular file nor a directory."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
