"""A user's URL (import, a build context, ADD <url>) follows redirects as dockerd's Go client
does (dockyard/urls.py). Against a server on 127.0.0.1 that redirects to itself, or to ftp://:
dockerd 20.10's `docker import http://127.0.0.1:PORT/x.tar u:1` gives `Error response from
daemon: Get "/x.tar": stopped after 10 redirects` and, for the redirect to ftp://127.0.0.1/x,
`Get "ftp://127.0.0.1/x": unsupported protocol scheme "ftp"`. urllib alone printed a three-line
error for the loop (after its own 4 repeats) and followed the redirect to FTP."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from dockyard.urls import URLRefused, open_url
from tests.conftest import Dockyard


class _Redirecting(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.location = ""    # "" : to the request's own path
        self.requests = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Redirecting

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.requests += 1
        self.send_response(302)
        self.send_header("Location", self.server.location or self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[_Redirecting]:
    made = _Redirecting()
    threading.Thread(target=made.serve_forever, daemon=True).start()
    try:
        yield made
    finally:
        made.shutdown()
        made.server_close()


def test_a_redirect_loop_stops_after_10(server: _Redirecting) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/x.tar"
    with pytest.raises(URLRefused) as caught:
        open_url(url)
    assert str(caught.value) == f'Get "{url}": stopped after 10 redirects'
    assert server.requests == 11   # the request and 10 redirects, as Go's client makes


def test_no_redirect_to_ftp(server: _Redirecting) -> None:
    ftp = socket.socket()
    ftp.bind(("127.0.0.1", 0))
    ftp.listen(1)
    ftp.settimeout(0.2)
    try:
        server.location = f"ftp://127.0.0.1:{ftp.getsockname()[1]}/x"
        with pytest.raises(URLRefused, match=f'^Get "{server.location}": unsupported protocol scheme "ftp"$'):
            open_url(f"http://127.0.0.1:{server.server_address[1]}/x.tar")
        with pytest.raises(socket.timeout):
            ftp.accept()   # nothing was sent on to the FTP port
    finally:
        ftp.close()


def test_import_of_a_looping_url_is_one_error_line(dockyard: Dockyard, server: _Redirecting) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/x.tar"
    r = dockyard("import", url, "u:1", check=False)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f'Error: error downloading {url}: Get "{url}": stopped after 10 redirects']
