"""A build cache shared through a registry: a 10-step build on a fresh machine, cold and with the
cache of an earlier build on another machine, dockyard next to dockerd 20.10 in one run.

Run (as root): .venv/bin/python bench/bench_cache.py [--runs 3]
It starts a docker-registry on 127.0.0.1 and its own dockerd (Debian's docker.io, private paths,
no bridge), and stops them at the end. The base image is in the registry; each timed build starts
from a store that has pulled only the base (a fresh dockyard store; dockerd with every other
image and its build cache removed), so the timings are what a fresh CI runner pays:
  cold               build with nothing cached (one RUN is ~1 s of shell arithmetic, standing
                     for a compile step; another writes a 20 MB layer);
  classic cache-from pull the earlier build's image, then `build --cache-from IMAGE` (Docker
                     20.10's classic rules: its history is the cache; nothing runs);
  registry cache     dockyard's BuildKit mode (DOCKER_BUILDKIT=1): the earlier machine exported
                     `--cache-to type=registry,ref=...,mode=max`; `build --cache-from type=registry,
                     ref=...` (the cache config, then the layers of the steps that hit);
  BuildKit inline    dockerd's own BuildKit (DOCKER_BUILDKIT=1) with the earlier build pushed with
                     `--build-arg BUILDKIT_INLINE_CACHE=1`: `build --cache-from IMAGE` (BuildKit
                     fetches the cache from the registry, then the layers it needs).
Median and best of N (seconds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_build import Docker  # noqa: E402
from common import DOCKYARD, REPO, print_table, run_timed  # noqa: E402

from tests.registry.registryd import RegistryServer  # noqa: E402

DOCKERFILE = """\
FROM {base}
ARG V=1
ENV A=1
COPY small /small
RUN dd if=/dev/urandom of=/blob bs=1M count=20 2>/dev/null
RUN i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done; echo "$V $i" > /v
WORKDIR /app
COPY app /app
RUN ls -lR /app > /list
LABEL bench=cache
CMD ["sh"]
"""


def make_context(path: Path, base: str) -> Path:
    (path / "app").mkdir(parents=True)
    (path / "small").write_text("small\n")
    for i in range(200):
        (path / "app" / f"f{i}.txt").write_text(f"file {i}\n" * 50)
    (path / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    return path


def timed(prepare: Callable[[], None], steps: list[tuple[list[str], dict[str, str]]], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        prepare()
        parts = [run_timed(cmd, env=env).seconds for cmd, env in steps]
        if os.environ.get("BENCH_VERBOSE"):
            print(" + ".join(f"{p:.2f}" for p in parts), [c[3] if c[0].endswith("python") else c[3] for c, _ in steps], file=sys.stderr)
        out.append(sum(parts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-", dir="/var/tmp"))
    registry = RegistryServer(work / "registry").start()
    (work / "docker").mkdir()
    docker = Docker(None, work / "docker")
    plain_cmd = docker.cmd
    docker.cmd = lambda *args: ["/usr/bin/docker", *plain_cmd(*args)[1:]]  # type: ignore[method-assign]  # the 20.10 CLI
    rows: list[list[str]] = []
    try:
        host = registry.host
        base, image = f"{host}/bench/base:1", f"{host}/bench/app:1"
        bb = work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(bb)], check=True)
        ctx = make_context(work / "ctx", base)
        seed = {**os.environ, "DOCKYARD_ROOT": str(work / "seed")}
        subprocess.run([*DOCKYARD, "import", str(bb), base], env=seed, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*DOCKYARD, "push", base], env=seed, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*DOCKYARD, "build", "--network", "none", "-t", image, str(ctx)], env=seed, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*DOCKYARD, "push", image], env=seed, check=True, stdout=subprocess.DEVNULL)

        stores = iter(range(10_000))
        fresh_env: dict[str, str] = {}

        def fresh_store() -> None:
            root = work / f"store-{next(stores)}"
            fresh_env.clear()
            fresh_env.update({**os.environ, "DOCKYARD_ROOT": str(root)})
            subprocess.run([*DOCKYARD, "pull", base], env=fresh_env, check=True, stdout=subprocess.DEVNULL)

        cold = timed(fresh_store, [([*DOCKYARD, "build", "--network", "none", "--no-cache", str(ctx)], fresh_env)], opts.runs)
        warm = timed(fresh_store, [([*DOCKYARD, "pull", image], fresh_env),
                                   ([*DOCKYARD, "build", "--network", "none", "--cache-from", image, str(ctx)], fresh_env)], opts.runs)
        rows += [["dockyard", "cold (classic)", *stats(cold)], ["dockyard", "classic cache-from", *stats(warm)]]

        # BuildKit mode: the seed machine exports its cache (mode=max) to the registry
        bk = {**seed, "DOCKER_BUILDKIT": "1"}
        subprocess.run([*DOCKYARD, "build", "--network", "none", "--cache-to",
                        f"type=registry,ref={host}/bench/cache:bk,mode=max", str(ctx)], env=bk, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bk_env: dict[str, str] = {}

        def fresh_bk() -> None:
            fresh_store()
            bk_env.clear()
            bk_env.update({**fresh_env, "DOCKER_BUILDKIT": "1"})

        bcold_dy = timed(fresh_bk, [([*DOCKYARD, "build", "--network", "none", "--no-cache", str(ctx)], bk_env)],
                         opts.runs)
        bwarm_dy = timed(fresh_bk, [([*DOCKYARD, "build", "--network", "none", "--cache-from",
                                      f"type=registry,ref={host}/bench/cache:bk", str(ctx)], bk_env)], opts.runs)
        rows += [["dockyard", "cold (BuildKit mode)", *stats(bcold_dy)],
                 ["dockyard", "BuildKit mode, registry cache", *stats(bwarm_dy)]]

        classic = {**docker.env, "DOCKER_BUILDKIT": "0"}
        buildkit = {**docker.env, "DOCKER_BUILDKIT": "1"}
        dimage, dinline = f"{host}/bench/docker:1", f"{host}/bench/inline:1"
        subprocess.run(docker.cmd("pull", base), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(docker.cmd("build", "--network", "none", "-t", dimage, str(ctx)), env=classic, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(docker.cmd("push", dimage), check=True, stdout=subprocess.DEVNULL)
        inline = subprocess.run(docker.cmd("build", "--network", "none", "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", dinline,
                                           str(ctx)), env=buildkit, capture_output=True)
        inline_ok = inline.returncode == 0
        if not inline_ok:
            print("dockerd's BuildKit failed:", inline.stderr.decode(errors="replace")[-600:], file=sys.stderr)
        if inline_ok:
            subprocess.run(docker.cmd("push", dinline), check=True, stdout=subprocess.DEVNULL)

        def fresh_docker() -> None:
            for name in (dimage, dinline):
                subprocess.run(docker.cmd("rmi", "-f", name), capture_output=True)
            subprocess.run(docker.cmd("image", "prune", "-af", "--filter", "label=bench=cache"), capture_output=True)
            subprocess.run(docker.cmd("image", "prune", "-f"), capture_output=True)
            subprocess.run(docker.cmd("builder", "prune", "-af"), capture_output=True)

        dcold = timed(fresh_docker, [(docker.cmd("build", "--network", "none", "--no-cache", str(ctx)), classic)], opts.runs)
        dwarm = timed(fresh_docker, [(docker.cmd("pull", dimage), classic),
                                     (docker.cmd("build", "--network", "none", "--cache-from", dimage, str(ctx)), classic)], opts.runs)
        rows += [["dockerd 20.10", "cold (classic)", *stats(dcold)],
                 ["dockerd 20.10", "classic cache-from", *stats(dwarm)]]
        if inline_ok:
            bcold = timed(fresh_docker, [(docker.cmd("build", "--network", "none", "--no-cache", str(ctx)), buildkit)], opts.runs)
            bwarm = timed(fresh_docker, [(docker.cmd("build", "--network", "none", "--cache-from", dinline, str(ctx)), buildkit)],
                          opts.runs)
            rows += [["dockerd 20.10", "cold (BuildKit)", *stats(bcold)],
                     ["dockerd 20.10", "BuildKit inline cache", *stats(bwarm)]]
        else:
            rows.append(["dockerd 20.10", "BuildKit inline cache", "n/a", "n/a"])
        print_table(f"a 10-step build on a fresh machine (base pulled), cold vs the cache of another "
                    f"machine through a registry; {opts.runs} runs, seconds",
                    ["engine", "case", "median", "best"], rows)
    finally:
        docker.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def stats(values: list[float]) -> list[str]:
    return [f"{statistics.median(values):.2f}", f"{min(values):.2f}"]


if __name__ == "__main__":
    main()
