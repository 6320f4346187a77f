"""`dockyard attach`: this terminal's streams joined to a running container's, as the docker CLI
20.10 attaches: the container's output from now on (the API's attach without logs), its input
when it was created with -i (unless --no-stdin), a TTY's size and the detach keys; the status is
the container's exit code once it stops. Through cli/backend (the engine in process, a hijacked
connection to the daemon as a client) and cli/attach's pump, as run and start -a."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dockyard import detach
from dockyard.cli.attach import pump
from dockyard.cli.backend import for_target
from dockyard.errors import DockyardError, InvalidParameter


def register(sub: argparse._SubParsersAction, image_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attach", help="Attach local standard input, output, and error streams to a running container")
    p.add_argument("--detach-keys", default="", help="Override the key sequence for detaching a container")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", action="store_true", default=True,
                   help="Proxy all received signals to the process (default true; not for a TTY)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_attach, client=cmd_attach)


def _check_state(info: dict[str, Any]) -> None:
    state = info.get("State") or {}
    if not state.get("Running"):
        raise DockyardError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise DockyardError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise DockyardError("You cannot attach to a restarting container, wait until it is running")


def cmd_attach(args: argparse.Namespace, target: Any) -> int:
    backend = for_target(target)
    info = backend.call("GET", f"/containers/{args.container}/json")
    _check_state(info)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    if stdin and tty and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY")
    keys_text = args.detach_keys
    if not keys_text and stdin and tty:
        from dockyard.engine.credentials import client_detach_keys

        keys_text = client_detach_keys()
    keys = detach.parse_for_attach(keys_text)
    waiter = backend.wait_async(info["Id"], "not-running")
    streams = backend.attach(info["Id"], stdin=stdin, tty=tty, detach_keys=keys_text, logs=False)
    if args.sig_proxy and not tty:
        _forward_signals(backend, info["Id"])
    if pump(streams, tty=tty, stdin=stdin, detach_keys=keys):
        # detached: the container runs on; the docker CLI's words and status
        sys.stderr.write("read escape sequence\n")
        return 1
    return waiter.result()


def _forward_signals(backend: Any, container: str) -> None:
    """--sig-proxy: each signal this process gets is sent to the container (POST
    /containers/{id}/kill?signal=N, from a thread: a handler must not wait on the daemon), as
    the docker CLI's ForwardAllSignals; not SIGCHLD, SIGPIPE, SIGURG, nor SIGWINCH (a TTY's)."""
    import signal
    import threading

    def send(number: int) -> None:
        try:
            backend.call("POST", f"/containers/{container}/kill", [("signal", str(number))])
        except DockyardError:
            pass    # it stopped meanwhile

    def forward(number: int, frame: object) -> None:
        threading.Thread(target=send, args=(number,), daemon=True, name="signal").start()

    skipped = {signal.SIGCHLD, signal.SIGPIPE, signal.SIGURG, signal.SIGWINCH, signal.SIGKILL, signal.SIGSTOP}
    for number in signal.valid_signals():
        if number not in skipped and number < signal.SIGRTMIN:
            try:
                signal.signal(number, forward)
            except (OSError, ValueError):
                pass    # not catchable here
