"""Malformed requests get Docker's JSON errors with 4xx codes, and the server keeps serving;
a client that leaves mid-build cancels the build cleanly; SIGTERM stops the server cleanly; running
out of descriptors does not stop it accepting; connections are capped."""

from __future__ import annotations

import io
import base64
import json
import os
import shutil
import socket
import stat
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from dockyard.chunked import ChunkedDecoder
from tests.api.conftest import Server


def _split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def _request(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


_JSON = "Content-Type: application/json\r\n"   # a JSON body's (dockerd checks it: check_json_body)


def _error(server: Server, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, str]:
    status, hdrs, payload = _split(server.raw(_request(method, path, body, headers)))
    assert hdrs["content-type"] == "application/json"
    return status, json.loads(payload)["message"]


def _ping(server: Server) -> None:
    status, headers, body = _split(server.raw(_request("GET", "/_ping")))
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.47" and headers["builder-version"] == "1"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_socket_mode_and_version_errors(server: Server) -> None:
    assert stat.S_IMODE(os.stat(server.socket).st_mode) == 0o660
    # Docker: a too-new version is 400 with this message; unknown paths are 404 "page not found".
    assert _error(server, "GET", "/v1.99/version") == (
        400, "client version 1.99 is too new. Maximum supported API version is 1.47")
    assert _error(server, "GET", "/v1.12/version")[0] == 400
    assert _error(server, "GET", "/v1.41/nothing") == (404, "page not found")
    assert _error(server, "PUT", "/v1.41/version")[0] == 405
    _ping(server)


def test_bad_json_and_unknown_parameters(server: Server, busybox: str) -> None:
    status, message = _error(server, "POST", "/v1.47/containers/create", b"{not json", _JSON)
    assert status == 400 and message.startswith("invalid JSON")
    assert _error(server, "POST", "/v1.47/containers/create", b"[1, 2]", _JSON)[0] == 400
    assert _error(server, "POST", "/v1.47/containers/create", b'{"Image": "busybox", "Cmd": 5}', _JSON)[0] == 400
    assert _error(server, "GET", "/v1.47/images/json?bogus=1") == (400, "unknown query parameter: bogus")
    assert _error(server, "GET", "/v1.47/images/json?filters=%7Bnope")[0] == 400
    assert _error(server, "POST", "/v1.47/build?buildargs=%5B1%5D", _tar({"Dockerfile": b"FROM busybox\n"}))[0] == 400
    assert _error(server, "POST", "/v1.47/build?t=Bad%20Name", _tar({"Dockerfile": b"FROM busybox\n"}))[0] == 400
    # Docker's status codes: 404 no such image/container, 409 conflict.
    assert _error(server, "GET", "/v1.47/images/nope/json") == (404, "No such image: nope:latest")
    assert _error(server, "POST", "/v1.47/containers/nope/start")[0] == 404
    status, _, body = _split(server.raw(_request("POST", "/v1.47/containers/create?name=dup",
                                                 b'{"Image": "busybox", "Cmd": ["true"]}', _JSON)))
    assert status == 201 and len(json.loads(body)["Id"]) == 64
    status, message = _error(server, "POST", "/v1.47/containers/create?name=dup",
                              b'{"Image": "busybox", "Cmd": ["true"]}', _JSON)
    assert status == 409 and "already in use" in message
    _ping(server)


def test_json_nested_past_the_parsers_depth(server: Server) -> None:
    """JSON nested deeper than the parser goes (in a body, a filters parameter, an auth header) is
    a 400 like any bad JSON; it was a 500 (internal error: RecursionError)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    status, message = _error(server, "POST", "/v1.47/containers/create",
                             b'{"Image": "busybox", "Env": ' + deep + b"}", _JSON)
    assert status == 400 and message.startswith("invalid JSON")
    assert _error(server, "POST", "/v1.47/networks/create", deep, _JSON)[0] == 400
    assert _error(server, "GET", "/v1.47/containers/json?filters=" + "%5B" * 3000 + "%5D" * 3000)[0] == 400
    auth = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
    assert _error(server, "POST", "/v1.47/images/create?fromImage=127.0.0.1:1/x",
                  headers=f"X-Registry-Auth: {auth}\r\n") == (400, "invalid X-Registry-Auth header")
    _ping(server)


def test_malformed_http(server: Server) -> None:
    status, _, _ = _split(server.raw(b"NOT A REQUEST\r\n\r\n"))
    assert status == 400
    _ping(server)


_CHUNKED = ("POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: {type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")


def _messages(answer: tuple[int, dict[str, str], bytes]) -> list[dict]:
    """The JSON messages of an answer's body, a streamed (chunked) one too."""
    _, headers, body = answer
    if headers.get("transfer-encoding") == "chunked":
        body = ChunkedDecoder().feed(body)
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("path", ["/v1.41/containers/create", "/v1.41/images/load"])
def test_a_broken_chunked_body_is_answered_as_dockerd_does(server: Server, dockerd, path: str) -> None:  # noqa: ANN001
    """The same broken chunked bodies sent to dockerd 20.10 and to serve: dockerd's handler gets
    Go's net/http error from its read of the body and answers it as an unclassified error, 500
    with Go's words ("invalid byte in chunk length" for a size Python's int(text, 16) took:
    '+5', '1_0', '0x5', ' 5', '-0'); a load has answered 200 already and says it in its JSON
    stream. serve said 400 "invalid chunk size: b'+13'" to both."""
    body = b'{"Image":"busybox"}'
    # (Not compared: a framing error after the data, "13\r\n{...}XX". dockerd's create decodes
    # the JSON object and reads no further; its load's tar process reports the pipe's EOF.)
    for case in [b"+13", b"0x13", b" 13", b"1_3", b"zz", b"-0", b"0" * 17 + b"13"]:
        payload = case + b"\r\n" + body
        kind = "application/x-tar" if path.endswith("load") else "application/json"
        request = _CHUNKED.format(path=path, type=kind).encode() + payload + b"\r\n0\r\n\r\n"
        ref = _split(_raw(dockerd.sock, request))
        got = _split(server.raw(request))
        assert (got[0], _messages(got)) == (ref[0], _messages(ref)), case
    _ping(server)


def _raw(sock: Path, request: bytes) -> bytes:
    """`request` sent to the unix socket `sock`, the answer read until the server closes."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(sock))
        s.sendall(request)
        out = b""
        while data := s.recv(65536):
            out += data
        return out


def test_keep_alive_pipelined_and_chunked(server: Server) -> None:
    """Two requests on one connection, the first with a chunked body (as the docker CLI sends
    build contexts and loads)."""
    body = b"FROM busybox\n"
    first = (b"POST /v1.47/images/load HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
             + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    second = b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
    out = server.raw(first + second)
    assert out.startswith(b"HTTP/1.1 200 ")  # not an image archive: said in the JSON stream
    assert b'"error":' in out
    assert out.count(b"HTTP/1.1 ") == 2 and out.endswith(b"\r\n\r\nOK")


def test_build_context_not_a_tar(server: Server, busybox: str) -> None:
    # A body that is not a tar is a lone Dockerfile (as Docker reads it): garbage fails to parse.
    status, message = _error(server, "POST", "/v1.47/build", b"\x00\x01garbage\xff" * 10)
    assert status == 400, message
    truncated = _tar({"Dockerfile": b"FROM busybox\n", "big": b"x" * 100_000})[:20_000]
    assert _error(server, "POST", "/v1.47/build", truncated)[0] == 400
    _ping(server)


def test_client_leaves_mid_build(server: Server, busybox: str, store_root) -> None:  # noqa: ANN001
    context = _tar({"Dockerfile": b"FROM busybox\nRUN echo one; sleep 1; echo two\nRUN echo three\n"})
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(server.socket))
        s.sendall(_request("POST", "/v1.47/build?t=left", context))
        seen = b""
        while b"Running in" not in seen:  # leave while the first RUN is running
            data = s.recv(65536)
            assert data, seen
            seen += data
        assert seen.startswith(b"HTTP/1.1 200")
    # The server notices at its next write, stops the build and removes the RUN container.
    containers = store_root / "containers"

    def running_steps() -> int:
        return len(list(containers.glob("*/container.json")))

    deadline = time.monotonic() + 20
    while running_steps() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_steps() == 0
    assert _error(server, "GET", "/v1.47/images/left/json")[0] == 404
    _ping(server)


def test_followers_end_when_their_client_leaves(server: Server, busybox: str, store_root) -> None:  # noqa: ANN001
    """`logs -f` and `wait` of a container that stays quiet, and events, end when their client
    leaves, not at the container's next write or exit: each left a thread, its socket and the
    log or wait.lock open in serve (ctrl-c on `docker logs -f` of a quiet container, again and
    again)."""
    status, _, body = _split(server.raw(_request(
        "POST", "/v1.47/containers/create?name=quiet", json.dumps(
            {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}).encode(),
        "Content-Type: application/json\r\n")))
    assert status == 201, body
    assert _split(server.raw(_request("POST", "/v1.47/containers/quiet/start")))[0] == 204
    cdir = store_root / "containers" / json.loads(body)["Id"]

    def held() -> list[str]:   # what serve has open in the container's folder
        targets = []
        for fd in Path(f"/proc/{server.proc.pid}/fd").iterdir():
            try:
                targets.append(os.readlink(fd))
            except FileNotFoundError:
                continue   # closed meanwhile
        return [t for t in targets if str(cdir) in t]

    try:
        before = len(held())
        clients = []
        for path in ["/v1.47/containers/quiet/logs?follow=1&stdout=1"] * 3 + ["/v1.47/events"]:
            clients.append(socket.socket(socket.AF_UNIX))
            clients[-1].connect(str(server.socket))
            clients[-1].sendall(f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        for _ in range(3):
            clients.append(socket.socket(socket.AF_UNIX))
            clients[-1].connect(str(server.socket))
            clients[-1].sendall(_request("POST", "/v1.47/containers/quiet/wait").replace(b"Connection: close\r\n", b""))
        for c in clients:
            assert c.recv(12) == b"HTTP/1.1 200"   # each is under way
        deadline = time.monotonic() + 20
        while len(held()) < before + 6 and time.monotonic() < deadline:   # each log and wait.lock open
            time.sleep(0.05)
        assert len(held()) >= before + 6
        for c in clients:
            c.close()
        deadline = time.monotonic() + 20
        while len(held()) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(held()) == before, held()
    finally:   # a failure must not leave it running after the store is deleted
        assert _split(server.raw(_request("DELETE", "/v1.47/containers/quiet?force=1")))[0] == 204


def test_client_leaves_mid_upload(server: Server) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(server.socket))
        s.sendall(b"POST /v1.47/build HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    _ping(server)


def test_client_leaves_mid_load(server: Server, dockyard, busybox: str, store_root: Path) -> None:  # noqa: ANN001
    """The docker CLI's way (32 KiB chunks), three quarters of the archive, then the client
    leaves: the load is abandoned (the body's reader thread sees the end), nothing is loaded,
    and nothing it spooled stays in the store's tmp."""
    archive = dockyard("save", "busybox").stdout_bytes
    dockyard("rmi", "busybox")
    cut = archive[: len(archive) * 3 // 4]
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(server.socket))
        s.sendall(b"POST /v1.47/images/load?quiet=1 HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"".join(b"%x\r\n%s\r\n" % (len(cut[i:i + 32768]), cut[i:i + 32768])
                             for i in range(0, len(cut), 32768)))
    for _ in range(600):  # a watchdog: the handler logs the client's leaving once it is done
        if "images/load?quiet=1: client went away" in server.log.read_text():
            break
        time.sleep(0.05)
    assert "images/load?quiet=1: client went away" in server.log.read_text(), server.log.read_text()
    spooled = [os.path.join(d, f) for d, _, files in os.walk(store_root / "tmp") for f in files
               if os.lstat(os.path.join(d, f)).st_size]
    assert spooled == []
    status, _, body = _split(server.raw(_request("GET", "/v1.47/images/json")))
    assert status == 200 and json.loads(body) == []


def test_sigterm_stops_cleanly(server: Server) -> None:
    _ping(server)
    assert server.stop() == 0
    assert not server.socket.exists()
    assert "stopped" in server.log.read_text()


def test_sigterm_cancels_a_running_build(server: Server, busybox: str, store_root) -> None:  # noqa: ANN001
    """SIGTERM while a RUN step runs: the build is cancelled at its next output, its container
    removed, nothing tagged, and the server exits 0."""
    context = _tar({"Dockerfile": b"FROM busybox\nRUN echo start; sleep 1; echo end\n"})
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(server.socket))
        s.sendall(_request("POST", "/v1.47/build?t=cancelled", context))
        seen = b""
        while b'{"stream":"start\\n"}' not in seen:  # the RUN's own output: it is running
            data = s.recv(65536)
            assert data, seen
            seen += data
        server.proc.send_signal(15)
        while data := s.recv(65536):
            seen += data
    assert server.proc.wait(30) == 0
    assert b"Successfully" not in seen
    assert b"shutting down" in seen
    assert not any((store_root / "containers").glob("*/container.json")), server.log.read_text()
    from dockyard.store.store import Store

    assert Store(store_root).find("cancelled") is None


def test_large_json_body_in_chunks(server: Server, busybox: str) -> None:
    """A JSON body larger than one read, sent chunked, is read whole (a long Env list)."""
    env = [f"VAR{i}={'x' * 100}" for i in range(2000)]
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "Env": env}).encode()
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5000]), body[i:i + 5000])
                      for i in range(0, len(body), 5000))
    request = (b"POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n")
    status, _, payload = _split(server.raw(request))
    assert status == 201, payload
    cid = json.loads(payload)["Id"]
    status, _, payload = _split(server.raw(_request("GET", f"/v1.47/containers/{cid}/json")))
    assert f"VAR1999={'x' * 100}" in json.loads(payload)["Config"]["Env"]


def test_second_server_on_a_live_socket_is_refused(server: Server, store_root) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(store_root), "serve",
                           "-H", server.url], capture_output=True, timeout=30, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"Error: {server.socket} is in use by a running server\n"
    _ping(server)


def _connect(server: Server, timeout: float = 10) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(server.socket))
    return s


def _keep_alive_ping(s: socket.socket) -> None:
    """A ping on an open connection, which stays open (and held by the server) afterwards."""
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
    got = b""
    while not got.endswith(b"\r\n\r\nOK"):
        data = s.recv(4096)
        assert data, got
        got += data
    assert got.startswith(b"HTTP/1.1 200 "), got


def test_out_of_descriptors_then_serves_again(store_root, tmp_path: Path) -> None:  # noqa: ANN001
    """Issue 16.8: a real `dockyard serve` whose RLIMIT_NOFILE is 40 is sent 100 real
    connections: accept(2) fails with EMFILE once its descriptors are gone. The accept loop
    backs off and goes on (it used to die, and the server never answered again): once the
    clients hang up, a new connection is served."""
    from tests.api.conftest import start_server

    tmp = Path(tempfile.mkdtemp(prefix="dy-emfile-", dir="/tmp"))
    server = start_server(store_root, tmp, max_files=40)
    clients: list[socket.socket] = []
    try:
        _ping(server)
        for _ in range(100):
            try:
                clients.append(_connect(server, timeout=0.5))
            except OSError:  # the listen backlog is full too
                break
        deadline = time.monotonic() + 20
        while len(os.listdir(f"/proc/{server.proc.pid}/fd")) < 40:   # every descriptor in use
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.05)
        time.sleep(0.5)                          # accept(2) keeps failing meanwhile
        for c in clients:
            c.close()
        clients.clear()
        # served again, once the server has taken the closed connections still in its listen
        # backlog (a backlog that is full refuses a unix socket's connect with EAGAIN: a client
        # that did not wait saw that in CI); its accept loop sleeps up to 1 s between tries
        deadline = time.monotonic() + 20
        while True:
            try:
                _ping(server)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, server.log.read_text()
                time.sleep(0.1)
        assert server.proc.poll() is None
        log = server.log.read_text()
        assert "failed: Too many open files; retrying" in log and "accepting on unix://" in log, log
    finally:
        for c in clients:
            c.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_connections_are_capped(server: Server) -> None:
    """At MAX_CONNECTIONS open connections the next one waits in the backlog, unanswered while
    the others are served, and is served as soon as one of them closes."""
    from dockyard.api.server import MAX_CONNECTIONS

    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(_connect(server))
            _keep_alive_ping(held[-1])           # each one accepted, and kept by the server
        extra = _connect(server)
        extra.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        time.sleep(1)
        _keep_alive_ping(held[0])                # the server is serving...
        extra.setblocking(False)
        with pytest.raises(BlockingIOError):
            extra.recv(1)                        # ...but not this one
        extra.setblocking(True)
        held.pop().close()
        status, _, body = _split(extra.recv(65536) + _read_all(extra))
        assert (status, body) == (200, b"OK")
        extra.close()
    finally:
        for s in held:
            s.close()
    _ping(server)


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while data := s.recv(65536):
        out += data
    return out


def test_a_name_with_a_trailing_newline_is_refused_as_dockerd_does(server: Server, busybox: str, dockerd) -> None:  # noqa: ANN001
    """Go's `$` (without (?m)) matches only at the end of the text; Python's re.match with `$`
    also takes a final "\\n". A container or volume name "x\\n" was taken by serve (a container
    and a volume folder with a newline in their names); dockerd 20.10 refuses both, 400, with its
    words (the volume's name quoted as Go's %q does)."""
    cases = [
        ("POST", "/v1.41/containers/create?name=nl%0A", b'{"Image":"busybox","Cmd":["true"]}'),
        ("POST", "/v1.41/volumes/create", b'{"Name":"nl\\n"}'),
    ]
    for method, path, body in cases:
        request = _request(method, path, body, "Content-Type: application/json\r\n")
        ref = _split(_raw(dockerd.sock, request))
        got = _split(server.raw(request))
        assert (got[0], json.loads(got[2])) == (ref[0], json.loads(ref[2])), path
        assert got[0] >= 400
    _ping(server)


def test_an_integer_parameter_is_read_as_strconv_atoi_reads_it(server: Server, dockerd) -> None:  # noqa: ANN001
    """dockerd reads `limit` and `t` with Go's strconv.Atoi: an optional sign and ASCII digits,
    within 64 bits; anything else is an unclassified error, 500 "strconv.Atoi: parsing %q:
    invalid syntax" (or "value out of range"). Python's int() also takes "1_0", " 1", "1 ",
    "0x1"-less forms such as non-ASCII digits: serve listed containers for those, and answered
    400 with words of its own for the rest."""
    paths = [f"/v1.41/containers/json?limit={q}" for q in
             ["1_0", "+1", "%201", "1%20", "%D9%A3", "-1", "%2B2", "99999999999999999999", "0x1", "1.5"]]
    paths += [f"/v1.41/containers/nosuch/stop?t={q}" for q in ["1_0", "%201", "x"]]
    for path in paths:
        method = "GET" if "/json" in path else "POST"
        ref = _split(_raw(dockerd.sock, _request(method, path)))
        got = _split(server.raw(_request(method, path)))
        assert (got[0], json.loads(got[2])) == (ref[0], json.loads(ref[2])), path
    _ping(server)


def test_a_path_with_a_trailing_newline_is_no_route_as_in_dockerd(server: Server, busybox: str, dockerd) -> None:  # noqa: ANN001
    """A path is matched whole, as gorilla/mux's Go patterns match it: `$` is the end of the text.
    serve's `^...$` let a final "\\n" (%0A, decoded) fall off: `DELETE /images/busybox%0A`
    removed busybox, `/containers/json%0A` listed containers; dockerd 20.10 answers 404 "page
    not found" to each and changes nothing."""
    paths = [("GET", "/v1.41/containers/json%0A"), ("GET", "/v1.41/_ping%0A"),
             ("GET", "/v1.41/images/busybox/json%0A"), ("GET", "/v1.41/images/busybox%0A/json"),
             ("DELETE", "/v1.41/images/busybox%0A"), ("GET", "/v1.41%0A/version")]
    for method, path in paths:
        ref = _split(_raw(dockerd.sock, _request(method, path)))
        got = _split(server.raw(_request(method, path)))
        assert (got[0], json.loads(got[2])) == (ref[0], json.loads(ref[2])) == (404, {"message": "page not found"}), path
    status, _, _ = _split(server.raw(_request("GET", "/v1.41/images/busybox/json")))
    assert status == 200   # still there
