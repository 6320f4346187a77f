"""Distribution API error bodies -> dockyard errors with Docker's messages."""

from __future__ import annotations

import json
from dockyard.dataclass import dataclass

from dockyard.errors import DockyardError, Forbidden, NotFound, Unauthorized, Unavailable

MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class RegistryError:
    """One entry of a registry's error body."""

    code: str
    message: str


def parse_error_body(body: bytes) -> list[RegistryError]:
    """`{"errors": [{"code", "message", "detail"}]}`; anything else gives an empty list."""
    try:
        doc = json.loads(body[:MAX_ERROR_BODY])
    except (ValueError, UnicodeDecodeError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    out = []
    for item in errors:
        if isinstance(item, dict):
            out.append(RegistryError(str(item.get("code", "UNKNOWN")), str(item.get("message", ""))))
    return out


def _text(errors: list[RegistryError], fallback: str) -> str:
    if not errors:
        return fallback
    # docker prints "<code lowercased with spaces>: <message>", e.g. "unauthorized: authentication required"
    return ", ".join(f"{e.code.lower().replace('_', ' ')}: {e.message}" if e.message else e.code.lower()
                     for e in errors)


def error_for(status: int, body: bytes, *, familiar: str | None = None, pulling: bool = False) -> DockyardError:
    """The dockyard error for a failed registry response.

    Docker turns a pull that is denied or finds no repository into
    `pull access denied for <name>, repository does not exist or may require 'docker login'`.
    """
    errors = parse_error_body(body)
    codes = {e.code for e in errors}
    if pulling and familiar and (status in (401, 403) or codes & {"NAME_UNKNOWN", "DENIED", "UNAUTHORIZED"}):
        msg = f"pull access denied for {familiar}, repository does not exist or may require 'docker login'"
        if errors:
            msg += f": {_text(errors, '')}"
        return Forbidden(msg)
    if status == 401:
        return Unauthorized(_text(errors, "unauthorized: authentication required"))
    if status == 403:
        return Forbidden(_text(errors, "denied: requested access to the resource is denied"))
    if status == 404:
        return NotFound(_text(errors, "not found"))
    if status >= 500:
        return Unavailable(_text(errors, f"received unexpected HTTP status: {status}"))
    return DockyardError(_text(errors, f"received unexpected HTTP status: {status}"))
