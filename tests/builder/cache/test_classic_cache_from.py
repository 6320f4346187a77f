"""Classic `--cache-from IMAGE` as Docker 20.10's classic builder does it (moby image/cache
ImageCache), each scenario run through dockyard and through the reference dockerd
(DOCKER_BUILDKIT=0) with the real registry: a pulled image's history chain is the cache.

Docker's rules these tests pin:
- after `pull` of a pushed build, `build --cache-from IMAGE` hits every step and its result is
  the pulled image itself (the same ID);
- a changed file misses from its COPY on, the steps before it still hit;
- `--cache-from` a name the daemon does not have leaves no cache at all: even the steps the
  local cache would hit are rebuilt (the local cache counts only inside a source's chain).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Callable

from tests.conftest import Dockyard, at_once

DOCKERFILE = """\
FROM {base}
ARG V=1
ENV E=1
COPY a.txt /a.txt
COPY d /d
RUN echo "$V" > /v
WORKDIR /w
LABEL x=y
CMD ["sh"]
"""
STEPS = 8  # after FROM


def make_context(path: Path, base: str) -> Path:
    (path / "d").mkdir(parents=True)
    (path / "a.txt").write_text("a")
    (path / "d" / "f").write_text("f")
    (path / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    return path


def hits(stdout: str) -> list[bool]:
    """For each step after FROM: did it print `Using cache`?"""
    steps = re.split(r"^Step \d+/\d+ : ", stdout, flags=re.M)[2:]  # [0]: before step 1 (FROM)
    return ["Using cache" in step for step in steps]


def built_id(stdout: str) -> str:
    return [l for l in stdout.splitlines() if l.startswith("Successfully built ")][0].split()[-1]


def scenario(build: Callable[..., str], fresh: Callable[[], None], run: Callable[..., str],
             ctx: Path, image: str) -> dict[str, object]:
    """The observations of one engine: `build(*args)` builds `ctx` and returns its output, `run`
    runs other commands, `fresh()` forgets the built images (a new machine with only the base)."""
    seen: dict[str, object] = {}
    first = build("-t", image)
    run("push", image)
    seen["rebuild"] = hits(build())
    seen["missing source"] = hits(build("--cache-from", image + "-none"))
    fresh()
    run("pull", image)
    pulled = run("image", "inspect", "-f", "{{.Id}}", image).strip()
    seen["no cache-from"] = hits(build())
    fresh()
    run("pull", image)
    cached = build("--cache-from", image)
    seen["cache-from"] = hits(cached)
    pulled = pulled.removeprefix("sha256:")
    seen["same image"] = pulled.startswith(built_id(cached)) and pulled.startswith(built_id(first))
    seen["again"] = hits(build("--cache-from", image))
    seen["plain after"] = hits(build())
    seen["missing and present"] = hits(build("--cache-from", image + "-none", "--cache-from", image))
    (ctx / "d" / "f").write_text("changed")
    seen["changed file"] = hits(build("--cache-from", image))
    (ctx / "d" / "f").write_text("f")
    return seen


EXPECTED = {
    "rebuild": [True] * STEPS,
    "missing source": [False] * STEPS,
    "no cache-from": [False] * STEPS,
    "cache-from": [True] * STEPS,
    "same image": True,
    "again": [True] * STEPS,
    "plain after": [False] * STEPS,  # the rebuilt chain's images have no container config
    "missing and present": [True] * STEPS,
    "changed file": [True, True, True, False, False, False, False, False],
}


def test_cache_from_a_pulled_image_matches_dockerd(machine, busybox_tar: Path, registry, dockerd,
                                                    tmp_path: Path) -> None:
    from concurrent.futures import Future, ThreadPoolExecutor

    base = f"{registry.host}/cf/base:1"
    # dockyard: machine a builds and pushes; b and c are fresh machines that pull (the base
    # pulled into them from the start, beside a's builds: a fresh machine's first step, taken
    # before the scenario needs it)
    a = machine("a")
    ctx = make_context(tmp_path / "ctx-dy", base)
    current: list[Dockyard] = [a]
    pool = ThreadPoolExecutor(1)
    fresh_stores: list[Future] = []

    def dy_fresh() -> None:
        current[0] = fresh_stores.pop(0).result()

    def pulled_base(store: Dockyard) -> Dockyard:
        store("pull", base)
        return store

    def dy_build(*args: str) -> str:
        return current[0]("build", *args, str(ctx)).stdout

    def dy_run(*args: str) -> str:
        return current[0](*args).stdout

    def ours() -> dict[str, object]:
        a("import", str(busybox_tar), base)
        a("push", base)
        fresh_stores.extend(pool.submit(pulled_base, machine(name)) for name in ("b", "c"))
        try:
            return scenario(dy_build, dy_fresh, dy_run, ctx, f"{registry.host}/cf/dockyard:1")
        finally:
            pool.shutdown()

    # dockerd: one daemon; a "fresh machine" is the daemon with the build removed (rmi takes
    # the untagged intermediate images with it), the base image kept
    # The reference daemon is shared by the test session: a base of this test's own (a distinct
    # image ID), so no image another test built from busybox counts as local cache here.
    dbase = f"{registry.host}/cf/dbase:1"
    dctx = make_context(tmp_path / "ctx-docker", dbase)
    image = f"{registry.host}/cf/docker:1"

    def dd_fresh() -> None:
        dockerd("rmi", "-f", image, check=False)
        dockerd("image", "prune", "-f")  # the untagged builds of the scenario

    def dd_build(*args: str) -> str:
        return dockerd("build", *args, str(dctx)).stdout

    def dd_run(*args: str) -> str:
        return dockerd(*args).stdout

    def theirs() -> dict[str, object]:
        try:
            dockerd("import", "-c", f"LABEL test.cache-from={uuid.uuid4().hex}", str(busybox_tar), dbase)
            dockerd("push", dbase)
            return scenario(dd_build, dd_fresh, dd_run, dctx, image)
        finally:
            dockerd("rmi", "-f", image, dbase, check=False)
            dockerd("image", "prune", "-f", check=False)

    # The two engines share nothing here (stores, daemon, repositories): their scenarios, each
    # from its base's import and push, run at once.
    seen_ours, seen_theirs = at_once(ours, theirs)
    assert seen_theirs == EXPECTED
    assert seen_ours == EXPECTED


def test_cache_from_through_serve(machine, busybox_tar: Path, registry, tmp_path: Path) -> None:
    """`dockyard -H ... build --cache-from IMAGE` sends `cachefrom` as the docker CLI does; the
    daemon's store, which pulled the image, hits every step and answers with its ID."""
    import shutil
    import tempfile

    from tests.api.conftest import start_server

    base, image = f"{registry.host}/cf/base:1", f"{registry.host}/cf/app:1"
    a, b = machine("a"), machine("b")
    a("import", str(busybox_tar), base)
    a("push", base)
    ctx = make_context(tmp_path / "ctx", base)
    a("build", "-t", image, str(ctx))
    a("push", image)
    b("pull", image)
    pulled = b("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    sock_dir = Path(tempfile.mkdtemp(prefix="dy-cf-", dir="/tmp"))
    server = start_server(b.root, sock_dir)
    try:
        client = Dockyard(tmp_path / "client")
        client.env["DOCKYARD_HOST"] = server.url
        out = client("build", "--cache-from", image, "--cache-from", "nothing:here", str(ctx)).stdout
    finally:
        server.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert "[Warning] --cache-from nothing:here: no such image in the store, skipped" in out
    assert hits(out) == [True] * STEPS
    assert pulled == "sha256:" + b.store.resolve(image).hex
    assert pulled.removeprefix("sha256:").startswith(built_id(out))
