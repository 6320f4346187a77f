"""`dockyard -H unix://... build`: the light client (dockyard/client) of a real `dockyard serve`.

The client packs the context as the docker CLI does (classic builder: `.dockerignore` applied, the
Dockerfile and .dockerignore always sent, a Dockerfile from outside the context added under a
random `.dockerfile.*` name and listed in the sent .dockerignore) and POSTs `/build`; it must
print what the in-process `dockyard build` prints: the same lines, the same `Error: ...` line or
RUN failure message, the same exit status. Both share one store here, so a client build after an
in-process one of the same context must hit the cache at every step and give the same image ID
(which also proves the daemon saw exactly the files the in-process build saw).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Result, at_once
from tests.dockerd import DOCKER_CLI


DOCKERFILE = """\
FROM busybox
ARG V=1
ENV APP=/app
WORKDIR /app
COPY . /app/ctx/
RUN echo "$V" > /app/version && ls -a /app/ctx
LABEL bench=yes
CMD ["sh"]
"""


def _context(root: Path, dockerfile: str = DOCKERFILE, ignore: str = "*.log\n!keep.log\n") -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.txt").write_text("b\n")
    (root / "debug.log").write_text("excluded\n")
    (root / "keep.log").write_text("re-included\n")
    (root / ".dockerignore").write_text(ignore)
    (root / "Dockerfile").write_text(dockerfile)
    return root


def _same_ids(text: str) -> str:
    """Intermediate container IDs are random per run; everything else must match."""
    return re.sub(r"(Running in|Removing intermediate container) [0-9a-f]{12}", r"\1 <id>", text)


def _built(stdout: str) -> str:
    return [line for line in stdout.splitlines() if line.startswith("Successfully built ")][0]


def test_cached_rebuild_through_the_daemon_prints_the_same_lines(dockyard, busybox, daemon, tmp_path) -> None:
    ctx = _context(tmp_path / "ctx")
    local = dockyard("build", "-t", "app:1", str(ctx))
    assert "Using cache" not in local.stdout
    listing = local.stdout.split("ls -a /app/ctx\n", 1)[1]
    assert "keep.log" in listing and "debug.log" not in listing  # .dockerignore, `!` exception
    client = dockyard("-H", daemon.url, "build", "-t", "app:1", str(ctx))
    again = dockyard("build", "-t", "app:1", str(ctx))
    assert client.stdout.count(" ---> Using cache") == 7
    assert client.stdout == again.stdout  # byte for byte, every step a cache hit
    assert client.stderr == again.stderr == ""
    assert _built(client.stdout) == _built(local.stdout)
    assert client.stdout.endswith("Successfully tagged app:1\n")


def test_client_build_with_env_host_and_quiet_and_iidfile(dockyard, busybox, daemon, tmp_path) -> None:
    """`DOCKYARD_HOST` as `DOCKER_HOST`; `-q` prints the image ID alone; `--iidfile` gets it too."""
    ctx = _context(tmp_path / "ctx")
    local = dockyard("build", "-q", str(ctx))
    dockyard.env["DOCKYARD_HOST"] = daemon.url
    iid = tmp_path / "iid"
    client = dockyard("build", "-q", "--iidfile", str(iid), str(ctx))
    assert client.stdout == local.stdout
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", client.stdout)
    assert iid.read_text() == client.stdout.strip()


def test_cold_client_build_matches_an_in_process_one(dockyard, busybox, daemon, tmp_path) -> None:
    """Built by the daemon first: the same lines (bar container IDs); then an in-process build
    of the same context is all cache hits on the daemon's images."""
    ctx = _context(tmp_path / "ctx")
    client = dockyard("-H", daemon.url, "build", "--build-arg", "V=2", "--label", "l=v", str(ctx))
    assert "Using cache" not in client.stdout
    assert "Step 6/9 : RUN" in client.stdout and "keep.log" in client.stdout  # --label: a step 9
    local = dockyard("build", "--build-arg", "V=2", "--label", "l=v", str(ctx))
    assert local.stdout.count(" ---> Using cache") == 8  # the 7 steps and the --label step
    assert _built(local.stdout) == _built(client.stdout)


def test_dockerfile_outside_the_context(dockyard, busybox, daemon, tmp_path) -> None:
    """docker CLI (AddDockerfileToBuildContext): a `-f` outside the context travels under a
    random name appended to the .dockerignore it sends (created as `.dockerignore` + the name
    when the context has none), so the daemon leaves both out of `COPY .`. (Docker's quirk, kept:
    a .dockerignore that does not list itself is copied with that extra line; here it lists
    itself, so both builds copy the same files.)"""
    ctx = _context(tmp_path / "ctx", ignore="*.log\n!keep.log\n.dockerignore\n")
    (ctx / "Dockerfile").unlink()
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text(DOCKERFILE)
    local = dockyard("build", "-f", str(outside), str(ctx))
    client = dockyard("-H", daemon.url, "build", "-f", str(outside), str(ctx))
    assert client.stdout.count(" ---> Using cache") == 7
    assert _built(client.stdout) == _built(local.stdout)
    (ctx / ".dockerignore").unlink()  # no .dockerignore: the one the client sends is left out too
    local = dockyard("build", "-f", str(outside), str(ctx))
    assert ".dockerignore" not in local.stdout.split("ls -a /app/ctx\n", 1)[1]
    client = dockyard("-H", daemon.url, "build", "-f", str(outside), str(ctx))
    assert client.stdout.count(" ---> Using cache") == 7
    assert _built(client.stdout) == _built(local.stdout)


def test_dockerfile_on_stdin(dockyard, busybox, daemon, tmp_path) -> None:
    """`-f -`: the docker CLI sends the Dockerfile as for one outside the context."""
    ctx = _context(tmp_path / "ctx", ignore="*.log\n!keep.log\n.dockerignore\n")
    local = dockyard("build", "-f", "-", str(ctx), input=DOCKERFILE.encode())
    client = dockyard("-H", daemon.url, "build", "-f", "-", str(ctx), input=DOCKERFILE.encode())
    assert client.stdout.count(" ---> Using cache") == 7
    assert _built(client.stdout) == _built(local.stdout)


def test_context_tar_on_stdin(dockyard, busybox, daemon, tmp_path) -> None:
    """`build -` sends stdin as it is: the daemon unpacks the tar (it did the same in-process)."""
    import tarfile

    ctx = _context(tmp_path / "ctx")
    tar = tmp_path / "ctx.tar"
    with tarfile.open(tar, "w") as t:
        for name in ("Dockerfile", "a.txt", "sub"):
            t.add(ctx / name, name)
    local = dockyard("build", "-", input=tar.read_bytes())
    client = dockyard("-H", daemon.url, "build", "-", input=tar.read_bytes())
    assert client.stdout.count(" ---> Using cache") == 7
    assert _built(client.stdout) == _built(local.stdout)


def test_failing_run_same_message_and_status(dockyard, busybox, daemon, tmp_path) -> None:
    """Docker: `The command '/bin/sh -c exit 3' returned a non-zero code: 3`, the status is RUN's."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before && exit 3\n")
    local = dockyard("build", str(ctx), check=False)
    client = dockyard("-H", daemon.url, "build", str(ctx), check=False)
    assert local.returncode == client.returncode == 3
    assert client.stderr == local.stderr == "The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3\n"
    assert _same_ids(client.stdout) == _same_ids(local.stdout)
    assert "before\n" in client.stdout


def _quiet_failure(result) -> tuple[int, str, list[str]]:  # noqa: ANN001 - a Result
    """A failed `build -q` as compared with dockerd's: its status, its stdout, its stderr's
    lines with IDs normalised (tests/differential/harness.py: the docker CLI's `Sending build
    context` line goes), the error's line without the CLI's prefix."""
    from tests.differential.harness import normalise_error, normalise_output

    lines = normalise_output(result.stderr)
    return result.returncode, result.stdout, lines[:-1] + [normalise_error(lines[-1])]


def test_quiet_build_that_fails_prints_its_output_to_stderr_as_docker(dockyard, busybox, daemon,
                                                                     dockerd, tmp_path) -> None:
    """dockerd 20.10 holds a quiet build's output back and sends it when the build fails, before
    the error; the docker CLI prints it to stderr, then the error, nothing to stdout, and exits
    with RUN's status (1 for any other error). dockyard in process, its client of serve and the
    docker CLI on serve must print the same."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    docker_on_serve = {"DOCKER_HOST": daemon.url, "DOCKER_BUILDKIT": "0",
                       "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    cases = {
        # (one stream each: how RUN's stdout and stderr interleave is a race in dockerd too)
        "RUN fails": "FROM busybox\nRUN echo out\nRUN echo err >&2; exit 3\n",
        "COPY fails": "FROM busybox\nRUN echo hi\nCOPY missing /x\n",
    }
    for case, text in cases.items():
        (ctx / "Dockerfile").write_text(text)
        args = ("build", "-q", "--no-cache", str(ctx))
        reference, local, client = at_once(
            lambda: dockerd(*args, check=False),
            lambda: dockyard(*args, check=False),
            lambda: dockyard("-H", daemon.url, *args, check=False))
        proc = subprocess.run([DOCKER_CLI, *args], env={**os.environ, **docker_on_serve},
                              capture_output=True, timeout=120)
        cli = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), proc.stdout)
        expected = _quiet_failure(reference)
        assert expected[0] == (3 if case == "RUN fails" else 1), reference
        assert "Step 2/3 : " in reference.stderr, reference   # the held output came
        for ours in (local, client, cli):
            assert _quiet_failure(ours) == expected, (case, ours)


def test_errors_are_the_same_error_lines(dockyard, busybox, daemon, tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    cases = {
        "unknown instruction": "FROM busybox\nFOO bar\n",
        "missing COPY source": "FROM busybox\nCOPY nothere /x\n",
        "unknown image": "FROM 127.0.0.1:9/nosuchimage:1\n",  # pulled: nothing listens there
    }
    for case, text in cases.items():
        (ctx / "Dockerfile").write_text(text)
        local = dockyard("build", str(ctx), check=False)
        client = dockyard("-H", daemon.url, "build", str(ctx), check=False)
        assert local.returncode != 0, case
        assert (client.returncode, client.stderr) == (local.returncode, local.stderr), case
        assert client.stderr.startswith("Error: "), case
        assert _same_ids(client.stdout) == _same_ids(local.stdout), case
    for args in (["-t", "Bad:Name"], ["--network", "weird"], [str(tmp_path / "absent")]):
        target = [] if args[0].startswith("/") else [str(ctx)]
        local = dockyard("build", *args, *target, check=False)
        client = dockyard("-H", daemon.url, "build", *args, *target, check=False)
        assert local.returncode == client.returncode == 1, args
        assert client.stderr == local.stderr and client.stderr.startswith("Error: "), args


def test_no_daemon_is_a_clear_error(dockyard, tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n")
    sock = tmp_path / "none.sock"
    result = dockyard("-H", f"unix://{sock}", "build", str(ctx), check=False)
    assert result.returncode == 1
    assert result.stderr == (f"Error: Cannot connect to the dockyard daemon at unix://{sock}. "
                             "Is the dockyard daemon running?\n")
    assert result.stdout == ""
    bad = dockyard("-H", "tcp://127.0.0.1:1", "build", str(ctx), check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: invalid daemon address")


def test_commands_without_client_mode_refuse_a_host(dockyard, tmp_path) -> None:
    result = dockyard("-H", f"unix://{tmp_path}/x.sock", "system", "check", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: `dockyard system` does not run as a client")
    # images runs as a client: it goes to the daemon, here none
    result = dockyard("-H", f"unix://{tmp_path}/x.sock", "images", check=False)
    assert (result.returncode, result.stderr.startswith("Error: Cannot connect to the dockyard daemon")) == (1, True)


def test_command_word_picks_the_one_module_to_register() -> None:
    """`dockyard [global options] build ...` builds a parser with build_cmd only; every command
    the table maps is one its module registers (so the short parser never refuses a command the
    whole one accepts)."""
    import argparse

    from dockyard.cli.main import COMMAND_MODULES, _COMMAND_MODULE, _command_word, build_parser

    assert _command_word(["--root", "/x", "-H", "unix:///s", "build", "."]) == "build"
    assert _command_word(["--host=unix:///s", "image", "build", "-t", "a", "."]) == "image build"
    assert _command_word(["image", "rm", "x"]) == "image rm"  # not the container `rm`
    assert _command_word(["images"]) == "images"
    assert _command_word(["-v"]) is None
    args = build_parser(["build_cmd"]).parse_args(["-H", "unix:///s", "image", "build", "-q", "."])
    assert (args.daemon_host, args.quiet, args.context) == ("unix:///s", True, ".")

    def commands(parser: argparse.ArgumentParser) -> set[str]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        groups = {g: next(a for a in sub.choices[g]._actions if isinstance(a, argparse._SubParsersAction))
                  for g in ("image", "container")}
        return {w for w in sub.choices if w not in groups} | \
            {f"{g} {w}" for g, group in groups.items() for w in group.choices}

    for word, module in _COMMAND_MODULE.items():
        assert module in COMMAND_MODULES, word
        assert word in commands(build_parser([module])), word


class _Recorder:
    """A fake daemon on a unix socket that records each `POST /build` (target and body; its
    headers in `headers`) and answers a one-line build stream: enough for the docker CLI and
    for ours."""

    def __init__(self, path: Path) -> None:
        import socket
        import threading

        self.requests: list[tuple[str, bytes]] = []
        self.headers: list[dict[str, str]] = []
        self.refused: list[str] = []  # dockyard's own routes, which dockerd does not know
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn) -> None:  # noqa: ANN001
        reader = conn.makefile("rb")
        request_line = reader.readline().decode()
        headers = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        method, target, _ = request_line.split(" ", 2)
        if "/dockyard/" in target:
            # dockerd has no such route: 404, and our client falls back to the docker CLI's tar
            conn.sendall(b'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n'
                         b'Connection: close\r\nContent-Length: 29\r\n\r\n{"message":"page not found"}\n')
            self.refused.append(target)
            return
        if method == "HEAD" or target.endswith("/_ping"):
            # Connection: close, or the docker CLI may send its POST on this connection (Go keeps
            # it for reuse) just as we close it, and fail with EOF: a flaky test, seen under load.
            conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nConnection: close\r\n"
                         b"Content-Length: 0\r\n\r\n")
            return
        body = b""
        if "chunked" in headers.get("transfer-encoding", ""):
            while (size := int(reader.readline().split(b";")[0], 16)) > 0:
                body += reader.read(size)
                reader.readline()
            reader.readline()
        self.headers.append(headers)
        self.requests.append((target, body))
        stream = b'{"aux":{"ID":"sha256:' + b"0" * 64 + b'"}}\r\n{"stream":"Successfully built 000000000000\\n"}\r\n'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(stream) + stream)

    def close(self) -> None:
        self.sock.close()


def _members(body: bytes) -> list[tuple[str, int, int, int]]:
    import io
    import tarfile

    if body[:2] == b"\x1f\x8b":   # --compress: gzip
        import gzip

        body = gzip.decompress(body)
    # The docker CLI's tar with an added Dockerfile (archive.ReplaceFileTarWrapper) ends right
    # after the last file's bytes, without padding or end blocks; Go's reader takes that.
    body += b"\0" * (-len(body) % 512 + 1024)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        return [(m.name, m.mode, m.size, m.uid) for m in tar.getmembers()]


def _docker_configs(root: Path) -> list[tuple[Path, str]]:
    """Docker config directories for the comparison with the docker CLI, and the stderr both
    clients must print with each: plain `auths` entries (`auth` with characters Go escapes in
    JSON, an email, tokens, a legacy key, an empty entry); a default helper (`credsStore`: what
    it lists, with the email and registry token of a file entry of the same key, not the file's
    other entries) and registry helpers (one that finds nothing, one pinned to the file, one that
    fails: left out); none at all (the docker CLI still sends `{}`)."""
    import base64
    import json

    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    helper = bin_dir / "docker-credential-fake"
    helper.write_text("""#!/bin/sh
read -r input
case "$1" in
list) echo '{"s1.example":"u1","s2.example":"<token>","gone.example":"x","both.example":"u3"}' ;;
get) case "$input" in
    s1.example) echo '{"ServerURL":"s1.example","Username":"u1","Secret":"p1"}' ;;
    s2.example) echo '{"ServerURL":"s2.example","Username":"<token>","Secret":"idt"}' ;;
    both.example) echo '{"ServerURL":"both.example","Username":"u3","Secret":"p3"}' ;;
    h1.example) echo '{"ServerURL":"h1.example","Username":"hu","Secret":"hp"}' ;;
    *) echo 'credentials not found in native keychain'; exit 1 ;;
    esac ;;
esac
""")
    broken = bin_dir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho boom\nexit 3\n")
    helper.chmod(0o755)
    broken.chmod(0o755)

    def auth(user_password: str) -> str:
        return base64.b64encode(user_password.encode()).decode()

    plain = {"auths": {
        "a.example:5000": {"auth": auth("u:p<<>&\u00e9"), "email": "e@x"},
        "https://legacy.example/v1/": {"auth": auth("l:p")},
        "empty.example": {},
        "tok.example": {"identitytoken": "it", "registrytoken": "rt"},
        "https://index.docker.io/v1/": {"auth": auth("hubuser:hubpw")},
    }}
    helpers = {
        "auths": {"both.example": {"email": "b@x", "registrytoken": "brt"},
                  "fileonly.example": {"auth": auth("f:p")},
                  "https://h2.example": {"auth": auth("h2:p2")}},
        "credsStore": "fake",
        "credHelpers": {"h1.example": "fake", "h2.example": "", "h3.example": "fake", "hb.example": "broken"},
    }
    configs = []
    for name, doc in (("plain", plain), ("helpers", helpers), ("none", None)):
        config_dir = root / name
        config_dir.mkdir()
        if doc is not None:
            (config_dir / "config.json").write_text(json.dumps(doc))
        configs.append(config_dir)
    return [(bin_dir, str(c)) for c in configs]


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_request_is_the_docker_clis(dockyard, tmp_path) -> None:
    """The same `POST /build` as `DOCKER_BUILDKIT=0 docker build` (docker CLI 28) for the same
    flags: the same query parameters, and a context tar with the same entries (names, modes,
    sizes, uid 0); a Dockerfile from outside gets a `.dockerfile.<20 hex>` name in both. And the
    same `X-Registry-Config` header, byte for byte: all the credentials of $DOCKER_CONFIG."""
    import base64
    import json
    import os
    import subprocess
    import urllib.parse

    ctx = _context(tmp_path / "ctx")
    outside = tmp_path / "Dockerfile.out"
    outside.write_text(DOCKERFILE)
    sock_dir = Path(tempfile.mkdtemp(prefix="dy-rec-", dir="/tmp"))
    recorder = _Recorder(sock_dir / "r.sock")
    host = f"unix://{sock_dir / 'r.sock'}"
    flag_sets = [
        ["-t", "a:1", "-t", "b", "--build-arg", "A=b", "--build-arg", "HOME", "--build-arg", "UNSET_X",
         "--label", "l=v", "-q"],
        ["--rm=false", "--force-rm", "--no-cache", "--pull", "--network", "host", "--target", "t1"],
        ["-f", str(outside)],
        # RUN's resources, and the context gzipped
        ["-m", "10m", "--memory-swap", "-1", "--shm-size", "8m", "--ulimit", "nofile=100:200", "-c", "0x200",
         "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--compress"],
    ]
    configs = _docker_configs(tmp_path / "docker-configs")
    configs.append(configs[-1])
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "HOME": "/root"}
    env.pop("UNSET_X", None)
    try:
        for flags, (helper_dir, config_dir) in zip(flag_sets, configs):
            run_env = {**env, "DOCKER_CONFIG": config_dir, "PATH": f"{helper_dir}:{env['PATH']}"}
            subprocess.run(["docker", "-H", host, "build", *flags, str(ctx)], env=run_env,
                           capture_output=True, check=True, timeout=60)
            dockyard.env.update({k: run_env[k] for k in ("HOME", "DOCKER_CONFIG", "PATH")})
            ours = dockyard("-H", host, "build", *flags, str(ctx))
            docker_headers, ours_headers = recorder.headers[-2:]
            assert ours_headers["x-registry-config"] == docker_headers["x-registry-config"], config_dir
            sent = json.loads(base64.urlsafe_b64decode(ours_headers["x-registry-config"]))
            if config_dir.endswith("plain"):
                assert sent["a.example:5000"] == {"username": "u", "password": "p<<>&\u00e9", "email": "e@x",
                                                  "serveraddress": "a.example:5000"}
            elif config_dir.endswith("helpers"):
                assert sorted(sent) == ["both.example", "gone.example", "h1.example", "h2.example",
                                        "h3.example", "s1.example", "s2.example"]
                assert ours.stderr.startswith("WARNING: Failed to get credentials for registry: hb.example: ")
            else:
                assert ours_headers["x-registry-config"] == "e30="  # {}
            (docker_target, docker_body), (ours_target, ours_body) = recorder.requests[-2:]
            assert (ours_body[:2] == b"\x1f\x8b") == (docker_body[:2] == b"\x1f\x8b") == ("--compress" in flags)
            docker_query = urllib.parse.parse_qs(urllib.parse.urlsplit(docker_target).query)
            ours_query = urllib.parse.parse_qs(urllib.parse.urlsplit(ours_target).query)
            if "-f" in flags:
                assert re.fullmatch(r"\.dockerfile\.[0-9a-f]{20}", docker_query["dockerfile"][0])
                assert re.fullmatch(r"\.dockerfile\.[0-9a-f]{20}", ours_query["dockerfile"][0])
                ours_query["dockerfile"] = docker_query["dockerfile"]
                docker_members = [m if not m[0].startswith(".dockerfile.") else ("<added>", *m[1:])
                                  for m in _members(docker_body)]
                ours_members = [m if not m[0].startswith(".dockerfile.") else ("<added>", *m[1:])
                                for m in _members(ours_body)]
            else:
                docker_members, ours_members = _members(docker_body), _members(ours_body)
            assert ours_query == docker_query, flags
            assert urllib.parse.urlsplit(ours_target).path == urllib.parse.urlsplit(docker_target).path
            assert ours_members == docker_members, flags
        # each dockyard build first asked for its directory to be read in place (404 here)
        assert len(recorder.refused) == len(flag_sets)
    finally:
        recorder.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_query_encoding_is_urllib_s() -> None:
    """The client's own query encoder (urllib.parse stays out of its start-up) writes what
    urllib.parse.urlencode writes, which is how Go's url.Values encodes the docker CLI's query."""
    import urllib.parse

    from dockyard.client.daemon import urlencode

    pairs = [("t", "a b:c/d"), ("buildargs", '{"A":"x y/z&=+%?#"}'), ("labels", "ünï€😀"),
             ("empty", ""), ("k y", "~_.-"), ("ctl", "\t\n\x00\x7f"), ("t", "second")]
    assert urlencode(pairs) == urllib.parse.urlencode(pairs)


def test_json_reading_is_json_loads() -> None:
    """The client reads the daemon's JSON with json's C scanner, without importing json
    (client/daemon.loads): the same values as json.loads, and a ValueError where it refuses."""
    import json
    import math

    from dockyard.client.daemon import loads

    documents = ['{"stream":"Step 1/8 : FROM busybox\\n"}', ' {"aux": {"ID": "sha256:ab"}} \r\n',
                 '{"a": [1, -2, 3.5e3, 1E-2, true, false, null, "\\u003e\\u00e9\\ud83d\\ude00", {}]}',
                 '"\u00e9\u2028"', "[]", "0", '{"n": 12345678901234567890123, "f": -0.0}',
                 '{"dup": 1, "dup": 2}', '{"s": "tab\\t quote\\" backslash\\\\ slash\\/"}']
    for text in documents:
        assert loads(text.encode()) == json.loads(text.encode()), text
    for constant in ("NaN", "Infinity", "-Infinity"):  # what Go never writes; json.loads reads them
        value, expected = loads(constant.encode()), json.loads(constant)
        assert (math.isnan(value) and math.isnan(expected)) or value == expected
    for bad in (b"", b"  ", b"{", b'{"a":}', b'{"a":1} x', b"[1,]", b'{"a":1}{}', b'"\x01"', b"\xff", b"tru"):
        with pytest.raises(ValueError):
            json.loads(bad)
        with pytest.raises(ValueError):
            loads(bad)
