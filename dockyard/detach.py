"""Docker's detach keys: the sequence that leaves an attached TTY session (ctrl-p ctrl-q unless
`--detach-keys`, the client config's `detachKeys`, the API's `detachKeys` / exec `DetachKeys`
say otherwise), its text form, and the reader that watches a stream of typed bytes for it.

One home for the daemon (api: attach and exec start watch the client's stdin, as dockerd's
attach streams do) and the CLI (in process it watches the terminal itself; the docker CLI also
watches on its side, so a client never sends a sequence it recognised).
"""

from __future__ import annotations

from dockyard.errors import DockyardError, InvalidParameter

DEFAULT = b"\x10\x11"    # ctrl-p ctrl-q

# the names dockerd's ToBytes knows for the control codes 0..31 ("ctrl-@" is 0, "ctrl-a" 1 ...)
_CONTROLS = {f"ctrl-{c}": code for code, c in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}
_CONTROLS["DEL"] = 127


def parse(text: str) -> bytes:
    """The bytes of a sequence written as dockerd reads it: comma-separated keys, each a single
    character or `ctrl-<@, a..z, [, \\, ], ^, _>` or DEL ("ctrl-p,ctrl-q", "a,ctrl-b"); "" is the
    default. ValueError for anything else (its callers word the error as dockerd's)."""
    if not text:
        return DEFAULT
    out = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            out += key.encode("latin-1", "replace")[:1]
        elif key in _CONTROLS:
            out.append(_CONTROLS[key])
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(out)


def parse_for_attach(text: str) -> bytes:
    """The attach's detachKeys; dockerd's 400 for an invalid one."""
    try:
        return parse(text)
    except ValueError:
        raise InvalidParameter(f"Invalid detach keys ({text}) provided") from None


def parse_for_exec(text: str) -> bytes:
    """An exec's DetachKeys, checked at its create (dockerd 20.10's words, and its 500)."""
    try:
        return parse(text)
    except ValueError:
        raise DockyardError(f"Invalid escape keys ({text}) provided") from None


class Escape:
    """Watches typed bytes for the sequence: bytes go on unless they are the sequence; a partial
    match is held until the next byte tells (then passed on, as dockerd passes it)."""

    def __init__(self, keys: bytes = DEFAULT) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(what to pass on, whether the whole sequence was typed: then what came after it in
        `data` is dropped, the session is left)."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[len(self.held)]:
                self.held += bytes([byte])
                if self.held == self.keys:
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if byte == self.keys[0]:
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False
