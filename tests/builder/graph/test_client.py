"""BuildKit mode as a client of `dockyard serve` (DOCKER_BUILDKIT=1 with -H): the daemon builds,
the client shows the same progress, report and exit status as an in-process build; secrets
reach RUN; the docker CLI's gRPC session endpoints answer an error naming DOCKER_BUILDKIT=0."""

from __future__ import annotations

import json
from pathlib import Path

from tests.builder.graph.conftest import write_context
from tests.builder.graph.shape import steps


def test_client_build_matches_in_process_and_shares_the_cache(bk, daemon, tmp_path: Path) -> None:
    dockerfile = """\
FROM busybox AS a
RUN --mount=type=secret,id=tok test "$(cat /run/secrets/tok)" = client-secret && echo ok > /ok
FROM busybox
COPY --from=a /ok /ok
COPY f /f
"""
    ctx = write_context(tmp_path / "ctx", dockerfile, {"f": "file\n", "s": "client-secret"})
    secret = f"id=tok,src={ctx / 's'}"
    client = bk.run("-H", daemon.url, "build", "--progress=plain", "--secret", secret, "-t", "cl",
                    "--iidfile", str(tmp_path / "iid"), str(ctx))
    assert steps(client.stderr)["[a 2/2] RUN --mount=type=secret,id=tok test \"$(cat /run/secrets/tok)\" " 
                                "= client-secret && echo ok > /ok"] == "DONE"
    assert "client-secret" not in client.stderr.split("\n", 1)[1].replace('= client-secret &&', '')
    local = bk.build(ctx, "--secret", secret, "-t", "cl")  # the same store: every step cached
    done = {k: v for k, v in steps(local.stderr).items() if k.startswith("[") and "internal" not in k}
    assert set(done.values()) == {"CACHED"} and len(done) == 4
    assert (tmp_path / "iid").read_text() == bk("images", "-q", "--no-trunc", "cl").stdout.strip()
    quiet = bk.run("-H", daemon.url, "build", "-q", "--secret", secret, str(ctx))
    assert quiet.stdout.strip() == (tmp_path / "iid").read_text() and quiet.stderr == ""


def test_client_failure_is_reported_as_in_process(bk, daemon, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM busybox\nRUN echo out; exit 4\n")
    client = bk.run("-H", daemon.url, "build", "--progress=plain", str(ctx), check=False)
    local = bk.build(ctx, check=False)
    assert client.returncode == local.returncode == 1
    tail = lambda text: text[text.index("------"):]  # noqa: E731 - the report and the message
    assert tail(client.stderr) == tail(local.stderr)
    assert client.stderr.splitlines()[-1] == "executor failed running [/bin/sh -c echo out; exit 4]: exit code: 4"


def test_grpc_session_endpoints_name_docker_buildkit_0(daemon) -> None:
    for path in ("/session", "/grpc"):
        reply = daemon.raw(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode())
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert "DOCKER_BUILDKIT=0" in json.loads(body.split(b"\r\n")[1] if b"\r\n" in body else body)["message"]

