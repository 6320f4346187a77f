"""Engine API wire formats, without I/O: bytes in, bytes out.

- HTTP/1.1 request heads (`parse_head`); chunked transfer coding lives in `dockyard/chunked.py` (the
  client imports it without the rest);
- Docker's stdout/stderr multiplexing for attach/logs without a TTY (`mux_frame`, `demux`: in
  `dockyard/multiplex.py`, which the client reads them with);
- a Content-Type's media type as Go's mime.ParseMediaType reads it (`media_type`);
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


# -- media types ---------------------------------------------------------------------------------
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_SPACE = " \t\n\v\f\r\x85\xa0"     # unicode.IsSpace's, in a Latin-1 header


def _token(text: str) -> tuple[str, str]:
    """Go's consumeToken: the leading run of RFC 1521 token characters, and the rest."""
    end = 0
    while end < len(text) and 0x20 < ord(text[end]) < 0x7F and text[end] not in _TSPECIALS:
        end += 1
    return text[:end], text[end:]


def _after_value(text: str) -> str | None:
    """Go's consumeValue: what follows a token or a quoted string; None where there is neither."""
    if not text.startswith('"'):
        value, rest = _token(text)
        return rest if value else None
    i = 1
    while i < len(text):
        if text[i] == '"':
            return text[i + 1:]
        if text[i] in "\r\n":
            return None
        i += 2 if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _TSPECIALS else 1
    return None


def media_type(text: str) -> str | None:
    """A Content-Type's media type, lower-cased, as Go's mime.ParseMediaType reads it (dockerd's
    httputils.CheckForJSON compares it with application/json); None where Go's parse fails: no
    `type/subtype`, a parameter without a value (`application/json; charset`) or given twice. A
    trailing `;` is allowed. The parameters' values are not kept."""
    base, _, _ = text.partition(";")
    kind = base.lower().strip(_SPACE)
    major, rest = _token(kind)
    if rest:
        minor, rest = _token(rest[1:]) if rest.startswith("/") else ("", rest)
        if not minor or rest:
            return None
    if not major:
        return None
    names: set[str] = set()
    rest = text[len(base):]
    while rest := rest.lstrip(_SPACE):
        name, after = _token(rest[1:].lstrip(_SPACE)) if rest.startswith(";") else ("", "")
        after = after.lstrip(_SPACE)
        following = _after_value(after[1:].lstrip(_SPACE)) if name and after.startswith("=") else None
        if following is None:
            if rest.strip(_SPACE) == ";":     # a trailing semicolon
                break
            return None
        if name.lower() in names:    # dockerd 20.10's Go refuses a repeat, equal or not
            return None
        names.add(name.lower())
        rest = following
    return kind


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
