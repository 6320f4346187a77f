"""The classic builder writes a step's image (config blob and record) in a worker thread while
the build goes on (builder/classic/state.py, StepWrite): the chain is whole when the build
returns, a write that fails fails the build with its message and exit status, and every step
that reads the store waits for it. The store's add_image is wrapped (in the CLI's own process) only to see on
which thread it runs and to fail it: a full disk at that very write cannot be caused otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dockyard.store.check import check_store
from dockyard.store.store import Store
from tests.conftest import REPO

WRAPPED = r'''
import os, sys, threading, time
import dockyard.store.store as store_module
from dockyard.errors import NotFound

real = store_module.Store.add_image
calls = []
fail_at = int(os.environ.get("FAIL_AT", "0"))
slow = float(os.environ.get("SLOW", "0"))

def add_image(self, raw_config, layers, parent=None, publish=True, **kw):
    calls.append(threading.current_thread().name)
    time.sleep(slow)
    if len(calls) == fail_at:
        raise NotFound("layer sha256:0 was removed while the image was made")
    return real(self, raw_config, layers, parent=parent, publish=publish, **kw)

store_module.Store.add_image = add_image
import atexit
atexit.register(lambda: sys.stderr.write("add_image on: " + ",".join(calls) + "\n"))
from dockyard.main import run
sys.argv = ["dockyard", *sys.argv[1:]]
run()
'''


def _wrapped(dockyard, tmp_path: Path, *args: str, fail_at: int = 0, slow: float = 0):  # noqa: ANN001, ANN202
    """`dockyard ARGS` with add_image failing at its `fail_at`-th call, each call `slow` s longer."""
    script = tmp_path / "wrapped.py"
    script.write_text(WRAPPED)
    proc = subprocess.run([sys.executable, str(script), *args], cwd=REPO, capture_output=True, text=True,
                          env={**dockyard.env, "FAIL_AT": str(fail_at), "SLOW": str(slow)})
    *errors, threads = proc.stderr.rstrip("\n").split("\n")
    return proc, threads.removeprefix("add_image on: ").split(","), errors


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "f").write_text("f\n")
    return ctx


def test_a_step_image_is_written_behind_the_next_run_and_whole_when_the_build_returns(
        dockyard, busybox, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nLABEL l=1\n"
                             "COPY f /f\nRUN cat /a /b /f\n")
    proc, threads, _ = _wrapped(dockyard, tmp_path, "build", "-t", "behind:1", str(ctx))
    assert proc.returncode == 0, proc.stderr
    # Each step's image is written by a worker thread, in order, while the build goes on
    # (held while a RUN prepares its container)
    assert len(threads) == 5 and all(t.startswith("commit-") for t in threads), threads
    assert "a\nb\nf\n" in proc.stdout
    # the chain is in the store, whole, when the build returns: every step image and its parent
    image = dockyard("image", "inspect", "-f", "{{.Id}}", "behind:1").stdout.strip()
    ids = dockyard("history", "-q", "behind:1").stdout.split()
    assert f"Successfully built {image[7:19]}" in proc.stdout and ids[0] == image[7:19]
    assert len([i for i in ids if i != "<missing>"]) == 6  # 5 steps and the base
    report = check_store(Store(dockyard.root))
    assert report.problems == [], report.problems
    # and it is the cache of the next build, step by step
    again = dockyard("build", "-t", "behind:2", str(ctx))
    assert again.stdout.count(" ---> Using cache") == 5
    assert dockyard("image", "inspect", "-f", "{{.Id}}", "behind:2").stdout == \
        dockyard("image", "inspect", "-f", "{{.Id}}", "behind:1").stdout


def test_a_write_that_fails_fails_the_build_with_its_error(dockyard, busybox, tmp_path: Path) -> None:
    """The error of a step image's write is the build's: the same one line and exit status a
    write on the build's thread gave (`Error: ...`, 1); the steps before it stay cache."""
    ctx = _context(tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN echo c > /c\n")
    for fail_at in (2, 3):  # a write behind a RUN; the last step's, waited for at the end
        proc, threads, errors = _wrapped(dockyard, tmp_path, "build", "--no-cache", str(ctx), fail_at=fail_at)
        assert proc.returncode == 1
        assert errors == ["Error: layer sha256:0 was removed while the image was made"], errors
        assert "Successfully built" not in proc.stdout
        assert len(threads) == fail_at
        report = check_store(Store(dockyard.root))
        assert report.problems == [], report.problems
    again = dockyard("build", str(ctx))
    assert again.stdout.count(" ---> Using cache") == 2  # RUN a and b: written before the failed one


def test_steps_that_read_the_store_wait_for_the_write(dockyard, busybox, tmp_path: Path) -> None:
    """A later stage's FROM and COPY --from, --rm=false's container (a store container: it
    reads its image) and a --cache-from probe read a step image just made: they wait for it
    (each write made 0.3 s slower: one not waited for would be missing)."""
    ctx = _context(tmp_path, "FROM busybox AS one\nRUN echo one > /one\n"
                             "FROM one\nRUN cat /one\n"
                             "FROM busybox\nRUN echo x > /x\nCOPY --from=one /one /one\nRUN cat /one /x\n")
    built, _, _ = _wrapped(dockyard, tmp_path, "build", "--no-cache", "-t", "stages:1", str(ctx), slow=0.3)
    assert built.returncode == 0, built.stderr
    assert built.stdout.count("one\n") >= 2 and "one\nx\n" in built.stdout
    kept, _, _ = _wrapped(dockyard, tmp_path, "build", "--no-cache", "--rm=false", str(ctx), slow=0.3)
    assert kept.returncode == 0 and "one\nx\n" in kept.stdout, kept.stderr
    probe = _context(tmp_path / "probe", "FROM busybox\nRUN echo x > /x\nRUN echo y > /y\nRUN echo z > /z\n")
    first = dockyard("build", "-q", "-t", "probe:1", str(probe)).stdout.strip()
    (probe / "Dockerfile").write_text("FROM busybox\nRUN echo x > /x\nRUN echo new > /y\nRUN echo z > /z\n")
    cached, _, _ = _wrapped(dockyard, tmp_path, "build", "-q", "--cache-from", "probe:1", str(probe), slow=0.3)
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.strip() != first  # the first RUN hit, the changed one and the last missed
    # a new stage waits for the writes of the stage before: its probes see every image made
    scratch = _context(tmp_path / "scratch", "FROM scratch\nCOPY f /f\nFROM scratch\nCOPY f /f\n")
    twice, _, _ = _wrapped(dockyard, tmp_path, "build", str(scratch), slow=0.3)
    assert twice.returncode == 0 and twice.stdout.count(" ---> Using cache") == 1, twice.stdout
    assert "Using cache" not in dockyard("build", "--cache-from", "probe:1", str(probe)).stdout.split("Step 3/4")[1]
    report = check_store(Store(dockyard.root))
    assert report.problems == [], report.problems


def test_an_idle_writer_keeps_nothing_of_its_last_write(monkeypatch) -> None:  # noqa: ANN001
    # the build's writer thread idles 2 s after its last write: what that write held (a step's
    # image, config and COPY sources: megabytes for a 10k-file context) must not stay alive with
    # it, into the next build of a long-running serve (its peak RSS grew 75 -> 92 MB so). Here
    # it idles for the whole check (the check had IDLE / 2, 1 s, for the writer thread to drop
    # it: a time a loaded machine need not give a thread)
    import gc
    import threading
    import time
    import weakref

    from dockyard.builder.classic.state import Writer

    class Held:
        pass

    monkeypatch.setattr(Writer, "IDLE", 600.0)
    held, ran = Held(), threading.Event()
    ref = weakref.ref(held)
    writer = Writer()
    writer.submit(lambda held=held: ran.set())
    del held
    try:
        assert ran.wait(60)
        deadline = time.monotonic() + 60
        while ref() is not None and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
        assert ref() is None, "the idle writer still holds its last write"
    finally:
        with writer._cond:      # the idle thread ends now (no job: it returns)
            writer._cond.notify()
