"""BuildKit mode's build cache through the docker CLI 20.10 against dockyard serve: `docker system
df` lists it (it showed none), `docker builder prune` removes it (it answered "0B" and removed
nothing, so the cache grew without end), and `docker system prune -a` ends with it, as dockerd's
do. Without -a a prune keeps the records whose layer an image still uses (removing them would free
nothing) and empties every cache mount; a rebuild after a prune runs its steps again."""

from __future__ import annotations

import json
import re
import subprocess

from tests.api.test_docker_cli import docker

DOCKERFILE = """FROM busybox
RUN --mount=type=cache,target=/c echo hi >> /c/f; cat /c/f | wc -l; head -c 100000 /dev/urandom > /big
RUN echo two > /two
"""


def _cache_row(cli_env) -> list[str]:  # noqa: ANN001
    line = next(l for l in docker(cli_env, "system", "df").stdout.decode().splitlines()
                if l.startswith("Build Cache"))
    return line.split()[2:]


def _cells(text: str) -> list[list[str]]:
    """A table's cells, a relative time (`N seconds ago`, `Up N seconds`) as `AGO`."""
    return [["AGO" if cell.endswith(" ago") or cell.startswith("Up ") else cell
             for cell in re.split(r"\s{2,}", line.strip())]
            for line in text.splitlines()]


def test_system_df_and_builder_prune(server, cli_env, dockyard, busybox, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    build = ["build", "--progress=plain", "-t", "cached", str(tmp_path)]
    dockyard(*build, env={"DOCKER_BUILDKIT": "1"})
    assert _cache_row(cli_env)[:2] == ["3", "0"]          # two step records and the cache mount
    # the in-process `dockyard system df` prints what the docker CLI prints from the same store
    dockyard("run", "-d", "--name", "df-user", "-v", "df-vol:/v", "busybox", "sh", "-c",
             "head -c 20000 /dev/zero > /v/f; head -c 30000 /dev/zero > /f; sleep 100")
    dockyard("run", "--name", "df-done", "-v", "df-other:/v", "busybox", "sh", "-c", "head -c 7000 /dev/zero > /v/f")
    dockyard("exec", "df-user", "sh", "-c", "while [ ! -s /f ] || [ ! -s /v/f ]; do sleep 0.05; done")
    assert dockyard("system", "df").stdout == docker(cli_env, "system", "df").stdout.decode()
    # and -v's tables, as the docker 20.10 CLI prints them (its times, `N seconds ago`, may cross a
    # second between the two; the docker 23+ CLI on PATH prints an image's size with 3 digits)
    verbose = dockyard("system", "df", "-v").stdout
    theirs = subprocess.run(["/usr/bin/docker", "system", "df", "-v"], env=cli_env, capture_output=True, check=True)
    assert _cells(verbose) == _cells(theirs.stdout.decode()), verbose
    assert ["df-vol", "1", "20kB"] in [line.split() for line in verbose.splitlines()] and "regular" in verbose
    dockyard("rm", "-f", "df-user", "df-done")
    verbose = docker(cli_env, "system", "df", "-v").stdout.decode()
    assert "exec.cachemount" in verbose and verbose.count("regular") == 2
    # the image still uses both layers: only the cache mount goes
    out = docker(cli_env, "builder", "prune", "-f").stdout.decode()
    assert out.count("\n") >= 2 and _cache_row(cli_env)[:1] == ["2"]
    rebuilt = dockyard(*build, env={"DOCKER_BUILDKIT": "1"}).stderr
    hits = rebuilt.count("CACHED")                        # the records still hit (and FROM)
    assert hits >= 2
    docker(cli_env, "rmi", "cached")
    assert _cache_row(cli_env)[2].endswith("kB")          # the layers are the cache's alone now
    # a record has no labels: `label=x` keeps them all (dockerd 20.10 takes label and ignores it)
    out = docker(cli_env, "builder", "prune", "-f", "--filter", "label=x").stdout.decode()
    assert "Deleted" not in out and _cache_row(cli_env)[:1] == ["2"], out
    out = docker(cli_env, "builder", "prune", "-f", "--filter", "label!=x").stdout.decode()
    assert "Total reclaimed space: 100" in out and _cache_row(cli_env)[:1] == ["0"]
    assert len(dockyard.store.layers.all()) == 1          # busybox's: the steps' layers went
    rebuilt = dockyard(*build, env={"DOCKER_BUILDKIT": "1"}).stderr
    # both steps ran again, and the cache mount held no file: the line counted is the first
    assert rebuilt.count("CACHED") <= hits - 2 and re.search(r"#\d+ [\d.]+ 1\n", rebuilt), rebuilt
    out = docker(cli_env, "system", "prune", "-a", "-f").stdout.decode()
    assert "Deleted build cache objects:" in out and _cache_row(cli_env)[:1] == ["0"]
    # API 1.42's `type`: only the sections asked for (dockyard answered every section)
    reply = server.raw(b"GET /v1.42/system/df?type=volume&type=build-cache HTTP/1.0\r\nHost: x\r\n\r\n")
    assert sorted(json.loads(reply.partition(b"\r\n\r\n")[2])) == ["BuildCache", "BuilderSize", "Volumes"], reply
    assert b" 400 " in server.raw(b"GET /v1.42/system/df?type=nope HTTP/1.0\r\nHost: x\r\n\r\n").split(b"\r\n")[0]
    r = docker(cli_env, "builder", "prune", "-f", "--filter", "type=regular", check=False)
    assert r.returncode != 0 and b"Invalid filter 'type'" in r.stderr
