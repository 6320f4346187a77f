"""The real CNCF registry (Debian's `docker-registry` 2.8, `docker-registry serve CONFIG.yml`) for
tests and benchmarks, on 127.0.0.1 at a free port, in one of four modes:

- plain HTTP, no auth;
- htpasswd Basic auth (bcrypt entry made by `htpasswd -Bbn`, apache2-utils);
- TLS, with a server certificate (SANs: IP 127.0.0.1, DNS localhost) signed by a CA made here with
  the openssl CLI (`RegistryServer.ca_cert`);
- Bearer tokens from a small token server (`TokenServer`, below) whose signing certificate is the
  registry's `auth: token: rootcertbundle`.

The registry is killable (SIGKILL) and restartable on the same port, storage, certificates and
token server, so "killed mid-push, then restarted" can be tested. Its access log (stdout) goes to
`access.log` and is parsed by `requests()`; its application log (stderr) goes to `registry.log`.

Token server policy (distribution's token spec, as Docker Hub behaves for a public repository):
- right Basic credentials: every requested action is granted (pull, push, delete, *);
- no credentials: anonymous, only `pull` is granted (the token is still issued, maybe with no
  access; the registry then answers 401 `insufficient_scope` for a push);
- wrong credentials: 401 from the token server, no token.
Note the registry accepts a token up to 60 s after its `exp` (distribution's clock-skew leeway),
so a short `token_ttl` tests the *client's* refresh (count `token_requests`), not a registry refusal;
to have the registry refuse a token, set `server.tokens.expired_first = N`: the next N tokens are
issued an hour in the past. The token server also takes the OAuth2 `POST /token` form
(grant_type=password or refresh_token; a refresh_token is given with access_type=offline, or with
offline_token=true on GET), as the docker daemon uses with identity tokens.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# gorilla/handlers' combined log format, which distribution writes for every request on stdout:
# 127.0.0.1 - - [28/Nov/2026:22:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "python-httpx/0.28.1"
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')

_PROBE_AGENT = "dockyard-registryd-probe"  # start()'s readiness probes; requests() leaves them out

TOKEN_SERVICE = "dockyard-test-registry"
TOKEN_ISSUER = "dockyard-test-token-issuer"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=input, check=True, capture_output=True).stdout


def make_ca_and_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for IP 127.0.0.1 and DNS localhost.
    Returns (ca.crt, server.crt, server.key), all PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
             "-days", "2", "-subj", "/CN=dockyard test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", "/CN=127.0.0.1")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return ca, crt, key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Scope:
    """One `type:name:actions` scope of a token request (`repository:dy/bb:pull,push`)."""
    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Scope":
        # The name may hold a ':' (never in practice for repositories); type and actions can't.
        type_, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not type_ or not name:
            raise ValueError(f"bad scope {text!r}")
        return cls(type_, name, tuple(a for a in actions.split(",") if a))


@dataclass(frozen=True)
class TokenRequest:
    """What the token server was asked and what it answered (for assertions in tests)."""
    method: str                       # GET, or POST (OAuth2 form)
    user: str | None                  # None: anonymous
    service: str
    scopes: tuple[Scope, ...]         # as requested
    granted: tuple[Scope, ...]        # as put in the token's `access` claim
    status: int                       # 200, 400 or 401


@dataclass
class TokenSigner:
    """Makes RS256 JWTs the way distribution's token auth verifies them: header {typ, alg, x5c},
    x5c[0] the base64 (standard, padded) DER of a certificate in the registry's rootcertbundle,
    signature PKCS#1 v1.5 SHA-256 (openssl dgst -sha256 -sign) over `b64url(header).b64url(claims)`."""
    key: Path
    cert: Path
    issuer: str = TOKEN_ISSUER

    @classmethod
    def create(cls, folder: Path) -> "TokenSigner":
        folder.mkdir(parents=True, exist_ok=True)
        key, cert = folder / "token.key", folder / "token.crt"
        if not (key.exists() and cert.exists()):
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                     "-days", "2", "-subj", "/CN=dockyard test token signer")
        return cls(key, cert)

    def x5c(self) -> str:
        return base64.b64encode(ssl.PEM_cert_to_DER_cert(self.cert.read_text())).decode()

    def sign(self, subject: str, audience: str, access: list[Scope], ttl: int, now: float | None = None) -> str:
        """A JWT valid from `now` (default: the current time) for `ttl` seconds."""
        now = int(time.time() if now is None else now)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": audience, "exp": now + ttl, "nbf": now - 1,
                  "iat": now, "jti": secrets.token_hex(16),
                  "access": [{"type": s.type, "name": s.name, "actions": list(s.actions)} for s in access]}
        signing_input = ".".join(_b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims))
        signature = _openssl("dgst", "-sha256", "-sign", str(self.key), input=signing_input.encode())
        return f"{signing_input}.{_b64url(signature)}"


class _TokenHandler(BaseHTTPRequestHandler):
    server: "_TokenHTTPServer"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
            return
        q = parse_qs(url.query)
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
        self._answer("GET", self._basic(), q.get("service", [""])[0], scopes,
                     offline=q.get("offline_token", [""])[0] == "true")

    def do_POST(self) -> None:  # noqa: N802
        """OAuth2 form (the docker daemon uses it with an identity token): grant_type=password
        with username/password, or grant_type=refresh_token with a refresh_token this server made."""
        if urlsplit(self.path).path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(errors="replace"))
        get = lambda k: form.get(k, [""])[0]  # noqa: E731
        scopes = [s for s in get("scope").split(" ") if s]
        if get("grant_type") == "password":
            creds: tuple[str, str] | None = (get("username"), get("password"))
        elif get("grant_type") == "refresh_token":
            user = self.server.owner.refresh_tokens.get(get("refresh_token"))
            creds = (user, self.server.owner.password) if user else ("", "")
        else:
            self._send(400, {"error": "unsupported_grant_type"})
            return
        self._answer("POST", creds, get("service"), scopes, offline=get("access_type") == "offline")

    def _basic(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
        return (user, password)

    def _answer(self, method: str, creds: tuple[str, str] | None, service: str, raw_scopes: list[str],
                offline: bool) -> None:
        owner = self.server.owner
        try:
            scopes = tuple(Scope.parse(s) for s in raw_scopes)
        except ValueError as e:
            owner.record(TokenRequest(method, creds[0] if creds else None, service, (), (), 400))
            self._send(400, {"errors": [{"code": "INVALID_REQUEST", "message": str(e)}]})
            return
        if creds is not None and creds != (owner.user, owner.password):
            owner.record(TokenRequest(method, creds[0], service, scopes, (), 401))
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]},
                       {"WWW-Authenticate": 'Basic realm="dockyard-test-token"'})
            return
        user = creds[0] if creds else None
        granted = tuple(s if user else Scope(s.type, s.name, tuple(a for a in s.actions if a == "pull"))
                        for s in scopes)
        granted = tuple(s for s in granted if s.actions)
        token = owner.signer.sign(user or "", service, list(granted), owner.ttl,
                                  now=time.time() - 3600 if owner.take_expired() else None)
        owner.record(TokenRequest(method, user, service, scopes, granted, 200))
        body: dict[str, object] = {"token": token, "access_token": token, "expires_in": owner.ttl,
                                   "issued_at": _rfc3339(time.time())}
        if offline and user:
            refresh = secrets.token_urlsafe(24)
            owner.refresh_tokens[refresh] = user
            body["refresh_token"] = refresh
        if method == "POST":
            body["scope"] = " ".join(raw_scopes)
        self._send(200, body)

    def _send(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _TokenHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: "TokenServer"


@dataclass
class TokenServer:
    """The realm of a token-auth registry: `GET /token?service=S&scope=repository:NAME:pull,push`
    (Basic auth optional) and the OAuth2 `POST /token` form, on 127.0.0.1 in a thread."""
    signer: TokenSigner
    user: str
    password: str
    ttl: int = 300
    port: int = field(default_factory=free_port)
    expired_first: int = 0   # that many next tokens are issued already expired (past the registry's 60 s leeway)
    log: list[TokenRequest] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _httpd: _TokenHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def token_requests(self) -> int:
        """How many times a token was asked for (any answer, GET or POST)."""
        with self._lock:
            return len(self.log)

    def record(self, request: TokenRequest) -> None:
        with self._lock:
            self.log.append(request)

    def take_expired(self) -> bool:
        """Whether the token being made now must be an expired one (see `expired_first`)."""
        with self._lock:
            if self.expired_first > 0:
                self.expired_first -= 1
                return True
            return False

    def start(self) -> None:
        if self._httpd is not None:
            return
        httpd = _TokenHTTPServer(("127.0.0.1", self.port), _TokenHandler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name=f"token-server-{self.port}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._httpd = self._thread = None


@dataclass
class RegistryServer:
    root: Path                                  # config, storage (root/data), certs, logs live here
    port: int = field(default_factory=free_port)
    tls: bool = False
    htpasswd: tuple[str, str] | None = None     # Basic auth (user, password)
    # Bearer auth through a TokenServer: True (user "alice", password "s3cret-pw") or (user, password)
    token: bool | tuple[str, str] = False
    token_ttl: int = 300
    proc: subprocess.Popen | None = field(default=None, init=False, repr=False)
    token_server: TokenServer | None = field(default=None, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.token and self.htpasswd:
            raise ValueError("the registry has one auth method: htpasswd or token, not both")

    @property
    def token_user(self) -> tuple[str, str]:
        """The one account of the token server."""
        return self.token if isinstance(self.token, tuple) else ("alice", "s3cret-pw")

    @property
    def tokens(self) -> TokenServer:
        """The token server (token mode, after the first start)."""
        if self.token_server is None:
            raise RuntimeError("no token server: not a token registry, or not started yet")
        return self.token_server

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_cert(self) -> Path | None:
        """PEM of the CA that signed the server certificate (TLS only; made by the first start)."""
        return self.root / "certs" / "ca.crt" if self.tls else None

    @property
    def storage(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The registry's application log (stderr)."""
        return self.root / "registry.log"

    @property
    def access_log(self) -> Path:
        """The registry's access log (stdout), one combined-format line per request."""
        return self.root / "access.log"

    @property
    def token_requests(self) -> int:
        """How many times the token server was asked for a token (any answer)."""
        return self.token_server.token_requests if self.token_server else 0

    @property
    def token_realm(self) -> str | None:
        return self.token_server.realm if self.token_server else None

    def _config(self) -> Path:
        lines = ["version: 0.1",
                 "log:", "  level: info", "  formatter: text", "  accesslog:", "    disabled: false",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.storage}",
                 "  delete:", "    enabled: true", "  redirect:", "    disable: true",
                 "  maintenance:", "    uploadpurging:", "      enabled: false",
                 "health:", "  storagedriver:", "    enabled: false",
                 "http:", f"  addr: {self.host}", "  secret: dockyard-test-secret"]  # http: stays last (tls below)
        if self.tls:
            certs = self.root / "certs"
            if not (certs / "server.crt").exists():
                make_ca_and_cert(certs)
            lines += ["  tls:", f"    certificate: {certs / 'server.crt'}", f"    key: {certs / 'server.key'}"]
        if self.htpasswd:
            user, password = self.htpasswd
            hp = self.root / "htpasswd"
            hp.write_bytes(subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                          capture_output=True).stdout)
            lines += ["auth:", "  htpasswd:", "    realm: dockyard-test", f"    path: {hp}"]
        if self.token:
            assert self.token_server is not None
            lines += ["auth:", "  token:", f"    realm: {self.token_server.realm}", f"    service: {TOKEN_SERVICE}",
                      f"    issuer: {self.token_server.signer.issuer}",
                      f"    rootcertbundle: {self.token_server.signer.cert}"]
        config = self.root / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> "RegistryServer":
        """Start (or restart, same port and storage) and wait until GET /v2/ answers 200 or 401.
        On the first start only, a port taken meanwhile by someone else is traded for a free one."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the registry is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        if self.token:
            if self.token_server is None:
                user, password = self.token_user
                self.token_server = TokenServer(TokenSigner.create(self.root / "token"), user, password,
                                                self.token_ttl)
            self.token_server.start()
        for attempt in range(3):
            if self._spawn():
                self._started = True
                return self
            log = self._new_log()
            if self._started or attempt == 2 or "address already in use" not in log:
                raise AssertionError(f"docker-registry did not start on {self.host}: {log[-2000:]}")
            self.port = free_port()
        raise AssertionError("unreachable")

    def _new_log(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def _spawn(self) -> bool:
        """Run the registry; True once it listens (its log says so: another process on the port
        can't fool the probe) and GET /v2/ answers 200 or 401; False if it died or hung (killed)."""
        config = self._config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.access_log, "ab") as out, open(self.log, "ab") as err:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 20
        while True:
            if "listening on" in self._new_log() and self._probe() in (200, 401):
                return True
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                return False
            time.sleep(0.02)

    def _probe(self) -> int | None:
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=2,
                                                                           context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/v2/", headers={"User-Agent": _PROBE_AGENT})
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL the registry and wait (the token server, if any, keeps running)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM the registry and wait; stop the token server."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.token_server:
            self.token_server.stop()

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request served so far (over restarts), from the access
        log, oldest first; the path is without its query string; start()'s probes are left out."""
        out = []
        if not self.access_log.exists():
            return out
        for line in self.access_log.read_text(errors="replace").splitlines():
            m = _ACCESS.search(line)
            if m and not line.endswith(f'"{_PROBE_AGENT}"'):
                out.append((m.group(1), m.group(2).partition("?")[0], int(m.group(3))))
        return out

    def blob_count(self) -> int:
        """Blobs held in the storage (the registry deletes a blob's data only by garbage collection,
        so a deleted blob still counts)."""
        blobs = self.storage / "docker" / "registry" / "v2" / "blobs"
        return sum(1 for _ in blobs.glob("*/*/*/data")) if blobs.is_dir() else 0

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def env_without_proxy() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
