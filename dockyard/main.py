"""The `dockyard` program (the console script, `python -m dockyard`): the command line
(dockyard/cli) and, beside it, `dockyard serve`, the Engine API server (dockyard/api/daemon.py).
The CLI and the API server never import each other; this module, above both, hands the CLI the
`serve` command. A plain client-mode command line (`dockyard -H unix:///PATH build ...`) is run by
the light client (dockyard/client) without loading the CLI.
"""

from __future__ import annotations

import gc
import os
import sys

from dockyard import __version__
from dockyard.client.program import exit_now, report_errors

TYPE_CHECKING = False  # typing costs ~2 ms at each start of a client-mode command
if TYPE_CHECKING:
    from types import ModuleType


def _daemon() -> ModuleType:
    # Not at the top: a client-mode command must not load the API server (the client's budget,
    # tests/client/test_budget.py), nor should every in-process command
    from dockyard.api import daemon

    return daemon


def main(argv: list[str] | None = None, *, exit_fast: bool = False) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-v"], ["--version"]):  # what the CLI's parser prints, without loading it
        print(f"dockyard {__version__}")
        return 0
    command = None
    if any(word.startswith(("-H", "--host")) for word in argv) or os.environ.get("DOCKYARD_HOST"):
        # Not at the top: an in-process command does not load the client (tests/test_start_up.py)
        from dockyard.client.main import client_command

        command = client_command(argv)
    elif "build" in argv:
        # A plain command line of `build` in this process: read by the client's scanner, run
        # without building the CLI's argparse parser (the in-process budget, tests/test_start_up.py)
        from dockyard.client.main import read_command_line

        values = read_command_line(argv)
        if values is not None:
            from dockyard.cli.build_cmd import run_local

            _loaded()
            code = run_local(values)
            if exit_fast:
                _leave(code)
            return code
    if command is not None:
        _loaded()
        code = report_errors(command)
        if exit_fast:
            exit_now(code)
        return code
    # Not at the top: the client's budget (a client-mode build never loads the CLI, its argparse
    # and its engines)
    from dockyard.cli.main import main as cli_main

    _loaded()
    return cli_main(argv, exit_fast=exit_fast, extra={"serve": _daemon},
                    leave=_leave if exit_fast else None)


def _loaded() -> None:
    """The command's modules are loaded: run() started the program with the cyclic collector
    off, since loading them makes ~100k objects that live until the end (its ~40 passes over
    them found nothing to free: ~5 ms of a cached in-process build). They are set aside
    (gc.freeze), and the collector collects what the command makes. A caller of main() that
    left the collector on (a test) is left as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _leave(code: int) -> None:
    """Leave after an in-process build (or pull or push: cli.main.LEAVE_FAST) as the interpreter
    leaves, minus its teardown of every module and object (~2 ms of CPU of a cached build, ~5 of
    a cold one, ~20 ms of a pull's end): the command's threads are joined (as the interpreter
    joins non-daemon threads), the atexit handlers run (the store's workspace and tree removals,
    temporary directories' finalizers) and the output is flushed; memory, descriptors and locks
    the kernel frees. The build, pull and push close every file they write before they return
    (atomic writes, leases, layers, blobs, trees)."""
    import atexit

    threading = sys.modules.get("threading")
    if threading is not None:
        main_thread = threading.main_thread()
        for thread in threading.enumerate():
            if thread is not main_thread and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()  # what the interpreter runs at exit, in the same order
    exit_now(code)


def run() -> None:
    """main(), then exit. A command that ran as a client of a daemon leaves with os._exit once
    its output is flushed: it has no threads, temporary files or atexit work left, and the
    interpreter's teardown of every module costs ~2-3 ms, a tenth of a cached client-mode build.
    An in-process build, pull or push leaves the same way once its threads are joined and the
    atexit handlers ran (_leave). Other commands that ran in this process exit normally (their
    threads joined, their files closed by finalizers)."""
    gc.disable()  # until the command's modules are loaded: see _loaded
    raise SystemExit(main(exit_fast=True))
