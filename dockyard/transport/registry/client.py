"""The Distribution API over HTTP: ping, manifests, blobs (HEAD, GET, mount, upload).

One `RegistryClient` per registry host. It picks the endpoint (HTTPS, or HTTP for insecure
registries), answers auth challenges through `Authenticator`, retries connection failures and 5xx
answers with backoff, resumes blob downloads with `Range` and blob uploads from the offset the
registry reports. Everything it returns is verified against its digest by the caller's sink or
here (manifests); nothing is trusted because a registry said so.
"""

from __future__ import annotations

import json
import threading
import time
from dockyard.dataclass import dataclass
from typing import BinaryIO, Callable, Iterator
from urllib.parse import urlencode, urljoin

from dockyard import __version__
from dockyard.digest import CHUNK, Digest, verify
from dockyard.errors import DigestMismatch, DockyardError, InvalidParameter, NotFound, Unauthorized, Unavailable
from dockyard.image import media
from dockyard.image.manifest import MAX_MANIFEST
from dockyard.transport.adapter import StreamedBlob
from dockyard.transport.registry.auth import Authenticator
from dockyard.transport.registry.challenge import scope_for
from dockyard.transport.registry.credentials import Credentials
from dockyard.transport.registry.errors import error_for
from dockyard.transport.registry.hosts import Endpoint, RegistrySettings
from dockyard.transport.registry.http import httpcore, httpx



MANIFEST_ACCEPT = ", ".join((media.OCI_INDEX, media.DOCKER_MANIFEST_LIST, media.OCI_MANIFEST,
                             media.DOCKER_MANIFEST))
MAX_CONFIG = 16 * 1024 * 1024
RETRIES = 5
BACKOFF = 0.25   # seconds, doubled per attempt
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_REDIRECTS = 10  # Go's http.Client's (net/http defaultCheckRedirect), dockerd's registry client's
READ_SIZE = 1 << 20  # bytes asked of the socket per read of a response (see RegistryClient._client)
# A blob body at least this large is read past h11 (_body): the copies it saves (~4 x its size)
# outweigh opening a connection for the next request
DIRECT_BODY = 16 << 20


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest as the registry sent it."""

    data: bytes          # the exact bytes; their sha256 is the digest
    media_type: str
    digest: Digest


class _Retryable(Exception):
    """A failure worth another attempt (connection trouble or a 5xx)."""

    def __init__(self, error: DockyardError) -> None:
        super().__init__(str(error))
        self.error = error


class RegistryClient:
    def __init__(self, host: str, settings: RegistrySettings, credentials: Credentials | None,
                 *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.host = host
        self.settings = settings
        self.credentials = credentials
        self.sleep = sleep
        self._endpoint: Endpoint | None = None
        self._http: httpx.Client | None = None
        self._auth: Authenticator | None = None
        self._pinging = threading.Lock()

    # -- connection ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self, ep: Endpoint) -> httpx.Client:
        # httpcore reads a response 64 KiB at a time (HTTP11Connection.READ_NUM_BYTES), each
        # piece through h11 and ~15 Python calls: the 500 MiB bench pull made ~5600 reads. Up
        # to 1 MiB a read (h11 takes whatever a read returns): 4 interleaved pulls each under
        # load, 5.84-6.31 s -> 4.95-5.65 s, CPU 2.81-2.87 -> 2.69-2.85 s.
        httpcore.HTTP11Connection.READ_NUM_BYTES = READ_SIZE
        return httpx.Client(verify=ep.verify, timeout=TIMEOUT, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                            headers={"User-Agent": f"dockyard/{__version__}"},
                            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))

    def ping(self) -> None:
        """`GET /v2/` on the first endpoint that speaks the API; learns the auth challenge. Once:
        a push's layer threads all start here (each pinged and made its own client before: three
        pings, two clients and their connections left behind)."""
        if self._http is not None:
            return
        with self._pinging:
            if self._http is None:
                self._ping()

    def _ping(self) -> None:
        last: Exception | None = None
        for ep in self.settings.endpoints(self.host):
            http = self._client(ep)
            try:
                resp = _once(lambda: self._send_raw(http, "GET", f"{ep.url}/v2/"))()
            except Unavailable as exc:
                http.close()
                last = exc
                continue
            if resp.status_code not in (200, 401):
                http.close()
                last = Unavailable(f"{ep.url}/v2/ answered {resp.status_code}: not a registry")
                continue
            auth = Authenticator(http, self.credentials)
            if resp.status_code == 401:
                auth.learn(resp.headers.get("www-authenticate", ""))
            self._endpoint, self._auth = ep, auth
            self._http = http  # last: `ping` reads it without the lock
            return
        raise Unavailable(str(last) if last else f"cannot reach registry {self.host}")

    def login(self) -> None:
        """Check the credentials the way `docker login` does: an authorized `GET /v2/`."""
        self.ping()
        auth = self._auth
        assert auth is not None and self._endpoint is not None
        if auth.challenge is None:
            return
        url = f"{self._endpoint.url}/v2/"
        resp = self._request("GET", url, ())
        if resp.status_code == 401:
            raise Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized")
        if resp.status_code != 200:
            raise error_for(resp.status_code, _capped(resp, 65536))

    # -- requests -----------------------------------------------------------------------------
    @staticmethod
    def _send_raw(http: httpx.Client, method: str, url: str, **kw: object) -> httpx.Response:
        try:
            resp = http.send(http.build_request(method, url, **kw), stream=True)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise _Retryable(Unavailable(f'{method.title()} "{url}": {_describe(exc, url)}')) from None
        except httpx.TooManyRedirects:
            # a registry redirecting in a loop: Go's client gives up after 10, as dockerd prints it
            raise Unavailable(f'{method.title()} "{url}": stopped after {MAX_REDIRECTS} redirects') from None
        if resp.status_code in (500, 502, 503, 504, 429):
            resp.close()
            raise _Retryable(Unavailable(f"{method} {url}: received unexpected HTTP status: {resp.status_code}"))
        return resp

    def _with_retries(self, attempt: Callable[[], httpx.Response]) -> httpx.Response:
        delay = BACKOFF
        for n in range(RETRIES):
            try:
                return attempt()
            except _Retryable as exc:
                if n == RETRIES - 1:
                    raise exc.error from None
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _request(self, method: str, url: str, scopes: tuple[str, ...], *,
                 headers: dict[str, str] | None = None, content: object = None,
                 retry: bool = True) -> httpx.Response:
        """One authorized request (streamed response); a 401 re-authorizes once."""
        self.ping()
        http, auth = self._http, self._auth
        assert http is not None and auth is not None

        def attempt() -> httpx.Response:
            hdrs = {**(headers or {}), **auth.headers(scopes)}
            return self._send_raw(http, method, url, headers=hdrs, content=content)

        run = (lambda: self._with_retries(attempt)) if retry else _once(attempt)
        resp = run()
        # A 401 is answered once, when its challenge can be; else it goes back to the caller
        # unread, whose error reads its body (a bounded read: it was read whole here first,
        # and the caller's read then failed with httpx's StreamConsumed traceback).
        if resp.status_code == 401 and auth.learn(resp.headers.get("www-authenticate", "")):
            _capped(resp, 65536)   # a short body read keeps the connection for the next try
            resp.close()
            auth.forget(scopes)
            resp = run()
        return resp

    def _url(self, path: str, **query: str) -> str:
        self.ping()
        assert self._endpoint is not None
        url = f"{self._endpoint.url}{path}"
        return f"{url}?{urlencode(query)}" if query else url

    # -- manifests ----------------------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str, *, familiar: str = "") -> FetchedManifest:
        """A manifest by tag or digest, read with a size cap and verified when asked by digest."""
        url = self._url(f"/v2/{repo}/manifests/{reference}")
        resp = self._request("GET", url, (scope_for(repo, ("pull",)),), headers={"Accept": MANIFEST_ACCEPT})
        try:
            if resp.status_code != 200:
                body = _capped(resp, 65536)
                if resp.status_code == 404 and b"MANIFEST_UNKNOWN" in body:
                    name = f"{familiar or repo}{'@' if reference.startswith('sha256:') else ':'}{reference}"
                    raise NotFound(f"manifest for {name} not found: manifest unknown: manifest unknown")
                raise error_for(resp.status_code, body, familiar=familiar or repo, pulling=True)
            data = _capped(resp, MAX_MANIFEST, "manifest")
        finally:
            resp.close()
        digest = Digest.of_bytes(data)
        if reference.startswith("sha256:"):
            verify(Digest.parse(reference), digest, "manifest")
        else:
            claimed = resp.headers.get("docker-content-digest")
            if claimed and claimed.startswith("sha256:") and Digest.parse(claimed) != digest:
                raise DigestMismatch(f"manifest digest mismatch: registry says {claimed}, content is {digest}")
        mt = resp.headers.get("content-type", "").split(";")[0].strip()
        return FetchedManifest(data, mt, digest)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> Digest:
        url = self._url(f"/v2/{repo}/manifests/{reference}")
        resp = self._request("PUT", url, _push_scopes(repo), headers={"Content-Type": media_type}, content=data)
        try:
            if resp.status_code not in (200, 201):
                raise error_for(resp.status_code, _capped(resp, 65536))
        finally:
            resp.close()
        digest = Digest.of_bytes(data)
        claimed = resp.headers.get("docker-content-digest")
        if claimed and claimed.startswith("sha256:") and Digest.parse(claimed) != digest:
            raise DigestMismatch(f"registry stored the manifest as {claimed}, expected {digest}")
        return digest

    def list_tags(self, repo: str) -> list[str]:
        """`GET /v2/<name>/tags/list`, following `Link` pages; capped like a manifest."""
        tags: list[str] = []
        url = self._url(f"/v2/{repo}/tags/list")
        for _ in range(1000):
            resp = self._request("GET", url, (scope_for(repo, ("pull",)),))
            try:
                if resp.status_code != 200:
                    raise error_for(resp.status_code, _capped(resp, 65536), familiar=repo, pulling=True)
                body = _capped(resp, MAX_MANIFEST, "tag list")
            finally:
                resp.close()
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise InvalidParameter("invalid tag list from the registry") from None
            tags += [t for t in page if isinstance(t, str)]
            link = resp.links.get("next", {}).get("url")
            if not link:
                break
            url = urljoin(str(resp.request.url), link)
        return tags

    # -- blobs --------------------------------------------------------------------------------
    def blob_size(self, repo: str, digest: Digest, *, push: bool = False) -> int | None:
        """`HEAD` a blob: its size, or None when the repository does not have it."""
        scopes = _push_scopes(repo) if push else (scope_for(repo, ("pull",)),)
        resp = self._request("HEAD", self._url(f"/v2/{repo}/blobs/{digest}"), scopes)
        resp.close()
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise error_for(resp.status_code, b"")
        try:
            return int(resp.headers.get("content-length", "-1"))
        except ValueError:
            return -1

    def read_small_blob(self, repo: str, digest: Digest, limit: int = MAX_CONFIG, *,
                        size: int | None = None) -> bytes:
        """A config blob: read whole (capped; at most `size` bytes when the manifest declares
        it) and verified."""
        chunks = []
        total = 0
        for chunk in self.iter_blob(repo, digest, size=size):
            total += len(chunk)
            if total > limit:
                raise InvalidParameter(f"blob {digest} too large: more than {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        verify(digest, Digest.of_bytes(data), "blob")
        return data

    def iter_blob(self, repo: str, digest: Digest, *, size: int | None = None,
                  familiar: str = "") -> Iterator[bytes]:
        """The blob's bytes as they arrive; a broken connection resumes with `Range`.

        `size`, the size a manifest declares (its descriptor's), is a limit: a registry that
        sends more (an endless body) is refused at the first byte over it, before that byte is
        handed on. The caller hashes what it receives (it must verify the digest at the end)."""
        url = self._url(f"/v2/{repo}/blobs/{digest}")
        scopes = (scope_for(repo, ("pull",)),)
        offset = 0
        delay = BACKOFF
        failures = 0
        while True:
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            resp = self._request("GET", url, scopes, headers=headers)
            try:
                if resp.status_code not in (200, 206):
                    raise error_for(resp.status_code, _capped(resp, 65536), familiar=familiar or repo, pulling=True)
                if offset and resp.status_code == 200:
                    raise Unavailable(f'Get "{url}": the registry ignored a Range request after a '
                                      "broken download; it cannot be resumed")
                for chunk in _body(resp):
                    offset += len(chunk)
                    if size is not None and offset > size:
                        raise DigestMismatch(f"blob {digest}: the registry sent more than the {size} "
                                             "bytes its manifest declares")
                    yield chunk
                return
            except httpx.TransportError as exc:
                failures += 1
                if failures >= RETRIES:
                    raise Unavailable(f'Get "{url}": {_describe(exc, url)}') from None
                self.sleep(delay)
                delay *= 2
            finally:
                resp.close()

    def mount_blob(self, repo: str, digest: Digest, source_repo: str) -> bool:
        """Cross-repository mount; False when the registry starts an upload instead."""
        url = self._url(f"/v2/{repo}/blobs/uploads/", mount=str(digest), **{"from": source_repo})
        scopes = _push_scopes(repo) + (scope_for(source_repo, ("pull",)),)
        resp = self._request("POST", url, scopes)
        resp.close()
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:
            self._cancel_upload(resp, repo)
            return False
        if resp.status_code in (401, 403, 404):
            return False
        raise error_for(resp.status_code, b"")

    def upload_blob(self, repo: str, digest: Digest, size: int,
                    open_at: Callable[[int], BinaryIO], *,
                    on_progress: Callable[[int], None] | None = None) -> None:
        """Bytes at hand (a file): POST a session, PATCH them (resuming from the offset the
        registry reports after a failure), PUT with the digest. `open_at(offset)` gives the
        content from `offset` on."""
        scopes = _push_scopes(repo)
        location = self._start_upload(repo)
        offset = 0
        delay = BACKOFF
        for attempt in range(RETRIES):
            try:
                with open_at(offset) as src:
                    location = self._patch(location, scopes, _read_chunks(src), offset,
                                           size=size, on_progress=on_progress)
                break
            except _Retryable as exc:
                if attempt == RETRIES - 1:
                    raise exc.error from None
                self.sleep(delay)
                delay *= 2
                location, offset = self._resume_point(repo, location, scopes)
        self._finish_upload(location, digest, scopes)

    def upload_stream(self, repo: str, start: Callable[[], StreamedBlob], *,
                      on_progress: Callable[[int], None] | None = None) -> StreamedBlob:
        """Bytes made while they are sent (their digest is known only at the end): POST, one
        chunked PATCH, PUT with the digest. A failed attempt starts over with a fresh stream from
        `start()`; the finished stream is returned (digest, size). The stream starts before the
        POST: its first bytes are made during the POST's round trip (a slot's idle time between
        two layers of a push, behind the registry's answer)."""
        scopes = _push_scopes(repo)
        delay = BACKOFF
        for attempt in range(RETRIES):
            blob = start()
            try:
                location = self._start_upload(repo)  # retried inside; a registry still down ends here
                location = self._patch(location, scopes, blob.chunks(), 0, on_progress=on_progress)
            except _Retryable as exc:
                blob.cancel()
                if attempt == RETRIES - 1:
                    raise exc.error from None
                self.sleep(delay)
                delay *= 2
                continue
            except BaseException:
                blob.cancel()
                raise
            self._finish_upload(location, blob.digest, scopes)
            return blob
        raise AssertionError("unreachable")

    def _patch(self, location: str, scopes: tuple[str, ...], chunks: Iterator[bytes], offset: int, *,
               size: int | None = None, on_progress: Callable[[int], None] | None = None) -> str:
        """One PATCH of `chunks` (from `offset`; chunked when `size` is unknown); returns the
        session's next Location. A refused token is dropped, and the attempt is retryable."""
        http, auth = self._http, self._auth
        assert http is not None and auth is not None

        def body() -> Iterator[bytes]:
            sent = offset
            for chunk in chunks:
                sent += len(chunk)
                yield chunk
                if on_progress:
                    on_progress(sent)

        headers = {"Content-Type": "application/octet-stream", **auth.headers(scopes)}
        if size is not None:
            headers["Content-Length"] = str(size - offset)
            if offset:
                headers["Content-Range"] = f"{offset}-{size - 1}"
        resp = self._send_raw(http, "PATCH", location, headers=headers, content=body())
        resp.close()
        if resp.status_code == 401:
            auth.learn(resp.headers.get("www-authenticate", ""))
            auth.forget(scopes)
            raise _Retryable(error_for(401, b""))
        if resp.status_code != 202:
            raise error_for(resp.status_code, b"")
        return self._location(resp)

    def _finish_upload(self, location: str, digest: Digest, scopes: tuple[str, ...]) -> None:
        resp = self._request("PUT", _with_query(location, digest=str(digest)), scopes,
                             headers={"Content-Length": "0"})
        resp.close()
        if resp.status_code != 201:
            raise error_for(resp.status_code, b"")

    def _start_upload(self, repo: str) -> str:
        url = self._url(f"/v2/{repo}/blobs/uploads/")
        resp = self._request("POST", url, _push_scopes(repo))
        try:
            if resp.status_code != 202:
                raise error_for(resp.status_code, _capped(resp, 65536))
        finally:
            resp.close()
        return self._location(resp)

    def _location(self, resp: httpx.Response) -> str:
        loc = resp.headers.get("location")
        if not loc:
            raise Unavailable("registry started an upload without a Location")
        return urljoin(str(resp.request.url), loc)

    def _resume_point(self, repo: str, location: str, scopes: tuple[str, ...]) -> tuple[str, int]:
        """Where an interrupted upload stands; a session the registry forgot starts over."""
        try:
            resp = self._request("GET", location, scopes)
            resp.close()
        except Unavailable:
            return location, 0
        if resp.status_code == 204:
            rng = resp.headers.get("range", "")
            try:
                end = int(rng.split("-")[1])
                return self._location(resp), end + 1
            except (IndexError, ValueError):
                pass
        return self._start_upload(repo), 0

    def _cancel_upload(self, resp: httpx.Response, repo: str) -> None:
        try:
            r = self._request("DELETE", self._location(resp), _push_scopes(repo), retry=False)
            r.close()
        except DockyardError:
            pass


def _once(attempt: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    def run() -> httpx.Response:
        try:
            return attempt()
        except _Retryable as exc:
            raise exc.error from None
    return run


def _body(resp: httpx.Response) -> Iterator[bytes]:
    """A blob response's body. A large one (a Content-Length of DIRECT_BODY or more, over
    HTTP/1.1): the first piece comes through h11 (whatever it read with the head: that drains its
    buffer) and the rest straight from the connection's stream (httpcore's `network_stream`
    extension), READ_SIZE a read: h11 copied every byte three times (into its buffer, out twice)
    and httpcore once more. That connection is not reused (h11 did not see the body end: closing
    the response closes it), so a small blob keeps the plain way and its connection."""
    length = resp.headers.get("content-length", "")
    stream = resp.extensions.get("network_stream")
    if (stream is None or resp.http_version != "HTTP/1.1" or not length.isdigit()
            or int(length) < DIRECT_BODY or "transfer-encoding" in resp.headers):
        yield from resp.iter_raw()
        return
    remaining = int(length)
    raw = resp.iter_raw()
    first = next(raw, b"")
    if first:
        yield first
    remaining -= len(first)
    while remaining > 0:
        try:
            data = stream.read(min(READ_SIZE, remaining), timeout=TIMEOUT.read)
        except (httpcore.NetworkError, httpcore.TimeoutException) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        if not data:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        remaining -= len(data)
        yield data


def _read_chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(CHUNK):
        yield chunk


def _push_scopes(repo: str) -> tuple[str, ...]:
    return (scope_for(repo, ("pull", "push")),)


def _with_query(url: str, **query: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(query)


def _capped(resp: httpx.Response, limit: int, what: str = "") -> bytes:
    buf = bytearray()
    for chunk in resp.iter_raw():
        buf += chunk
        if len(buf) > limit:
            if what:
                raise InvalidParameter(f"{what} too large: more than {limit} bytes")
            break
    return bytes(buf[:limit])


def _describe(exc: Exception, url: str = "") -> str:
    """Go's wording for the common failures, as Docker prints them."""
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if "Name or service not known" in text or "No address associated" in text:
        return f"dial tcp: lookup {httpx.URL(url).host if url else ''}: no such host"
    if "Connection refused" in text:
        host = httpx.URL(url).netloc.decode() if url else ""
        return f"dial tcp {host}: connect: connection refused"
    return text
