"""A user's URL fetched as dockerd fetches one (Go's http.Get): `import URL`, a build context
URL, `ADD <url>`. The one place they open a URL, so that each follows redirects by Go's rules:
at most 10 (`Get "URL": stopped after 10 redirects`), and only to http or https (`unsupported
protocol scheme "ftp"`). urllib alone followed a redirect to ftp:// (a server could send the
request on to an FTP host of the local network), and its loop error was three lines long.
urllib.request is imported on the first call only (see tests/test_start_up.py)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import BinaryIO

MAX_REDIRECTS = 10  # Go's net/http defaultCheckRedirect


class URLRefused(OSError):
    """A redirect Go's client would not follow; `str()` is the whole one-line message."""

    def __str__(self) -> str:
        return str(self.args[0])


_OPENER = None


def open_url(url: str, timeout: float = 60) -> BinaryIO:
    """The response to a GET of `url` (http or https), redirects followed as Go's client does;
    URLRefused when there is none, worded as dockerd's GetWithStatusError words it: Go's
    `Get "URL": dial tcp 127.0.0.1:9: connect: connection refused`, or `failed to GET URL with
    status 404 Not Found` (dockerd appends the body: not here, it is a page of HTML)."""
    global _OPENER
    if _OPENER is None:
        _OPENER = _make_opener()
    import urllib.error

    try:
        return _OPENER.open(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise URLRefused(f"failed to GET {url} with status {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise URLRefused(f'Get "{url}": {_dial_error(url, exc.reason)}') from None
    except TimeoutError:
        raise URLRefused(f'Get "{url}": net/http: timeout awaiting response headers') from None


def _dial_error(url: str, reason: object) -> str:
    """Go's words for a connection that failed (its resolver's address left out)."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    address = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if isinstance(reason, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(reason, ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(reason, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    if isinstance(reason, OSError) and reason.strerror:
        return f"dial tcp {address}: connect: {reason.strerror.lower()}"
    return str(reason)


def _make_opener():  # noqa: ANN202 - urllib.request's OpenerDirector
    import urllib.parse
    import urllib.request

    class Redirects(urllib.request.HTTPRedirectHandler):
        max_repeats = max_redirections = MAX_REDIRECTS + 1   # ours refuses first, in one line

        def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN202, PLR0913
            scheme = urllib.parse.urlsplit(newurl).scheme
            if scheme not in ("http", "https"):
                raise URLRefused(f'Get "{newurl}": unsupported protocol scheme "{scheme}"')
            if sum(getattr(req, "redirect_dict", {}).values()) >= MAX_REDIRECTS:
                raise URLRefused(f'Get "{newurl}": stopped after {MAX_REDIRECTS} redirects')
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(Redirects)
