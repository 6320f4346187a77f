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
from dockyard.detach import DEFAULT, Escape

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


def _copy_input(streams: Streams, fd: int, escape: Escape | None = None,
                detached: threading.Event | None = None) -> None:
    try:
        while data := os.read(fd, 65536):
            if escape is not None:
                data, leave = escape.feed(data)
                if leave:
                    if data:
                        streams.send(data)
                    assert detached is not None
                    detached.set()
                    return
            if data:
                streams.send(data)
        streams.close_input()
    except OSError:
        pass


def _copy_output(streams: Streams, done: threading.Event) -> None:
    try:
        for fd, data in streams.output():
            write_all(fd, data)
    finally:
        done.set()


def pump(streams: Streams, *, tty: bool, stdin: bool, detach_keys: bytes = DEFAULT) -> bool:
    """Copy until the container's output ends (its stdin copy runs on in a daemon thread: the
    docker CLI leaves too once the output ends, whatever its stdin holds), or until the user
    types the detach sequence (`detach_keys`) on a terminal, as the docker CLI's: whether the
    user detached (the container runs on). As the docker CLI, it watches for them on its side
    even through a daemon (which is told them too, and watches for them as dockerd does): the
    keys it recognises are never sent, so the two never both detect them."""
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
        ended = threading.Event()
        if stdin:
            escape = Escape(detach_keys) if saved is not None else None
            threading.Thread(target=_copy_input, args=(streams, 0, escape, ended), daemon=True,
                             name="stdin").start()
        if saved is None:   # no terminal: no detach sequence, the output alone ends it
            _copy_output(streams, ended)
            return False
        output_done = threading.Event()

        def copy_output() -> None:
            _copy_output(streams, output_done)
            ended.set()
        threading.Thread(target=copy_output, daemon=True, name="output").start()
        ended.wait()
        return not output_done.is_set()
    finally:
        if resize_handler is not None:
            signal.signal(signal.SIGWINCH, resize_handler)
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)
