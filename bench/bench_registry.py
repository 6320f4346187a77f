"""push and pull of a large image through a real registry (docker-registry, plain HTTP on 127.0.0.1):
dockyard against `skopeo copy` of the same image to/from the same registry and, where a dockerd of
our own can start, against `docker push`/`docker pull`. The bar (issue #6) is a ratio <= 1.0.

    .venv/bin/python bench/bench_registry.py [--mb 500] [--runs 2] [--layers 5]

The image is built by `dockyard build` from a Dockerfile of `--layers` COPY instructions; each layer
is half random bytes and half text of random words (gzip gets ~3x), so compression has real work.
Every repetition uses fresh stores and a fresh registry, so nothing is skipped as "already exists"
except in the "second push" case, where skipping everything is the point.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, REPO, Timing, print_table, run_timed  # noqa: E402
from bench_save_load import best  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.registry.registryd import RegistryServer  # noqa: E402

DOCKER_SOCK = "/run/bench-reg.sock"
DOCKER_DATA = Path("/tmp/bench-reg-docker")
DOCKER_EXEC = Path("/tmp/bench-reg-exec")
DOCKER_PID = Path("/tmp/bench-reg.pid")
FILE_MB = 5


def _word_text(size: int, seed: int) -> bytes:
    """`size` bytes of lines of random words from a 2000-word vocabulary (compresses about 3x)."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(2000)]
    out: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choices(vocab, k=12)) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def make_context(work: Path, mb: int, layers: int) -> Path:
    """A build context whose Dockerfile COPYs `layers` dirs of ~mb/layers MB each, half random, half text."""
    ctx = work / "ctx"
    ctx.mkdir()
    text = _word_text(8 << 20, 1)          # 8 MB of text; each file takes a different window of it
    per_layer = max(2 * FILE_MB, mb // layers)
    files = per_layer // FILE_MB // 2        # pairs of (random, text) files of FILE_MB each
    n = 0
    for layer in range(layers):
        d = ctx / f"layer{layer}"
        d.mkdir()
        for i in range(files):
            (d / f"random{i:03d}.bin").write_bytes(os.urandom(FILE_MB << 20))
            start = (n * 977_111) % (len(text) - (FILE_MB << 20))
            n += 1
            (d / f"words{i:03d}.txt").write_bytes(f"{layer}/{i}\n".encode() + text[start:start + (FILE_MB << 20)])
    lines = ["FROM scratch"] + [f"COPY layer{i} /layer{i}" for i in range(layers)] + ['CMD ["/nothing"]']
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    return ctx


@dataclass
class Docker:
    """Our own dockerd (Debian's docker.io) on its own socket and data root."""
    proc: subprocess.Popen
    env: dict

    @classmethod
    def start(cls, config_dir: Path) -> "Docker | str":
        for p in (DOCKER_DATA, DOCKER_EXEC):
            shutil.rmtree(p, ignore_errors=True)
        log = open(config_dir.parent / "dockerd.log", "wb")
        proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "-H", f"unix://{DOCKER_SOCK}",
                                 "--data-root", str(DOCKER_DATA), "--exec-root", str(DOCKER_EXEC),
                                 "--pidfile", str(DOCKER_PID)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        env = {**os.environ, "DOCKER_HOST": f"unix://{DOCKER_SOCK}", "DOCKER_CONFIG": str(config_dir)}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"dockerd exited ({proc.returncode}); see {config_dir.parent / 'dockerd.log'}"
            if subprocess.run(["docker", "info"], env=env, capture_output=True).returncode == 0:
                return cls(proc, env)
            time.sleep(0.3)
        proc.terminate()
        proc.wait(20)
        return "dockerd did not answer within 30 s"

    def run(self, *args: str) -> str:
        res = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"docker {' '.join(args)} failed: {res.stderr}")
        return res.stdout

    def timed(self, *args: str, out: Path) -> Timing:
        with open(out, "wb") as f:
            return run_timed(["docker", *args], env=self.env, stdout=f)

    def remove_all_images(self) -> None:
        ids = self.run("images", "-aq").split()
        if ids:
            self.run("rmi", "-f", *sorted(set(ids)))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for p in (DOCKER_DATA, DOCKER_EXEC):
            shutil.rmtree(p, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir="/var/tmp"))
    config = work / "docker-config"
    config.mkdir()
    base_env = {**os.environ, "DOCKER_CONFIG": str(config)}

    def dy_env(store: str) -> dict:
        return {**base_env, "DOCKYARD_ROOT": str(work / store)}

    def dy(store: str, *cmd: str) -> None:
        run_timed(DOCKYARD + list(cmd), env=dy_env(store))

    def dy_timed(store: str, *cmd: str) -> Timing:
        return run_timed(DOCKYARD + list(cmd), env=dy_env(store))

    docker: Docker | None = None
    docker_note = "not tried (--no-docker)"
    registries: list[RegistryServer] = []
    rows: dict[str, dict[str, list[Timing]]] = {
        case: {"dockyard": [], "skopeo": [], "docker": []}
        for case in ("push (first, compresses)", "push again (nothing to upload)", "pull into empty store")}
    pull_check: list[str] = []
    try:
        t0 = time.perf_counter()
        ctx = make_context(work, args.mb, args.layers)
        dy("src", "build", "-q", "-t", "bench/big:latest", str(ctx))
        shutil.rmtree(ctx)
        archive = work / "big.tar"
        dy("src", "save", "-o", str(archive), "bench/big:latest")
        size_mb = archive.stat().st_size / 1e6
        print(f"image built and saved ({size_mb:.0f} MB, {args.layers} layers) in "
              f"{time.perf_counter() - t0:.0f} s; work dir {work}", flush=True)
        if not args.no_docker:
            started = Docker.start(config)
            if isinstance(started, str):
                docker_note = started
            else:
                docker, docker_note = started, "dockerd " + started.run("version", "-f", "{{.Server.Version}}").strip()

        def new_registry(name: str) -> RegistryServer:
            reg = RegistryServer(work / name).start()
            registries.append(reg)
            return reg

        for r in range(args.runs):
            push_first, push_again, pull = rows.values()
            # dockyard: a fresh store holding the image (load untimed), a fresh registry.
            reg = new_registry(f"reg-dy{r}")
            store = f"push-dy{r}"
            dy(store, "load", "-i", str(archive))
            dy(store, "tag", "bench/big:latest", f"{reg.host}/big:latest")
            push_first["dockyard"].append(dy_timed(store, "push", "-q", f"{reg.host}/big:latest"))
            push_again["dockyard"].append(dy_timed(store, "push", "-q", f"{reg.host}/big:latest"))
            shutil.rmtree(work / store)
            # The pull source for all three tools: the image dockyard pushed (same bytes for all).
            src = f"{reg.host}/big:latest"
            pull["dockyard"].append(dy_timed(f"pull-dy{r}", "pull", "-q", src))
            shutil.rmtree(work / f"pull-dy{r}")

            # skopeo: docker-archive -> registry (compresses), again, then registry -> dir: (empty).
            reg_sk = new_registry(f"reg-sk{r}")
            sk_dest = f"docker://{reg_sk.host}/big:latest"
            sk_push = ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{archive}", sk_dest]
            push_first["skopeo"].append(run_timed(sk_push))
            push_again["skopeo"].append(run_timed(sk_push))
            dest_dir = work / f"pull-sk{r}"
            pull["skopeo"].append(run_timed(["skopeo", "copy", "-q", "--src-tls-verify=false",
                                             f"docker://{src}", f"dir:{dest_dir}"]))
            shutil.rmtree(dest_dir)

            if docker is not None:
                reg_dk = new_registry(f"reg-dk{r}")
                docker.remove_all_images()
                docker.run("load", "-i", str(archive))
                docker.run("tag", "bench/big:latest", f"{reg_dk.host}/big:latest")
                log = work / f"docker-push{r}.log"
                push_first["docker"].append(docker.timed("push", f"{reg_dk.host}/big:latest", out=log))
                push_again["docker"].append(docker.timed("push", f"{reg_dk.host}/big:latest", out=log))
                again = log.read_text()
                if again.count("Layer already exists") < args.layers:
                    print(f"warning: docker's second push did not skip every layer:\n{again}", flush=True)
                docker.remove_all_images()
                log = work / f"docker-pull{r}.log"
                pull["docker"].append(docker.timed("pull", src, out=log))
                out = log.read_text()
                pull_check.append(f"docker pull run {r + 1}: {out.count('Pull complete')} x 'Pull complete', "
                                  f"{out.count('Already exists')} x 'Already exists'")
                docker.remove_all_images()
            for reg in registries:
                reg.stop()
                shutil.rmtree(reg.root, ignore_errors=True)
            registries.clear()
            print(f"run {r + 1}/{args.runs} done", flush=True)

        def cell(ts: list[Timing]) -> str:
            return f"{best(ts).seconds:.2f}" if ts else "-"

        def ratio(a: list[Timing], b: list[Timing]) -> str:
            return f"{best(a).seconds / best(b).seconds:.2f}" if a and b else "-"

        table = [[case, cell(t["dockyard"]), cell(t["skopeo"]), cell(t["docker"]),
                  ratio(t["dockyard"], t["skopeo"]), ratio(t["dockyard"], t["docker"]),
                  f"{best(t['dockyard']).peak_rss_mb:.0f}"] for case, t in rows.items()]
        print_table(f"registry push/pull of a {size_mb:.0f} MB image ({args.layers} layers, half random, "
                    f"half text), best of {args.runs}; {docker_note}",
                    ["case", "dockyard s", "skopeo s", "docker s", "ratio vs skopeo", "ratio vs docker",
                     "dockyard peak RSS MB"], table)
        print("\nnotes: skopeo's pull writes the compressed blobs to dir: (no decompression, no unpacking);"
              " dockyard and docker pull decompress and store the layers.")
        startup = best([dy_timed("empty", "images") for _ in range(3)])
        print(f"dockyard interpreter start + `dockyard images` on an empty store: {startup.seconds:.2f} s "
              f"(the floor of every dockyard cell)")
        for line in pull_check:
            print(line)
    finally:
        for reg in registries:
            reg.stop()
        if docker is not None:
            docker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
