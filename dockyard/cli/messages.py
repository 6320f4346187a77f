"""A daemon's JSON message stream (pull, push, load through `dockyard serve`) printed as the docker
CLI prints it when its output is not a terminal."""

from __future__ import annotations

from typing import Iterator, TextIO

from dockyard.errors import DockyardError


def print_messages(messages: Iterator[dict], out: TextIO, quiet: bool = False) -> list[dict]:
    """A daemon's JSON message stream as the docker CLI prints it when its output is not a
    terminal (jsonmessage's Display): `id: status` or a `stream` as sent; messages that carry a
    progress count are not shown, nor anything with `quiet`; an error ends it (raised). Returns
    the `aux` objects."""
    aux = []
    for message in messages:
        error = message.get("errorDetail") or {}
        if error or "error" in message:
            out.flush()
            raise DockyardError(str(error.get("message") or message.get("error")))
        if "aux" in message:
            aux.append(message["aux"])
            continue
        if quiet or (message.get("progressDetail") or {}).get("current") is not None:
            continue
        if isinstance(message.get("stream"), str):
            out.write(message["stream"])
        else:
            prefix = f"{message['id']}: " if message.get("id") else ""
            out.write(f"{prefix}{message.get('status', '')}\n")
        out.flush()
    return aux
