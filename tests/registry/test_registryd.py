"""The registry fixtures themselves, spoken to over HTTP with httpx: each mode answers /v2/ the
way the real registry does (distribution 2.8), the token server makes tokens the registry takes,
TLS verifies only with the fixture's CA, a restart keeps the storage, the access log is parsed."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import ssl
from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.registry.conftest import PASSWORD, USER
from tests.registry.registryd import TOKEN_SERVICE, RegistryServer

NO_BLOB = "sha256:" + hashlib.sha256(b"no such blob").hexdigest()


def _trust(ca: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _jwt_part(token: str, i: int) -> dict:
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _push_blob(client: httpx.Client, url: str, repo: str, data: bytes) -> str:
    """The monolithic upload of the distribution spec: POST opens a session, PUT ?digest= closes it."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = client.post(f"{url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = httpx.URL(url).join(r.headers["Location"])
    r = client.put(location.copy_add_param("digest", digest), content=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def test_plain_registry_answers_v2_and_logs_requests(registry: RegistryServer) -> None:
    assert registry.url == f"http://127.0.0.1:{registry.port}" and registry.ca_cert is None
    r = httpx.get(f"{registry.url}/v2/")
    assert r.status_code == 200 and r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert httpx.head(f"{registry.url}/v2/x/blobs/{NO_BLOB}").status_code == 404
    # start()'s readiness probes are not in the list; the query string is cut off.
    assert httpx.get(f"{registry.url}/v2/_catalog?n=5").status_code == 200
    assert registry.requests() == [("GET", "/v2/", 200), ("HEAD", f"/v2/x/blobs/{NO_BLOB}", 404),
                                   ("GET", "/v2/_catalog", 200)]
    assert registry.blob_count() == 0


def test_basic_auth_registry(registry_auth: RegistryServer) -> None:
    url = registry_auth.url
    r = httpx.get(f"{url}/v2/")
    assert r.status_code == 401
    assert _challenge(r.headers["WWW-Authenticate"]) == ("Basic", {"realm": "dockyard-test"})
    assert httpx.get(f"{url}/v2/", auth=(USER, PASSWORD)).status_code == 200
    assert httpx.get(f"{url}/v2/", auth=(USER, "wrong")).status_code == 401
    assert httpx.get(f"{url}/v2/", auth=("mallory", PASSWORD)).status_code == 401
    assert [s for _, _, s in registry_auth.requests()] == [401, 200, 401, 401]


def test_token_registry_challenge_token_and_access(registry_token: RegistryServer) -> None:
    url = registry_token.url
    r = httpx.get(f"{url}/v2/")
    assert r.status_code == 401
    scheme, params = _challenge(r.headers["WWW-Authenticate"])
    assert scheme == "Bearer" and params == {"realm": registry_token.token_realm, "service": TOKEN_SERVICE}
    # A request that needs a scope says which one in its challenge.
    r = httpx.head(f"{url}/v2/x/blobs/{NO_BLOB}")
    assert r.status_code == 401
    assert _challenge(r.headers["WWW-Authenticate"])[1]["scope"] == "repository:x:pull"

    t = httpx.get(params["realm"], params={"service": params["service"], "scope": "repository:x:pull,push"},
                  auth=(USER, PASSWORD))
    assert t.status_code == 200
    body = t.json()
    token = body["token"]
    assert body["access_token"] == token and body["expires_in"] == registry_token.token_ttl == 30
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    header, claims = _jwt_part(token, 0), _jwt_part(token, 1)
    assert header["alg"] == "RS256" and len(header["x5c"]) == 1
    assert claims["sub"] == USER and claims["aud"] == TOKEN_SERVICE and claims["exp"] - claims["iat"] == 30
    assert claims["access"] == [{"type": "repository", "name": "x", "actions": ["pull", "push"]}]
    assert registry_token.token_requests == 1 and registry_token.tokens.token_requests == 1

    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/v2/", headers=bearer).status_code == 200
    assert httpx.head(f"{url}/v2/x/blobs/{NO_BLOB}", headers=bearer).status_code == 404  # authorized, absent
    # The token is for repository x only.
    assert httpx.head(f"{url}/v2/y/blobs/{NO_BLOB}", headers=bearer).status_code == 401
    # A token whose signature does not verify is refused.
    forged = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
    assert httpx.get(f"{url}/v2/", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_server_refuses_wrong_password_and_gives_anonymous_pull_only(registry_token: RegistryServer) -> None:
    realm, url = registry_token.token_realm, registry_token.url
    assert realm is not None
    query = {"service": TOKEN_SERVICE, "scope": "repository:x:pull,push"}
    bad = httpx.get(realm, params=query, auth=(USER, "wrong"))
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    anon = httpx.get(realm, params=query)
    assert anon.status_code == 200
    token = anon.json()["token"]
    assert _jwt_part(token, 1)["access"] == [{"type": "repository", "name": "x", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.head(f"{url}/v2/x/blobs/{NO_BLOB}", headers=bearer).status_code == 404
    push = httpx.post(f"{url}/v2/x/blobs/uploads/", headers=bearer)
    assert push.status_code == 401
    assert _challenge(push.headers["WWW-Authenticate"])[1]["error"] == "insufficient_scope"
    assert [(r.user, r.status) for r in registry_token.tokens.log] == [(USER, 401), (None, 200)]


def test_token_expired_first_is_refused_by_the_registry(registry_token: RegistryServer) -> None:
    registry_token.tokens.expired_first = 1
    query = {"service": TOKEN_SERVICE}
    stale = httpx.get(registry_token.token_realm or "", params=query, auth=(USER, PASSWORD)).json()["token"]
    fresh = httpx.get(registry_token.token_realm or "", params=query, auth=(USER, PASSWORD)).json()["token"]
    assert httpx.get(f"{registry_token.url}/v2/", headers={"Authorization": f"Bearer {stale}"}).status_code == 401
    assert httpx.get(f"{registry_token.url}/v2/", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert registry_token.token_requests == 2


@pytest.mark.parametrize("registry_token", [2], indirect=True)
def test_token_ttl_is_a_fixture_parameter(registry_token: RegistryServer) -> None:
    r = httpx.get(registry_token.token_realm or "", params={"service": TOKEN_SERVICE}, auth=(USER, PASSWORD))
    assert r.json()["expires_in"] == 2
    claims = _jwt_part(r.json()["token"], 1)
    assert claims["exp"] - claims["iat"] == 2


def test_tls_registry_verifies_with_its_ca_only(registry_tls: RegistryServer) -> None:
    assert registry_tls.url.startswith("https://127.0.0.1:")
    ca = registry_tls.ca_cert
    assert ca is not None and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert httpx.get(f"{registry_tls.url}/v2/", verify=_trust(ca)).status_code == 200
    # The certificate also names localhost.
    assert httpx.get(f"https://localhost:{registry_tls.port}/v2/", verify=_trust(ca)).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{registry_tls.url}/v2/")
    # Plain HTTP to the TLS port gets Go's "client sent an HTTP request to an HTTPS server" 400.
    assert httpx.get(f"http://{registry_tls.host}/v2/").status_code == 400


def test_kill_and_restart_keep_port_and_pushed_blob(registry: RegistryServer) -> None:
    data = b"a small blob\n"
    with httpx.Client() as client:
        digest = _push_blob(client, registry.url, "keep/me", data)
    assert registry.blob_count() == 1
    port, pid = registry.port, registry.proc.pid if registry.proc else None
    registry.kill()
    assert registry.proc is not None and registry.proc.returncode == -9
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{registry.url}/v2/")
    registry.start()
    assert registry.port == port and registry.proc.pid != pid
    r = httpx.get(f"{registry.url}/v2/keep/me/blobs/{digest}")
    assert r.status_code == 200 and r.content == data
    assert registry.blob_count() == 1
    methods = [(m, re.sub(r"uploads/[0-9a-f-]{36}$", "uploads/ID", p), s) for m, p, s in registry.requests()]
    assert methods == [("POST", "/v2/keep/me/blobs/uploads/", 202), ("PUT", "/v2/keep/me/blobs/uploads/ID", 201),
                       ("GET", f"/v2/keep/me/blobs/{digest}", 200)]


def test_make_registry_gives_independent_servers_and_stop_stops_all(
        make_registry: Callable[..., RegistryServer]) -> None:
    a = make_registry()
    b = make_registry(tls=True, token=True, token_ttl=7)
    assert a.port != b.port and a.root != b.root
    r = httpx.get(f"{b.url}/v2/", verify=_trust(b.ca_cert))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer ")
    t = httpx.get(b.token_realm or "", params={"service": TOKEN_SERVICE}, auth=("alice", "s3cret-pw"))
    assert t.json()["expires_in"] == 7
    realm = b.token_realm or ""
    b.stop()
    assert b.proc is not None and b.proc.returncode is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(realm)
    assert httpx.get(f"{a.url}/v2/").status_code == 200


def test_a_taken_port_is_traded_for_a_free_one_on_first_start(make_registry: Callable[..., RegistryServer]) -> None:
    """Free ports are racy (another test may bind one first): the first start moves on."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = make_registry(port=taken)
        assert server.port != taken
        assert "address already in use" in server.log.read_text()
        assert httpx.get(f"{server.url}/v2/").status_code == 200


def test_token_server_oauth_form_and_refresh_token(registry_token: RegistryServer) -> None:
    """The OAuth2 POST form the docker daemon uses when it holds an identity (refresh) token."""
    realm = registry_token.token_realm or ""
    first = httpx.post(realm, data={"grant_type": "password", "username": USER, "password": PASSWORD,
                                    "service": TOKEN_SERVICE, "client_id": "dockyard", "access_type": "offline",
                                    "scope": "repository:x:pull repository:y:push"})
    assert first.status_code == 200
    body = first.json()
    assert body["scope"] == "repository:x:pull repository:y:push" and body["refresh_token"]
    assert [a["name"] for a in _jwt_part(body["access_token"], 1)["access"]] == ["x", "y"]
    again = httpx.post(realm, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                    "service": TOKEN_SERVICE, "client_id": "dockyard"})
    assert again.status_code == 200
    bearer = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert httpx.get(f"{registry_token.url}/v2/", headers=bearer).status_code == 200
    bad = httpx.post(realm, data={"grant_type": "refresh_token", "refresh_token": "made-up", "service": TOKEN_SERVICE})
    assert bad.status_code == 401
    assert registry_token.token_requests == 3
