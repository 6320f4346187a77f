"""Engine API wire formats, without I/O: bytes in, bytes out.

- HTTP/1.1 request heads (`parse_head`); chunked transfer coding lives in `dockyard/chunked.py` (the
  client imports it without the rest);
- Docker's stdout/stderr multiplexing for attach/logs without a TTY (`mux_frame`, `demux`: in
  `dockyard/multiplex.py`, which the client reads them with);
- the JSON message stream (`stream_message`, `aux_message`, `error_message`): one JSON object
  per line, lines ending in CRLF, `<`, `>` and `&` escaped as Go's encoding/json does.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from dockyard.chunked import BadChunk, BadRequest, ChunkedDecoder, chunk  # noqa: F401 - part of this module's API
from dockyard.multiplex import STDERR, STDIN, STDOUT, demux, mux_frame  # noqa: F401 - likewise
from dockyard.gojson import go_json

MAX_HEAD = 64 * 1024


# -- request heads -------------------------------------------------------------------------------
@dataclass
class RequestHead:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased; repeats joined by ", "

    @property
    def path(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def keep_alive(self) -> bool:
        connection = self.header("connection").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def chunked(self) -> bool:
        return "chunked" in self.header("transfer-encoding").lower()

    def content_length(self) -> int | None:
        text = self.header("content-length")
        if not text:
            return None
        digits = text.strip()
        if not (digits.isascii() and digits.isdigit()):  # isdigit alone takes '²'
            raise BadRequest(f"invalid Content-Length: {text!r}")
        return int(digits)


def parse_head(data: bytes) -> RequestHead:
    """The request line and headers (everything before the blank line, CRLF or LF endings)."""
    try:
        text = data.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest("malformed request head") from None
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise BadRequest("empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"malformed request line: {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise BadRequest(f"malformed header line: {line[:100]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return RequestHead(method.upper(), target, version, headers)


# -- JSON -----------------------------------------------------------------------------------------
def json_line(value: Any) -> bytes:
    return go_json(value) + b"\r\n"


def stream_message(text: str) -> bytes:
    return json_line({"stream": text})


def status_message(status: str, *, id: str | None = None, progress: str | None = None) -> bytes:
    msg: dict[str, Any] = {"status": status}
    if progress is not None:
        msg["progress"] = progress
    if id is not None:
        msg["id"] = id
    return json_line(msg)


def aux_message(aux: Any) -> bytes:
    return json_line({"aux": aux})


def error_message(message: str, code: int | None = None) -> bytes:
    detail: dict[str, Any] = {"message": message}
    if code is not None:
        detail = {"code": code, "message": message}
    return json_line({"errorDetail": detail, "error": message})
