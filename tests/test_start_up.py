"""The in-process CLI's start-up budget: every `dockyard COMMAND` without -H is a fresh
interpreter, so a subsystem a command does not use must not be loaded by it. A fully cached
build loads neither the registry client (httpx, TLS, the transports: a FROM the store lacks), nor
urllib.request (URL contexts, ADD <url>), nor the runtime's containers (RUN on a cache miss), nor
the decompressors and the extracting side (stream contexts, pulled layers); `images` loads
neither the transports (save, load) nor the Dockerfile frontend (import --change), nor does
`save` load urllib.request (import from a URL); `--version` loads nothing of the CLI, and no
in-process command but `build` loads the light client's build (a plain command line of `build` is
read by its scanner, without argparse); push and pull load rich only to draw bars on a terminal;
nor does a cached build load dataclasses (dockyard/dataclass.py makes the same classes without
it). These are the only lazy imports of dockyard besides the light client's
(tests/client/test_budget.py); each names this test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from dockyard.store.filesums import trust_margin
from tests.conftest import REPO

# On pytest-xdist (scripts/test.sh) these tests go to one worker as a group: the start-up checks
# (tests/test_start_up.py) and the import graph's (tests/test_thin_servers.py) are collected last
# and each starts many interpreters or parses the whole package (5-40 s a test on a loaded
# machine); as single tests they were the suite's last and one started at the end ran alone on
# one worker while the other had finished. A group is scheduled before the single tests (xdist's
# loadgroup: the most tests first), so short single tests fill the end of the run.
pytestmark = pytest.mark.xdist_group("start-up and import graph")

_PROBE = """
import sys, atexit
heavy = {heavy!r}
def report():
    print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)
atexit.register(report)
from dockyard.main import main
sys.exit(main({argv!r}))
"""
REGISTRY_AND_URLS = ("httpx", "ssl", "urllib.request", "dockyard.transport", "dockyard.engine.registry")
RUNTIME = ("dockyard.runtime.lifecycle", "dockyard.runtime.monitor", "dockyard.runtime.containers",
           "dockyard.builder.run", "dockyard.builder.rootfs")
EXTRACTING = ("isal", "zstandard", "dockyard.archive.compression", "dockyard.archive.apply")
BUILDKIT = ("dockyard.builder.graph", "dockyard.engine.buildkit")
# a step's layer writer (and what it uses: the diff writer, the tar checks, the users' files of a
# COPY --chown), process control (RUN, --ssh agents) and signal names (STOPSIGNAL): a cache miss's
WRITING = ("dockyard.store.layer_writer", "dockyard.archive.diff", "dockyard.archive.scan",
           "dockyard.archive.tarreader", "dockyard.runtime", "subprocess", "signal")
# times are written (a new image's) or shown (images, history, --waste): not by a cached build
TIMES = ("datetime", "dockyard.cli.format", "dockyard.units")
# an in-process build reads its command line with the light client's build (client/build.py) but
# talks to no daemon: not the daemon's client, nor what it speaks with
DAEMON = ("dockyard.client.daemon", "dockyard.chunked", "_socket",
          # nor the tar encoder that packs a context for a daemon
          "dockyard.archive.tarheader", "dockyard.archive.tarstream")
# what only some Dockerfiles need (RUN --mount, HEALTHCHECK's durations), and the collector
UNUSED_PARTS = ("dockyard.dockerfile.mounts", "dockyard.dockerfile.durations", "dockyard.store.gc")
# tempfile and shutil (with bz2, lzma, random, weakref: 12.9M instructions, ~4 ms of a start): a
# classic build's lease, blobs, layers, trees and one-shot containers make their temp files
# and directories with dockyard.atomic.temp_file and temp_dir, remove trees with
# archive.fstree.remove_path, find runc with dockyard.programs.which, name a container with
# os.urandom (cached 178.8M -> 168.5M instructions, cold 255.5M -> 242M: callgrind)
TEMP_FILES = ("tempfile", "shutil", "random", "weakref", "bz2", "lzma")


def _loaded(dockyard, argv: list[str], heavy: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=heavy, argv=argv)],
                         capture_output=True, text=True, cwd=REPO, env={**dockyard.env, **(env or {})}, check=True)
    return out.stderr.strip().splitlines()[-1]


def test_a_cached_build_loads_only_what_it_uses(dockyard, busybox, tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /a.txt\nRUN true\nWORKDIR /w\nCMD [\"sh\"]\n")
    # the first build records a.txt's checksum (once older than its margin, as in the BuildKit
    # mode test below), so the cached build reads no file's content (nor loads hashlib for it)
    st = (ctx / "a.txt").stat()
    time.sleep(max(0.0, st.st_ctime + trust_margin(st) / 1e9 + 0.1 - time.time()))
    first = dockyard("build", str(ctx))
    assert "Running in" in first.stdout  # the first build ran RUN: the probe's build is cached
    # nor argparse: a plain command line of `build` is read by the client's scanner (dockyard/main.py)
    unused = REGISTRY_AND_URLS + RUNTIME + EXTRACTING + BUILDKIT + WRITING + TIMES + DAEMON + UNUSED_PARTS + (
        "argparse", "dockyard.cli.main")
    # nor dataclasses (with inspect, ast, dis: dockyard.dataclass makes the classes), nor typing
    # (its names are imported for type checkers only)
    unused += ("dataclasses", "inspect", "ast", "dis", "typing")
    # nor hashlib (OpenSSL's libcrypto: ADD <url>'s hash imports it where it downloads), nor
    # secrets with hmac and base64 (a step's random container ID is os.urandom's)
    unused += ("hashlib", "_hashlib", "secrets", "hmac", "base64")
    unused += TEMP_FILES
    assert _loaded(dockyard, ["build", str(ctx)], unused) == "[]"
    assert "argparse" in _loaded(dockyard, ["build", "--help"], ("argparse",))  # the CLI's parser for the rest
    # the check can fail: a build that misses the cache loads the runtime for its RUN
    (ctx / "a.txt").write_text("b\n")
    loaded = _loaded(dockyard, ["build", str(ctx)], RUNTIME + WRITING)
    assert "dockyard.builder.run" in loaded and "dockyard.store.layer_writer" in loaded


def test_a_cold_build_loads_only_what_it_uses(dockyard, busybox, tmp_path) -> None:
    # A build that misses every step (bench_all's row a: WORKDIR, COPY, RUN) runs its RUN in a
    # one-shot container: not the monitor of the store's containers (sockets, ttys, logs, health
    # checks), nor the lifecycle that drives them; nor typing (names for type checkers only),
    # platform (the seccomp profile's arch is os.uname's), datetime (a new image's time is
    # written with time.strftime), secrets with hmac and base64 (random IDs and names are
    # os.urandom's), queue with heapq (the remover's SimpleQueue is _queue's), nor argparse, nor
    # hashlib (OpenSSL's libcrypto): its small layers, files and records are hashed by the
    # interpreter's own sha256 (dockyard.digest.Sha256, small_sha256)
    ctx = tmp_path / "ctx"
    (ctx / "small").mkdir(parents=True)
    (ctx / "small" / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nENV A=1\nWORKDIR /app\nCOPY small/ /app/small/\n"
                                    "RUN ls /app/small > /app/list\nCMD [\"sh\"]\n")
    unused = ("dockyard.runtime.monitor", "dockyard.runtime.lifecycle", "dockyard.runtime.attach",
              "dockyard.runtime.logs", "dockyard.runtime.health", "socket", "_socket", "termios",
              "typing", "platform", "datetime", "secrets", "hmac", "base64", "queue", "heapq", "argparse",
              "dataclasses", "inspect", "hashlib", "_hashlib") + BUILDKIT + REGISTRY_AND_URLS + TEMP_FILES
    loaded = _loaded(dockyard, ["build", "--no-cache", str(ctx)], unused + ("dockyard.builder.run",))
    assert loaded == str(["dockyard.builder.run"])  # it ran the RUN, without them
    # the check can fail: a container kept with --rm=false is one of the store's, run by the monitor
    loaded = _loaded(dockyard, ["build", "--no-cache", "--rm=false", str(ctx)], ("dockyard.runtime.monitor",))
    assert loaded == str(["dockyard.runtime.monitor"])


def test_a_cached_buildkit_mode_build_loads_only_what_it_uses(dockyard, busybox, tmp_path) -> None:
    # BuildKit mode loads neither the classic builder, nor the exporters' writers (an --output),
    # nor the cache import/export (--cache-from/--cache-to), nor concurrent.futures (with logging)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /a.txt\nRUN true\nWORKDIR /w\n")
    # the first build records a.txt's checksum (as a context's files are, once older than
    # their margin, filesums.trust_margin), so the cached build reads no file's content
    st = (ctx / "a.txt").stat()
    time.sleep(max(0.0, st.st_ctime + trust_margin(st) / 1e9 + 0.1 - time.time()))
    bk = {"DOCKER_BUILDKIT": "1"}
    dockyard("build", str(ctx), env=bk)
    unused = ("dockyard.builder.classic", "dockyard.builder.graph.export", "dockyard.engine.buildcache",
              "concurrent", "logging", "argparse", "dataclasses", "inspect", "typing",
              # nor what only writing files needs (temp names, copies of trees, a queue of removals)
              "tempfile", "shutil", "secrets", "random", "queue", "string",
              # nor hashlib (OpenSSL's libcrypto): its few KiB of keys and records are hashed by
              # the interpreter's own sha256 (dockyard.digest.small_sha256)
              "hashlib", "_hashlib",
              # nor base64 (with struct: a log's bytes on the wire), nor copy (named by the weakref
              # it loads, as copyreg shares its name: a base image's config is JSON, copied by
              # builder/graph/image.json_copy)
              "base64", "struct", "weakref",
              # nor the classic builder's config rules (EXPOSE, STOPSIGNAL), nor the leases
              "dockyard.builder.metadata", "dockyard.store.leases") + DAEMON + UNUSED_PARTS
    argv = ["build", "--progress=plain", str(ctx)]
    assert _loaded(dockyard, argv, REGISTRY_AND_URLS + RUNTIME + EXTRACTING + WRITING + TIMES + unused, bk) == "[]"
    # the check can fail: an --output loads the exporters, a cache miss the steps' root file systems
    (ctx / "a.txt").write_text("b\n")
    loaded = _loaded(dockyard, [*argv[:-1], "-o", str(tmp_path / "out"), str(ctx)], unused + RUNTIME + WRITING + TIMES,
                     bk)
    assert "dockyard.builder.graph.export" in loaded and "dockyard.builder.rootfs" in loaded
    assert "subprocess" in loaded  # the RUN
    # but neither dataclasses (with inspect, ast, dis), typing, secrets (with hmac and hashlib)
    # nor datetime: ~10 ms of a cold build's start (builder/graph/execute.py, image.go_time)
    assert not {"dataclasses", "inspect", "typing", "secrets", "hmac", "datetime"} & set(eval(loaded))
    # and a Dockerfile that uses them loads RUN --mount's reader, HEALTHCHECK's durations and
    # EXPOSE's rules
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=tmpfs,target=/t true\n"
                                    "HEALTHCHECK --interval=5s CMD true\nEXPOSE 80\n")
    loaded = _loaded(dockyard, argv, UNUSED_PARTS + ("dockyard.builder.metadata",), bk)
    assert loaded == str(sorted(["dockyard.builder.metadata", "dockyard.dockerfile.durations",
                                 "dockyard.dockerfile.mounts"]))


def test_images_save_and_version_load_only_what_they_use(dockyard, busybox) -> None:
    others = ("dockyard.client.build", "dockyard.client.daemon", "dockyard.builder", "dockyard.dockerfile", "ctypes")
    assert _loaded(dockyard, ["images"], REGISTRY_AND_URLS + others) == "[]"
    # nor does `image ls` (or `image inspect`...): the image group's own commands parse without
    # the other groups (cli/main._COMMAND_MODULE), so without pull's and push's registry client
    assert _loaded(dockyard, ["image", "ls"], REGISTRY_AND_URLS + others + ("dockyard.cli.container_cmds",)) == "[]"
    # nor do `images` and `network ls` load dataclasses (with inspect, ast, dis): their classes,
    # the engine's and the networks' records, are dockyard.dataclass's (the store's first network
    # command writes the default networks' records, whose asdict reads dataclasses' view of them)
    assert _loaded(dockyard, ["images"], ("dataclasses", "inspect")) == "[]"
    dockyard("network", "ls")
    assert _loaded(dockyard, ["network", "ls"], ("dataclasses", "inspect")) == "[]"
    assert _loaded(dockyard, ["save", "-o", "/dev/null", busybox], REGISTRY_AND_URLS[:-2] + others + RUNTIME) == "[]"
    assert _loaded(dockyard, ["--version"], ("dockyard.cli.", "dockyard.store", "argparse")) == "[]"


def test_help_loads_no_engine(dockyard) -> None:
    # `dockyard --help` and `dockyard [GROUP] COMMAND --help` build the parsers only, as `version`
    # builds its own: the command modules load their engines, the registry client (httpx) and
    # the API server as the command runs (callgrind, one start: `--help` 813M -> 298M
    # instructions, `image --help` 804M -> 198M, `pull --help` 501M -> 158M, `version` 173M)
    heavy = ("dockyard.engine.containers", "dockyard.engine.images", "dockyard.engine.registry",
             "dockyard.engine.credentials", "dockyard.engine.build", "dockyard.runtime", "dockyard.transport",
             "dockyard.builder.context", "dockyard.api.app", "dockyard.api.server", "httpx", "ssl")
    for argv in (["--help"], ["image", "--help"], ["container", "--help"], ["run", "--help"], ["pull", "--help"],
                 ["build", "--help"], ["serve", "--help"], ["container", "ls", "--help"], ["image", "import", "--help"],
                 ["login", "--help"]):
        assert _loaded(dockyard, argv, heavy) == "[]", argv
    # the check can fail: the command itself loads its engine
    assert "dockyard.engine.containers" in _loaded(dockyard, ["ps"], heavy)


def test_the_collector_is_off_while_the_program_loads_and_on_for_the_command(dockyard, busybox) -> None:
    # run() starts with the cyclic collector off (loading the modules makes objects that live
    # until the end); the command itself runs with it on, the loaded objects set aside (frozen)
    probe = ("import gc, sys\n"
             "import dockyard.cli.image_cmds as cmds\n"
             "real = cmds.cmd_images\n"
             "def spy(*a):\n"
             "    print('during', gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr)\n"
             "    return real(*a)\n"
             "cmds.cmd_images = spy\n"
             "sys.argv = ['dockyard', 'images']\n"
             "from dockyard.main import run\n"
             "print('before', gc.isenabled(), file=sys.stderr)\n"
             "run()\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                         env=dockyard.env)
    assert out.returncode == 0 and "busybox" in out.stdout, out.stderr
    assert out.stderr.splitlines()[-2:] == ["before True", "during True True"]


def test_container_commands_load_only_what_they_use(dockyard, busybox) -> None:
    # a container command (ps, inspect, logs, rm...) loads neither commit's Dockerfile frontend and
    # config rules (engine/containers.commit imports engine/commit when it runs), nor secrets with
    # hmac and hashlib (OpenSSL's libcrypto: the random IDs of networks, endpoints, volumes and
    # execs are os.urandom's), nor archive/changes with the stdlib's dataclasses, inspect and ast
    # (diff, prune and a size ask for them)
    unused = ("dockyard.engine.commit", "dockyard.dockerfile", "dockyard.builder", "secrets", "hmac", "hashlib",
              "_hashlib", "dockyard.archive.changes", "dataclasses", "inspect", "ast")
    assert _loaded(dockyard, ["ps", "-a"], unused) == "[]"
    assert _loaded(dockyard, ["inspect", busybox], unused) == "[]"
    # the check can fail: a commit loads engine/commit, a diff loads archive/changes
    dockyard("create", "--name", "committed", "--network", "none", busybox, "true")
    # a commit (cli/commit_cmd) loads neither the other container commands' engine and flags
    # (create, attach, logs, stats, networks, the monitor: 0.34 -> 0.23 s of CPU under load), nor
    # the Dockerfile frontend unless --change asks for it
    others = ("dockyard.engine.containers", "dockyard.engine.container_views", "dockyard.engine.networks",
              "dockyard.engine.images", "dockyard.cli.container_cmds", "dockyard.cli.run_flags",
              "dockyard.runtime.monitor", "dockyard.runtime.lifecycle", "dockyard.dockerfile")
    loaded = _loaded(dockyard, ["commit", "committed"], ("dockyard.engine.commit",) + others)
    assert loaded == "['dockyard.engine.commit']"
    loaded = _loaded(dockyard, ["commit", "-c", "ENV A=1", "committed"], ("dockyard.dockerfile.parser",))
    assert loaded == "['dockyard.dockerfile.parser']"
    assert "dockyard.archive.changes" in _loaded(dockyard, ["diff", "committed"], ("dockyard.archive.changes",))


def test_serve_starts_without_the_registry_client(dockyard, tmp_path) -> None:
    # `dockyard serve` (started ~250 times by the suite, each API test's own) loads the registry
    # client (httpx with h11 and httpcore, urllib.request, the registry transport) when a request
    # needs it (api/registry._engine): pull, push, login, a build's base images
    heavy = ("httpx", "h11", "httpcore", "urllib.request", "dockyard.transport.registry", "dockyard.engine.registry")
    sock = tmp_path / "d.sock"

    def serve(request: bytes | None) -> str:
        argv = ["--root", str(dockyard.root), "serve", "-H", f"unix://{sock}"]
        proc = subprocess.Popen([sys.executable, "-c", _PROBE.format(heavy=heavy, argv=argv)], cwd=REPO,
                                env=dockyard.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            while not sock.exists():
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.02)
            if request is not None:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                    s.sendall(request)
                    while s.recv(65536):
                        pass
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        return err.strip().splitlines()[-1]

    assert serve(None) == "[]"
    # the check can fail: a login (to a registry nobody listens on) loads them
    body = b'{"serveraddress": "127.0.0.1:9", "username": "u", "password": "p"}'
    login = b"POST /auth HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nConnection: close\r\n" + \
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert "httpx" in serve(login)


def test_transfer_progress_loads_rich_only_for_a_terminal() -> None:
    # push and pull draw live bars with rich on a terminal only: to a pipe (or with -q) rich is not
    # loaded (~30 ms of the start of a push or pull)
    probe = ("import sys; from dockyard.cli.progress import progress_for; progress_for(sys.stdout).close(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'), file=sys.stderr)")
    piped = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert piped.stderr.strip() == "[]"
    # the check can fail: on a terminal (a pty) the bars load rich
    import pty

    main, terminal = pty.openpty()
    try:
        tty = subprocess.run([sys.executable, "-c", probe], stdout=terminal, stderr=subprocess.PIPE, text=True,
                             cwd=REPO, check=True)
    finally:
        os.close(main)
        os.close(terminal)
    assert "rich.progress" in tty.stderr


def test_an_in_process_build_leaves_without_the_teardown(dockyard, busybox, tmp_path) -> None:
    # run() leaves an in-process build by os._exit once its threads are joined, the atexit
    # handlers ran and its output is flushed (dockyard/main.py _leave): no teardown of the modules
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /a.txt\nRUN true\n")
    probe = ("import atexit, sys, threading, time\n"
             "class Teardown:\n"
             "    def __del__(self):\n"
             "        print('teardown', file=sys.stderr, flush=True)\n"
             "sys.modules['probe_teardown'] = type(sys)('probe_teardown')\n"
             "sys.modules['probe_teardown'].obj = Teardown()\n"
             "atexit.register(lambda: print('atexit', file=sys.stderr, flush=True))\n"
             # a thread that ends only after the build has returned (whatever the machine's load):
             # _leave must wait for it
             "import dockyard.main\n"
             "leaving, real_leave = threading.Event(), dockyard.main._leave\n"
             "def leave(code):\n"
             "    leaving.set()\n"
             "    real_leave(code)\n"
             "dockyard.main._leave = leave\n"
             "def late():\n"
             "    leaving.wait(60 if {'build', 'push', 'pull'} & set(sys.argv) else 0)\n"
             "    time.sleep(0.2)\n"
             "    print('thread done', file=sys.stderr, flush=True)\n"
             "threading.Thread(target=late).start()\n"
             "sys.argv = ['dockyard'] + sys.argv[1:]\n"
             "dockyard.main.run()\n")
    for _ in range(2):  # the first build runs its steps, the second is cached
        out = subprocess.run([sys.executable, "-c", probe, "build", "-q", str(ctx)], capture_output=True, text=True,
                             cwd=REPO, env=dockyard.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("sha256:")  # flushed to the pipe before leaving
        assert out.stderr.splitlines()[-2:] == ["thread done", "atexit"]  # joined, then the handlers
        assert "teardown" not in out.stderr
        assert list((dockyard.root / "tmp").iterdir()) == []  # its workspace removed (an atexit handler)
    # a failed build leaves the same way, with its status and its one error line
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    out = subprocess.run([sys.executable, "-c", probe, "build", "-q", str(ctx)], capture_output=True, text=True,
                         cwd=REPO, env=dockyard.env)
    assert out.returncode != 0 and "teardown" not in out.stderr
    assert out.stderr.splitlines()[-2:] == ["thread done", "atexit"]
    # push and pull (LEAVE_FAST) leave the same way, with the pulled image whole in the store
    from tests.registry.registryd import RegistryServer

    registry = RegistryServer(tmp_path / "registry").start()
    try:
        ref = f"{registry.host}/leaving/busybox:1"
        dockyard("tag", "busybox", ref)
        pulled = {**dockyard.env, "DOCKYARD_ROOT": str(tmp_path / "pulled")}
        for env, argv in ((dockyard.env, ["push", "-q", ref]), (pulled, ["pull", "-q", ref])):
            out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, cwd=REPO,
                                 env=env)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == ref  # flushed before leaving
            assert out.stderr.splitlines()[-2:] == ["thread done", "atexit"] and "teardown" not in out.stderr
        image_id = dockyard("image", "inspect", "-f", "{{.Id}}", "busybox").stdout
        assert dockyard("image", "inspect", "-f", "{{.Id}}", ref, env=pulled).stdout == image_id
        assert list((tmp_path / "pulled" / "tmp").iterdir()) == []
    finally:
        registry.stop()
    # the check can fail: another in-process command ends with the interpreter's teardown
    out = subprocess.run([sys.executable, "-c", probe, "images"], capture_output=True, text=True, cwd=REPO,
                         env=dockyard.env)
    assert out.returncode == 0 and "teardown" in out.stderr


def test_the_installed_command_starts_without_site(dockyard, busybox, tmp_path) -> None:
    # scripts/install.sh's command (scripts/write_launcher.py): the venv's interpreter with -S,
    # sys.path and sys.prefix set as site sets them for the venv; the program, its dependencies
    # (httpx for a pull) and its errors are what `python -m dockyard` gives
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from write_launcher import write_launcher
    finally:
        sys.path.remove(str(REPO / "scripts"))
    command = write_launcher(sys.prefix, str(tmp_path / "dockyard"))
    assert open(command).readline().rstrip().endswith(" -S")
    for argv in (["--version"], ["images", "-q"], ["pull", "localhost:1/none"], ["nosuch"]):
        launched = subprocess.run([command, *argv], capture_output=True, text=True, env=dockyard.env)
        module = subprocess.run([sys.executable, "-m", "dockyard", *argv], capture_output=True, text=True,
                                env=dockyard.env)
        assert (launched.returncode, launched.stdout, launched.stderr) == \
            (module.returncode, module.stdout, module.stderr), argv
        if argv[0] == "pull":  # the registry client ran (httpx, from site-packages) and failed to connect
            assert launched.returncode == 1 and launched.stderr.splitlines()[-1].startswith("Error: ")
            assert "connection refused" in launched.stderr
    # the check can fail: site is not loaded by the launcher, it is by the interpreter's default start
    probe = {**dockyard.env, "PYTHONPROFILEIMPORTTIME": "1"}
    loaded = subprocess.run([command, "--version"], capture_output=True, text=True, env=probe, check=True).stderr
    assert "dockyard.main" in loaded and not any(line.endswith("| site") for line in loaded.splitlines())
    loaded = subprocess.run([sys.executable, "-c", "pass"], capture_output=True, text=True, env=probe).stderr
    assert any(line.endswith("| site") for line in loaded.splitlines())


def test_a_build_of_a_directory_makes_no_temp_folder(dockyard, busybox, tmp_path) -> None:
    # a directory context writes nothing aside: the process's folder under the store's tmp/ (a
    # lock file, a directory, their removal at exit) is not made by a cached BuildKit build
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nENV A=1\n")
    probe = ("import atexit, sys\n"
             "def report():\n"
             "    print('folders', len(sys.modules['dockyard.store.workspace']._folders), file=sys.stderr)\n"
             "atexit.register(report)\n"
             "from dockyard.main import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    bk = {**dockyard.env, "DOCKER_BUILDKIT": "1"}
    for _ in range(2):  # the first build makes the image, the second is cached
        out = subprocess.run([sys.executable, "-c", probe, "build", "-q", str(ctx)], capture_output=True, text=True,
                             cwd=REPO, env=bk)
        assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-1] == "folders 0"
    # the check can fail: a Dockerfile from stdin is kept in the folder
    out = subprocess.run([sys.executable, "-c", probe, "build", "-q", "-f", "-", str(ctx)], capture_output=True,
                         text=True, cwd=REPO, env=bk, input="FROM busybox\nENV A=1\n")
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-1] == "folders 1"


def test_the_registry_client_loads_neither_http2_nor_async_io(dockyard) -> None:
    # httpcore imports h2 (HTTP/2, installed for serve's gRPC) and anyio at its import when they
    # are installed, httpx imports zstandard (and it platform); the registry client speaks
    # HTTP/1.1 synchronously, reads bodies raw, and imports both without them
    # (transport/registry/http.py: ~10 ms of a pull's start, and 29M instructions). A pull that
    # ran its client (and failed to connect) loaded none; h2 is found as usual afterwards
    # certifi (with importlib.resources) and idna, which httpx imports but this client never
    # uses, stand in sys.modules unloaded (http._Deferred): 6M instructions of a pull's start
    other = ("h2", "hpack", "hyperframe", "anyio", "trio", "sniffio", "zstandard", "platform")
    probe = ("import atexit, sys\n"
             "def report():\n"
             "    print(sorted(m for m in sys.modules if m.split('.')[0] in ('certifi', 'idna')\n"
             "                 and '__file__' in vars(sys.modules[m])), file=sys.stderr)\n"
             f"    print(sorted(m for m in sys.modules if m.split('.')[0] in {other!r}), file=sys.stderr)\n"
             "    http2 = 'httpcore._sync.http2' in sys.modules\n"
             "    import h2.connection\n"
             "    zstd = sys.modules['httpx._decoders'].zstandard is not None\n"
             "    print(http2, zstd, [type(f).__name__ for f in sys.meta_path].count('_Refused'), file=sys.stderr)\n"
             "atexit.register(report)\n"
             "from dockyard.main import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", probe, "pull", "localhost:1/none"], capture_output=True, text=True,
                         cwd=REPO, env=dockyard.env)
    assert out.returncode == 1 and "connection refused" in out.stderr
    assert out.stderr.splitlines()[-3:] == ["[]", "[]", "False False 0"]  # its finder is gone
    # the check can fail: where h2 and zstandard are loaded already, httpcore and httpx take them
    loaded_first = probe.replace("from dockyard.main import main\n",
                                 "import h2.connection, zstandard\nfrom dockyard.main import main\n")
    out = subprocess.run([sys.executable, "-c", loaded_first, "pull", "localhost:1/none"], capture_output=True,
                         text=True, cwd=REPO, env=dockyard.env)
    assert out.stderr.splitlines()[-1] == "True True 0"
