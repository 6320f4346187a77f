"""Authorization for registry requests: Basic, or Bearer tokens from the challenge's realm.

The flow Docker follows: ping `/v2/`; a 401 carries `WWW-Authenticate`. For Basic, every request
carries the user's credentials. For Bearer, a token for the wanted scopes is fetched from the realm
(GET with Basic credentials, or POST with an identity token as an OAuth2 refresh token), cached
until it expires, fetched again when it has or when the registry rejects it.
"""

from __future__ import annotations

import base64
import json
import time
from dockyard.dataclass import dataclass, field
from threading import Lock
from typing import Callable

from dockyard.errors import Unauthorized, Unavailable
from dockyard.transport.registry.challenge import Challenge, parse_challenges
from dockyard.transport.registry.credentials import Credentials
from dockyard.transport.registry.errors import parse_error_body
from dockyard.transport.registry.http import httpx

MIN_TOKEN_LIFETIME = 60      # seconds; what Docker assumes when the server says less or nothing
EXPIRY_MARGIN = 5            # refresh this many seconds early
MAX_TOKEN_RESPONSE = 1 << 20


@dataclass
class _Token:
    """A bearer token and when it expires (on the authenticator's clock)."""

    value: str
    expires: float


@dataclass
class Authenticator:
    """Authorization headers for one registry; thread-safe (layers transfer in parallel)."""

    http: httpx.Client
    credentials: Credentials | None
    clock: Callable[[], float] = time.monotonic
    challenge: Challenge | None = None
    _tokens: dict[tuple[str, ...], _Token] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock, repr=False)  # (its repr is its address)

    def learn(self, www_authenticate: str) -> bool:
        """Take the challenge of a 401; False when it offers nothing we can answer."""
        for ch in parse_challenges(www_authenticate):
            if ch.scheme == "bearer" and ch.realm:
                self.challenge = ch
                return True
            if ch.scheme == "basic":
                self.challenge = ch
                return True
        return False

    def headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        ch = self.challenge
        if ch is None:
            return {}
        if ch.scheme == "basic":
            creds = self.credentials
            if creds is None or not creds.username:
                raise Unauthorized("no basic auth credentials")
            raw = f"{creds.username}:{creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {"Authorization": "Bearer " + self._token(tuple(sorted(scopes)))}

    def forget(self, scopes: tuple[str, ...]) -> None:
        """The registry refused a token: the next request fetches a new one."""
        with self._lock:
            self._tokens.pop(tuple(sorted(scopes)), None)

    def _token(self, scopes: tuple[str, ...]) -> str:
        creds = self.credentials
        if creds is not None and creds.registry_token:
            return creds.registry_token
        with self._lock:
            tok = self._tokens.get(scopes)
            if tok is not None and tok.expires - EXPIRY_MARGIN > self.clock():
                return tok.value
            tok = self._fetch(scopes)
            self._tokens[scopes] = tok
            return tok.value

    def _fetch(self, scopes: tuple[str, ...]) -> _Token:
        ch = self.challenge
        assert ch is not None and ch.realm
        params: list[tuple[str, str]] = []
        if ch.service:
            params.append(("service", ch.service))
        creds = self.credentials
        auth = None
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "dockyard", "scope": " ".join(scopes)}
            if ch.service:
                form["service"] = ch.service
            request = self.http.build_request("POST", ch.realm, data=form)
        else:
            params += [("scope", s) for s in scopes]
            auth = (creds.username, creds.password) if creds and creds.username else None
            params += [("account", creds.username)] if auth else []
            request = self.http.build_request("GET", ch.realm, params=params)
        # Read as it comes, and no further than MAX_TOKEN_RESPONSE: the realm is any URL the
        # registry names, and a whole body read first (httpx's .content) grew without end
        # (a 400 MB answer: 848 MB of RSS before the answer was cut to its first MiB).
        try:
            resp = self.http.send(request, auth=auth, stream=True)  # type: ignore[arg-type]
            try:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_RESPONSE:
                        raise Unavailable(f"token server {ch.realm} sent more than {MAX_TOKEN_RESPONSE} bytes")
            finally:
                resp.close()
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot get a token from {ch.realm}: {exc}") from None
        body = bytes(body)
        if resp.status_code in (401, 403):
            errors = parse_error_body(body)
            detail = errors[0].message if errors else "incorrect username or password"
            raise Unauthorized(f"unauthorized: {detail}")
        if resp.status_code != 200:
            raise Unavailable(f"token server {ch.realm} answered {resp.status_code}")
        try:
            doc = json.loads(body)
            value = doc.get("token") or doc.get("access_token")
            lifetime = int(doc.get("expires_in") or MIN_TOKEN_LIFETIME)
        except (ValueError, TypeError, AttributeError):
            raise Unavailable(f"token server {ch.realm} sent a malformed answer") from None
        if not isinstance(value, str) or not value:
            raise Unavailable(f"token server {ch.realm} sent no token")
        return _Token(value, self.clock() + max(lifetime, MIN_TOKEN_LIFETIME))
