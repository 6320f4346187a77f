"""Registry endpoints: pull (`POST /images/create?fromImage=`), push, `/auth`, through
dockyard.engine.registry once it exists; until then they answer 501.

Credentials come as Docker's clients send them: the `X-Registry-Auth` header, base64url of a
JSON object (`username`, `password`, `serveraddress`, or `identitytoken`/`registrytoken`)."""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dockyard.api.http import Response
from dockyard.api.router import ApiContext, Request, Route, route
from dockyard.errors import InvalidParameter, NotImplementedFeature


@dataclass
class RegistryAuth:
    username: str = ""
    password: str = ""
    server: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RegistryAuth":
        def text(key: str) -> str:
            value = data.get(key) or data.get(key.lower()) or ""
            if not isinstance(value, str):
                raise InvalidParameter(f"invalid registry auth: {key} must be a string")
            return value

        return cls(text("username"), text("password"), text("serveraddress"),
                   text("identitytoken"), text("registrytoken"))


def decode_auth_header(value: str) -> RegistryAuth:
    """`X-Registry-Auth`: base64url (padding optional; some clients send standard base64)."""
    if not value.strip():
        return RegistryAuth()
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidParameter("invalid X-Registry-Auth header") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid X-Registry-Auth header")
    return RegistryAuth.from_dict(data)


def _engine() -> ModuleType:
    try:
        return importlib.import_module("dockyard.engine.registry")
    except ModuleNotFoundError:
        raise NotImplementedFeature("registry operations are not available in this build") from None


def login(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    RegistryAuth.from_dict(body)
    _engine()
    raise NotImplementedFeature("login is not available yet")


def pull(ctx: ApiContext, req: Request, resp: Response) -> None:
    decode_auth_header(req.head.header("x-registry-auth"))
    _engine()
    raise NotImplementedFeature("pull is not available yet")


def push(ctx: ApiContext, req: Request, resp: Response) -> None:
    decode_auth_header(req.head.header("x-registry-auth"))
    _engine()
    raise NotImplementedFeature("push is not available yet")


def routes() -> list[Route]:
    return [route("POST", "/images/(?P<name>.+)/push", push, "tag platform")]
