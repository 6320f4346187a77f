"""Registry endpoints: pull (`POST /images/create?fromImage=`), push, `/auth`, through
dockyard.engine.registry, streaming Docker's JSON progress messages.

Credentials come as Docker's clients send them: the `X-Registry-Auth` header, base64url of a
JSON object (`username`, `password`, `serveraddress`, or `identitytoken`/`registrytoken`). Like
dockerd, the server reads no credentials file of its own."""

from __future__ import annotations

import base64
import binascii
import json
from contextlib import contextmanager
from typing import Any, Iterator

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.api.streams import JsonMessages
from dockyard.errors import DockyardError, InvalidParameter, Unauthorized
from dockyard.reference import parse_reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    from dockyard.engine.credentials import AuthConfig


def auth_config(data: dict[str, Any]) -> AuthConfig:
    """Docker's AuthConfig JSON (field names in any case, as Go's decoder takes them)."""
    def text(key: str) -> str:
        value = data.get(key) or data.get(key.lower()) or ""
        if not isinstance(value, str):
            raise InvalidParameter(f"invalid registry auth: {key} must be a string")
        return value

    from dockyard.engine.credentials import AuthConfig  # not at the top: see _engine

    return AuthConfig(text("username"), text("password"), text("serveraddress"),
                      text("identitytoken"), text("registrytoken"))


def decode_auth_header(value: str) -> AuthConfig:
    """`X-Registry-Auth`: base64url (padding optional; some clients send standard base64)."""
    if not value.strip():
        return auth_config({})
    data = _decode_json_header(value, "X-Registry-Auth")
    if not isinstance(data, dict):
        raise InvalidParameter("invalid X-Registry-Auth header")
    return auth_config(data)


def _engine() -> tuple[ModuleType, ModuleType]:
    """engine.credentials and engine.registry, imported when a request needs them: at the top
    they loaded the registry client (httpx, h11, httpcore, urllib.request: ~100 ms of CPU) into
    every `dockyard serve` at its start, though most serve no pull, push, login or build
    (tests/test_start_up.py)."""
    from dockyard.engine import credentials, registry

    return credentials, registry


def _decode_json_header(value: str, name: str) -> Any:
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidParameter(f"invalid {name} header") from None


def build_puller(ctx: ApiContext, req: Request):  # noqa: ANN201 - the builder's ImagePuller
    """How a build pulls its base images: with the credentials the docker CLI sends for builds
    in `X-Registry-Config` (base64url JSON: registry -> auth config)."""
    header = req.head.header("x-registry-config")
    auths = {}
    if header.strip():
        doc = _decode_json_header(header, "X-Registry-Config")
        if not isinstance(doc, dict):
            raise InvalidParameter("invalid X-Registry-Config header")
        auths = {str(server): auth_config(entry) for server, entry in doc.items()
                 if isinstance(entry, dict)}
    credentials, registry = _engine()
    return registry.image_puller(ctx.store(), credentials.build_access(auths))


def login(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    credentials, _ = _engine()
    return {"Status": credentials.check_login(auth_config(body)), "IdentityToken": ""}


class _Progress:
    """Engine progress -> JSON messages; the response starts with the first message."""

    def __init__(self, ctx: ApiContext, resp: Response) -> None:
        self._ctx, self._resp = ctx, resp
        self._messages: JsonMessages | None = None

    @property
    def messages(self) -> JsonMessages:
        if self._messages is None:
            self._messages = JsonMessages(self._resp.stream("application/json"), self._ctx.stopping)
        return self._messages

    def __call__(self, event) -> None:  # noqa: ANN001 - transport.progress.Progress
        self.messages.message(event.to_json())


def pull(ctx: ApiContext, req: Request, resp: Response) -> None:
    auth = decode_auth_header(req.head.header("x-registry-auth"))
    name = req.q("fromImage") or ""
    tag = req.q("tag") or ""
    if tag:
        name = f"{name}@{tag}" if ":" in tag and tag.split(":")[0] in ("sha256", "sha512") else f"{name}:{tag}"
    progress = _Progress(ctx, resp)
    credentials, registry = _engine()
    with _registry_denials():
        registry.pull(ctx.store(), name, credentials.request_access(auth), platform=req.q("platform") or None,
                      all_tags=_name_only(name), progress=progress)
    progress.messages  # a pull that said nothing still answers with a (empty) stream


@contextmanager
def _registry_denials() -> Iterator[None]:
    """A registry refusing our credentials is not the API asking its client for some: a 401 here
    would make the docker CLI prompt for a login. dockerd answers such pulls and pushes with a
    server error carrying the registry's message; so does this."""
    try:
        yield
    except Unauthorized as exc:
        raise DockyardError(exc.message) from None


def _name_only(name: str) -> bool:
    """No tag and no digest: the API's way of asking for every tag (as dockerd reads it)."""
    return parse_reference(name).is_name_only


def push(ctx: ApiContext, req: Request, resp: Response) -> None:
    auth = decode_auth_header(req.head.header("x-registry-auth"))
    name = req.params["name"]
    tag = req.q("tag") or ""
    progress = _Progress(ctx, resp)
    credentials, registry = _engine()
    with _registry_denials():
        results = registry.push(ctx.store(), f"{name}:{tag}" if tag else name, credentials.request_access(auth),
                                all_tags=_name_only(name) and not tag, progress=progress)
    for result in results:
        progress.messages.aux({"Tag": result.tag, "Digest": str(result.digest), "Size": result.size})


def routes() -> list[Route]:
    return [route("POST", "/images/(?P<name>.+)/push", push, "tag platform")]
