"""BuildKit mode's cache between machines (`--cache-to` / `--cache-from`, buildx's syntax), with
two and three stores on this machine standing for machines, and the real registry: content-based
keys hit on another machine whose context is at another path with other mtimes; only the steps a
change touches run; mode=min|max; local directories; a missing cache is a warning."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tests.conftest import Dockyard

DOCKERFILE = """\
FROM {base} AS tools
RUN echo tool > /tool
FROM {base}
ARG V=1
COPY a.txt /a.txt
RUN echo "$V" > /v && cat /a.txt > /copy
COPY d /d
COPY --from=tools /tool /tool
RUN ls /d > /list
"""
BK = {"DOCKER_BUILDKIT": "1"}


def make_context(path: Path, base: str, mtime: int) -> Path:
    (path / "d").mkdir(parents=True)
    (path / "a.txt").write_text("a")
    (path / "d" / "f").write_text("f")
    (path / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    for p in [path / "a.txt", path / "d" / "f", path / "d", path / "Dockerfile"]:
        os.utime(p, (mtime, mtime))
    return path


def steps(progress: str) -> dict[str, str]:
    """Step (`stage-1 3/6`) -> CACHED or DONE (plain progress), FROM left out."""
    names: dict[str, str] = {}
    state: dict[str, str] = {}
    for line in progress.splitlines():
        m = re.match(r"#(\d+) (\[.*)$", line)
        if m:
            names[m.group(1)] = m.group(2).strip()
            continue
        m = re.match(r"#(\d+) (CACHED|DONE)", line)
        if m and m.group(1) in names:
            state[m.group(1)] = m.group(2)
    return {re.match(r"\[([^\]]+)\]", name).group(1): state.get(num, "?")  # type: ignore[union-attr]
            for num, name in names.items() if re.match(r"\[(tools|stage-1) ", name) and " FROM " not in name}


def build(cli: Dockyard, ctx: Path, *args: str) -> tuple[str, dict[str, str]]:
    r = cli("build", "--progress", "plain", *args, str(ctx), env=BK)
    image = cli("images", "-q", "--no-trunc").stdout.split()[0] if not args or "-t" not in args else ""
    return r.stderr, steps(r.stderr)


def image_id(cli: Dockyard, name: str) -> str:
    return cli("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def test_registry_cache_hits_on_fresh_machines(machine, busybox_tar: Path, registry, tmp_path: Path) -> None:
    base, cache = f"{registry.host}/bk/base:1", f"{registry.host}/bk/cache:app"
    a, b, c = machine("a"), machine("b"), machine("c")
    a("import", str(busybox_tar), base)
    a("push", base)
    ctx_a = make_context(tmp_path / "checkout-a", base, 1_000_000)
    _, first = build(a, ctx_a, "-t", "app:1", "--cache-to", f"type=registry,ref={cache},mode=max")
    assert set(first.values()) == {"DONE"} and len(first) == 6, first
    built = image_id(a, "app:1")

    # b: another checkout path, other mtimes, an empty store
    ctx_b = make_context(tmp_path / "elsewhere" / "checkout-b", base, 2_000_000)
    out, second = build(b, ctx_b, "-t", "app:1", "--cache-from", f"type=registry,ref={cache}")
    assert set(second.values()) == {"CACHED"}, out
    assert image_id(b, "app:1") == built  # the same layers and times: the same image
    assert b("run", "--rm", "app:1", "cat", "/v", "/copy", "/tool").stdout == "1\na" + "tool\n"

    # c: a changed build arg runs the RUN that reads it and what follows; the COPYs before hit
    out, third = build(c, ctx_b, "-t", "app:2", "--build-arg", "V=2",
                       "--cache-from", f"{registry.host}/bk/none:x",   # missing: a warning
                       "--cache-from", f"type=registry,ref={cache}")
    assert f"WARNING: cache {registry.host}/bk/none:x not imported" in out
    assert third == {"tools 2/2": "CACHED", "stage-1 2/6": "CACHED",   # COPY a.txt
                     "stage-1 3/6": "DONE", "stage-1 4/6": "DONE",     # RUN reads V; COPY d on it
                     "stage-1 5/6": "DONE", "stage-1 6/6": "DONE"}
    assert c("run", "--rm", "app:2", "cat", "/v").stdout == "2\n"


def test_mode_min_and_local_directories(machine, busybox_tar: Path, registry, tmp_path: Path) -> None:
    base = f"{registry.host}/bk/base:2"
    a, b, c = machine("a"), machine("b"), machine("c")
    a("import", str(busybox_tar), base)
    a("push", base)
    ctx = make_context(tmp_path / "ctx", base, 1_000_000)
    mind, maxd = tmp_path / "cache-min", tmp_path / "cache-max"
    build(a, ctx, "-t", "app:1", "--cache-to", f"type=local,dest={mind}",
          "--cache-to", f"type=local,dest={maxd},mode=max")
    index = json.loads((maxd / "index.json").read_text())
    manifest = json.loads((maxd / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    assert manifest["config"]["mediaType"] == "application/vnd.buildkit.cacheconfig.v0"
    config = json.loads((maxd / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text())
    assert len(config["records"]) == 6 and len(manifest["layers"]) == 6
    _, with_min = build(b, ctx, "--cache-from", f"type=local,src={mind}")
    assert with_min["tools 2/2"] == "DONE"   # not in the final image
    assert {v for k, v in with_min.items() if k.startswith("stage-1")} == {"CACHED"}
    _, with_max = build(c, ctx, "--cache-from", f"type=local,src={maxd}")
    assert set(with_max.values()) == {"CACHED"}


def explained(progress: str) -> dict[str, str]:
    """`miss [step]: reason` lines of the `[internal] explain cache` vertex: step -> reason."""
    out = {}
    for line in progress.splitlines():
        m = re.search(r"miss \[([^\]]+)\] [^:]*?: (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_explain_cache_in_buildkit_mode(dockyard: Dockyard, busybox: str, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", "busybox", 1_000_000)
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(base="busybox").replace("FROM busybox AS tools\nRUN echo tool > /tool\n", "FROM busybox AS tools\nRUN echo tool > /tool\n"))

    def run(*args: str) -> dict[str, str]:
        r = dockyard("build", "--progress", "plain", "--explain-cache", *args, str(ctx), env=BK)
        return explained(r.stderr)

    first = run()
    assert first["stage-1 2/6"] == "not built before on this parent"
    assert first["stage-1 3/6"] == "parent changed at [stage-1 2/6] COPY a.txt /a.txt"
    assert run() == {}
    (ctx / "d" / "f").write_text("changed")
    (ctx / "d" / "new").write_text("new")
    changed = run()
    assert changed["stage-1 4/6"] == "files changed: d/f (content), d/new (added)"
    assert set(changed) == {"stage-1 4/6", "stage-1 5/6", "stage-1 6/6"}
    args = run("--build-arg", "V=2")
    assert args == {"stage-1 3/6": 'build arg V changed: "1" -> "2"',
                    "stage-1 4/6": 'parent changed at [stage-1 3/6] RUN echo "2" > /v && cat /a.txt > /copy',
                    "stage-1 5/6": 'parent changed at [stage-1 3/6] RUN echo "2" > /v && cat /a.txt > /copy',
                    "stage-1 6/6": 'parent changed at [stage-1 3/6] RUN echo "2" > /v && cat /a.txt > /copy'}
    assert set(run("--no-cache").values()) == {"--no-cache"}
