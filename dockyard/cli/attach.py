"""The terminal side of an attached container or exec, as the docker CLI does it: this process's
stdin goes to the container (its end closes the container's input), the container's output comes
to stdout and stderr, a terminal is put in raw mode while a TTY container has it, and its size is
sent at the start and whenever it changes (SIGWINCH).

`pump` works on any `Streams`: the engine's in this process (cli/backend.py) or a hijacked
connection to `dockyard serve` (cli/remote.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from dockyard.atomic import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, Protocol

    class Streams(Protocol):
        def output(self) -> Iterator[tuple[int, bytes]]:
            """(1 for stdout or 2 for stderr, bytes) until the output ends."""

        def send(self, data: bytes) -> None: ...

        def close_input(self) -> None: ...

        def resize(self, rows: int, cols: int) -> None: ...


def terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def _copy_input(streams: Streams, fd: int) -> None:
    try:
        while data := os.read(fd, 65536):
            streams.send(data)
        streams.close_input()
    except OSError:
        pass


def pump(streams: Streams, *, tty: bool, stdin: bool) -> None:
    """Copy until the container's output ends (its stdin copy runs on in a daemon thread: the
    docker CLI leaves too once the output ends, whatever its stdin holds)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = None
    resize_handler = None
    if tty and stdin and os.isatty(0):
        import termios
        import tty as tty_mod

        saved = termios.tcgetattr(0)
        tty_mod.setraw(0, termios.TCSANOW)   # not TCSAFLUSH: what the user typed ahead is kept
    try:
        if tty:
            size = terminal_size(1)
            if size is not None:
                streams.resize(*size)
                if threading.current_thread() is threading.main_thread():
                    def on_winch(signum: int, frame: object) -> None:
                        new = terminal_size(1)
                        if new is not None:
                            try:
                                streams.resize(*new)
                            except Exception:  # noqa: BLE001 - the container may be gone
                                pass
                    resize_handler = signal.signal(signal.SIGWINCH, on_winch)
        if stdin:
            threading.Thread(target=_copy_input, args=(streams, 0), daemon=True,
                             name="stdin").start()
        for fd, data in streams.output():
            write_all(fd, data)
    finally:
        if resize_handler is not None:
            signal.signal(signal.SIGWINCH, resize_handler)
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)
