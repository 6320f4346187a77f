"""Routing: API version prefix, the route table, query/body helpers, and the one place where
dockyard errors become HTTP responses (`DockyardError.http_status`, body `{"message": ...}`)."""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from dockyard.api.framing import BadRequest, RequestHead, error_message, go_json, media_type
from dockyard.api.http import Body, ClientGone, Response
from dockyard import gotypes
from dockyard.errors import DockyardError, InvalidParameter
from dockyard.engine.daemon_info import API_VERSION, MIN_API_VERSION  # the versions served (its home)
from dockyard.engine.store import Store, open_store
from dockyard.gotypes import GoStruct

MAX_JSON_BODY = 16 << 20
_VERSION_PREFIX = re.compile(r"/v(\d+\.\d+)(/.*)")  # fullmatch: Go's `$` ends the text


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


@dataclass
class ApiContext:
    """What every handler gets besides its request: the store root and the server's state."""

    root: Path
    stopping: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)

    def store(self) -> Store:
        return open_store(self.root)


@dataclass
class Request:
    head: RequestHead
    params: dict[str, str]
    body: Body
    version: str

    @property
    def method(self) -> str:
        return self.head.method

    @cached_property
    def query(self) -> dict[str, list[str]]:
        return self.head.query

    def q(self, name: str, default: str | None = None) -> str | None:
        """A parameter given more than once is its first value, as Go's FormValue reads it (the
        docker SDK sends `dockerfile` twice for a Dockerfile outside the context: its name in
        the tar, then its text)."""
        values = self.query.get(name)
        return values[0] if values else default

    def qlist(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def qbool(self, name: str, default: bool = False) -> bool:
        """Docker's BoolValue: absent is the default; "", 0, no, false, none are false."""
        if name not in self.query:
            return default
        return (self.q(name) or "").strip().lower() not in ("", "0", "no", "false", "none")

    def qint(self, name: str, default: int | None = None) -> int | None:
        text = self.q(name)
        if text is None or text == "":
            return default
        return gotypes.go_atoi(text)

    def qjson(self, name: str, default: Any = None) -> Any:
        text = self.q(name)
        if not text:
            return default
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:   # RecursionError: nested past the parser's depth
            raise InvalidParameter(f"invalid JSON in parameter {name}: {exc}") from None

    def json(self, *, required: bool = False) -> Any:
        """The JSON body; a missing body is None (or an error if `required`)."""
        data = bytearray()
        while chunk := self.body.read(64 * 1024):
            data += chunk
            if len(data) > MAX_JSON_BODY:
                raise InvalidParameter("request body too large")
        if not data.strip():
            if required:
                raise InvalidParameter("got EOF while reading request body")   # dockerd 20.10's words
            return None
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:   # RecursionError: nested past the parser's depth
            raise InvalidParameter(f"invalid JSON: {exc}") from None

    def json_object(self, struct: GoStruct | None = None, *, required: bool = False) -> dict[str, Any] | None:
        """The JSON body as an object (None when missing and not `required`), its values checked
        against the Go `struct` dockerd decodes it into: a value of the wrong type is Go's error."""
        body = self.json(required=required)
        if body is None:
            return {} if required else None   # `null`: Go decodes it into the zero struct
        if not isinstance(body, dict):
            raise InvalidParameter("invalid JSON: expected an object")
        if struct is not None:
            gotypes.check(body, struct)
        return body

    def version_at_least(self, text: str) -> bool:
        return version_tuple(self.version) >= version_tuple(text)


Handler = Callable[[ApiContext, Request, Response], None]


@dataclass
class Route:
    method: str
    pattern: str           # e.g. r"/images/(?P<name>.+)/json"
    handler: Handler
    query: frozenset[str] | None = None  # accepted query names; None accepts any
    json_body: bool = False  # its body is JSON, its Content-Type checked (check_json_body)
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)   # fullmatch, as Go's anchors: no final "\n" dropped


def route(method: str, pattern: str, handler: Handler, query: str | None = None, *,
          json_body: bool = False) -> Route:
    """`query` is a space-separated list of accepted parameter names (Docker's and the clients');
    `json_body`: a route whose body dockerd checks is JSON (check_json_body)."""
    names = frozenset(query.split()) if query is not None else None
    return Route(method, pattern, handler, names, json_body)


def check_json_body(head: RequestHead) -> None:
    """moby's httputils.CheckForJSON, the first thing dockerd 20.10 does with the body of a
    container's create and update, a commit, an exec's create and start, a network's create,
    connect and disconnect and a volume's create: a Content-Type other than application/json
    (its parameters aside, as Go's mime.ParseMediaType reads it), or none on a body that is not
    empty, is a 400 before anything else is looked at. No Content-Type and no body passes."""
    content_type = head.header("content-type")
    if not content_type and not head.chunked and not head.content_length():
        return
    if media_type(content_type) != "application/json":
        raise InvalidParameter(f"Content-Type specified ({content_type}) must be 'application/json'")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for r in self.routes:
            m = r.regex.fullmatch(path)
            if m is None:
                continue
            if r.method == method or (method == "HEAD" and r.method == "GET"):
                return r, m.groupdict()
            allowed = True
        if allowed:
            raise _HttpError(405, "method not allowed")
        raise _HttpError(404, "page not found")


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def split_version(path: str) -> tuple[str | None, str]:
    m = _VERSION_PREFIX.fullmatch(path)
    if m is None:
        return None, path
    return m.group(1), m.group(2)


def check_version(requested: str | None) -> str:
    """The version a request is served at: the one it names, or the newest."""
    if requested is None:
        return API_VERSION
    if version_tuple(requested) > version_tuple(API_VERSION):
        raise InvalidParameter(
            f"client version {requested} is too new. Maximum supported API version is {API_VERSION}")
    if version_tuple(requested) < version_tuple(MIN_API_VERSION):
        raise InvalidParameter(
            f"client version {requested} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    return requested


def dispatch(router: Router, ctx: ApiContext, head: RequestHead, body: Body, response: Response) -> None:
    """Serve one request; every failure ends as Docker's JSON error (or an error message in a
    JSON stream that already started, or a closed connection for a raw stream)."""
    try:
        requested, path = split_version(head.path)
        response.api_version = API_VERSION
        version = check_version(requested)
        r, params = router.match(head.method, path)
        if r.query is not None:
            unknown = sorted(set(head.query) - r.query)
            if unknown:
                raise InvalidParameter(f"unknown query parameter: {', '.join(unknown)}")
        if r.json_body:
            check_json_body(head)
        r.handler(ctx, Request(head, params, body, version), response)
        if response.streaming:
            response.finish()
        elif not response.started:  # pragma: no cover - a handler that forgot to answer
            raise RuntimeError(f"{r.handler.__name__} sent no response")
    except ClientGone:
        response.keep_alive = False
        raise
    except _HttpError as exc:
        _fail(response, exc.status, exc.message)
    except DockyardError as exc:
        _fail(response, exc.http_status, exc.message)
    except Exception as exc:  # noqa: BLE001 - a bug of ours: log it, answer 500, keep serving
        ctx.log(f"internal error serving {head.method} {head.target}:\n{traceback.format_exc()}")
        _fail(response, 500, f"internal error: {type(exc).__name__}: {exc}")


def _fail(response: Response, status: int, message: str) -> None:
    if not response.started:
        if response.streaming:
            response.streaming = False
        response.error(status, message)
        return
    if response.streaming and response.stream_type == "application/json":
        response.write(error_message(message))
        response.finish()
        return
    # A raw stream (an archive, logs) cannot carry an error: cut it short, the client sees EOF.
    response.keep_alive = False
    response.streaming = False


__all__ = ["API_VERSION", "ApiContext", "BadRequest", "Request", "Route", "Router", "dispatch",
           "go_json", "route"]
