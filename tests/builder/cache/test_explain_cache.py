"""`build --explain-cache` (classic builder): under each step that misses the cache, one line
` ---> miss: REASON`: the files that changed (paths in the context, what changed), the build arg
that changed (old and new value), the command that changed, the step whose miss made the parent
new, or --no-cache. In-process and through `dockyard serve` alike."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import Dockyard

DOCKERFILE = """\
FROM busybox AS base
ARG V=1
ENV E=1
COPY a.txt /a.txt
COPY d /d
RUN echo "$V" > /v
FROM base
COPY --from=base /v /copied
CMD ["sh"]
"""


def explain(stdout: str) -> dict[int, str]:
    """step number -> the reason of its miss."""
    out: dict[int, str] = {}
    step = 0
    for line in stdout.splitlines():
        m = re.match(r"Step (\d+)/\d+ : ", line)
        if m:
            step = int(m.group(1))
        elif line.startswith(" ---> miss: "):
            assert step not in out, "one miss line per step"
            out[step] = line[len(" ---> miss: "):]
    return out


def make_context(ctx: Path) -> Path:
    (ctx / "d").mkdir(parents=True)
    (ctx / "a.txt").write_text("a")
    (ctx / "d" / "f").write_text("f")
    (ctx / "d" / "g").write_text("g")
    (ctx / "d" / "old").write_text("old")
    os.chmod(ctx / "d" / "g", 0o644)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


def scenario(build) -> list[dict[int, str]]:  # noqa: ANN001
    ctx = build.ctx
    seen = [explain(build())]                              # 0: first build
    seen.append(explain(build()))                          # 1: all cached: no line
    (ctx / "a.txt").write_text("b")
    os.utime(ctx / "d" / "f", (1, 1))                      # touched only: not a change
    seen.append(explain(build()))                          # 2
    os.chmod(ctx / "d" / "g", 0o600)
    (ctx / "d" / "new").write_text("new")
    (ctx / "d" / "old").unlink()
    seen.append(explain(build()))                          # 3
    seen.append(explain(build("--build-arg", "V=2")))      # 4
    (ctx / "Dockerfile").write_text(DOCKERFILE.replace("ENV E=1", "ENV E=2"))
    seen.append(explain(build("--build-arg", "V=2")))      # 5
    seen.append(explain(build("--no-cache")))              # 6
    return seen


def after(step: int) -> dict[int, str]:
    """The steps after `step` (step 7 is the second FROM: no probe, no line)."""
    return {n: f"parent changed at step {step}" for n in range(step + 1, 10) if n != 7}


EXPECTED = [
    {2: "not built before on this parent image", **after(2)},
    {},
    {4: "files changed: a.txt (content)", **after(4)},
    {5: "files changed: d/g (mode 0644 -> 0600), d/new (added), d/old (removed)",
     **after(5)},
    {6: 'build arg V changed: "1" -> "2"', **after(6)},
    {3: "command changed: was ENV E=1", **after(3)},
    {n: "--no-cache" for n in range(2, 10) if n != 7},
]


class Builder:
    def __init__(self, cli: Dockyard, ctx: Path) -> None:
        self.cli, self.ctx = cli, ctx

    def __call__(self, *args: str) -> str:
        return self.cli("build", "--explain-cache", *args, str(self.ctx)).stdout


def test_explain_cache_in_process(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    assert scenario(Builder(dockyard, make_context(tmp_path / "ctx"))) == EXPECTED


def test_explain_cache_through_serve(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    import shutil
    import tempfile

    from tests.api.conftest import start_server

    sock_dir = Path(tempfile.mkdtemp(prefix="dy-explain-", dir="/tmp"))
    server = start_server(dockyard.root, sock_dir)
    try:
        client = Dockyard(tmp_path / "client")
        client.env["DOCKYARD_HOST"] = server.url
        assert scenario(Builder(client, make_context(tmp_path / "ctx"))) == EXPECTED
    finally:
        server.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_without_the_flag_nothing_is_printed_and_the_file_list_goes_with_the_image(
        dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx")
    out = dockyard("build", "-t", "explained", str(ctx)).stdout
    assert "miss" not in out
    lists = sorted(p.name for p in (dockyard.root / "images").glob(".sources-*"))
    assert len(lists) == 3  # COPY a.txt, COPY d, COPY --from
    (ctx / "a.txt").write_text("changed")  # the list made without the flag explains a later miss
    assert explain(dockyard("build", "--explain-cache", str(ctx)).stdout)[4] == "files changed: a.txt (content)"
    dockyard("rmi", "explained")
    left = {p.name for p in (dockyard.root / "images").glob(".sources-*")}
    assert not left & set(lists) and len(left) == 3  # the second build's lists stay
    dockyard("image", "prune", "-f", check=False)
    for image in dockyard("images", "-aq").stdout.split():
        if image not in busybox:
            dockyard("rmi", "-f", image, check=False)
    assert not list((dockyard.root / "images").glob(".sources-*"))
