"""A token server for the registry's Bearer auth (Docker's token spec): GET /token with Basic
credentials answers a JWT (RS256, the signing certificate in its `x5c` header) granting what the
scope asks. Anonymous requests are refused. Signing uses the `openssl` command."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ISSUER = "dockyard-test-issuer"
SERVICE = "dockyard-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_signing_cert(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    key, crt = folder / "token.key", folder / "token.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=dockyard token signer"],
                   check=True, capture_output=True)
    return key, crt


@dataclass
class TokenServer:
    folder: Path
    user: str
    password: str
    ttl: int = 300
    expired_first: int = 0   # that many first tokens are issued already expired (past the registry's 60 s leeway)
    token_requests: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.key, self.cert = make_signing_cert(self.folder)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def start(self) -> "TokenServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.token_requests += 1
                expected = "Basic " + base64.b64encode(f"{owner.user}:{owner.password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                                   "message": "incorrect username or password"}]}).encode()
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                query = parse_qs(urlparse(self.path).query)
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                if owner.expired_first > 0:
                    owner.expired_first -= 1
                    now -= 3600
                token = owner.sign({"iss": ISSUER, "sub": owner.user, "aud": query.get("service", [""])[0],
                                    "exp": now + owner.ttl, "nbf": now - 5, "iat": now,
                                    "jti": secrets.token_hex(8), "access": access})
                body = json.dumps({"token": token, "access_token": token, "expires_in": owner.ttl,
                                   "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def registry_config(self) -> list[str]:
        return ["auth:", "  token:", f"    realm: {self.realm}", f"    service: {SERVICE}",
                f"    issuer: {ISSUER}", f"    rootcertbundle: {self.cert}"]
