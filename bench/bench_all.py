"""Every row of issue #18 in one side-by-side run: dockyard in-process and as a client of
`dockyard serve`, next to the peers a user would pick instead (Docker's classic builder and
BuildKit through a reference dockerd, buildah, skopeo), with the ratio to the best peer.

Run (as root, from a checkout with .venv):
    .venv/bin/python bench/bench_all.py                   # every row, full sizes (~15 min)
    .venv/bin/python bench/bench_all.py --quick           # small sizes, 1 run each (~3 min)
    .venv/bin/python bench/bench_all.py --rows c,d --runs 5 --context-mb 200

Rows (seconds; a median of --runs unless said):
  a  8-step build, cold (--no-cache): a median of at least 7, each run building once with every
     column in turn (a burst of the shared machine's load then falls on all columns alike)
  b  the same, fully cached (best of 7: it takes milliseconds)
  c  a context of --context-files files / --context-mb MB (`COPY . /ctx/`), cold (--no-cache)
  d  the same after changing one file (the COPY misses; the context is otherwise as before)
  (a, c, d: each run builds once with every column in turn, the first column turning each run)
  e  per `RUN true` step: (21 steps - 1 step) / 20, cold; each run, every column in turn builds
     the 1-step Dockerfile then at once the 21-step one; a note gives runc's floor (`runc run` of a
     step's own bundle, 20 times) and how far each dockyard column is above it
  f  commit of a container that wrote --image-mb MiB (after a `sync`: whichever commit ran first
     paid for writing the container's dirty pages; in-process ran first and took 0.8 s more)
  g  save, then load, of an --image-mb MiB image (5 layers, half random, half text)
  h  push to an empty registry (compresses), pull into an empty store; and the first
     `run --rm IMAGE true` of the pulled image next to that of the loaded one (each transfer,
     every tool's, after a `sync`: none pays for the dirty pages of the command before it)
  memory: the peak RSS of dockyard on each row (in-process: the CLI process, wait4; through
     serve: the server's VmHWM, reset before each row through /proc/PID/clear_refs)

Columns: `dockyard` is the in-process CLI (no daemon). `dy -H` is dockyard as a client of
`dockyard serve`: the dockyard CLI in client mode for builds (on one host it names its context
directory instead of sending a tar, api/local_context.py), the docker CLI 28 for the commands the
dockyard CLI has no client mode for (commit, save, load, push, pull). `docker->dy` is the docker
CLI 28 (DOCKER_BUILDKIT=0) against `dockyard serve`: the tar protocol every docker client uses.
Peers: `classic` (DOCKER_BUILDKIT=0) and `buildkit` (DOCKER_BUILDKIT=1) with Debian's docker
20.10 CLI against one reference dockerd started here on its own paths (--bridge=none
--iptables=false, stopped by pid); `buildah` (its own --root/--runroot, vfs... overlay storage);
`skopeo` (docker-archive -> registry, registry -> dir:); the registry is docker-registry on
127.0.0.1, a fresh one for each push. Builds run with --network=host everywhere, so no engine
pays for a network namespace.

The last table gives each row's ratio to the best peer and the goal of #18. The floors (what the
disk, sha256, the compressor and the interpreter cost for the same bytes) are the notes under it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, REPO, Timing, cpu_of, print_table, run_timed  # noqa: E402
from inputs import make_big, make_runs, make_small  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.dockerd import DockerDaemon  # noqa: E402
from tests.registry.registryd import RegistryServer  # noqa: E402

CLI = str(REPO / ".venv" / "bin" / "dockyard")   # the console script, as installed
DOCKER20 = "/usr/bin/docker"                     # Debian's 20.10 CLI (classic and BuildKit)
DOCKER28 = "/usr/local/bin/docker"               # the 28.x CLI, a client of dockyard serve

WRITE = ("mkdir /data; i=0; while [ $i -lt {n} ]; do head -c 10485760 /dev/urandom > /data/f$i; "
         "i=$((i+1)); done; echo done; sleep 100000")
# Row b's store grown by 500 images (100 other builds of 5 steps on busybox): the classic cache
# lookup must not pay for images that are not the step's candidates.
FATTEN = r"""
import json, os
from pathlib import Path
from dockyard.store.store import Store
store = Store(Path(os.environ["DOCKYARD_ROOT"]))
bb = store.resolve("busybox")
image = store.image(bb)
for c in range(100):
    parent = bb
    for j in range(5):
        data = json.loads(image.raw_config)
        data["container_config"] = dict(data.get("container_config") or {},
                                        Cmd=["/bin/sh", "-c", f"#(nop) LABEL chain={c} step={j}"])
        parent = store.add_image(json.dumps(data).encode(), list(image.layers), parent=parent,
                                 publish=False).id
store.publish_images()
"""
PULL_FLOOR = r"""
import hashlib, sys
from pathlib import Path
from isal import igzip
for blob in Path(sys.argv[1]).rglob("*"):
    if not blob.is_file():
        continue
    h, t = hashlib.sha256(), hashlib.sha256()
    with open(blob, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != b"\x1f\x8b":
            continue
        while data := f.read(1 << 20):
            h.update(data)
        f.seek(0)
        with igzip.open(f) as z:
            while data := z.read(1 << 20):
                t.update(data)
"""
PULL_WRITES = r"""
# What a pull writes, without making it: each blob's bytes as a pull writes its blob (written
# back as it goes, its pages dropped, fsynced) and each layer's content bytes as its tree's
# files (the image's 5 MiB files), all into new files of the store's file system
import os, sys
from pathlib import Path
from dockyard.atomic import Writeback
out = Path(sys.argv[1])
out.mkdir()
chunk = memoryview(os.urandom(1 << 20))
def fill(f, n, writeback=None):
    pos = 0
    while pos < n:
        pos += f.write(chunk[:min(n - pos, len(chunk))])
        if writeback is not None:
            writeback.advance(pos)
for i, arg in enumerate(sys.argv[2:]):
    kind, size = arg[0], int(arg[2:])
    if kind == "b":
        with open(out / f"blob{i}", "wb") as f:
            writeback = Writeback(f.fileno(), drop=True).follow()
            fill(f, size, writeback)
            writeback.stop()
            f.flush()
            os.fsync(f.fileno())
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    else:
        (out / f"tree{i}").mkdir()
        for j in range(0, size, 5 << 20):
            with open(out / f"tree{i}" / f"f{j}", "wb") as f:
                fill(f, min(5 << 20, size - j))
"""
PUSH_FLOOR = r"""
# What a push of these layer tars cannot go below in dockyard: its own gzip writer (the one a push
# uses: ISA-L level 2 in 1 MiB blocks, the blocks it cannot compress stored) and the sha256 of what
# it makes (the blob's digest).
import hashlib, sys
from dockyard.archive.compression import compressing_writer
class Sha256Sink:
    def __init__(self): self.h = hashlib.sha256()
    def write(self, data): self.h.update(data); return len(data)
for path in sys.argv[1:]:
    out = compressing_writer(Sha256Sink(), "gzip")
    with open(path, "rb") as f:
        while data := f.read(1 << 20):
            out.write(data)
    out.close()
"""
COMMIT_FLOOR = r"""
# What a commit of an upper dir cannot go below, each measured apart (the file bodies only; the
# upper dir's pages are in the cache, as the commit finds them after the bench's sync): the copy
# into one new file on the store's file system (sendfile, as the diff writer copies) with its
# fsync, and the sha256 of the same bytes (hashlib, the diff ID's hash). A commit overlaps them
# (the disk writes back while the tar is written and hashed: a following atomic.Writeback).
import hashlib, json, os, sys, time
upper, tmp = sys.argv[1], sys.argv[2]
files = []
for top, dirs, names in os.walk(upper):
    dirs.sort()
    files += [os.path.join(top, n) for n in sorted(names) if os.path.isfile(os.path.join(top, n))]
start = time.perf_counter()
out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for name in files:
    fd = os.open(name, os.O_RDONLY)
    size, pos = os.fstat(fd).st_size, 0
    while pos < size:
        pos += os.sendfile(out, fd, pos, size - pos)
    os.close(fd)
copied = time.perf_counter() - start
os.fsync(out)
os.close(out)
synced = time.perf_counter() - start
os.unlink(tmp)
start = time.perf_counter()
buf = memoryview(bytearray(1 << 20))
for name in files:
    h = hashlib.sha256()
    with open(name, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(buf[:n])
hashed = time.perf_counter() - start
print(json.dumps({"copy": copied, "copy+fsync": synced, "sha256": hashed}))
"""

RUNC_FLOOR = r"""
# What a RUN step cannot go below: the runtime. The bundle a classic `RUN true` step runs (its
# spec as runtime/bundle writes it for a one-shot container: Docker's mounts, masked paths,
# default seccomp profile, cgroups; busybox's layers and the init layer under a volatile
# overlay), prepared once, then `runc run` of it N times with the arguments a step passes
# (--log, --log-format json, --pid-file), each to its end; wall (ms) and CPU (runc and its
# children, RUSAGE_CHILDREN) per run: best and median. And the overlay's mount+umount alone.
import json, os, resource, statistics, subprocess, sys, time
from pathlib import Path
from dockyard.runtime import bundle, leftover, oneshot, rootfs
from dockyard.runtime.containers import CreateOptions
from dockyard.runtime.hostconfig import HostConfig
from dockyard.store.store import Store
store = Store(Path(os.environ["DOCKYARD_ROOT"]))
image = store.image(store.resolve("busybox"))
opts = CreateOptions(image=str(image.id), cmd=["/bin/sh", "-c", "true"], entrypoint=[], env=[],
                     host=HostConfig(network_mode="host"))
walls, cpus, mounts = [], [], []
with oneshot.made(store, opts, image.config.diff_ids, image.config.config) as shot:
    cdir = shot.cdir
    lowers = bundle.lowers(store, cdir, shot.record, oneshot._init_layer(store), image.config.diff_ids, None)
    for i in range(5):   # a fresh upper and work dir each (a volatile mount's work dir is not reused)
        d = [cdir.path / f"m{i}-{n}" for n in ("upper", "work")]
        for x in d:
            x.mkdir()
        t0 = time.perf_counter()
        rootfs.mount_overlay(store.root, lowers, d[0], d[1], cdir.merged, volatile=True)
        rootfs.unmount(cdir.merged)
        mounts.append(time.perf_counter() - t0)
    rootfs.mount_overlay(store.root, lowers, cdir.upper, cdir.work, cdir.merged, volatile=True)
    shot.mounted = True
    bundle.write_files(cdir, shot.record, fresh=True)
    bundle.write_spec(cdir, shot.record, fresh=True, runtime_id=shot.runtime_id)
    rt = shot.runtime
    for i in range(int(sys.argv[1])):
        pid_file = cdir.path / "init.pid"
        pid_file.unlink(missing_ok=True)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([rt.exe, "--root", str(rt.state_root), "--log", str(cdir.path / "runtime.log"),
                        "--log-format", "json", "run", "--bundle", str(cdir.path), "--pid-file",
                        str(pid_file), shot.runtime_id], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
leftover.release()
ms = lambda x: round(x * 1000, 1)
print(json.dumps({"runc run": ms(min(walls)), "runc run median": ms(statistics.median(walls)),
                  "runc cpu median": ms(statistics.median(cpus)), "overlay mount+umount": ms(min(mounts)),
                  "runs": len(walls)}))
"""
COLUMNS = ["dockyard", "dy -H", "docker->dy", "classic", "buildkit", "buildah", "skopeo"]
PEERS = ("classic", "buildkit", "buildah", "skopeo")
SERVE_COLUMNS = ("dy -H", "docker->dy")  # dockyard serve does their work
PEER_FAILURES = (SystemExit, AssertionError, RuntimeError, OSError)  # a peer's: a note and an empty cell


# --------------------------------------------------------------------------- inputs

def _word_text(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(2000)]
    out, total = [], 0
    while total < size:
        line = " ".join(rng.choices(vocab, k=12)) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def make_image_context(ctx: Path, mb: int, layers: int = 5, file_mb: int = 5) -> None:
    """COPY of `layers` directories of mb/layers MiB: half random bytes, half text (gzip ~3x)."""
    ctx.mkdir()
    text = _word_text(8 << 20, 1)
    files = max(1, mb // layers // file_mb // 2)
    n = 0
    for layer in range(layers):
        d = ctx / f"layer{layer}"
        d.mkdir()
        for i in range(files):
            (d / f"random{i:03d}.bin").write_bytes(os.urandom(file_mb << 20))
            start = (n * 977_111) % (len(text) - (file_mb << 20))
            n += 1
            (d / f"words{i:03d}.txt").write_bytes(f"{layer}/{i}\n".encode() + text[start:start + (file_mb << 20)])
    lines = ["FROM busybox"] + [f"COPY layer{i} /layer{i}" for i in range(layers)]
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- engines

class Serve:
    """`dockyard serve` on a private socket over the bench's store; its peak RSS per row."""

    def __init__(self, work: Path, env: dict) -> None:
        self.sock = work / "dockyard.sock"
        self.host = f"unix://{self.sock}"
        self.proc = subprocess.Popen([*DOCKYARD, "-H", self.host, "serve"], env=env, cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "wb"))
        deadline = time.monotonic() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dockyard serve did not start (see {work / 'serve.log'})")
            time.sleep(0.05)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5\n")

    def peak_mb(self) -> float:
        return self._status_mb("VmHWM")

    def rss_mb(self) -> float:
        """What the server holds now (between rows: what it kept of the requests before)."""
        return self._status_mb("VmRSS")

    def _status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


class Buildah:
    def __init__(self, work: Path) -> None:
        self.root, self.runroot = work / "root", work / "run"
        self.base = ["buildah", "--root", str(self.root), "--runroot", str(self.runroot),
                     "--storage-driver", "overlay"]

    def cmd(self, *args: str) -> list[str]:
        return [*self.base, *args]

    def stop(self) -> None:
        subprocess.run(self.cmd("rm", "--all"), capture_output=True)
        subprocess.run(self.cmd("rmi", "--all", "--force"), capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(self.root / "overlay")], capture_output=True)
        subprocess.run(["umount", "-l", str(self.root)], capture_output=True)


# --------------------------------------------------------------------------- the run

class Bench:
    def __init__(self, opts: argparse.Namespace, work: Path) -> None:
        self.opts, self.work = opts, work
        self.results: dict[str, dict[str, float]] = {}
        self.memory: dict[str, dict[str, float]] = {}
        self.serve_held: dict[tuple[str, str], float] = {}  # (row, column) -> serve's RSS when it began
        self.notes: list[str] = []
        self.env = {**os.environ, "DOCKYARD_ROOT": str(work / "store"),
                    "PYTHONPYCACHEPREFIX": str(work / "pyc"), "DOCKER_CONFIG": str(work / "docker-config")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        (work / "docker-config").mkdir()
        (work / "docker-config" / "config.json").write_text("{}\n")  # buildah reads it as its authfile
        self.docker: DockerDaemon | None = None
        self.serve: Serve | None = None
        self.buildah: Buildah | None = None
        self.registries: list[RegistryServer] = []

    # ---- helpers
    def record(self, row: str, column: str, seconds: float, rss: float | None = None) -> None:
        self.results.setdefault(row, {})[column] = seconds
        if rss is not None:
            self.memory.setdefault(row, {})[column] = max(rss, self.memory.get(row, {}).get(column, 0.0))

    def timed(self, cmd: list[str], env: dict | None = None, quiet: bool = True) -> Timing:
        return run_timed(cmd, env=env or self.env, stdout=subprocess.DEVNULL if quiet else None)

    def median(self, make_cmd, env: dict | None = None, runs: int | None = None, before=None) -> tuple[float, float]:
        """Median seconds and peak RSS of `runs` runs of make_cmd(i) (`before(i)` untimed)."""
        times, peak = [], 0.0
        for i in range(runs or self.opts.runs):
            if before is not None:
                before(i)
            t = self.timed(make_cmd(i), env)
            times.append(t.seconds)
            peak = max(peak, t.peak_rss_mb)
        return statistics.median(times), peak

    def dy(self, *args: str) -> list[str]:
        return [CLI, *args]

    def dyc(self, *args: str) -> list[str]:
        return [CLI, "-H", self.serve.host, *args]

    def docker_dy(self, *args: str) -> list[str]:
        return [DOCKER28, "-H", self.serve.host, *args]

    def classic(self, *args: str) -> list[str]:
        return [DOCKER20, *args]

    @property
    def classic_env(self) -> dict:
        return {**self.docker.env, "DOCKER_BUILDKIT": "0"}

    @property
    def buildkit_env(self) -> dict:
        return {**self.docker.env, "DOCKER_BUILDKIT": "1"}

    @property
    def docker_dy_env(self) -> dict:
        return {**self.env, "DOCKER_BUILDKIT": "0"}

    def serve_row(self, row: str, column: str, fn) -> None:  # noqa: ANN001
        """Run fn() (which records its seconds) with the server's peak RSS measured around it."""
        held = self.serve.rss_mb()
        self.serve.reset_peak()
        fn()
        peak = self.serve.peak_mb()
        if peak > self.memory.get(row, {}).get(column, 0.0):
            self.memory.setdefault(row, {})[column] = peak
            self.serve_held[(row, column)] = held

    def peer(self, row: str, column: str, fn) -> None:  # noqa: ANN001
        """A peer's measurement; its failure (a daemon another process broke...) is a note and
        an empty cell, not the end of the run."""
        try:
            fn()
        except PEER_FAILURES as exc:
            self.failed(row, column, exc)

    def failed(self, row: str, column: str, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self.notes.append(f"{row} {column}: failed ({first[:200]})")

    def run(self, cmd: list[str], env: dict | None = None) -> str:
        res = subprocess.run(cmd, env=env or self.env, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr[-2000:]}")
        return res.stdout

    def log(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # ---- set-up
    def start(self) -> None:
        bb = self.work / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), "-t", str(bb)], check=True,
                       stdout=subprocess.DEVNULL)
        self.run(self.dy("import", str(bb), "busybox:latest"))
        image = self.work / "busybox-image.tar"
        self.run(self.dy("save", "-o", str(image), "busybox:latest"))
        subprocess.run([DOCKYARD[0], "-m", "compileall", "-q", str(REPO / "dockyard")], env=self.env,
                       check=True, stdout=subprocess.DEVNULL)
        self.serve = Serve(self.work, self.env)
        if "docker" in self.opts.peers:
            base = self.work / "dockerd"
            base.mkdir()
            (base / "config").mkdir()
            self.docker = DockerDaemon(base)
            self.docker.start()
            self.docker("load", "-i", str(image))
        if "buildah" in self.opts.peers:
            self.buildah = Buildah(self.work / "buildah")
            self.run(self.buildah.cmd("pull", "-q", f"docker-archive:{image}"))
            self.run(self.buildah.cmd("tag", self.run(self.buildah.cmd("images", "-q")).split()[0],
                                      "docker.io/library/busybox:latest"))

    def stop(self) -> None:
        for reg in self.registries:
            reg.stop()
        if self.serve is not None:
            self.serve.stop()
        if self.docker is not None:
            self.docker.stop()
        if self.buildah is not None:
            self.buildah.stop()

    def registry(self) -> RegistryServer:
        reg = RegistryServer(self.work / f"registry{len(self.registries)}").start()
        self.registries.append(reg)
        return reg

    def drop_registry(self, reg: RegistryServer) -> None:
        reg.stop()
        self.registries.remove(reg)
        shutil.rmtree(reg.root, ignore_errors=True)

    # ---- build rows
    def build_row(self, row: str, ctx: Path, *, no_cache: bool, runs: int | None = None,
                  before=None, per: float = 1.0, best: bool = False, interleave: bool = False,
                  then: Path | None = None) -> None:  # noqa: ANN001
        """Each column's builds; `interleave`: every run builds once with each column in turn;
        `then` (with interleave): each column builds `ctx`, then at once `then`, and the run's
        time is the second's minus the first's (row e: one step, then 21)."""
        flags = ["--network=host"] + (["--no-cache"] if no_cache else [])
        tag = f"bench-{row}"
        agg = min if best else statistics.median
        # (column, command, env, run by serve, a peer)
        columns = [("dockyard", lambda c=ctx: self.dy("build", *flags, "-t", tag, str(c)), None, False, False),
                   ("dy -H", lambda c=ctx: self.dyc("build", *flags, "-t", tag, str(c)), None, True, False)]
        if self.opts.docker_dy:
            columns.append(("docker->dy", lambda c=ctx: self.docker_dy("build", *flags, "-t", tag, str(c)),
                            self.docker_dy_env, True, False))
        if self.docker is not None:
            columns.append(("classic", lambda c=ctx: self.classic("build", *flags, "-t", tag, str(c)),
                            self.classic_env, False, True))
            columns.append(("buildkit", lambda c=ctx: self.classic("build", "--progress=plain", *flags, "-t", tag, str(c)),
                            self.buildkit_env, False, True))
        if self.buildah is not None and row in ("a", "c", "d", "e"):
            columns.append(("buildah", lambda c=ctx: self.buildah.cmd("bud", "-q", "--layers", *flags, "-t", tag, str(c)),
                            None, False, True))
        if interleave:
            self.interleaved(row, columns, runs or self.opts.runs, agg, per, before, then)
            return

        def measure(column: str, make, env: dict | None) -> None:  # noqa: ANN001
            times, peak = [], 0.0
            for i in range(runs or self.opts.runs):
                if before is not None:
                    before(i)
                t = self.timed(make(), env)
                times.append(t.seconds)
                peak = max(peak, t.peak_rss_mb)
            self.record(row, column, agg(times) / per, peak)

        for column, make, env, served, peer in columns:
            def one(column: str = column, make=make, env: dict | None = env) -> None:  # noqa: ANN001
                measure(column, make, env)
            if served:
                self.serve_row(row, column, one)
            elif peer:
                self.peer(row, column, one)
            else:
                one()

    def interleaved(self, row: str, columns: list, runs: int, agg, per: float, before=None,  # noqa: ANN001
                    then: Path | None = None) -> None:
        """Every run times each column once, their order turning by one each run: a burst of
        the shared machine's load (another process's disk flush, its tests) then falls on the
        columns alike instead of on one column's runs, which a ratio of medians of 3 taken one
        column after the other swung with (row a's in-process time: 0.123 and 0.162 s in two
        quiet runs of the same code, BuildKit 0.143 and 0.144). `before(i)` (untimed) comes
        before each build: row d's change of one file."""
        times: dict[str, list[float]] = {column: [] for column, *_ in columns}
        peaks = dict.fromkeys(times, 0.0)
        held = self.serve.rss_mb()
        self.serve.reset_peak()
        for i in range(runs):
            turn = i % len(columns)
            for column, make, env, _served, peer in columns[turn:] + columns[:turn]:
                if column not in times:
                    continue  # a peer that failed
                if before is not None:
                    before(i)
                try:
                    t = self.timed(make(), env)
                    t2 = self.timed(make(then), env) if then is not None else None
                except PEER_FAILURES as exc:
                    if not peer:
                        raise
                    del times[column]
                    self.failed(row, column, exc)
                    continue
                times[column].append(t.seconds if t2 is None else t2.seconds - t.seconds)
                peaks[column] = max(peaks[column], t.peak_rss_mb, t2.peak_rss_mb if t2 else 0.0)
        serve_peak = self.serve.peak_mb()
        for column, make, env, served, peer in columns:
            if column in times:
                self.record(row, column, agg(times[column]) / per, serve_peak if served else peaks[column])
                if served:
                    self.serve_held[(row, column)] = held
        spread = ", ".join(f"{column} {min(t) / per:.3f}-{max(t) / per:.3f}" for column, t in times.items())
        self.notes.append(f"{row}: median of {runs} runs, the columns taking turns in each run (min-max s: {spread})")

    def row_ab(self) -> None:
        small = self.work / "small"
        make_small(small)
        self.log("row a: 8-step build, cold")
        self.build_row("a", small, no_cache=True, runs=max(self.opts.runs, 7), interleave=True)
        self.log("row b: 8-step build, fully cached (best of 7)")
        self.build_row("b", small, no_cache=False, runs=7, best=True)
        start = min(run_timed([DOCKYARD[0], "-c", "pass"], env=self.env).seconds for _ in range(7))
        # what a cached in-process classic build loads before it reads the store: the command's
        # module (dockyard/main.py runs a plain `build` line with it) and the classic builder,
        # which engine.build loads for a classic build only
        loads = "import dockyard.main, dockyard.cli.build_cmd, dockyard.builder.classic.builder"
        imports = min(run_timed([DOCKYARD[0], "-c", loads], env=self.env).seconds for _ in range(7))
        self.notes.append(f"b floor: the interpreter starts in {start * 1000:.0f} ms; with the in-process "
                          f"build's imports (cli.build_cmd, builder.classic) {imports * 1000:.0f} ms (best of 7)")
        # the same cached build in a copy of the store with 500 images more (other builds' steps)
        fat_env = {**self.env, "DOCKYARD_ROOT": str(self.work / "fat-store")}
        shutil.copytree(self.work / "store", fat_env["DOCKYARD_ROOT"], symlinks=True)
        subprocess.run([DOCKYARD[0], "-c", FATTEN], env=fat_env, check=True)
        build = self.dy("build", "--network=host", "-t", "bench-b", str(small))
        self.run(build, fat_env)
        fat = min(self.timed(build, fat_env).seconds for _ in range(7))
        shutil.rmtree(fat_env["DOCKYARD_ROOT"], ignore_errors=True)
        self.notes.append(f"b with 500 images more in the store (100 builds of 5 steps on busybox): "
                          f"{fat * 1000:.0f} ms (best of 7; row b's column dockyard above is the same build)")

    def row_cd(self) -> None:
        big = self.work / "big"
        make_big(big, self.opts.context_files, self.opts.context_mb)
        os.sync()  # the context on disk before a build is timed (a build's syncfs would write it)
        self.log(f"row c: {self.opts.context_files} files / {self.opts.context_mb} MB context, cold")
        self.build_row("c", big, no_cache=True, interleave=True)
        self.log("row d: the same, one file changed")
        counter = [0]

        def change(_: int) -> None:
            counter[0] += 1
            victim = big / "d07" / "s0" / "f7.bin"
            data = victim.read_bytes()
            victim.write_bytes(f"{counter[0]:08d}".encode() + data[8:])

        self.build_row("d", big, no_cache=False, before=change, interleave=True)
        hashing = run_timed(f"tar -C {big} -cf - . | sha256sum", shell=True).seconds
        copy = self.work / "floor-copy"
        creating = run_timed(f"mkdir {copy} && tar -C {big} -cf - . | tar -C {copy} -xf - && sync -f {copy}",
                             shell=True).seconds
        shutil.rmtree(copy)
        self.notes.append(f"c/d floor: the context through tar | sha256sum {hashing:.2f} s (what a COPY's "
                          f"checksum or a layer's diff ID costs), unpacked by tar -x into new files (and "
                          f"synced) {creating:.2f} s (what a RUN after the COPY needs: its layer's tree)")
        shutil.rmtree(big)

    def row_e(self) -> None:
        one, many = self.work / "runs1", self.work / "runs21"
        make_runs(one, 1)
        make_runs(many, 21)
        self.log("row e: per RUN step, (21 steps - 1 step) / 20")
        # each run: every column builds the 1-step Dockerfile then at once the 21-step one, the
        # columns taking turns: the two builds a difference is made of see the same load (one
        # column's 1-step builds and its 21-step builds minutes apart made its step swing by
        # 10-15 ms on a loaded machine)
        self.build_row("e", one, no_cache=True, per=20, interleave=True, then=many)
        runs = 20
        floor = json.loads(subprocess.run([DOCKYARD[0], "-c", RUNC_FLOOR, str(runs)], env=self.env, check=True,
                                          capture_output=True, text=True, cwd=REPO).stdout)
        self.notes.append(f"e floor: `runc run` of a RUN true step's own bundle (its spec as dockyard writes it, "
                          f"Docker's seccomp profile, cgroups and mounts) x{runs}: median {floor['runc run median']:.1f} ms "
                          f"(best {floor['runc run']:.1f}; CPU median {floor['runc cpu median']:.1f} ms), its overlay's "
                          f"mount+umount {floor['overlay mount+umount']:.1f} ms (best of 5)")
        cells = self.results.get("e", {})
        above = ", ".join(f"{c} {(cells[c] * 1000 - floor['runc run median']):+.1f} ms" for c in ("dockyard", "dy -H")
                          if c in cells)
        if above:
            self.notes.append(f"e: above runc's floor (the step minus runc's median): {above}")
        buildkit = cells.get("buildkit")
        if buildkit:
            self.notes.append(f"e floor: runc's median alone is {floor['runc run median'] / 1000 / buildkit:.2f} x "
                              f"BuildKit's step ({buildkit * 1000:.0f} ms), before any work of dockyard's")
        between = self._between_runcs(many)
        if between is not None:
            self.notes.append(f"e: between two steps' runcs (one in-process 21-step build under perf; "
                              f"bench_runstep.py): from one runc's exit to the next one's exec {between[0]:.1f} ms "
                              f"(median; ~1 ms of it runc's own exit), runc exec to exit {between[1]:.1f} ms, "
                              f"a step (exec to exec) {between[2]:.1f} ms")

    def _between_runcs(self, ctx: Path) -> tuple[float, float, float] | None:
        """dockyard's own path from one RUN's runtime to the next (the gap a step adds to
        runc's run), from the kernel's exec/exit events: None without perf."""
        if shutil.which("perf") is None:
            return None
        from bench_runstep import EVENTS, per_step, runc_spans

        data = self.work / "runstep.data"
        subprocess.run(["perf", "record", "-q", "-o", str(data), "-e", EVENTS, "-a", "--", *DOCKYARD, "build",
                        "-q", "--no-cache", "--network=host", "-t", "bench-e", str(ctx)],
                       env={**self.env, "DOCKER_BUILDKIT": "0"}, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=REPO)
        script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True).stdout
        data.unlink()
        return per_step(runc_spans(script, DOCKYARD[0]))

    # ---- f: commit
    def row_f(self) -> None:
        mb = self.opts.image_mb
        self.log(f"row f: commit of a container that wrote {mb} MiB")
        script = WRITE.format(n=max(1, mb // 10))
        cid = self.run(self.dy("run", "-d", "--network", "none", "busybox", "sh", "-c", script)).strip()
        self._wait_done(self.dy("logs", cid), self.env)
        counter = [0]

        def tag(_: int) -> str:
            counter[0] += 1
            return f"commit-bench:{counter[0]}"

        def dy_commit(column: str, make) -> None:  # noqa: ANN001
            times, peak = [], 0.0
            for i in range(self.opts.runs):
                name = tag(i)
                subprocess.run(["sync"])  # the container's 500 MiB (or the last commit's) on disk
                t = self.timed(make(name))
                times.append(t.seconds)
                peak = max(peak, t.peak_rss_mb)
                self.run(self.dy("rmi", name))
            self.record("f", column, statistics.median(times), peak)

        dy_commit("dockyard", lambda name: self.dy("commit", cid, name))
        self.serve_row("f", "dy -H", lambda: dy_commit("dy -H", lambda name: self.docker_dy("commit", cid, name)))
        upper = self.work / "store" / "containers" / cid / "upper"
        if upper.is_dir():
            floor = run_timed(f"tar -C {upper} -cf - . | sha256sum", shell=True).seconds
            self.notes.append(f"f floor: tar -c of the upper dir | sha256sum: {floor:.2f} s")
            subprocess.run(["sync"])
            parts = json.loads(subprocess.run([DOCKYARD[0], "-c", COMMIT_FLOOR, str(upper),
                                               str(self.work / "store" / "floor-commit")], env=self.env,
                                              check=True, stdout=subprocess.PIPE).stdout)
            self.notes.append(f"f floor, apart: the upper dir's bytes copied into a new file {parts['copy']:.2f} s, "
                              f"fsynced {parts['copy+fsync']:.2f} s; their sha256 {parts['sha256']:.2f} s (a "
                              f"commit overlaps all three: floor ~ the larger of copy+fsync and sha256)")
        self.run(self.dy("rm", "-f", cid))
        def docker_commit() -> None:
            dcid = self.docker("run", "-d", "--network", "none", "busybox", "sh", "-c", script).stdout.strip()
            try:
                self._wait_done([DOCKER20, "logs", dcid], self.docker.env)
                times = []
                for i in range(self.opts.runs):
                    name = tag(i)
                    subprocess.run(["sync"])
                    times.append(self.timed(self.classic("commit", dcid, name), self.docker.env).seconds)
                    self.docker("rmi", name)
                self.record("f", "classic", statistics.median(times))
            finally:
                self.docker("rm", "-f", dcid, check=False)

        if self.docker is not None:
            self.peer("f", "classic", docker_commit)

    @staticmethod
    def _wait_done(cmd: list[str], env: dict) -> None:
        for _ in range(12000):
            out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
            if b"done" in out:
                return
            time.sleep(0.1)
        raise SystemExit("the container did not finish writing")

    # ---- g and h: a large image
    def big_image(self) -> Path:
        archive = self.work / "big-image.tar"
        if archive.exists():
            return archive
        ctx = self.work / "image-ctx"
        self.log(f"building the {self.opts.image_mb} MiB image for rows g and h")
        make_image_context(ctx, self.opts.image_mb)
        self.run(self.dy("build", "-q", "-t", "bench/big:latest", str(ctx)))
        shutil.rmtree(ctx)
        self.run(self.dy("save", "-o", str(archive), "bench/big:latest"))
        return archive

    def row_g(self) -> None:
        archive = self.big_image()
        self.log("row g: save and load")
        out = self.work / "saved.tar"

        def fresh(_: int) -> None:
            out.unlink(missing_ok=True)

        for column, make, env in (
            ("dockyard", lambda _: self.dy("save", "-o", str(out), "bench/big:latest"), None),
            ("dy -H", lambda _: self.docker_dy("save", "-o", str(out), "bench/big:latest"), self.docker_dy_env),
        ):
            if column == "dy -H":
                self.serve_row("g save", column, lambda: self.record("g save", column, *self.median(make, env, before=fresh)))
            else:
                self.record("g save", column, *self.median(make, env, before=fresh))

        def unload(_: int) -> None:
            subprocess.run(self.dy("rmi", "bench/big:latest"), env=self.env, capture_output=True)

        self.record("g load", "dockyard", *self.median(lambda _: self.dy("load", "-q", "-i", str(archive)),
                                                       before=unload))
        self.serve_row("g load", "dy -H", lambda: self.record("g load", "dy -H", *self.median(
            lambda _: self.docker_dy("load", "-q", "-i", str(archive)), self.docker_dy_env, before=unload)))
        def docker_rows() -> None:
            self.docker("load", "-i", str(archive))
            self.record("g save", "classic", self.median(
                lambda _: self.classic("save", "-o", str(out), "bench/big:latest"), self.docker.env, before=fresh)[0])

            def docker_unload(_: int) -> None:
                self.docker("rmi", "bench/big:latest", check=False)

            self.record("g load", "classic", self.median(
                lambda _: self.classic("load", "-q", "-i", str(archive)), self.docker.env, before=docker_unload)[0])

        def buildah_rows() -> None:
            def buildah_unload(_: int) -> None:
                subprocess.run(self.buildah.cmd("rmi", "-f", "bench/big:latest"), capture_output=True)

            self.record("g load", "buildah", self.median(
                lambda _: self.buildah.cmd("pull", "-q", f"docker-archive:{archive}"), before=buildah_unload)[0])
            self.record("g save", "buildah", self.median(
                lambda _: self.buildah.cmd("push", "-q", "bench/big:latest", f"docker-archive:{out}"),
                before=fresh)[0])

        if self.docker is not None:
            self.peer("g", "classic", docker_rows)
        if self.buildah is not None:
            self.peer("g", "buildah", buildah_rows)
        out.unlink(missing_ok=True)

    def row_h(self) -> None:
        archive = self.big_image()
        self.log("row h: push and pull")
        times: dict[str, list[float]] = {"push": [], "pull": [], "sk push": [], "sk pull": [],
                                         "dk push": [], "dk pull": [], "run pulled": [], "run loaded": [],
                                         "push cpu": [], "push registry cpu": [], "pull cpu": [],
                                         "pull registry cpu": [], "push floor cpu": [], "pull floor cpu": [],
                                         "pull writes cpu": [], "pull start": [], "pull start cpu": []}
        peak_push = peak_pull = 0.0
        for r in range(self.opts.runs):
            reg = self.registry()
            ref = f"{reg.host}/big:latest"
            self.run(self.dy("tag", "bench/big:latest", ref))
            os.sync()  # every transfer starts with no other's dirty pages to write back (as row f)
            reg_cpu = cpu_of(reg.proc.pid)
            t = self.timed(self.dy("push", "-q", ref))
            times["push"].append(t.seconds)
            times["push cpu"].append(t.cpu)
            times["push registry cpu"].append(cpu_of(reg.proc.pid) - reg_cpu)
            peak_push = max(peak_push, t.peak_rss_mb)
            self.run(self.dy("rmi", ref))
            # the first run of a loaded image (its layers unpacked on first use), in a fresh
            # store as the pulled one is (a store's first container also makes its init layer)
            load_env = {**self.env, "DOCKYARD_ROOT": str(self.work / f"load-store{r}")}
            self.run(self.dy("load", "-q", "-i", str(archive)), load_env)
            times["run loaded"].append(self.timed(self.dy("run", "--rm", "--network", "none",
                                                          "bench/big:latest", "true"), load_env).seconds)
            shutil.rmtree(self.work / f"load-store{r}", ignore_errors=True)
            pull_env = {**self.env, "DOCKYARD_ROOT": str(self.work / f"pull-store{r}")}
            os.sync()  # the load just before wrote ~1 GB: its write-back is not the pull's work
            reg_cpu = cpu_of(reg.proc.pid)
            t = self.timed(self.dy("pull", "-q", ref), pull_env)
            times["pull"].append(t.seconds)
            times["pull cpu"].append(t.cpu)
            times["pull registry cpu"].append(cpu_of(reg.proc.pid) - reg_cpu)
            peak_pull = max(peak_pull, t.peak_rss_mb)
            times["run pulled"].append(self.timed(self.dy("run", "--rm", "--network", "none", ref, "true"),
                                                  pull_env).seconds)
            if r == 0:
                blobs = self.work / f"pull-store{r}" / "blobs"
                floor = run_timed([DOCKYARD[0], "-c", PULL_FLOOR, str(blobs)], env=self.env)
                self.notes.append(f"h pull floor: the pulled blobs read back, sha256 of each, decompressed "
                                  f"(isal) and the tar's sha256 (what checking the diff IDs costs; skopeo's "
                                  f"pull to dir: checks only the first): {floor.seconds:.2f} s "
                                  f"({floor.cpu:.2f} s CPU)")
                times["pull floor cpu"].append(floor.cpu)
                self._pull_floor_parts(self.work / f"pull-store{r}", ref, pull_env, times)
                tars = [str(self.work / "store" / "layers" / d.split(":", 1)[1] / "layer.tar")
                        for d in json.loads(self.run(self.dy("image", "inspect", "-f", "{{json .RootFS.Layers}}",
                                                             "bench/big:latest")))]
                times["push floor cpu"].append(run_timed([DOCKYARD[0], "-c", PUSH_FLOOR, *tars], env=self.env).cpu)
            subprocess.run(self.dy("rmi", ref), env=pull_env, capture_output=True)
            shutil.rmtree(self.work / f"pull-store{r}", ignore_errors=True)
            sk = self.registry()
            os.sync()
            times["sk push"].append(self.timed(["skopeo", "copy", "-q", "--dest-tls-verify=false",
                                                f"docker-archive:{archive}",
                                                f"docker://{sk.host}/big:latest"]).seconds)
            dest = self.work / "skopeo-pull"
            os.sync()
            times["sk pull"].append(self.timed(["skopeo", "copy", "-q", "--src-tls-verify=false",
                                                f"docker://{ref}", f"dir:{dest}"]).seconds)
            shutil.rmtree(dest, ignore_errors=True)
            self.drop_registry(sk)
            if self.docker is not None:
                self.peer("h", "classic", lambda: self._docker_push_pull(archive, ref, times))
            self.drop_registry(reg)
        self._h_report(times, peak_push, peak_pull)

    def _pull_floor_parts(self, store: Path, ref: str, env: dict, times: dict[str, list[float]]) -> None:
        """The rest of what a pull of this design cannot go below: writing the bytes it keeps
        (each blob, each layer's tree) and its start (a pull of a tag the registry lacks: the
        imports, the store, one request), before anything runs in parallel."""
        sizes = [f"b:{blob.stat().st_size}" for blob in (store / "blobs").rglob("*") if blob.is_file()
                 and blob.stat().st_size > 1 << 20]
        sizes += [f"t:{json.loads(info.read_text())['size']}" for info in (store / "layers").glob("*/info.json")]
        scratch = self.work / "pull-writes"
        os.sync()
        writes = run_timed([DOCKYARD[0], "-c", PULL_WRITES, str(scratch), *sizes], env=self.env)
        shutil.rmtree(scratch, ignore_errors=True)
        missing = ref.rsplit(":", 1)[0] + ":no-such-tag"
        start = run_timed(f"{CLI} pull -q {missing} 2>/dev/null || true", env=env, shell=True)
        times["pull writes cpu"].append(writes.cpu)
        times["pull start"].append(start.seconds)
        times["pull start cpu"].append(start.cpu)
        self.notes.append(f"h pull floor, the rest: writing the blobs and the trees' files ({len(sizes)} files' "
                          f"worth, no computing) {writes.seconds:.2f} s ({writes.cpu:.2f} s CPU); the start of a "
                          f"pull (of a missing tag: imports, store, one request) {start.seconds:.2f} s "
                          f"({start.cpu:.2f} s CPU), before anything runs in parallel")

    def _docker_push_pull(self, archive: Path, ref: str, times: dict[str, list[float]]) -> None:
        dk = self.registry()
        dref = f"{dk.host}/big:latest"
        self.docker("tag", "bench/big:latest", dref)
        os.sync()
        times["dk push"].append(self.timed(self.classic("push", dref), self.docker.env).seconds)
        self.docker("rmi", dref)
        self.docker("rmi", "bench/big:latest")
        os.sync()
        times["dk pull"].append(self.timed(self.classic("pull", ref), self.docker.env).seconds)
        self.docker("rmi", ref)
        self.docker("load", "-i", str(archive))
        self.drop_registry(dk)

    def _h_report(self, times: dict[str, list[float]], peak_push: float, peak_pull: float) -> None:
        med = {k: statistics.median(v) for k, v in times.items() if v}
        self.record("h push", "dockyard", med["push"], peak_push)
        self.record("h pull", "dockyard", med["pull"], peak_pull)
        self.record("h push", "skopeo", med["sk push"])
        self.record("h pull", "skopeo", med["sk pull"])
        if "dk push" in med:
            self.record("h push", "classic", med["dk push"])
            self.record("h pull", "classic", med["dk pull"])
        self.record("h run", "dockyard", med["run pulled"])
        self.notes.append(f"h: first `run --rm IMAGE true`: {med['run pulled']:.2f} s after pull, "
                          f"{med['run loaded']:.2f} s after load (goal: pulled <= loaded)")
        self.results.setdefault("h run", {})["loaded"] = med["run loaded"]
        # Both directions are CPU-bound here: dockyard's CPU and the registry's share 2 cores.
        cores = os.cpu_count() or 1
        for way, floor_of in (("push", "its gzip + sha256 of the blobs"), ("pull", "the floor above")):
            if f"{way} floor cpu" in med:
                ours, registry, floor = med[f"{way} cpu"], med[f"{way} registry cpu"], med[f"{way} floor cpu"]
                self.notes.append(
                    f"h {way}: dockyard's CPU {ours:.2f} s, the registry's {registry:.2f} s; on {cores} cores "
                    f"at least ({floor_of} {floor:.2f} + the registry's {registry:.2f}) / {cores} = "
                    f"{(floor + registry) / cores:.2f} s, all of it ({ours:.2f} + {registry:.2f}) / {cores} = "
                    f"{(ours + registry) / cores:.2f} s")
        if "pull writes cpu" in med:
            # the pull's floor on these cores: its start alone, then its own work (its CPU after
            # the start, at most the bytes' work measured apart) and the registry's on every core
            # at once. The parts measured apart can exceed the pull's own CPU: their writes take
            # pages the kernel has not used for a while, which cost these VMs a host fault each
            # (see atomic.Writeback), where the pull's tree reuses its dropped blob's pages.
            start, registry = med["pull start"], med["pull registry cpu"]
            own = med["pull cpu"] - med["pull start cpu"]
            bytes_work = med["pull floor cpu"] + med["pull writes cpu"]
            floor = start + (min(own, bytes_work) + registry) / cores
            self.notes.append(
                f"h pull: the floor of this design (diff IDs checked, blobs kept, trees unpacked) on {cores} cores = "
                f"its start {start:.2f} + (its CPU after the start {own:.2f}, the bytes' work measured apart "
                f"{bytes_work:.2f}: the less + the registry's {registry:.2f}) / {cores} = {floor:.2f} s = "
                f"{floor / med['sk pull']:.2f} x skopeo's {med['sk pull']:.2f} s (goal 0.6); dockyard's pull "
                f"{med['pull']:.2f} s is {med['pull'] / floor:.2f} x that floor")

    def _memory_note(self) -> None:
        """Which process peaked, on which row: the in-process CLI (wait4) or the server (its VmHWM
        over the row, every column through it, docker->dy included), with what the server held
        when that row began and holds at the end (what it kept of the requests it served)."""
        peaks = [(mb, row, column) for row, cells in self.memory.items() for column, mb in cells.items()]
        parts = []
        for who, columns in (("the in-process CLI", ("dockyard",)), ("dockyard serve", SERVE_COLUMNS)):
            mine = [p for p in peaks if p[2] in columns]
            if mine:
                mb, row, column = max(mine)
                held = self.serve_held.get((row, column))
                parts.append(f"{who} {mb:.0f} MB on row {row}" + (f" ({column}; it held {held:.0f} MB when the "
                                                                  f"row began)" if held is not None else ""))
        if parts:
            end = f"; serve holds {self.serve.rss_mb():.0f} MB at the end" if self.serve is not None else ""
            self.notes.append(f"memory: highest peak of {', of '.join(parts)}{end}")

    # ---- report
    def report(self) -> None:
        rows = [r for r in ("a", "b", "c", "d", "e", "f", "g save", "g load", "h push", "h pull")
                if r in self.results]
        columns = [c for c in COLUMNS if any(c in self.results[r] for r in rows)]
        table = [[r, *(f"{self.results[r][c]:.3f}" if c in self.results[r] else "" for c in columns)]
                 for r in rows]
        print_table(f"seconds (median of {self.opts.runs}; b: best of 7; e: per step)", ["row", *columns], table)
        goals = {"a": (1.0, 1.0), "b": (1.0, 0.5), "c": (0.5, 0.5), "d": (0.5, 0.5), "e": (0.5, 0.5),
                 "f": (0.5, 0.5), "g save": (0.5, 0.5), "g load": (0.5, 0.5), "h push": (0.5, 0.5),
                 "h pull": (0.6, 0.6)}
        verdicts = []
        for r in rows:
            cells = self.results[r]
            peers = {c: cells[c] for c in PEERS if c in cells}
            if r in ("a", "c", "d", "e") and "buildkit" in cells:
                best_name = "buildkit"        # the goal names BuildKit for these rows
            elif peers:
                best_name = min(peers, key=peers.get)
            else:
                verdicts.append([r, "", "", "", "", "no peer measured", ""])
                continue
            best = cells[best_name]
            goal_in, goal_client = goals[r]
            mem = self.memory.get(r, {})
            peak = max((mem.get(c, 0.0) for c in ("dockyard", "dy -H")), default=0.0)
            row = [r, f"{best_name} {best:.3f}"]
            ok = True
            for column, goal in (("dockyard", goal_in), ("dy -H", goal_client)):
                if column in cells and best > 0:
                    ratio = cells[column] / best
                    ok &= ratio <= goal
                    row.append(f"{ratio:.2f} (<= {goal})")
                else:
                    row.append("")
            row += [f"{peak:.0f}", "ok" if ok and peak < 150 else "MISSED"]
            verdicts.append(row)
        print_table("ratio to the best peer (goal of #18), dockyard's peak RSS (goal < 150 MB)",
                    ["row", "best peer s", "dockyard", "dy -H", "peak MB", ""], verdicts)
        self._memory_note()
        for note in self.notes:
            print(note)
        print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="a,b,c,d,e,f,g,h", help="rows to run (a..h; c includes d)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--context-files", type=int, default=10_000)
    parser.add_argument("--context-mb", type=int, default=200)
    parser.add_argument("--image-mb", type=int, default=500)
    parser.add_argument("--peers", default="docker,buildah,skopeo",
                        help="peers to start (docker = classic and BuildKit through one dockerd)")
    parser.add_argument("--no-docker-dy", dest="docker_dy", action="store_false",
                        help="skip the docker CLI -> dockyard serve column of the build rows")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 files / 40 MB context, a 100 MiB image, 1 run: a few minutes")
    parser.add_argument("--work", default=None, help="scratch directory (default: a new one in /var/tmp)")
    opts = parser.parse_args()
    if opts.quick:
        opts.context_files, opts.context_mb, opts.image_mb, opts.runs = 2000, 40, 100, 1
    opts.peers = set(opts.peers.split(",")) if opts.peers else set()
    tools = {"docker": "dockerd", "buildah": "buildah", "skopeo": "skopeo"}
    if missing := sorted(tools[p] for p in opts.peers & tools.keys() if shutil.which(tools[p]) is None):
        raise SystemExit(f"bench_all: {', '.join(missing)} not installed: `scripts/install.sh --bench` "
                         "installs the peers, or leave them out with --peers")
    wanted = set(opts.rows.split(","))
    work = Path(opts.work or tempfile.mkdtemp(prefix="bench-all-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(opts, work)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"bench_all: rows {','.join(sorted(wanted))}, runs {opts.runs}, context {opts.context_files} files / "
          f"{opts.context_mb} MB, image {opts.image_mb} MiB; load average {load}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
          flush=True)
    try:
        bench.start()
        if wanted & {"a", "b"}:
            bench.row_ab()
        if wanted & {"c", "d"}:
            bench.row_cd()
        if "e" in wanted:
            bench.row_e()
        if "f" in wanted:
            bench.row_f()
        if "g" in wanted:
            bench.row_g()
        if "h" in wanted:
            bench.row_h()
        bench.report()
    finally:
        bench.stop()
        if opts.work is None:
            subprocess.run(["umount", "-R", "-l", str(work / "store")], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
