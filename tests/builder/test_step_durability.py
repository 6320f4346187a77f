"""A classic build's step layer is durable before the image record that names it: the layer's
folder is renamed into layers/ on the step's own path without the fsync of layers/
(LayerStore.adopt's publish=False), and the build's writer fsyncs layers/ before it writes the
step's image record (builder/classic/state.py). The CLI runs with os.rename, os.replace and
os.fsync wrapped in its own process, to see their order: a host's crash at each point is what
tests/reliability/test_power_cut.py cuts after the build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

WRAPPED = r'''
import os, sys, threading
events = []
real_rename, real_replace, real_fsync = os.rename, os.replace, os.fsync

def rename(src, dst, *a, **k):
    real_rename(src, dst, *a, **k)
    events.append(["rename", os.fspath(dst), threading.current_thread().name])

def replace(src, dst, *a, **k):
    real_replace(src, dst, *a, **k)
    events.append(["rename", os.fspath(dst), threading.current_thread().name])

def fsync(fd):
    real_fsync(fd)
    events.append(["fsync", os.readlink(f"/proc/self/fd/{fd}"), threading.current_thread().name])

os.rename, os.replace, os.fsync = rename, replace, fsync
import atexit, json
atexit.register(lambda: sys.stderr.write("EVENTS " + json.dumps(events) + "\n"))
from dockyard.main import run
sys.argv = ["dockyard", *sys.argv[1:]]
run()
'''


def test_a_step_layer_is_durable_before_its_image_record(dockyard, busybox, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("f\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nWORKDIR /w\nCOPY f /w/f\nRUN echo ran > /ran\nCMD [\"sh\"]\n")
    script = tmp_path / "wrapped.py"
    script.write_text(WRAPPED)
    proc = subprocess.run([sys.executable, str(script), "build", "--no-cache", "-q", str(ctx)], cwd=REPO,
                          capture_output=True, text=True, env=dockyard.env)
    assert proc.returncode == 0, proc.stderr
    events = json.loads(proc.stderr.rsplit("EVENTS ", 1)[1])
    root = str(dockyard.root.resolve())
    layers_dir = f"{root}/layers"
    placed: dict[str, int] = {}   # layer hex -> index of its rename into layers/
    synced = -1                   # index of the last fsync of layers/
    checked = 0
    for i, (what, path, thread) in enumerate(events):
        if what == "rename" and path.startswith(layers_dir + "/") and path.count("/") == layers_dir.count("/") + 1:
            placed[path.rsplit("/", 1)[1]] = i
            assert thread == "MainThread"
        elif what == "fsync" and path == layers_dir:
            synced = i
        elif what == "rename" and path.startswith(f"{root}/images/") and path.endswith(".json"):
            image_id = path.rsplit("/", 1)[1][:-5]
            config = json.loads((dockyard.root / "blobs" / "sha256" / image_id).read_bytes())
            for diff_id in config["rootfs"]["diff_ids"]:
                hex_ = diff_id.split(":", 1)[1]
                if hex_ in placed:  # a layer this build made: its folder's name is durable first
                    assert placed[hex_] < synced < i, (diff_id, events)
                    checked += 1
    # WORKDIR's, COPY's and RUN's layers, each named by every image from its step on
    assert len(placed) == 3 and checked >= 3
    # the step's own path does not wait for that fsync: the writer thread makes it
    assert all(thread != "MainThread" for what, path, thread in events if what == "fsync" and path == layers_dir)
