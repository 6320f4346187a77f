"""Client-mode builds on one host (api/local_context.py): `dockyard -H unix://... build DIR`
names its context directory and `dockyard serve` reads it where it lies, once it has proved that
it sees the client's files (same mount namespace and root, the directory's DEV:INO); otherwise it
answers 412 and the client sends the docker CLI's tar to `POST /build`, which real docker clients
always do. Either way the image is the one the in-process build makes of the client's files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.client.daemon import Daemon
from tests.client.test_build_client import _built, _context
from tests.conftest import REPO


def _posts(server) -> list[str]:  # noqa: ANN001
    return [line for line in server.log.read_text().splitlines() if line.startswith("POST ")]


def test_the_daemon_reads_the_clients_directory_in_place(dockyard, busybox, daemon, tmp_path) -> None:
    ctx = _context(tmp_path / "ctx")
    local = dockyard("build", "-t", "app:1", str(ctx))
    client = dockyard("-H", daemon.url, "build", "-t", "app:1", str(ctx))
    assert client.stdout.count(" ---> Using cache") == 7
    assert _built(client.stdout) == _built(local.stdout)
    posts = _posts(daemon)
    assert len(posts) == 1 and posts[0].startswith("POST /v1.47/dockyard/build?") and posts[0].endswith(" -> 200")
    assert f"context={str(ctx).replace('/', '%2F')}" in posts[0]


def test_buildkit_mode_reads_the_clients_directory_in_place(dockyard, busybox, daemon, tmp_path) -> None:
    """DOCKER_BUILDKIT=1 takes the same route (`version=2`) with the same proof, and its build
    reads the directory as the in-process BuildKit-mode build does: the same image, every step
    cached after the in-process build."""
    ctx = _context(tmp_path / "ctx")
    bk = {"DOCKER_BUILDKIT": "1"}
    local = dockyard("build", "--progress=plain", "-t", "app:1", str(ctx), env=bk)
    client = dockyard("-H", daemon.url, "build", "--progress=plain", "-t", "app:1", str(ctx), env=bk)

    def image(stderr: str) -> str:
        return [line.split()[3] for line in stderr.splitlines() if " writing image sha256:" in line][0]

    assert image(client.stderr) == image(local.stderr)
    steps = re.findall(r"^#(\d+) \[\d+/\d+\] ", client.stderr, re.M)
    assert len(steps) >= 4 and re.findall(r"^#(\d+) CACHED$", client.stderr, re.M) == steps
    posts = _posts(daemon)
    assert len(posts) == 1 and posts[0].startswith("POST /v1.47/dockyard/build?") and posts[0].endswith(" -> 200")
    assert f"context={str(ctx).replace('/', '%2F')}" in posts[0] and "&version=2" in posts[0]


def test_a_dockerfile_flag_is_relative_to_the_clients_directory(dockyard, busybox, daemon, tmp_path) -> None:
    """`-f` names a file from the client's current directory (as the docker CLI reads it), not
    the daemon's: the client sends it absolute."""
    ctx = _context(tmp_path / "ctx")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "Dockerfile.alt").write_text("FROM busybox\nCOPY a.txt /a\nLABEL alt=1\n")
    out = subprocess.run([sys.executable, "-m", "dockyard", "-H", daemon.url, "build", "-q",
                          "-f", "other/Dockerfile.alt", "ctx"], cwd=tmp_path, env=dockyard.env,
                         capture_output=True, text=True, check=True)
    local = subprocess.run([sys.executable, "-m", "dockyard", "build", "-q", "-f", "other/Dockerfile.alt",
                            "ctx"], cwd=tmp_path, env=dockyard.env, capture_output=True, text=True, check=True)
    assert out.stdout == local.stdout
    assert "dockerfile=" + str(tmp_path / "other" / "Dockerfile.alt").replace("/", "%2F") in _posts(daemon)[0]


@pytest.mark.parametrize("buildkit", ["0", "1"])
def test_a_client_that_sees_other_files_sends_a_tar(dockyard, busybox, daemon, tmp_path, buildkit) -> None:
    """A client in a mount namespace of its own (here: a tmpfs over part of its context that the
    daemon cannot see) is declined with 412; it then sends its tar, and the image has the
    client's files, not the daemon's. In both build modes."""
    ctx = _context(tmp_path / "ctx", dockerfile="FROM busybox\nCOPY sub/b.txt /b.txt\nRUN cat /b.txt\n")
    script = (f"mount -t tmpfs none {ctx}/sub && echo private > {ctx}/sub/b.txt && "
              f"exec {sys.executable} -m dockyard -H {daemon.url} build --progress=plain {ctx}")
    if buildkit == "0":
        script = script.replace(" --progress=plain", "")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         env={**dockyard.env, "DOCKER_BUILDKIT": buildkit}, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "\nprivate\n" in out.stdout or " private\n" in out.stderr  # RUN's output, as each mode shows it
    assert (ctx / "sub" / "b.txt").read_text() == "b\n"  # the daemon's view, unchanged
    first, second = _posts(daemon)
    assert first.startswith("POST /v1.47/dockyard/build?") and first.endswith(" -> 412")
    assert second.startswith("POST /v1.47/build?") and second.endswith(" -> 200")


def test_the_daemon_declines_what_it_cannot_prove(busybox, daemon, tmp_path) -> None:
    ctx = _context(tmp_path / "ctx")
    st = os.stat(ctx)
    client = Daemon(daemon.url)

    def ask(context: str, contextid: str, *extra: tuple[str, str]) -> tuple[int, str]:
        with client.request("POST", "/dockyard/build", [("context", context), ("contextid", contextid),
                                                        *extra]) as reply:
            return reply.status, reply.error_message()

    # another directory than the one named (swapped under the path): the client must send a tar
    status, message = ask(str(ctx), f"{st.st_dev}:{st.st_ino + 1}")
    assert status == 412 and message == f"context not shared: {ctx} is not the directory the client named"
    assert ask(str(tmp_path / "gone"), f"{st.st_dev}:{st.st_ino}") == (
        412, f"context not shared: the daemon cannot read {tmp_path / 'gone'}")
    # malformed requests are the client's mistake: 400
    assert ask("ctx", f"{st.st_dev}:{st.st_ino}")[0] == 400
    assert ask(str(ctx), "nope")[0] == 400
    assert ask(str(ctx), f"{st.st_dev}:{st.st_ino}", ("dockerfile", "Dockerfile"))[0] == 400
    assert ask(str(ctx), f"{st.st_dev}:{st.st_ino}", ("remote", "http://127.0.0.1:1/x.tar"))[0] == 400
    assert not [p for p in _posts(daemon) if p.endswith(" -> 200")]  # nothing was built
