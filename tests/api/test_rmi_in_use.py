"""Removing an image a container uses, side by side with dockerd 20.10 (issue 16.15 / 12.4).

The same docker CLI (20.10) runs the same commands against dockerd and against `dockyard serve`;
outputs are compared with each side's own IDs replaced by placeholders. Docker's rules
(daemon/images/image_delete.go, image_prune.go):
- `rmi NAME` where NAME is the image's only reference and a container uses the image refuses
  *before* untagging: `conflict: unable to remove repository reference "NAME" (must force) -
  container <short id> is using its referenced image <short id>`; the name stays.
- A name that is not the only reference is untagged even while a container uses the image.
- `rmi ID`: `unable to delete <id> (must be forced) - image is being used by stopped container`.
- `image prune -a` removes images name by name without force: the image a container uses keeps
  its name and stays; its untagged parent stays too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.api.conftest import Server
from tests.conftest import at_once

DOCKER_CLI = "/usr/bin/docker"


def _run(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, str]:
    proc = subprocess.run([DOCKER_CLI, *args], env=env, cwd=cwd, capture_output=True, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).decode()


def _sorted(result: tuple[int, str]) -> tuple[int, str]:
    """Lines in sorted order: images are listed newest first by their Created second, and
    Docker's sort is not stable, so two images made in one second come in either order (the
    base imported by the test and the image built on it often are; seen failing both ways)."""
    rc, text = result
    return rc, "".join(sorted(text.splitlines(keepends=True)))


def _scenario(env: dict[str, str], ctx: Path) -> list[tuple[int, str]]:
    """The commands, with this side's IDs replaced by <image>, <base>, <container>."""
    base = _run(env, "image", "inspect", "-f", "{{.Id}}", "busybox")[1].strip()
    image = _run(env, "build", "-q", "-t", "rmi-t1", str(ctx))[1].strip()
    container = _run(env, "create", "--name", "rmi-c1", "rmi-t1", "true")[1].strip()
    steps = [
        _run(env, "rmi", "rmi-t1"),                       # the only name: refused, kept
        _run(env, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "rmi-t1"),
        _run(env, "tag", "rmi-t1", "rmi-t2"),
        _run(env, "rmi", "rmi-t2"),                       # not the only name: untagged
        _run(env, "rmi", image[7:19]),                    # by ID: a stopped container uses it
        _run(env, "image", "prune", "-a", "-f"),
        _run(env, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "rmi-t1"),
        _run(env, "images", "-a", "-q", "--no-trunc"),   # compared as a set: see _sorted
        _run(env, "tag", base, "busybox:latest"),         # prune -a untagged the shared base
        _run(env, "rm", "rmi-c1"),
        _run(env, "rmi", "rmi-t1"),                       # no container now: removed
    ]
    out = []
    for rc, text in steps:
        for full, name in ((image, "<image>"), (base, "<base>"), (container, "<container>")):
            text = text.replace(full, name).replace(full[7:19] if full.startswith("sha256:")
                                                    else full[:12], name)
        out.append((rc, text))
    out[7] = _sorted(out[7])
    return out


def test_rmi_and_prune_of_an_image_in_use_match_dockerd(own_dockerd, server: Server, busybox: str,
                                                         tmp_path: Path) -> None:
    """A reference daemon of the test's own: `image prune -a` on the session's also deleted what
    other tests of the worker had left there (CI of session 17 failed on it), and both sides
    run at once."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nLABEL purpose=rmi-in-use\n")
    ours_env = {**os.environ, "DOCKER_HOST": server.url, "DOCKER_BUILDKIT": "0",
                "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    theirs, ours = at_once(lambda: _scenario(own_dockerd.env, ctx), lambda: _scenario(ours_env, ctx))
    assert theirs[0] == (1, 'Error response from daemon: conflict: unable to remove repository reference '
                            '"rmi-t1" (must force) - container <container> is using its referenced image '
                            '<image>\n')
    assert theirs[1] == (0, "rmi-t1:latest <image>\n")
    assert theirs[3] == (0, "Untagged: rmi-t2:latest\n")
    assert theirs[4][1] == ("Error response from daemon: conflict: unable to delete <image> (must be "
                            "forced) - image is being used by stopped container <container>\n")
    assert theirs[6] == (0, "rmi-t1:latest <image>\n")    # prune -a skipped it
    assert "<base>" in theirs[7][1]                        # and its (untagged) parent
    assert "<base>" not in theirs[-1][1]                   # busybox stays
    assert ours == theirs
