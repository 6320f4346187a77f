"""Excluded directories of a context, as the docker CLI sends them and dockerd builds them.

The docker CLI (20.10 and 28, classic builder) packs a context with archive.TarWithOptions: an
excluded directory is entered only when an exception pattern, as written, starts with its path
(`!d/keep/x` enters `d` and `d/keep`; `!**/*.keep` enters nothing), and is never sent itself.
dockerd's untar then creates the missing parents of what was re-included: mode 0755, root. So
`COPY . /x/` of a context where `d` is 0700 gives `/x/d` 0755, and `d/sub/y.keep` is not copied
although `!**/*.keep` matches it. dockyard's client sends the same tar, and its in-process build
(and `dockyard serve` reading a client's directory in place) copies the same tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.client.test_build_client import _members, _Recorder

IGNORE = "d\n!d/keep/x\n!**/*.keep\n*/*.log\n"
LISTING = "cd /x && find . -exec stat -c '%n %a %u:%g %F' {} + | sort"


def _context(root: Path) -> Path:
    for path, text in {"d/keep/x": "1", "d/other": "2", "d/sub/y.keep": "3", "e/f": "4",
                       "e/z.keep": "5", "e/w.log": "6"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    os.chmod(root / "d", 0o700)
    os.chmod(root / "d" / "keep", 0o750)
    os.chmod(root / "e", 0o770)
    (root / ".dockerignore").write_text(IGNORE)
    (root / "Dockerfile").write_text("FROM busybox\nCOPY . /x/\n")
    return root


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_the_context_tar_is_the_docker_clis(dockyard, tmp_path) -> None:
    """The same tar members (names, modes, sizes, owners) as docker CLI 20.10 and 28 send."""
    ctx = _context(tmp_path / "ctx")
    sock_dir = Path(tempfile.mkdtemp(prefix="dy-rec-", dir="/tmp"))
    recorder = _Recorder(sock_dir / "r.sock")
    host = f"unix://{sock_dir / 'r.sock'}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(tmp_path / "config")}
    try:
        sent = []
        for cli in ("/usr/bin/docker", "/usr/local/bin/docker"):
            if os.path.exists(cli):
                subprocess.run([cli, "-H", host, "build", str(ctx)], env=env, capture_output=True,
                               check=True, timeout=60)
                sent.append(_members(recorder.requests[-1][1]))
        dockyard("-H", host, "build", str(ctx))
        ours = _members(recorder.requests[-1][1])
        assert recorder.refused  # our client asked for the directory to be read in place first
        assert [name for name, *_ in ours] == [".dockerignore", "Dockerfile", "d/keep/x", "e", "e/f", "e/z.keep"]
        for theirs in sent:
            assert [(n, m & 0o7777, s, u) for n, m, s, u in theirs] == [(n, m & 0o7777, s, u) for n, m, s, u in ours]
    finally:
        recorder.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_copy_gives_dockerds_tree(dockerd, dockyard, busybox, daemon, tmp_path) -> None:
    """`COPY . /x/` through dockerd 20.10 (docker CLI, classic builder), through dockyard in
    process, through `dockyard serve` reading the directory in place, and through serve from a
    client in another mount namespace (a tar): the same files, modes and owners."""
    ctx = _context(tmp_path / "ctx")
    dockerd("build", "-t", "excl:1", str(ctx))
    try:
        theirs = dockerd("run", "--rm", "--network", "none", "excl:1", "sh", "-c", LISTING).stdout
    finally:  # the reference dockerd serves the whole session: leave it as it was
        dockerd("rmi", "excl:1", check=False)
    assert "./d 755 0:0 directory" in theirs and "./d/keep 755 0:0 directory" in theirs
    assert "./e 770 0:0 directory" in theirs and "y.keep" not in theirs and "w.log" not in theirs
    for how in ("in-process", "in place", "tar"):
        if how == "in-process":
            dockyard("build", "--no-cache", "-t", "excl:1", str(ctx))
        elif how == "in place":
            dockyard("-H", daemon.url, "build", "--no-cache", "-t", "excl:1", str(ctx))
        else:
            out = subprocess.run(["unshare", "--mount", "sh", "-c", f'exec "$0" -m dockyard -H {daemon.url} '
                                  f"build --no-cache -t excl:1 {ctx}", os.sys.executable],
                                 env=dockyard.env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
        ours = dockyard("run", "--rm", "--network", "none", "excl:1", "sh", "-c", LISTING).stdout
        assert ours == theirs, how
    posts = [line for line in daemon.log.read_text().splitlines() if line.startswith("POST ")]
    assert [(p.split("?")[0], p.rsplit(" ", 1)[1]) for p in posts] == [
        ("POST /v1.47/dockyard/build", "200"), ("POST /v1.47/dockyard/build", "412"), ("POST /v1.47/build", "200")]
