"""The `dockyard` program (the console script, `python -m dockyard`): the command line
(dockyard/cli) and, beside it, `dockyard serve`, the Engine API server (dockyard/api/daemon.py).
The CLI and the API server never import each other; this module, above both, hands the CLI the
`serve` command.
"""

from __future__ import annotations

from dockyard.cli.main import main as cli_main

TYPE_CHECKING = False  # typing costs ~2 ms at each start of a client-mode command
if TYPE_CHECKING:
    from types import ModuleType


def _daemon() -> ModuleType:
    from dockyard.api import daemon  # imported when `serve` runs, or `--help` lists every command

    return daemon


def main(argv: list[str] | None = None, *, exit_fast: bool = False) -> int:
    return cli_main(argv, exit_fast=exit_fast, extra={"serve": _daemon})


def run() -> None:
    """main(), then exit. A command that ran as a client of a daemon leaves with os._exit once
    its output is flushed: it has no threads, temporary files or atexit work left, and the
    interpreter's teardown of every module costs ~2-3 ms, a tenth of a cached client-mode build.
    Commands that ran in this process exit normally (their threads joined, their files closed by
    finalizers)."""
    raise SystemExit(main(exit_fast=True))
